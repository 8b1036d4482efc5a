"""Core errors. They carry meaning, not HTTP: each door renders them in its own envelope."""

from __future__ import annotations


class RunplaneError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RunplaneError):
    """The named thing does not exist (or is not visible to the caller)."""

    def __init__(self, kind: str, message: str | None = None) -> None:
        super().__init__(message or f"{kind} was not found.")
        self.kind = kind


# PostgreSQL's text cannot hold NUL: refused wherever a value reaches it.
NUL_MESSAGE = "Null characters are not allowed."


class Invalid(RunplaneError):
    """Input failed validation; `fields` maps a field name to its messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        first = next(iter(fields.items()), ("", [""]))
        super().__init__(f"{first[0]}: {first[1][0]}" if first[0] else first[1][0])
        self.fields = fields

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls({name: [message]})


class Conflict(RunplaneError):
    """The change clashes with an existing thing (a unique name, say)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class TooLarge(RunplaneError):
    """An input crossed a size limit; `limit` is that limit in bytes (or items)."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} exceeds its limit of {limit}.")
        self.what = what
        self.limit = limit


class Unauthenticated(RunplaneError):
    """No key was given, or the key is unknown."""


class Forbidden(RunplaneError):
    """The key is known but may not do this."""


class StoreUnavailable(RunplaneError):
    """The database could not be reached or stayed locked; nothing was saved."""


class SecretsUnavailable(RunplaneError):
    """Credentials' secrets cannot be encrypted or decrypted here: no key, an unreadable key
    file, or a stored secret made with another key. The message never holds a secret."""
