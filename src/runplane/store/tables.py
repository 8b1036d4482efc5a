"""The schema: one set of tables for SQLite and PostgreSQL. Alembic migrations mirror it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from runplane.store.types import BigId, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Server-wide facts that must outlive a restart (the key-hashing secret, say).
server_facts = Table(
    "server_facts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

instances = Table(
    "instances",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("extra_metadata", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    # Signs this instance's callbacks (Standard Webhooks); made when first needed.
    Column("webhook_secret", String(128), nullable=True),
    # Per-instance numbering of scripts, as Syncano's integer script ids are per instance.
    Column("script_seq", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # NULL instance: an account key, valid on every instance.
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

scripts = Table(
    "scripts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("label", String(256), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("source", Text, nullable=False),
    Column("runtime_name", String(32), nullable=False),
    Column("config", JSON, nullable=False),
    Column("trace_seq", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("instance_id", "number", name="uq_scripts_instance_number"),
)

script_endpoints = Table(
    "script_endpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("script_id", ForeignKey("scripts.id", ondelete="CASCADE"), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("public", Boolean, nullable=False, server_default=text("false")),
    Column("public_link", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("instance_id", "name", name="uq_script_endpoints_instance_name"),
)

# A run is one execution request; a trace in the script door.
runs = Table(
    "runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("script_id", ForeignKey("scripts.id", ondelete="CASCADE"), nullable=True),
    # The trace id: numbered per script.
    Column("number", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("tasks_total", Integer, nullable=False),
    Column("tasks_done", Integer, nullable=False, server_default=text("0")),
    Column("tasks_failed", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("error", Text, nullable=True),
    # The service door's name for a run (eNMS "runtime"); unique when set.
    Column("runtime", String(64), nullable=True, unique=True),
    Column("service_id", ForeignKey("services.id", ondelete="SET NULL"), nullable=True),
    # Tasks of this run that may execute at once (a service's max_processes); NULL: no limit.
    Column("max_parallel", Integer, nullable=True),
    # Set by a stop request: queued tasks are aborted, running ones killed by their worker.
    Column("stop_requested", Boolean, nullable=False, server_default=text("false")),
    Column("callback_url", Text, nullable=True),
    UniqueConstraint("script_id", "number", name="uq_runs_script_number"),
)

# A task is one target's share of a run: the unit that is queued, leased and executed.
tasks = Table(
    "tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False, server_default=text("0")),
    Column("target", String(256), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("available_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("stdout", Text, nullable=True),
    Column("stderr", Text, nullable=True),
    Column("output_truncated", Boolean, nullable=False, server_default=text("false")),
    Column("error", Text, nullable=True),
    # The target as it was when the run was made (a device's attributes), for the executor.
    Column("target_data", JSON, nullable=True),
    # What the target's execution reported (a snippet's `results`), as JSON.
    Column("result", JSON, nullable=True),
    # Retries after a failure (a service's number_of_retries), and the pause before each.
    Column("retries_left", Integer, nullable=False, server_default=text("0")),
    Column("retry_delay", Float, nullable=False, server_default=text("0")),
)

# The inventory (service door) ----------------------------------------------------------

devices = Table(
    "devices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("ip_address", String(64), nullable=False, server_default=""),
    Column("vendor", String(256), nullable=False, server_default=""),
    Column("model", String(256), nullable=False, server_default=""),
    Column("operating_system", String(256), nullable=False, server_default=""),
    Column("os_version", String(256), nullable=False, server_default=""),
    Column("location", String(256), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("port", Integer, nullable=True),
    # Free custom properties.
    Column("properties", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("instance_id", "name", name="uq_devices_instance_name"),
)

pools = Table(
    "pools",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("manually_defined", Boolean, nullable=False, server_default=text("false")),
    # {property: {"value": str, "match": inclusion|equality|regex|empty, "invert": bool}}
    Column("filters", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("instance_id", "name", name="uq_pools_instance_name"),
)

pool_members = Table(
    "pool_members",
    metadata,
    Column("pool_id", ForeignKey("pools.id", ondelete="CASCADE"), primary_key=True),
    Column("device_id", ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
)

# Credentials to reach devices (eNMS's Credential). The secrets are Fernet tokens, never
# plain text ("" when unset); the key is never in the database (core/secret_key.py).
credentials = Table(
    "credentials",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # read-write | read-only (a service's credential_type picks among them)
    Column("role", String(16), nullable=False),
    # password | key
    Column("subtype", String(16), nullable=False),
    Column("username", String(256), nullable=False, server_default=""),
    Column("password", Text, nullable=False, server_default=""),
    Column("private_key", Text, nullable=False, server_default=""),
    Column("enable_password", Text, nullable=False, server_default=""),
    Column("priority", Integer, nullable=False, server_default=text("1")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("instance_id", "name", name="uq_credentials_instance_name"),
)

# eNMS's Credential.device_pools: the pools whose devices a credential serves.
credential_pools = Table(
    "credential_pools",
    metadata,
    Column("credential_id", ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True),
    Column("pool_id", ForeignKey("pools.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_credential_pools_pool", "pool_id"),
)

services = Table(
    "services",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    # python_snippet_service | shell_command_service | script_service
    Column("type", String(64), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("source_code", Text, nullable=False, server_default=""),
    Column("command", Text, nullable=False, server_default=""),
    Column("script_id", ForeignKey("scripts.id", ondelete="SET NULL"), nullable=True),
    # Default targets, by name.
    Column("devices", JSON, nullable=False),
    Column("pools", JSON, nullable=False),
    Column("run_method", String(16), nullable=False),
    Column("max_processes", Integer, nullable=False),
    Column("number_of_retries", Integer, nullable=False, server_default=text("0")),
    Column("time_between_retries", Float, nullable=False, server_default=text("0")),
    Column("timeout", Float, nullable=True),
    Column("initial_payload", JSON, nullable=False),
    # Other eNMS fields a client sent, kept as given.
    Column("properties", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("instance_id", "name", name="uq_services_instance_name"),
)

# Log lines of a run, in order; `id` is the offset a client tails from.
run_logs = Table(
    "run_logs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("task_id", BigId, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("source", String(256), nullable=False, server_default=""),
    Column("message", Text, nullable=False),
)

# Batches (batch door) -----------------------------------------------------------------

batches = Table(
    "batches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("async_id", String(32), nullable=False, unique=True),
    # The run whose single task drives the batch through a worker.
    Column("run_id", ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("callback_url", Text, nullable=True),
    Column("jobs_total", Integer, nullable=False),
    Column("jobs_done", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("error", Text, nullable=True),
)

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("namespace", String(128), nullable=False),
    Column("action", String(128), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("response", JSON, nullable=True),
    # A run the job started (script.run, service.run), so a resumed batch waits, not reruns.
    Column("run_id", BigId, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("batch_id", "position", name="uq_batch_jobs_batch_position"),
)

# Callbacks to deliver (every door) ---------------------------------------------------

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    # What the callback reports: "batch" or "run", and that thing's id.
    Column("subject", String(16), nullable=False),
    Column("subject_id", BigId, nullable=False),
    Column("url", Text, nullable=False),
    Column("body", JSON, nullable=False),
    # pending | delivered | failed (gave up)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)

outbox_attempts = Table(
    "outbox_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("outbox_id", ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
)

Index("ix_tasks_lease", tasks.c.status, tasks.c.lease_expires_at)
Index("ix_tasks_owner", tasks.c.lease_owner)
Index("ix_tasks_run", tasks.c.run_id, tasks.c.position)
Index("ix_runs_status", runs.c.status)
Index("ix_runs_instance", runs.c.instance_id, runs.c.id)
Index("ix_api_keys_instance", api_keys.c.instance_id)
Index("ix_scripts_instance", scripts.c.instance_id, scripts.c.number)
Index("ix_tasks_run_status", tasks.c.run_id, tasks.c.status)
# Lets a claim walk queued tasks in id order instead of sorting the whole queue.
Index("ix_tasks_status_id", tasks.c.status, tasks.c.id)
Index("ix_runs_service", runs.c.service_id, runs.c.id)
Index("ix_devices_ip", devices.c.instance_id, devices.c.ip_address)
Index("ix_pool_members_device", pool_members.c.device_id)
Index("ix_run_logs_run", run_logs.c.run_id, run_logs.c.id)
Index("ix_batch_jobs_batch", batch_jobs.c.batch_id, batch_jobs.c.position)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
Index("ix_outbox_attempts_outbox", outbox_attempts.c.outbox_id)
