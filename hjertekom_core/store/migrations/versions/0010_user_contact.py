"""Users: phone and e-mail on the profile, printed under the responsible clinician's name in the
course summary for hospital and GP (docs/reports.md); both optional, the municipality's contact
setting stands in where they are empty.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String(40), nullable=True))
        batch.add_column(sa.Column("email", sa.String(200), nullable=True))


def downgrade() -> None:
    # In place, not by rebuilding users: with foreign keys on, dropping the old table would cascade
    # to every user's municipalities and sessions (see 0013).
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("email")
        batch.drop_column("phone")
