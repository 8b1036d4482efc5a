"""credentials (secrets as Fernet tokens) and the pools whose devices they serve

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("subtype", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=256), server_default="", nullable=False),
        sa.Column("password", sa.Text(), server_default="", nullable=False),
        sa.Column("private_key", sa.Text(), server_default="", nullable=False),
        sa.Column("enable_password", sa.Text(), server_default="", nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", runplane.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["instances.id"],
            name=op.f("fk_credentials_instance_id_instances"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("instance_id", "name", name="uq_credentials_instance_name"),
    )
    op.create_table(
        "credential_pools",
        sa.Column("credential_id", ID, nullable=False),
        sa.Column("pool_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.id"],
            name=op.f("fk_credential_pools_credential_id_credentials"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"],
            name=op.f("fk_credential_pools_pool_id_pools"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("credential_id", "pool_id", name=op.f("pk_credential_pools")),
    )
    with op.batch_alter_table("credential_pools", schema=None) as batch_op:
        batch_op.create_index("ix_credential_pools_pool", ["pool_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credential_pools", schema=None) as batch_op:
        batch_op.drop_index("ix_credential_pools_pool")
    op.drop_table("credential_pools")
    op.drop_table("credentials")
