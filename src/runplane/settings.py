"""Every setting and its default, in one place.

Values come from `RUNPLANE_*` environment variables; CLI flags override them by passing
keyword arguments to `Settings(...)`.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KIB = 1024
MIB = 1024 * KIB


def _default_slots() -> int:
    # Scripts mostly wait on I/O or sleep; two slots per core keeps both cores busy.
    return max(2, 2 * (os.cpu_count() or 1))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNPLANE_", extra="ignore")

    # Where and how to serve.
    database: str = Field(
        default="sqlite:///runplane.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "info"
    # A server that drops an idle connection while a client reuses it resets that request
    # (the client cannot tell whether a POST ran); clients' pools drop idle connections after
    # 5 s (httpx), 15 s (aiohttp) or 60 s (nginx, load balancers), so the server waits longer.
    keep_alive_seconds: int = Field(
        default=75, ge=1, le=3600,
        description="how long an idle keep-alive connection stays open (s): longer than "
                    "clients' pools keep theirs, so that the client closes first",
    )

    # Workers and the queue.
    workers: int = Field(default_factory=_default_slots, ge=0, le=1024,
                         description="task slots per process (0: no embedded workers)")
    control_slots: int = Field(
        default=2, ge=0, le=256,
        description="batches driven at once by this process (they wait on the runs they start)",
    )
    lease_seconds: float = Field(default=15.0, gt=0.5, le=3600)
    max_attempts: int = Field(default=3, ge=1, le=100,
                              description="claims of a task before a lost worker fails it")
    instance_concurrency: int = Field(
        default=0, ge=0, description="tasks of one instance running at once (0: no limit)"
    )
    stop_poll_interval: float = Field(
        default=1.0, gt=0, le=60, description="how often workers look for stopped runs (s)"
    )
    poll_interval: float = Field(default=0.5, gt=0, le=60,
                                 description="idle poll for work queued by other processes")
    shutdown_grace: float = Field(default=10.0, ge=0, le=3600)

    # Script execution.
    executor: str = Field(
        default="fork", pattern="^(fork|spawn)$",
        description="fork: from a warm zygote per worker; spawn: a new interpreter per run",
    )
    script_timeout: float = Field(default=30.0, gt=0)
    script_timeout_max: float = Field(default=300.0, gt=0)
    script_memory_mb: int = Field(default=512, ge=32)
    output_limit: int = Field(default=512 * KIB, ge=1024)
    file_size_limit: int = Field(default=64 * MIB, ge=KIB)
    open_files_limit: int = Field(default=256, ge=16)
    sandbox: str = Field(
        default="none", pattern="^(none|bwrap)$",
        description="bwrap: no network, read-only system, private /tmp (if bwrap works here)",
    )
    confine: str = Field(
        default="auto", pattern="^(auto|required|off)$",
        description="auto: confine runs with Landlock where the kernel has it (else warn); "
                    "required: refuse to start without it; off: no confinement",
    )
    confine_read: str = Field(
        default="", max_length=4096,
        description="more directories confined runs may read, separated by ':'",
    )
    confine_write: str = Field(
        default="", max_length=4096,
        description="directories confined runs may also write, separated by ':'",
    )
    run_as_uid: int | None = Field(default=None, ge=0,
                                   description="switch runs to this uid (server runs as root)")
    run_as_gid: int | None = Field(default=None, ge=0,
                                   description="and this gid (default: that user's group)")
    work_root: str | None = Field(
        default=None,
        description="where run directories are made (default: in memory where there is room, "
                    "see rundir.choose_work_root)",
    )

    # Credentials' secrets, encrypted at rest with Fernet (core/secret_key.py, the README).
    secret_key: SecretStr | None = Field(
        default=None,
        description="base64 Fernet key(s), comma-separated: the first encrypts, every one "
                    "decrypts (rotation). Give every process the same (PostgreSQL, many hosts)",
    )
    secret_key_file: str | None = Field(
        default=None, max_length=4096,
        description="the key file when secret_key is unset (default: next to the SQLite "
                    "database, <database>.secret-key), made on first use with mode 0600",
    )

    # Input limits.
    source_max_bytes: int = 3 * MIB
    payload_max_bytes: int = 512 * KIB
    body_max_bytes: int = 8 * MIB
    config_max_keys: int = 1024
    config_key_max_chars: int = 64
    config_max_bytes: int = 256 * KIB
    metadata_max_bytes: int = 64 * KIB
    page_size_max: int = 100
    query_timeout_ms: int = Field(
        default=5000, ge=0, le=3_600_000,
        description="PostgreSQL: the longest a statement running a user's regex (a pool's "
                    "or a search's filter) may take, in ms, before it is refused (0: no bound)",
    )

    # Services (the service door).
    max_targets: int = Field(default=50_000, ge=1, description="targets of one service run")
    service_batch_size: int = Field(
        default=32, ge=1, le=1000,
        description="targets of one python snippet service run that one process may take in "
                    "turn when there are more waiting than free slots (1: a process each)",
    )
    service_sync_wait_seconds: float = Field(
        default=120.0, gt=0,
        description="a synchronous run_service answers 'still running' with its runtime past this",
    )

    # Synchronous runs (script endpoints) answer 408 past this wait.
    endpoint_wait_seconds: float = Field(default=300.0, gt=0)

    # Batches and callbacks.
    batch_max_jobs: int = Field(default=1000, ge=1, description="jobs in one batch")
    batch_body_max_bytes: int = Field(default=4 * MIB, ge=KIB,
                                      description="a batch door request body")
    batch_retention_seconds: float = Field(
        default=172_800.0, gt=0, description="finished batches are kept this long, then pruned"
    )
    batch_job_wait_seconds: float = Field(
        default=3600.0, gt=0, description="how long a job waits for the run it started"
    )
    callback_timeout: float = Field(default=10.0, gt=0, le=600,
                                    description="one callback POST, connect to last byte (s)")
    callback_attempts: int = Field(default=10, ge=1, le=100,
                                   description="tries of a callback before giving up")
    callback_first_delay: float = Field(default=1.0, ge=0,
                                        description="backoff before the second try (s)")
    callback_max_delay: float = Field(default=300.0, ge=0,
                                      description="the longest backoff between tries (s)")
    callback_denied_networks: str = Field(
        default="169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32",
        description="comma-separated networks a callback URL may not resolve into",
    )
    callback_poll_interval: float = Field(default=0.5, gt=0, le=60,
                                          description="how often the sender looks for due work")
    callback_concurrency: int = Field(default=8, ge=1, le=256,
                                      description="callbacks one process sends at once")
    prune_interval: float = Field(default=600.0, gt=0,
                                  description="how often expired batches are pruned (s)")

    @property
    def script_memory_bytes(self) -> int:
        return self.script_memory_mb * MIB


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)
