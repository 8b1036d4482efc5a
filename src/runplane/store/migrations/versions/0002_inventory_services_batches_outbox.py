"""inventory services batches outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:41:51.557387
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("ip_address", sa.String(length=64), server_default="", nullable=False),
        sa.Column("vendor", sa.String(length=256), server_default="", nullable=False),
        sa.Column("model", sa.String(length=256), server_default="", nullable=False),
        sa.Column("operating_system", sa.String(length=256), server_default="", nullable=False),
        sa.Column("os_version", sa.String(length=256), server_default="", nullable=False),
        sa.Column("location", sa.String(length=256), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_devices_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("instance_id", "name", name="uq_devices_instance_name"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("ix_devices_ip", ["instance_id", "ip_address"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column(
            "lease_expires_at", runplane.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", runplane.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_outbox_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "pools",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "manually_defined", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_pools_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pools")),
        sa.UniqueConstraint("instance_id", "name", name="uq_pools_instance_name"),
    )
    op.create_table(
        "outbox_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("attempted_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_outbox_attempts_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempts")),
    )
    with op.batch_alter_table("outbox_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_attempts_outbox", ["outbox_id"], unique=False)

    op.create_table(
        "pool_members",
        sa.Column("pool_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_pool_members_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["pools.id"],
            name=op.f("fk_pool_members_pool_id_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pool_id", "device_id", name=op.f("pk_pool_members")),
    )
    with op.batch_alter_table("pool_members", schema=None) as batch_op:
        batch_op.create_index("ix_pool_members_device", ["device_id"], unique=False)

    op.create_table(
        "services",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("source_code", sa.Text(), server_default="", nullable=False),
        sa.Column("command", sa.Text(), server_default="", nullable=False),
        sa.Column("script_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("pools", sa.JSON(), nullable=False),
        sa.Column("run_method", sa.String(length=16), nullable=False),
        sa.Column("max_processes", sa.Integer(), nullable=False),
        sa.Column("number_of_retries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("time_between_retries", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=True),
        sa.Column("initial_payload", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_services_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["script_id"],
            ["scripts.id"],
            name=op.f("fk_services_script_id_scripts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("instance_id", "name", name="uq_services_instance_name"),
    )
    op.create_table(
        "batches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("async_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("jobs_total", sa.Integer(), nullable=False),
        sa.Column("jobs_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", runplane.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", runplane.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_batches_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_batches_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("async_id", name=op.f("uq_batches_async_id")),
    )
    op.create_table(
        "run_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), server_default="", nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_logs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_logs")),
    )
    with op.batch_alter_table("run_logs", schema=None) as batch_op:
        batch_op.create_index("ix_run_logs_run", ["run_id", "id"], unique=False)

    op.create_table(
        "batch_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("started_at", runplane.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", runplane.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_jobs_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_jobs")),
        sa.UniqueConstraint("batch_id", "position", name="uq_batch_jobs_batch_position"),
    )
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_batch_jobs_batch", ["batch_id", "position"], unique=False)

    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=128), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runtime", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("max_parallel", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "stop_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("callback_url", sa.Text(), nullable=True))
        batch_op.create_index("ix_runs_service", ["service_id", "id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_runs_runtime"), ["runtime"])
        batch_op.create_foreign_key(
            batch_op.f("fk_runs_service_id_services"),
            "services",
            ["service_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_data", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("result", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("retries_left", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("retry_delay", sa.Float(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_index("ix_tasks_run_status", ["run_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_run_status")
        batch_op.drop_column("retry_delay")
        batch_op.drop_column("retries_left")
        batch_op.drop_column("result")
        batch_op.drop_column("target_data")

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_runs_service_id_services"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_runs_runtime"), type_="unique")
        batch_op.drop_index("ix_runs_service")
        batch_op.drop_column("callback_url")
        batch_op.drop_column("stop_requested")
        batch_op.drop_column("max_parallel")
        batch_op.drop_column("service_id")
        batch_op.drop_column("runtime")

    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")

    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_jobs_batch")

    op.drop_table("batch_jobs")
    with op.batch_alter_table("run_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_run_logs_run")

    op.drop_table("run_logs")
    op.drop_table("batches")
    op.drop_table("services")
    with op.batch_alter_table("pool_members", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_members_device")

    op.drop_table("pool_members")
    with op.batch_alter_table("outbox_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_attempts_outbox")

    op.drop_table("outbox_attempts")
    op.drop_table("pools")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_ip")

    op.drop_table("devices")
