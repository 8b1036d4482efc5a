"""Creating and checking API keys, and the first start of an empty database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runplane.clock import utcnow
from runplane.core.access import Role, hash_key, new_key
from runplane.core.context import Core
from runplane.core.instances import found as found_instance
from runplane.core.instances import lookup_name
from runplane.errors import NotFound, Unauthenticated
from runplane.model import DEFAULT_INSTANCE, DEFAULT_INSTANCE_DESCRIPTION, ApiKey, Instance
from runplane.store import instances as instance_store
from runplane.store import keys as store
from runplane.store.unit import Tx

NO_SUCH_KEY = "No such API Key."
NO_CREDENTIALS = "Authentication credentials were not provided."
FIRST_START_FACT = "first_start_at"


async def create_key(
    core: Core, *, role: Role, instance_name: str | None = None, description: str = ""
) -> str:
    """Make a key and answer it in clear: the only time it is ever shown."""
    key = new_key()

    def insert(conn: Tx) -> None:
        instance_id = None
        if instance_name is not None:
            instance = instance_store.get_instance(conn, instance_name.lower())
            if instance is None:
                raise NotFound("Instance", "Instance was not found.")
            instance_id = instance.id
        store.insert_key(
            conn, key_hash=hash_key(core.key_secret, key), instance_id=instance_id,
            role=role.name, description=description, now=utcnow(),
        )

    await core.database.write(insert)
    return key


def key_of(conn: Tx, secret: str, presented: str | None) -> ApiKey:
    """Inside a unit of work: the key presented, or Unauthenticated."""
    if not presented:
        raise Unauthenticated(NO_CREDENTIALS)
    found = store.find_key(conn, hash_key(secret, presented))
    if found is None:
        raise Unauthenticated(NO_SUCH_KEY)
    return found


async def authenticate_in(core: Core, presented: str | None,
                          instance_of: Callable[[ApiKey], str]) -> tuple[ApiKey, Instance]:
    """The key presented and the instance it acts on (named by `instance_of(key)`), in one
    read; Unauthenticated, then NotFound, as the separate lookups would raise them."""
    if not presented:
        raise Unauthenticated(NO_CREDENTIALS)

    def look_up(conn: Tx) -> tuple[ApiKey, Instance]:
        key = key_of(conn, core.key_secret, presented)
        instance = instance_store.get_instance(conn, lookup_name(instance_of(key)))
        return key, found_instance(instance)

    return await core.database.read_small(look_up)


async def authenticate(core: Core, key: str | None) -> ApiKey:
    if not key:
        raise Unauthenticated(NO_CREDENTIALS)
    return await core.database.read_small(key_of, core.key_secret, key)


@dataclass(frozen=True)
class FirstStart:
    instance_name: str
    admin_key: str


async def bootstrap(core: Core) -> FirstStart | None:
    """On an empty database: the `default` instance and an account admin key, made once."""

    def first_start(conn: Tx) -> FirstStart | None:
        if store.count_keys(conn) > 0:
            return None
        # A gate row: of two processes starting at once on PostgreSQL, only one gets past.
        stamp = utcnow().isoformat()
        if store.set_fact_once(conn, FIRST_START_FACT, stamp) != stamp:
            return None
        # Migrate made it; a database given only its schema (a test's) gets it here.
        instance_store.insert_instance_if_absent(
            conn, name=DEFAULT_INSTANCE, description=DEFAULT_INSTANCE_DESCRIPTION, now=utcnow(),
        )
        key = new_key()
        store.insert_key(
            conn, key_hash=hash_key(core.key_secret, key), instance_id=None,
            role=Role.admin.name, description="first-start admin key", now=utcnow(),
        )
        return FirstStart(instance_name=DEFAULT_INSTANCE, admin_key=key)

    return await core.database.write(first_start)
