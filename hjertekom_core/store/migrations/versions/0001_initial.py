"""Initial store: municipalities, users and their municipalities, citizens, courses,
append-only registration revisions, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "municipalities",
        sa.Column("code", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("region_code", sa.Integer, nullable=False),
        sa.Column("region", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_municipalities"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('clinician', 'coordinator', 'researcher', 'administrator')", name="ck_users_role"),
    )
    op.create_table(
        "user_municipalities",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("municipality_code", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "municipality_code", name="pk_user_municipalities"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_user_municipalities_user_id_users"),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name="fk_user_municipalities_municipality_code_municipalities"),
    )
    op.create_table(
        "citizens",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("cpr", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("municipality_code", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_citizens"),
        sa.UniqueConstraint("cpr", name="uq_citizens_cpr"),
        sa.CheckConstraint("sex IN ('M', 'F')", name="ck_citizens_sex"),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name="fk_citizens_municipality_code_municipalities"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_citizens_created_by_users"),
    )
    op.create_index("ix_citizens_municipality_code", "citizens", ["municipality_code"])
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("citizen_id", sa.Integer, nullable=False),
        sa.Column("programme", sa.String(40), nullable=False),
        sa.Column("municipality_code", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_courses"),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name="fk_courses_citizen_id_citizens"),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name="fk_courses_municipality_code_municipalities"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_courses_created_by_users"),
    )
    op.create_index("ix_courses_citizen_id", "courses", ["citizen_id"])
    op.create_index("ix_courses_municipality_code", "courses", ["municipality_code"])
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("course_id", sa.Integer, nullable=False),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("contract_version", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registrations"),
        sa.UniqueConstraint("course_id", "form", "revision", name="uq_registrations_course_form_revision"),
        sa.CheckConstraint("status IN ('draft', 'complete')", name="ck_registrations_status"),
        sa.CheckConstraint("revision >= 1", name="ck_registrations_revision"),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name="fk_registrations_course_id_courses"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_registrations_user_id_users"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(40), nullable=True),
        sa.Column("municipality_code", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in ("audit_log", "registrations", "courses", "citizens", "user_municipalities", "users",
                  "municipalities"):
        op.drop_table(table)
