"""Credentials: created or updated by name (eNMS's fields), their secrets encrypted before
they reach the store. No answer of this module holds a plain secret, except `reveal`, for
the code that connects to a device.

eNMS's rules kept: an empty or missing secret in an update keeps the stored one (eNMS ignored
falsy values of its private properties); `device_pools` replaces the pools it serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from runplane.clock import utcnow
from runplane.core import validation
from runplane.core.context import Core
from runplane.core.inventory import SaveReport, object_name, save_each
from runplane.core.pool_filters import matches, string_form
from runplane.core.search import SearchRequest
from runplane.errors import Invalid, NotFound
from runplane.model import SECRET_FIELDS, Credential, Instance, Secrets
from runplane.model.credentials import ROLES, SUBTYPES
from runplane.store import credentials as store
from runplane.store import devices as device_store
from runplane.store import pools as pool_store
from runplane.store.unit import Tx

DESCRIPTION_MAX_CHARS = 4096
USERNAME_MAX_CHARS = 256
SECRET_MAX_CHARS = {"password": 1024, "enable_password": 1024, "private_key": 16 * 1024}
PRIORITY_RANGE = (-(2**31), 2**31 - 1)
# Keys of an eNMS export (or of our own answers) that are not runplane credential data.
IGNORED_KEYS = frozenset({
    "id", "type", "instance_id", "created_at", "updated_at", "creator", "admin_only",
    "last_modified", "last_modified_by", "groups",
})
KNOWN_KEYS = frozenset({
    "name", "description", "role", "subtype", "username", "priority", "device_pools",
    *SECRET_FIELDS,
})


def no_credential(name: str) -> str:
    return f"No credential with the name '{name}'"


@dataclass(frozen=True)
class CredentialInput:
    """A create-or-update: the fields given (secrets already encrypted), pools by name."""

    name: str
    fields: dict[str, Any]
    pools: list[str] | None


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise Invalid.field(field, f"Must be one of {', '.join(choices)}.")
    return str(value)


def _priority(value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    low, high = PRIORITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid.field("priority", "Must be an integer.")
    return value


def _pool_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid.field("device_pools", "Must be a list of pool names.")
    return value


def _field(key: str, value: Any) -> Any:
    """One checked field; the messages never repeat a value (it may be a secret)."""
    match key:
        case "description":
            return validation.text(key, value, max_chars=DESCRIPTION_MAX_CHARS)
        case "username":
            return validation.text(key, value, max_chars=USERNAME_MAX_CHARS)
        case "role":
            return _choice(key, value, ROLES)
        case "subtype":
            return _choice(key, value, SUBTYPES)
        case "priority":
            return _priority(value)
        case _:
            return validation.text(key, value, max_chars=SECRET_MAX_CHARS[key])


def credential_input(core: Core, given: Any) -> CredentialInput:
    """Checked and with its secrets encrypted; Invalid names every bad field."""
    if not isinstance(given, dict):
        raise Invalid.field("non_field_errors", "Expected a JSON object.")
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    name = ""
    try:
        name = object_name(given.get("name"))
    except Invalid as error:
        errors.update(error.fields)
    pools: list[str] | None = None
    for key, value in given.items():
        if key in ("name", *IGNORED_KEYS):
            continue
        try:
            if key == "device_pools":
                pools = _pool_names(value)
            elif key not in KNOWN_KEYS:
                raise Invalid.field(key, "Unknown field.")
            elif key in SECRET_FIELDS and value in ("", None):
                continue  # eNMS: an empty secret keeps the stored one
            else:
                fields[key] = _field(key, value)
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(errors)
    for secret in SECRET_FIELDS:
        if secret in fields:
            fields[secret] = core.secrets.encrypt(fields[secret])
    return CredentialInput(name=name, fields=fields, pools=pools)


def _save(conn: Tx, instance: Instance, item: CredentialInput) -> Credential:
    pool_ids: list[int] | None = None
    if item.pools is not None:
        found = {pool.name: pool.id for pool in pool_store.pools_named(conn, instance.id,
                                                                         item.pools)}
        missing = sorted(set(item.pools) - set(found))
        if missing:
            raise Invalid.field("device_pools", "No pool with the name "
                                + ", ".join(f"'{name}'" for name in missing) + ".")
        pool_ids = list(found.values())
    existing = store.get_credential(conn, instance.id, item.name)
    now = utcnow()
    if existing is None:
        credential_id = store.insert_credential(
            conn, instance.id, {"name": item.name, **DEFAULTS, **item.fields}, now
        )
    else:
        credential_id = existing.id
        if item.fields:
            store.update_credential(conn, credential_id, item.fields, now)
    if pool_ids is not None:
        store.set_pools(conn, credential_id, pool_ids)
    saved = store.get_credential(conn, instance.id, item.name)
    assert saved is not None
    return saved


# eNMS's column defaults.
DEFAULTS: dict[str, Any] = {"role": "read-write", "subtype": "password", "priority": 1}


async def save_credential(core: Core, instance: Instance, given: Any) -> Credential:
    item = credential_input(core, given)

    def save(conn: Tx) -> Credential:
        device_store.lock_inventory(conn, instance.id)
        return _save(conn, instance, item)

    return await core.database.write(save)


async def save_credentials(core: Core, instance: Instance, items: Sequence[Any]
                           ) -> SaveReport:
    """Create or update many in one transaction; invalid ones are reported, not fatal."""
    return await save_each(core, instance, items,
                           lambda given: credential_input(core, given), _save)


async def get_credential(core: Core, instance: Instance, name: str) -> Credential:
    found = await core.database.read(store.get_credential, instance.id, name)
    if found is None:
        raise NotFound("Credential", no_credential(name) + ".")
    return found


async def delete_credential(core: Core, instance: Instance, name: str) -> Credential:
    """Delete a credential (its pools stay); answers it as it was."""
    def delete(conn: Tx) -> Credential:
        found = store.get_credential(conn, instance.id, name)
        if found is None:
            raise NotFound("Credential", no_credential(name) + ".")
        store.delete_credential(conn, found.id)
        return found

    return await core.database.write(delete)


def attributes(credential: Credential) -> dict[str, Any]:
    """What a query or search compares: never a secret (a filter on one would be an oracle)."""
    return {
        "name": credential.name, "description": credential.description,
        "role": credential.role, "subtype": credential.subtype,
        "username": credential.username, "priority": credential.priority,
    }


async def query_credentials(core: Core, instance: Instance, equals: Mapping[str, str]
                            ) -> list[Credential]:
    """Credentials whose fields (as text) equal the given values, by name."""
    found = await core.database.read(store.list_credentials, instance.id)
    return [credential for credential in found
            if all(string_form(attributes(credential).get(key)) == value
                   for key, value in equals.items())]


def _sort_key(name: str, credential: Credential) -> tuple[int, float, str]:
    value = attributes(credential).get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, string_form(value))


async def search_credentials(core: Core, instance: Instance, search: SearchRequest
                             ) -> list[Credential]:
    found = [
        credential for credential in await core.database.read(store.list_credentials,
                                                               instance.id)
        if all(matches(item, string_form(attributes(credential).get(item.property)))
               for item in search.filters)
    ]
    for name, descending in reversed(search.order):
        found.sort(key=partial(_sort_key, name), reverse=descending)
    return found[search.start:search.start + search.limit]


def reveal(core: Core, credential: Credential) -> Secrets:
    """The plain secrets, for the code that logs in to a device; never for an answer."""
    plain = {secret: core.secrets.decrypt(credential.tokens.get(secret, ""))
             for secret in SECRET_FIELDS}
    return Secrets(username=credential.username, **plain)
