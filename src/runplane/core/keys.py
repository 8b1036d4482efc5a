"""Creating and checking API keys, and the first start of an empty database."""

from __future__ import annotations

from dataclasses import dataclass

from runplane.clock import utcnow
from runplane.core.access import Role, hash_key, new_key
from runplane.core.context import Core
from runplane.errors import NotFound, Unauthenticated
from runplane.store import instances as instance_store
from runplane.store import keys as store
from runplane.store.records import ApiKey

DEFAULT_INSTANCE = "default"
NO_SUCH_KEY = "No such API Key."
FIRST_START_FACT = "first_start_at"


async def create_key(
    core: Core, *, role: Role, instance_name: str | None = None, description: str = ""
) -> str:
    """Make a key and answer it in clear: the only time it is ever shown."""
    key = new_key()
    async with core.database.write() as conn:
        instance_id = None
        if instance_name is not None:
            instance = await instance_store.get_instance(conn, instance_name.lower())
            if instance is None:
                raise NotFound("Instance", "Instance was not found.")
            instance_id = instance.id
        await store.insert_key(
            conn, key_hash=hash_key(core.key_secret, key), instance_id=instance_id,
            role=role.name, description=description, now=utcnow(),
        )
    return key


async def authenticate(core: Core, key: str | None) -> ApiKey:
    if not key:
        raise Unauthenticated("Authentication credentials were not provided.")
    async with core.database.read() as conn:
        found = await store.find_key(conn, hash_key(core.key_secret, key))
    if found is None:
        raise Unauthenticated(NO_SUCH_KEY)
    return found


@dataclass(frozen=True)
class FirstStart:
    instance_name: str
    admin_key: str


async def bootstrap(core: Core) -> FirstStart | None:
    """On an empty database: the `default` instance and an account admin key, made once."""
    async with core.database.write() as conn:
        if await store.count_keys(conn) > 0:
            return None
        # A gate row: of two processes starting at once on PostgreSQL, only one gets past.
        stamp = utcnow().isoformat()
        if await store.set_fact_once(conn, FIRST_START_FACT, stamp) != stamp:
            return None
        if await instance_store.get_instance(conn, DEFAULT_INSTANCE) is None:
            now = utcnow()
            await instance_store.insert_instance(
                conn, name=DEFAULT_INSTANCE, description="Created at first start.",
                metadata={}, config={}, now=now,
            )
        key = new_key()
        await store.insert_key(
            conn, key_hash=hash_key(core.key_secret, key), instance_id=None,
            role=Role.admin.name, description="first-start admin key", now=utcnow(),
        )
    return FirstStart(instance_name=DEFAULT_INSTANCE, admin_key=key)
