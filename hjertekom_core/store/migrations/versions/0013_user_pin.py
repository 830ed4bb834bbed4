"""Users: a PIN for the questionnaire mode (issue 19). In the hosted set-up users sign in at the
authenticating proxy and have no password in HjerteKom, so the tablet handed to a citizen could
not be taken back; a PIN of 4-8 digits, hashed with argon2id like the passwords (never stored in
clear), is the key there. Optional: NULL means no PIN.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("pin_hash", sa.String(255), nullable=True))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35+ knows DROP COLUMN), not by rebuilding the table as batch mode
    # would: the store keeps foreign keys on, and dropping the old users table would cascade to
    # every user's municipalities, grants and sessions.
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("pin_hash")
