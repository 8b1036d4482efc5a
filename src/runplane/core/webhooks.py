"""Standard Webhooks identities: each instance's signing secret and each message's id.

Made here, below the sender, so the core can show them (a batch's callbacks, the secret a
receiver verifies with) without knowing how callbacks are sent.
"""

from __future__ import annotations

import base64
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """An instance's signing secret: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def message_id(outbox_id: int) -> str:
    """Stable per outbox entry, so a receiver can drop a retry it has already taken."""
    return f"msg_runplane_{outbox_id}"
