"""Rotating the credentials' secret key: every secret re-encrypted with a new key, the old
one readable until then (MultiFernet).

With a key file: a new key is put first in the file (the old ones after it: running
processes, which read the file again when it changes, then encrypt with the new key and can
still read the old tokens), every token is re-encrypted, and once each one reads with the new
key alone the old keys leave the file. With RUNPLANE_SECRET_KEY: the operator puts the new
key first in the setting (old ones after), runs the rotation, and then drops the old ones
from every process's setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from runplane.core.context import Core
from runplane.core.secret_key import read_key_file, write_key_file
from runplane.errors import SecretsUnavailable
from runplane.store import credentials as store
from runplane.store.unit import Tx

# Passes over the tokens: a secret saved by a process that had not yet read the new key
# file is caught by the next pass.
MAX_PASSES = 5


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    key_file: str | None


async def _reencrypt(core: Core, cipher: MultiFernet, new: Fernet) -> int:
    """Re-encrypt (in one transaction) every token the new key alone cannot read."""
    def rotate(conn: Tx) -> int:
        changed = 0
        for credential_id, tokens in store.all_tokens(conn):
            stale = {name: token for name, token in tokens.items()
                     if token and not _reads(new, token)}
            if not stale:
                continue
            try:
                fresh = {name: cipher.rotate(token.encode()).decode()
                         for name, token in stale.items()}
            except InvalidToken:
                raise SecretsUnavailable(
                    f"Credential #{credential_id} holds a secret that none of the keys "
                    "reads: rotation stopped, nothing changed."
                ) from None
            store.set_tokens(conn, credential_id, fresh)
            changed += 1
        return changed

    return await core.database.write(rotate)


def _reads(key: Fernet, token: str) -> bool:
    try:
        key.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


async def rotate(core: Core) -> RotationReport:
    """Re-encrypt every credential's secrets with a new key (see the module's docstring)."""
    path = core.secrets.path
    if core.settings.secret_key is not None:
        keys = core.secrets.keys()
        return RotationReport(await _until_clean(core, keys), None)
    if path is None:
        raise SecretsUnavailable("The secret key lives in memory (an in-memory database): "
                                 "there is nothing to rotate.")
    core.secrets.keys()  # the key file is made on first use, if there was none
    keys = [Fernet.generate_key(), *read_key_file(path)]
    write_key_file(path, keys)  # both readable from here on, the new one encrypts
    count = await _until_clean(core, keys)
    write_key_file(path, keys[:1])
    return RotationReport(count, path)


async def _until_clean(core: Core, keys: list[bytes]) -> int:
    cipher = MultiFernet([Fernet(key) for key in keys])
    new = Fernet(keys[0])
    total = 0
    for _ in range(MAX_PASSES):
        changed = await _reencrypt(core, cipher, new)
        total += changed
        if changed == 0:
            return total
    raise SecretsUnavailable("Secrets kept being saved with an old key: rotation stopped, the "
                             "old keys kept (run it again).")
