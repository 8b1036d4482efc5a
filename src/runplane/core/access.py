"""API keys: making them, hashing them, and deciding what a key may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import IntEnum

from runplane.errors import Forbidden, NotFound
from runplane.model import ApiKey, Instance


class Role(IntEnum):
    """Each role may do what the roles below it may."""

    read = 0  # look at instances, scripts, traces
    run = 1  # also run scripts and endpoints
    write = 2  # also create, change and delete scripts, endpoints, config
    admin = 3  # also create and delete instances, make keys

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name]
        except KeyError:
            choices = ", ".join(role.name for role in cls)
            raise ValueError(f"unknown role {name!r}; choose one of {choices}") from None


NO_PERMISSION = "You do not have permission to perform this action."
# What an unknown instance answers, and so also another tenant's (see `hide_foreign`).
INSTANCE_NOT_FOUND = "Instance was not found."


def new_key() -> str:
    """40 lowercase hex characters (160 random bits), the shape Syncano keys had."""
    return secrets.token_hex(20)


def hash_key(secret: str, key: str) -> str:
    """A keyed hash: a leaked table of hashes is useless without the server's secret."""
    return hmac.new(secret.encode(), key.strip().lower().encode(), hashlib.sha256).hexdigest()


def hide_foreign(key: ApiKey, instance: Instance) -> None:
    """NotFound, as for an unknown instance, if `key` belongs to another instance: a 403
    there would tell an instance key which names other tenants have (an existence oracle)."""
    if key.instance_id is not None and key.instance_id != instance.id:
        raise NotFound("Instance", INSTANCE_NOT_FOUND)


def require(key: ApiKey, role: Role, instance: Instance | None = None) -> None:
    """Raise Forbidden unless `key` holds `role` on `instance` (None: account-wide); an
    instance key naming another instance is answered NotFound (`hide_foreign`)."""
    if instance is not None:
        hide_foreign(key, instance)
    elif key.instance_id is not None:
        raise Forbidden(NO_PERMISSION)
    if Role[key.role] < role:
        raise Forbidden(NO_PERMISSION)
