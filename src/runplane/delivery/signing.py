"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

Each instance has its own secret (core/webhooks.py), made on first use.
A receiver verifies with any Standard Webhooks library, e.g. in Python:
`standardwebhooks.Webhook(secret).verify(body, headers)`.
"""

from __future__ import annotations

from datetime import datetime

from standardwebhooks import Webhook


def headers(secret: str, msg_id: str, sent_at: datetime, body: str) -> dict[str, str]:
    """The three headers for `body` (the exact bytes sent, as text)."""
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=sent_at, data=body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
