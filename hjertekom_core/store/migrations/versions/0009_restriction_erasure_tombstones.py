"""Citizens' rights: restriction columns, anonymisation, tombstones of erased citizens; ids never reused.

* ``citizens`` gets ``restricted_at``, ``restricted_by``, ``restriction_reason`` (GDPR art. 18) and
  ``anonymised_at`` (retention's anonymise mode).
* ``tombstones``: what is left of an erased citizen (a keyed hash of the CPR number, who, when, why).
* On SQLite, ``citizens`` and ``courses`` become AUTOINCREMENT tables: without it SQLite hands the
  highest id out again once its row is deleted, and the audit log's entries about an erased
  citizen or course would then seem to be about the next one. PostgreSQL's sequences never reuse
  an id. SQLite cannot change a table's key in place, so the four tables of the citizen's chain
  (citizens, courses, registrations, autosaves) are copied aside, dropped children first (with
  foreign keys on, nothing is ever orphaned), made anew and filled again, in the one transaction
  of the migration. Ids, values and constraint names are kept.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NEW_CITIZEN_COLUMNS = ("restricted_at", "restricted_by", "restriction_reason", "anonymised_at")


def _citizen_columns() -> list[sa.Column]:
    return [
        sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restricted_by", sa.Integer, nullable=True),
        sa.Column("restriction_reason", sa.Text, nullable=True),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _create_citizens(rights: bool = True) -> None:
    """The citizens table, with the columns of this migration unless ``rights`` is False (downgrade)."""
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
        *(_citizen_columns() if rights else ()),
        sa.PrimaryKeyConstraint("id", name="pk_citizens"),
        sa.UniqueConstraint("cpr", name="uq_citizens_cpr"),
        sa.CheckConstraint("sex IN ('M', 'F')", name="ck_citizens_sex"),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"],
                                name="fk_citizens_municipality_code_municipalities"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_citizens_created_by_users"),
        *([sa.ForeignKeyConstraint(["restricted_by"], ["users.id"], name="fk_citizens_restricted_by_users")]
          if rights else ()),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_citizens_municipality_code", "citizens", ["municipality_code"])


def _create_courses() -> None:
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
        sqlite_autoincrement=True,
    )
    op.create_index("ix_courses_citizen_id", "courses", ["citizen_id"])
    op.create_index("ix_courses_municipality_code", "courses", ["municipality_code"])


def _create_registrations() -> None:
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
        sa.Column("reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registrations"),
        sa.UniqueConstraint("course_id", "form", "revision", name="uq_registrations_course_form_revision"),
        sa.CheckConstraint("status IN ('draft', 'complete')", name="ck_registrations_status"),
        sa.CheckConstraint("revision >= 1", name="ck_registrations_revision"),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name="fk_registrations_course_id_courses"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_registrations_user_id_users"),
    )


def _create_autosaves() -> None:
    op.create_table(
        "autosaves",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("course_id", sa.Integer, nullable=False),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("base_revision", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "course_id", "form", name="pk_autosaves"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE", name="fk_autosaves_user_id_users"),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name="fk_autosaves_course_id_courses"),
    )


#: The chain, parents first, with the columns each had before this migration.
_CHAIN = (
    ("citizens", _create_citizens,
     "id, cpr, name, birth_date, sex, municipality_code, created_at, created_by"),
    ("courses", _create_courses, "id, citizen_id, programme, municipality_code, created_at, created_by"),
    ("registrations", _create_registrations,
     "id, course_id, form, revision, status, data, contract_version, user_id, saved_at, reason"),
    ("autosaves", _create_autosaves, "user_id, course_id, form, base_revision, data, saved_at"),
)


def _rebuild_sqlite_chain(rights: bool) -> None:
    """Copy the chain aside, drop it children first, make it anew (AUTOINCREMENT; the citizens'
    new columns if ``rights``) and fill it again, parents first."""
    for table, _create, columns in _CHAIN:
        op.execute(f"CREATE TABLE _m0009_{table} AS SELECT {columns} FROM {table}")  # noqa: S608 - fixed names
    for table, _create, _columns in reversed(_CHAIN):  # children first: no row is ever orphaned
        op.execute(f"DROP TABLE {table}")
    for table, create, columns in _CHAIN:
        _create_citizens(rights) if table == "citizens" else create()
        op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _m0009_{table}")  # noqa: S608
    for table, _create, _columns in reversed(_CHAIN):
        op.execute(f"DROP TABLE _m0009_{table}")


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_chain(rights=True)
    else:
        for column in _citizen_columns():
            op.add_column("citizens", column)
        op.create_foreign_key("fk_citizens_restricted_by_users", "citizens", "users", ["restricted_by"], ["id"])
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("cpr_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.Integer, nullable=True),
        sa.Column("citizen_id", sa.Integer, nullable=True),
        sa.Column("reason_category", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("municipality_codes", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tombstones"),
        sa.CheckConstraint("kind IN ('erased', 'anonymised')", name="ck_tombstones_kind"),
        sa.CheckConstraint("reason_category IN ('citizen_request', 'registered_in_error', 'unlawful', 'retention', "
                           "'other')", name="ck_tombstones_reason_category"),
    )
    op.create_index("ix_tombstones_cpr_hash", "tombstones", ["cpr_hash"])


def downgrade() -> None:
    """Drop the tombstones and the new columns (on SQLite the tables stay AUTOINCREMENT: harmless)."""
    op.drop_index("ix_tombstones_cpr_hash", table_name="tombstones")
    op.drop_table("tombstones")
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_chain(rights=False)
    else:
        op.drop_constraint("fk_citizens_restricted_by_users", "citizens", type_="foreignkey")
        for column in reversed(_NEW_CITIZEN_COLUMNS):
            op.drop_column("citizens", column)
