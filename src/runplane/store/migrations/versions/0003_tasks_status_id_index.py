"""tasks (status, id) index instead of (status, available_at, id): claims walk, not sort

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (status, available_at, id) made SQLite sort every queued task on each claim.
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_status_id", "tasks", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tasks_status_id", table_name="tasks")
    op.create_index(
        "ix_tasks_claim", "tasks", ["status", "available_at", "id"], unique=False
    )
