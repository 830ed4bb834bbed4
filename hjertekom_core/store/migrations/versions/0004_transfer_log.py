"""Transfer log: one row per export written (the monthly DHRD transfer), by whom and from what.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("export_contract_version", sa.String(20), nullable=False),
        sa.Column("programme_contract_version", sa.String(20), nullable=False),
        sa.Column("snapshot_name", sa.String(200), nullable=False),
        sa.Column("snapshot_hash", sa.String(100), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("reject_count", sa.Integer, nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transfer_log"),
    )
    op.create_index("ix_transfer_log_target_period", "transfer_log", ["target", "period"])


def downgrade() -> None:
    op.drop_table("transfer_log")
