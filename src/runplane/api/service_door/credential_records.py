"""Credentials on /rest/instance/credential, /rest/query/credential and /rest/search, in
eNMS's fields. Like eNMS (its private properties), an answer never holds `password`,
`private_key` or `enable_password`: not even encrypted."""

from __future__ import annotations

from typing import Any

from runplane.api.service_door.instance_types import InstanceType, Record
from runplane.api.service_door.timestamps import render_time
from runplane.core import credentials
from runplane.core.context import Core
from runplane.core.search import SearchRequest
from runplane.model import SECRET_FIELDS, Credential, Instance

# What stands for a secret in an object a `failure` entry echoes.
MASK = "********"


def render_credential(credential: Credential) -> Record:
    return {
        "id": credential.id, "type": "credential", "name": credential.name,
        "description": credential.description, "role": credential.role,
        "subtype": credential.subtype, "username": credential.username,
        "priority": credential.priority, "device_pools": credential.pools,
        "created_at": render_time(credential.created_at),
        "updated_at": render_time(credential.updated_at),
    }


def masked(given: Any) -> Any:
    """A credential as sent, its secrets masked (a refused one is echoed in `failure`)."""
    if not isinstance(given, dict):
        return given
    return {key: MASK if key in SECRET_FIELDS and value else value
            for key, value in given.items()}


async def _save(core: Core, instance: Instance, given: object) -> str:
    return (await credentials.save_credential(core, instance, given)).name


async def _get(core: Core, instance: Instance, name: str) -> Record:
    return render_credential(await credentials.get_credential(core, instance, name))


async def _delete(core: Core, instance: Instance, name: str) -> Record:
    return render_credential(await credentials.delete_credential(core, instance, name))


async def _query(core: Core, instance: Instance, equals: dict[str, str]) -> list[Record]:
    return [render_credential(found)
            for found in await credentials.query_credentials(core, instance, equals)]


async def _search(core: Core, instance: Instance, search: SearchRequest
                  ) -> list[Record]:
    return [render_credential(found)
            for found in await credentials.search_credentials(core, instance, search)]


CREDENTIAL_TYPE = InstanceType(
    save_one=_save, save_many=credentials.save_credentials, get=_get, delete=_delete,
    query=_query, search=_search, as_sent=masked,
)
