"""Rights per programme: a user's grants are (programme, municipality) pairs (issue 19).

``user_municipalities`` gets a ``programme`` column in its key. Every existing row becomes the
programme ``*``, every programme: the users keep exactly what they had, the right to act in their
municipalities in whatever programme the platform runs, also one loaded after this migration.
Rows per loaded programme were not chosen: which programmes are loaded is the workspace's
configuration (its contracts folder), which a migration of the store does not see and which may
differ between the processes sharing one store; and rows for today's programmes would quietly take
a programme loaded tomorrow away from everyone. An administrator narrows a user with
``hjertekom users set-programmes``. ``*`` is also the column's default, so a row written without a
programme (an older writer) means what it always meant. Administrators have no rows: the role acts
everywhere.

Downgrade keeps one row per user and municipality: a user granted only some programmes there acts
in all of them again (the older schema cannot say less).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_municipalities") as batch:
        batch.add_column(sa.Column("programme", sa.String(40), nullable=False, server_default="*"))
        batch.drop_constraint("pk_user_municipalities", type_="primary")
        batch.create_primary_key("pk_user_municipalities", ["user_id", "programme", "municipality_code"])


def downgrade() -> None:
    op.execute("DELETE FROM user_municipalities WHERE programme <> '*' AND EXISTS (SELECT 1 FROM "
               "user_municipalities AS other WHERE other.user_id = user_municipalities.user_id AND "
               "other.municipality_code = user_municipalities.municipality_code AND other.programme < "
               "user_municipalities.programme)")
    with op.batch_alter_table("user_municipalities") as batch:
        batch.drop_constraint("pk_user_municipalities", type_="primary")
        batch.drop_column("programme")
        batch.create_primary_key("pk_user_municipalities", ["user_id", "municipality_code"])
