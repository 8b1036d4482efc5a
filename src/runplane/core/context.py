"""The core's shared state: settings, the database, wake-up signals, the key secret and the
credentials' secret key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runplane.core.handoff import Handoff
from runplane.core.secret_key import SecretBox
from runplane.core.signals import Signals
from runplane.settings import Settings
from runplane.store import keys as key_store
from runplane.store.database import Database
from runplane.store.notify import Listener

if TYPE_CHECKING:
    from runplane.core.job_set import JobSet

KEY_SECRET_FACT = "api_key_secret"


@dataclass
class Core:
    settings: Settings
    database: Database
    key_secret: str
    signals: Signals = field(default_factory=Signals)
    # This process's worker's lanes, when it runs one: new runs may start there at once.
    # Attached and detached where the worker is wired (engine/runner.py), never by it.
    handoff: Handoff | None = None
    # The actions a batch's jobs may call (the batch door's), attached where the app is
    # wired: a worker drives batches only with them.
    batch_jobs: JobSet | None = None
    # Credentials' secrets: encrypted with a key that is never in the database, loaded on
    # first use (core/secret_key.py).
    secrets: SecretBox = field(init=False)

    def __post_init__(self) -> None:
        self.secrets = SecretBox(self.settings)

    def jobs(self) -> JobSet:
        """The batch actions; a worker may not start without them (engine/runner.py)."""
        if self.batch_jobs is None:
            raise RuntimeError("no batch actions attached to the core (Core.batch_jobs)")
        return self.batch_jobs


async def open_core(settings: Settings, *, pooled: bool = True) -> Core:
    """Connect to an already migrated database and load (or create) the key secret."""
    database = Database(settings.database, pooled=pooled,
                        query_timeout_ms=settings.query_timeout_ms)
    secret = await database.write(key_store.set_fact_once, KEY_SECRET_FACT, secrets.token_hex(32))
    return Core(settings=settings, database=database, key_secret=secret)


def start_listening(core: Core) -> Listener | None:
    """On PostgreSQL, hear other processes' new work and ended runs at once (not by polling)."""
    if not core.database.is_postgres:
        return None
    listener = Listener(
        core.settings.database,
        on_work=core.signals.work_queued,
        on_run_ended=core.signals.run_finished,
    )
    listener.start()
    return listener
