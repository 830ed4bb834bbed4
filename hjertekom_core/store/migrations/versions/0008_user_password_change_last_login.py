"""Users: a password that must be changed at the next login, and the time of the last login.

``must_change_password`` is set when an administrator resets a password (the administrator has
seen it) and cleared when the user chooses a new one; until then the web login shows "Skift
adgangskode" and the command line's ``--user`` is refused. ``last_login_at`` is written at each
successful login, for the user administration page and the yearly rights review (accounts unused
for 90 days); the audit log's ``login`` entries remain the evidence.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("must_change_password")
