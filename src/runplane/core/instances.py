"""Instances: the tenants everything else lives in."""

from __future__ import annotations

import re
from typing import Any

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.access import INSTANCE_NOT_FOUND, Role, hide_foreign, require
from runplane.core.context import Core
from runplane.errors import Invalid, NotFound
from runplane.model import ApiKey, Instance, Page
from runplane.store import instances as store

NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")
DESCRIPTION_MAX_CHARS = 4096


def normalize_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid.field("name", "This field is required.")
    normalized: str = name.strip().lower()
    if not NAME_PATTERN.match(normalized):
        raise Invalid.field(
            "name", "Enter a valid value consisting of letters, numbers, hyphens, underscores "
            "(at most 64 characters)."
        )
    return normalized


def lookup_name(name: str) -> str:
    """The name to look an instance up by (matched lower-cased, as Syncano did); NotFound
    for a name no instance can have."""
    lowered = name.lower()
    if not NAME_PATTERN.match(lowered):
        raise NotFound("Instance", INSTANCE_NOT_FOUND)
    return lowered


def found(instance: Instance | None) -> Instance:
    if instance is None:
        raise NotFound("Instance", INSTANCE_NOT_FOUND)
    return instance


async def find(core: Core, name: str) -> Instance:
    """The named instance, or NotFound."""
    return found(await core.database.read_small(store.get_instance, lookup_name(name)))


async def visible(core: Core, key: ApiKey, name: str) -> Instance:
    """The named instance if it exists and `key` may read it."""
    instance = await find(core, name)
    require(key, Role.read, instance)
    return instance


async def create(core: Core, key: ApiKey | None, fields: dict[str, Any]) -> Instance:
    """Create an instance; `key` None means a trusted local caller (the CLI)."""
    if key is not None:
        require(key, Role.admin)
    name = normalize_name(fields.get("name"))
    description = validation.text(
        "description", fields.get("description"), max_chars=DESCRIPTION_MAX_CHARS
    )
    metadata = validation.metadata(fields.get("metadata"))
    config = validation.config(fields.get("config"), core.settings)
    return await core.database.write(
        store.insert_instance, name=name, description=description, metadata=metadata,
        config=config, now=utcnow(),
    )


async def list_for(
    core: Core, key: ApiKey, *, after: int | None, limit: int, descending: bool
) -> Page[Instance]:
    """Every instance for an account key; only its own for an instance key."""
    return await core.database.read(
        store.list_instances, only_id=key.instance_id, after=after, limit=limit,
        descending=descending,
    )


async def update(core: Core, key: ApiKey, name: str, fields: dict[str, Any]) -> Instance:
    instance = await find(core, name)
    require(key, Role.admin, instance)
    changes: dict[str, Any] = {}
    if "description" in fields:
        changes["description"] = validation.text(
            "description", fields["description"], max_chars=DESCRIPTION_MAX_CHARS
        )
    if "metadata" in fields:
        changes["metadata"] = validation.metadata(fields["metadata"])
    if "config" in fields:
        changes["config"] = validation.config(fields["config"], core.settings)
    if not changes:
        return instance
    return await core.database.write(store.update_instance, instance.id, changes, utcnow())


async def delete(core: Core, key: ApiKey, name: str) -> None:
    instance = await find(core, name)
    hide_foreign(key, instance)
    require(key, Role.admin)
    await core.database.write(store.delete_instance, instance.id)


async def update_config(core: Core, key: ApiKey, name: str, config: Any) -> Instance:
    instance = await find(core, name)
    require(key, Role.write, instance)
    checked = validation.config(config, core.settings)
    return await core.database.write(
        store.update_instance, instance.id, {"config": checked}, utcnow(),
    )
