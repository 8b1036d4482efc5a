"""The key that encrypts credentials' secrets (Fernet), and where it comes from; never the
database.

In order: `RUNPLANE_SECRET_KEY` (base64 Fernet keys, comma-separated: the first encrypts,
every one decrypts); else the key file `RUNPLANE_SECRET_KEY_FILE`; else a file next to the
SQLite database (`<database>.secret-key`). A missing key file is made on first use, mode 0600.
An in-memory SQLite database gets a key that lives as long as it. PostgreSQL needs one of the
two settings, the same for every process (a key made on one host would be another's noise).
A key file is read again whenever it changes, so that `runplane secrets rotate` reaches
running servers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from runplane.errors import SecretsUnavailable
from runplane.settings import Settings
from runplane.store.database import database_file

log = logging.getLogger("runplane.secrets")

KEY_FILE_SUFFIX = ".secret-key"
NO_KEY_ON_POSTGRESQL = (
    "No secret key for credentials: on PostgreSQL set RUNPLANE_SECRET_KEY (the same on every "
    "process) or RUNPLANE_SECRET_KEY_FILE."
)
UNREADABLE_SECRET = (
    "A stored secret cannot be decrypted with this process's secret key (was it made with "
    "another RUNPLANE_SECRET_KEY or key file?)."
)


def key_file_path(settings: Settings) -> str | None:
    """The key file this process uses; None when the key comes from the setting or lives in
    memory. (The executor keeps it out of confined runs' reach.)"""
    if settings.secret_key is not None:
        return None
    if settings.secret_key_file:
        return os.path.abspath(os.path.expanduser(settings.secret_key_file))
    database = database_file(settings.database)
    return database + KEY_FILE_SUFFIX if database else None


def parse_keys(text: str, origin: str) -> list[bytes]:
    """Fernet keys, one per line or comma-separated; the first encrypts."""
    keys = [part.strip().encode() for part in text.replace(",", "\n").splitlines()
            if part.strip()]
    if not keys:
        raise SecretsUnavailable(f"{origin} holds no key.")
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            # Never echo the value: it is (meant to be) a key.
            raise SecretsUnavailable(
                f"{origin} holds something that is not a Fernet key (32 url-safe base64 "
                "bytes, as `runplane secrets new-key` prints)."
            ) from None
    return keys


def read_key_file(path: str) -> list[bytes]:
    try:
        with open(path, encoding="ascii") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SecretsUnavailable(f"The secret key file {path} cannot be read: "
                                 f"{getattr(error, 'strerror', None) or error}") from None
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        log.warning("the secret key file %s is readable by others (mode %o): chmod 600 it",
                    path, mode)
    return parse_keys(text, f"The secret key file {path}")


def write_key_file(path: str, keys: list[bytes], *, exclusive: bool = False) -> bool:
    """Write the keys (mode 0600) atomically: readers see the old file or the new one, never
    half of one. `exclusive`: only if there is none yet (False when another made it first)."""
    directory = os.path.dirname(path) or "."
    descriptor, temporary = tempfile.mkstemp(prefix=".secret-key-", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:  # mkstemp: mode 0600
            file.write("".join(key.decode() + "\n" for key in keys))
            file.flush()
            os.fsync(file.fileno())
        if exclusive:
            try:
                os.link(temporary, path)  # fails if it exists: two first starts, one key
            except FileExistsError:
                return False
        else:
            os.replace(temporary, path)
            temporary = ""
        return True
    finally:
        if temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


@dataclass
class _Loaded:
    keys: list[bytes]
    cipher: MultiFernet
    stamp: tuple[int, int, int] | None


class SecretBox:
    """Encrypts and decrypts secrets with this process's key(s), loaded on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = key_file_path(settings)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def encrypt(self, plain: str) -> str:
        """A Fernet token for the secret ("" stays "": no secret set)."""
        if plain == "":
            return ""
        return self._current().cipher.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        if token == "":
            return ""
        try:
            return self._current().cipher.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable(UNREADABLE_SECRET) from None

    def prepare(self) -> None:
        """Load the key (making the key file) at start; without one, say why once: only
        credentials need it, so the server starts all the same."""
        try:
            self._current()
        except SecretsUnavailable as error:
            log.warning("credentials are unavailable: %s", error.message)

    def keys(self) -> list[bytes]:
        """The keys in use, the encrypting one first (for rotation)."""
        return list(self._current().keys)

    def _current(self) -> _Loaded:
        with self._lock:
            if self._loaded is None or (self.path is not None
                                        and _stamp(self.path) != self._loaded.stamp):
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> _Loaded:
        settings = self.settings
        if settings.secret_key is not None:
            keys = parse_keys(settings.secret_key.get_secret_value(), "RUNPLANE_SECRET_KEY")
            return _Loaded(keys, MultiFernet([Fernet(key) for key in keys]), None)
        if self.path is None:
            if not settings.database.startswith("sqlite"):
                raise SecretsUnavailable(NO_KEY_ON_POSTGRESQL)
            keys = [Fernet.generate_key()]  # in-memory database: the key dies with it
            return _Loaded(keys, MultiFernet([Fernet(keys[0])]), None)
        if _stamp(self.path) is None:
            try:
                if write_key_file(self.path, [Fernet.generate_key()], exclusive=True):
                    log.warning("made the secret key file %s (mode 0600): back it up; without "
                                "it the credentials' secrets cannot be read", self.path)
            except OSError as error:
                raise SecretsUnavailable(f"The secret key file {self.path} cannot be made: "
                                         f"{error.strerror or error}") from None
        stamp = _stamp(self.path)
        keys = read_key_file(self.path)
        return _Loaded(keys, MultiFernet([Fernet(key) for key in keys]), stamp)
