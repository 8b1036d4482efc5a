"""Callback delivery decisions: backoff with full jitter, and what each answer means."""

from __future__ import annotations

from datetime import timedelta

from standardwebhooks import Webhook

from runplane.clock import utcnow
from runplane.core import webhooks
from runplane.delivery import signing
from runplane.delivery.sender import backoff, judge
from runplane.model.callbacks import CALLBACK_DELIVERED, CALLBACK_FAILED, CALLBACK_PENDING
from runplane.settings import Settings

SETTINGS = Settings(callback_first_delay=1.0, callback_max_delay=300.0, callback_attempts=10)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (30, 300)):
        delays = [backoff(SETTINGS, attempt) for _ in range(300)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not a fixed pause
        assert min(delays) < ceiling / 2


def test_what_an_answer_means() -> None:
    now = utcnow()
    assert judge(SETTINGS, 1, 200, None, now).status == CALLBACK_DELIVERED
    assert judge(SETTINGS, 1, 204, None, now).status == CALLBACK_DELIVERED
    for retried in (None, 408, 429, 500, 502, 503, 504):
        outcome = judge(SETTINGS, 3, retried, "x", now)
        assert outcome.status == CALLBACK_PENDING and outcome.next_attempt_at >= now
    for refused in (400, 401, 403, 404, 410, 422, 301, 302):
        outcome = judge(SETTINGS, 1, refused, f"HTTP {refused}", now)
        assert outcome.status == CALLBACK_FAILED and str(refused) in (outcome.error or "")
    last = judge(SETTINGS, 10, 500, "HTTP 500", now)
    assert last.status == CALLBACK_FAILED and "gave up after 10" in (last.error or "")


def test_retry_after_is_honoured_up_to_the_max_delay() -> None:
    now = utcnow()
    waited = judge(SETTINGS, 1, 429, "HTTP 429", now, wait_at_least=30)
    assert waited.next_attempt_at >= now + timedelta(seconds=30)
    capped = judge(SETTINGS, 1, 503, "HTTP 503", now, wait_at_least=10_000)
    assert capped.next_attempt_at <= now + timedelta(seconds=300.5)


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and secret != webhooks.new_secret()
    body = '{"asyncId":"abc","results":[]}'
    headers = signing.headers(secret, webhooks.message_id(7), utcnow(), body)
    assert headers["webhook-id"] == "msg_runplane_7"
    assert Webhook(secret).verify(body, headers) == {"asyncId": "abc", "results": []}
    other = webhooks.new_secret()
    try:
        Webhook(other).verify(body, headers)
    except Exception as error:  # the library's WebhookVerificationError
        assert "signature" in str(error).lower()
    else:
        raise AssertionError("a wrong secret verified")
