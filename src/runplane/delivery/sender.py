"""The sender: one per worker process, it POSTs due outbox entries until each is taken.

Steps: claim due entries with a lease (as tasks are claimed), render each one's body from
the record it keeps (delivery/bodies.py), send it signed, then record the attempt and the
entry's new state in one transaction. A 2xx is delivered; a connection error, a timeout,
408, 429 or 5xx is retried with exponential backoff and full jitter; any other answer gives
up, saying why. It also prunes expired batches now and then.

Delivery is at least once, and in practice once: an entry marked delivered is never sent
again, but a sender that dies after the receiver's 2xx and before its record commits leaves
the entry pending, and it is sent again when its lease expires (same `webhook-id`, so the
receiver can drop it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from runplane import __version__
from runplane.clock import utcnow
from runplane.core import webhooks
from runplane.core.callback_urls import RefusedUrl, check_callback_url, configured_networks
from runplane.delivery import retention, signing
from runplane.delivery.bodies import render
from runplane.errors import StoreUnavailable
from runplane.model.callbacks import (
    CALLBACK_DELIVERED,
    CALLBACK_FAILED,
    CALLBACK_PENDING,
    Attempt,
    OutboxEntry,
)
from runplane.settings import Settings
from runplane.store import outbox as store
from runplane.store.database import Database

log = logging.getLogger("runplane.delivery")

RETRIED_STATUSES = frozenset({408, 429})
# A claimed entry stays ours for two send timeouts and this margin: one attempt and its
# record fit well within it, and an entry of a sender that died is retried soon after.
LEASE_MARGIN = 5.0
USER_AGENT = f"runplane/{__version__} (callbacks)"


@dataclass(frozen=True)
class Posted:
    """What one POST gave: a status code, or an error; `refused` by the URL guard."""

    code: int | None
    error: str | None
    retry_after: float = 0.0
    refused: bool = False


@dataclass(frozen=True)
class Outcome:
    status: str  # CALLBACK_DELIVERED | CALLBACK_PENDING (retry) | CALLBACK_FAILED
    next_attempt_at: datetime
    error: str | None


def backoff(settings: Settings, attempt: int) -> float:
    """Full jitter: uniform in [0, min(max, first * 2^(attempt-1))] seconds."""
    ceiling = min(settings.callback_max_delay, settings.callback_first_delay * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def retry_after(response_headers: httpx.Headers | None) -> float:
    value = (response_headers or httpx.Headers()).get("retry-after", "")
    return float(value) if value.isdigit() else 0.0


def judge(settings: Settings, attempts: int, code: int | None, error: str | None,
          now: datetime, wait_at_least: float = 0.0) -> Outcome:
    """What an attempt's result means for the entry (`attempts` counts this one)."""
    if code is not None and 200 <= code < 300:
        return Outcome(CALLBACK_DELIVERED, now, None)
    if code is not None and code not in RETRIED_STATUSES and code < 500:
        why = (f"the receiver answered HTTP {code} (redirects are not followed); not retried"
               if 300 <= code < 400 else f"the receiver refused it with HTTP {code}; not retried")
        return Outcome(CALLBACK_FAILED, now, why)
    if attempts >= settings.callback_attempts:
        return Outcome(CALLBACK_FAILED, now, f"gave up after {attempts} attempt(s); last: {error}")
    delay = max(backoff(settings, attempts), min(wait_at_least, settings.callback_max_delay))
    return Outcome(CALLBACK_PENDING, now + timedelta(seconds=delay), error)


