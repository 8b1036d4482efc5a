"""The schema: one set of tables for SQLite and PostgreSQL. Alembic migrations mirror it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
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
)

Index("ix_tasks_claim", tasks.c.status, tasks.c.available_at, tasks.c.id)
Index("ix_tasks_lease", tasks.c.status, tasks.c.lease_expires_at)
Index("ix_tasks_owner", tasks.c.lease_owner)
Index("ix_tasks_run", tasks.c.run_id, tasks.c.position)
Index("ix_runs_status", runs.c.status)
Index("ix_runs_instance", runs.c.instance_id, runs.c.id)
Index("ix_api_keys_instance", api_keys.c.instance_id)
Index("ix_scripts_instance", scripts.c.instance_id, scripts.c.number)
