"""A credential to reach devices (eNMS's Credential), as the store holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# The fields that hold secrets: stored as Fernet tokens, never answered, logged or exported.
SECRET_FIELDS = ("password", "private_key", "enable_password")
ROLES = ("read-write", "read-only")
SUBTYPES = ("password", "key")


@dataclass(frozen=True)
class Credential:
    id: int
    instance_id: int
    name: str
    description: str
    role: str
    subtype: str
    username: str
    priority: int
    # eNMS's device_pools: the pools whose devices it serves, by name.
    pools: list[str]
    created_at: datetime
    updated_at: datetime
    # field -> Fernet token ("" when unset); kept out of repr so no log line shows even those.
    tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def has(self, secret: str) -> bool:
        return bool(self.tokens.get(secret))


@dataclass(frozen=True)
class Secrets:
    """A credential's secrets in plain text, for the code that connects to a device (never
    for an answer). repr hides them: a stray log of this record shows no secret."""

    username: str
    password: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)
    enable_password: str = field(default="", repr=False)
