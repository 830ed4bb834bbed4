"""Login failure counters shared by every server process; the audit log becomes append-only.

The database itself refuses to change or remove an audit row, whoever asks: on SQLite triggers
abort UPDATE and DELETE; on PostgreSQL a trigger function refuses UPDATE, DELETE and TRUNCATE.
On PostgreSQL the service should also connect as a role that lacks those rights and does not own
the table (``hjertekom_core.store.roles``, docs/operations-database.md): an owner can drop the
trigger. On SQLite whoever can write the file can drop a trigger too; there the triggers guard
against mistakes and against SQL reaching the store through the application, not against the
file's owner.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The message every refusal carries (tests and operators match on "append-only").
MESSAGE = "audit_log is append-only: rows may be added, never changed or removed"

_SQLITE_TRIGGERS = {
    "audit_log_no_update": "UPDATE",
    "audit_log_no_delete": "DELETE",
}

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION hjertekom_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_login_failures"),
        sa.CheckConstraint("scope IN ('account', 'address')", name="ck_login_failures_scope"),
    )
    op.create_index("ix_login_failures_last_failure_at", "login_failures", ["last_failure_at"])

    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION hjertekom_audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION hjertekom_audit_log_append_only()")
    else:
        for name, event in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS hjertekom_audit_log_append_only()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_login_failures_last_failure_at", table_name="login_failures")
    op.drop_table("login_failures")
