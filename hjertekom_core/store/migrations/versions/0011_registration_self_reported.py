"""Registrations record which of their fields the citizen answered themselves.

The entry app's questionnaire mode hands a tablet to the citizen (docs/questionnaire-mode.md); the
items answered there are saved as the citizen's: a JSON list of field names beside the revision's
data. Older revisions, and revisions with no such item, have none (NULL).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("self_reported", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("self_reported")
