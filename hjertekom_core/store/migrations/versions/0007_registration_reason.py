"""Registrations keep the reason a finished (complete) registration was changed or reopened.

A revision on top of a complete one needs the clinician's reason (``Service.save(reason=...)``);
it is stored with the revision, beside its data. Older revisions have none (NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("reason")