class Sender:
    """`wake` is set when a callback was queued in this process (the core's signals): the
    sender then looks at once instead of at its next poll."""

    def __init__(self, settings: Settings, database: Database, wake: asyncio.Event, *,
                 name: str) -> None:
        self.settings = settings
        self.database = database
        self.name = name
        self._loop_task: asyncio.Task[None] | None = None
        self._active: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._wake = wake

    async def start(self) -> None:
        configured_networks(self.settings.callback_denied_networks)  # fail early if bad
        # No proxies from the environment: a callback goes where its checked URL says.
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                         headers={"user-agent": USER_AGENT})
        self._loop_task = asyncio.create_task(self._run(), name="runplane-sender")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._active:
            await asyncio.wait(self._active, timeout=self.settings.callback_timeout)
        for sending in self._active:
            sending.cancel()
        await asyncio.gather(*self._active, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable):
            await self.database.write(store.release, owner=self.name)
        if self._client is not None:
            await self._client.aclose()

    # The loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        settings = self.settings
        next_prune = 0.0
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + settings.prune_interval
                await self._prune()
            free = settings.callback_concurrency - len(self._active)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                claimed = await self.claim(free)
            except StoreUnavailable as error:
                log.warning("claiming callbacks failed, retrying: %s", error)
                claimed = []
            for entry in claimed:
                sending = asyncio.create_task(self.deliver(entry), name=f"callback-{entry.id}")
                self._active.add(sending)
                sending.add_done_callback(self._done)
            if len(claimed) < free:
                await self._idle(settings.callback_poll_interval)

    async def _idle(self, seconds: float) -> None:
        """Until the next look: the poll interval, or a callback queued in this process."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def _done(self, sending: asyncio.Task[None]) -> None:
        self._active.discard(sending)
        self._slot_freed.set()

    async def _prune(self) -> None:
        try:
            await retention.prune(self.database, self.settings)
        except StoreUnavailable as error:
            log.warning("pruning expired batches failed: %s", error)

    async def claim(self, limit: int) -> list[OutboxEntry]:
        now = utcnow()
        lease = timedelta(seconds=2 * self.settings.callback_timeout + LEASE_MARGIN)
        return await self.database.write_small(
            store.claim_due, owner=self.name, limit=limit, now=now, lease_until=now + lease,
        )

    # One attempt --------------------------------------------------------------------------

    async def deliver(self, entry: OutboxEntry) -> None:
        try:
            await self._attempt(entry)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never let one callback stop the sender
            log.exception("callback %s: attempt failed unexpectedly", entry.id)
            await self._count_failure(entry, error)

    async def _count_failure(self, entry: OutboxEntry, error: Exception) -> None:
        """An attempt that failed before or around its POST (a body that cannot be signed,
        say) counts like any other, so a callback that can never go out is given up after
        `callback_attempts` with the reason, instead of being retried for ever."""
        now = utcnow()
        reason = f"runplane could not send it: {type(error).__name__}: {error}"
        outcome = judge(self.settings, entry.attempts + 1, None, reason, now)
        attempt = Attempt(attempted_at=now, duration_ms=0, status_code=None, error=reason)
        try:
            await self.database.write_small(
                store.record_attempt, entry_id=entry.id, owner=self.name, attempt=attempt,
                status=outcome.status, next_attempt_at=outcome.next_attempt_at,
                error=outcome.error,
            )
        except Exception:  # the store is down: the lease expires and the entry comes back
            log.exception("callback %s: the failed attempt could not be recorded", entry.id)

    async def _secret(self, entry: OutboxEntry) -> str:
        if entry.secret:
            return entry.secret
        return await self.database.write(
            store.webhook_secret, entry.instance_id, webhooks.new_secret(),
        )

    async def _attempt(self, entry: OutboxEntry) -> None:
        settings = self.settings
        body = json.dumps(render(entry.record), separators=(",", ":"), ensure_ascii=False)
        secret = await self._secret(entry)
        attempted_at = utcnow()
        started = time.monotonic()
        posted = await self._post(entry, secret, body, attempted_at)
        duration_ms = int((time.monotonic() - started) * 1000)
        if posted.refused:
            outcome = Outcome(CALLBACK_FAILED, utcnow(), posted.error)
        else:
            outcome = judge(settings, entry.attempts + 1, posted.code, posted.error, utcnow(),
                            posted.retry_after)
        code = posted.code
        attempt = Attempt(attempted_at=attempted_at, duration_ms=duration_ms,
                          status_code=code, error=posted.error)
        await self.database.write_small(
            store.record_attempt, entry_id=entry.id, owner=self.name, attempt=attempt,
            status=outcome.status, next_attempt_at=outcome.next_attempt_at, error=outcome.error,
        )
        level = logging.INFO if outcome.status != CALLBACK_FAILED else logging.WARNING
        log.log(level, "callback %s to %s: attempt %d -> %s (%s)", entry.id, entry.url,
                entry.attempts + 1, outcome.status, code if code is not None else posted.error)

    async def _post(self, entry: OutboxEntry, secret: str, body: str, at: datetime) -> Posted:
        settings = self.settings
        networks = configured_networks(settings.callback_denied_networks)
        try:  # checked again: the name may point elsewhere since submission
            await check_callback_url(entry.url, networks)
        except RefusedUrl as refused:
            return Posted(None, f"refused: {refused.reason}", refused=True)
        headers = {
            **signing.headers(secret, webhooks.message_id(entry.id), at, body),
            "content-type": "application/json",
        }
        assert self._client is not None
        try:
            async with asyncio.timeout(settings.callback_timeout), self._client.stream(
                "POST", entry.url, content=body.encode(), headers=headers,
                timeout=settings.callback_timeout,
            ) as response:
                code = response.status_code
                error = None if 200 <= code < 300 else f"HTTP {code}"
                return Posted(code, error, retry_after(response.headers))
        except (TimeoutError, httpx.TimeoutException):
            return Posted(None, f"timed out after {settings.callback_timeout:g} s")
        except httpx.HTTPError as failure:
            return Posted(None, f"connection error: {type(failure).__name__}: {failure}")
