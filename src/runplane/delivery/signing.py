"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

Each instance has its own secret (`whsec_` + base64 of 32 random bytes), made on first use.
A receiver verifies with any Standard Webhooks library, e.g. in Python:
`standardwebhooks.Webhook(secret).verify(body, headers)`.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def message_id(outbox_id: int) -> str:
    """Stable per outbox entry, so a receiver can drop a retry it has already taken."""
    return f"msg_runplane_{outbox_id}"


def headers(secret: str, msg_id: str, sent_at: datetime, body: str) -> dict[str, str]:
    """The three headers for `body` (the exact bytes sent, as text)."""
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=sent_at, data=body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
