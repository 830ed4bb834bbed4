"""The operational store's tables (SQLAlchemy Core). Changes here need an Alembic migration.

Registrations are append-only revisions: the unique (course_id, form, revision) key is what turns
two concurrent edits of one form into a loud conflict instead of a silent overwrite.
"""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# Stable constraint names so that migrations can refer to them on every backend.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

ROLES = ("clinician", "coordinator", "researcher", "administrator")
STATUSES = ("draft", "complete")

municipalities = Table(
    "municipalities", metadata,
    Column("code", Integer, primary_key=True, autoincrement=False),
    Column("name", String(80), nullable=False),
    Column("region_code", Integer, nullable=False),
    Column("region", String(80), nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Set by a password reset (the administrator saw the password), cleared when the user chooses a
    # new one; until then only "Skift adgangskode" is open to them. The last successful login, for
    # user administration and the rights review (migration 0008).
    Column("must_change_password", Boolean, nullable=False, default=False, server_default=false()),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    # Work phone and e-mail, printed under the clinician's name in the course summary (migration 0010).
    Column("phone", String(40), nullable=True),
    Column("email", String(200), nullable=True),
    # The PIN that takes the tablet back from a citizen in questionnaire mode (4-8 digits, argon2id
    # like the password; NULL: none). Never a way to log in (migration 0013).
    Column("pin_hash", String(255), nullable=True),
    CheckConstraint("role IN ('clinician', 'coordinator', 'researcher', 'administrator')", name="role"),
)

#: A user's grants: (programme, municipality) pairs. The programme "*" (access.ALL_PROGRAMMES) is
#: every programme, also one loaded later: what every user had before rights were per programme, and
#: what a row written without a programme still means (migration 0012). Administrators need no rows.
user_municipalities = Table(
    "user_municipalities", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("programme", String(40), primary_key=True, server_default="*"),
    Column("municipality_code", Integer, ForeignKey("municipalities.code"), primary_key=True),
)

citizens = Table(
    "citizens", metadata,
    Column("id", Integer, primary_key=True),
    Column("cpr", String(10), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(1), nullable=False),
    Column("municipality_code", Integer, ForeignKey("municipalities.code"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=True),
    # Restriction of processing (GDPR art. 18): set, the citizen is out of entry, reports, extracts,
    # transfers and snapshots until lifted (citizen_erasure.py). The reason is the operator's free
    # text, never audited (the audit entry says only that one was given). ``anonymised_at``: the
    # row is no longer a person (retention's anonymise mode; cpr and name are placeholders).
    Column("restricted_at", DateTime(timezone=True), nullable=True),
    Column("restricted_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("restriction_reason", Text, nullable=True),
    Column("anonymised_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("sex IN ('M', 'F')", name="sex"),
    # SQLite: ids are never handed out again after an erasure, so that the audit log's ids keep
    # naming the one citizen they were written about (migration 0009). PostgreSQL's sequences never do.
    sqlite_autoincrement=True,
)

courses = Table(
    "courses", metadata,
    Column("id", Integer, primary_key=True),
    Column("citizen_id", Integer, ForeignKey("citizens.id"), nullable=False, index=True),
    Column("programme", String(40), nullable=False),
    Column("municipality_code", Integer, ForeignKey("municipalities.code"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=True),
    sqlite_autoincrement=True,  # as citizens: an erased course's id is never reused (migration 0009)
)

registrations = Table(
    "registrations", metadata,
    Column("id", Integer, primary_key=True),
    Column("course_id", Integer, ForeignKey("courses.id"), nullable=False),
    Column("form", String(40), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("data", Text, nullable=False),  # JSON of the cleaned values, derived scores included
    Column("contract_version", String(20), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    # Why a finished (complete) registration was changed or reopened: the clinician's free text,
    # required for every revision on top of a complete one; NULL otherwise (migration 0007). Kept
    # here only, with the registration's data: the audit entry says that a reason was given, and
    # its length, never the text (it may name a person).
    Column("reason", Text, nullable=True),
    # The fields of this revision the citizen answered themselves (questionnaire mode on a tablet,
    # docs/questionnaire-mode.md): a JSON list of field names, NULL when none (migration 0011).
    Column("self_reported", Text, nullable=True),
    UniqueConstraint("course_id", "form", "revision", name="uq_registrations_course_form_revision"),
    CheckConstraint("status IN ('draft', 'complete')", name="status"),
    CheckConstraint("revision >= 1", name="revision"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("username", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("entity_id", String(40), nullable=True),
    Column("municipality_code", Integer, nullable=True),
    Column("detail", Text, nullable=False, default="{}"),  # JSON; never a CPR number or a name
    Index("ix_audit_log_at", "at"),
)

# Unsaved input of a form being edited, kept so that it survives a closed tab or a lost
# connection. One row per user, course and form, overwritten; not a revision and never the
# current value of the form (migration 0002).
autosaves = Table(
    "autosaves", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("course_id", Integer, ForeignKey("courses.id"), primary_key=True),
    Column("form", String(40), primary_key=True),
    Column("base_revision", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)

# Signed-in browser sessions of the entry app: the cookie holds only the id; logging out revokes
# the row, so a copied cookie is worthless afterwards (migration 0003).
web_sessions = Table(
    "web_sessions", metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # Idle timeout and the reason a session ended (logout, idle, deactivated) (migration 0005).
    Column("last_seen_at", DateTime(timezone=True), nullable=True),
    Column("ended_reason", String(20), nullable=True),
)

# What was transferred to whom, when and by whom: one row per export written (the DHRD transfer
# first). The files' checksums let anyone check later that a file is the one produced. No FK to
# users, like audit_log: the record outlives changes to the user table (migration 0004).
transfer_log = Table(
    "transfer_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("target", String(40), nullable=False),          # the export contract's name, e.g. dhrd
    Column("period", String(20), nullable=False),          # e.g. 2025-10
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("username", String(80), nullable=False),
    Column("export_contract_version", String(20), nullable=False),
    Column("programme_contract_version", String(20), nullable=False),
    Column("snapshot_name", String(200), nullable=False),
    Column("snapshot_hash", String(100), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("reject_count", Integer, nullable=False),       # courses rejected (in the rejects report)
    Column("data_sha256", String(64), nullable=False),
    Column("location", Text, nullable=False),              # the folder the files were written to
    Index("ix_transfer_log_target_period", "target", "period"),
)

# Failed logins in a row, per account name and per client address, shared by every server process
# (login_guard.py). ``key`` is a SHA-256 of the casefolded account name (so that a password typed
# into the name field is never stored) or the address as given. Rows whose streak is over are
# equivalent to no row and are purged (migration 0006).
login_failures = Table(
    "login_failures", metadata,
    Column("scope", String(10), primary_key=True),         # account or address
    Column("key", String(100), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failure_at", DateTime(timezone=True), nullable=True),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    CheckConstraint("scope IN ('account', 'address')", name="scope"),
    Index("ix_login_failures_last_failure_at", "last_failure_at"),
)

# What is left of an erased (or, by retention, anonymised) citizen: a keyed hash of the CPR number
# (HMAC-SHA256 with the pseudonymisation key, domain-separated from the research pseudonyms, in
# letters only), so that a later registration or import of the same number is flagged; who erased,
# when and why. Never the CPR number, the name or anything else about the person. ``citizen_id``:
# the erased citizen's former id, the key to the audit log's entries about them; NULL for an
# anonymisation, whose rows live on under new ids that nothing may link back (migration 0009).
TOMBSTONE_KINDS = ("erased", "anonymised")
TOMBSTONE_CATEGORIES = ("citizen_request", "registered_in_error", "unlawful", "retention", "other")
tombstones = Table(
    "tombstones", metadata,
    Column("id", Integer, primary_key=True),
    Column("cpr_hash", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("erased_by", Integer, nullable=True),          # a user id; no FK, like audit_log
    Column("citizen_id", Integer, nullable=True),
    Column("reason_category", String(40), nullable=False),
    Column("reason", Text, nullable=True),                # checked: nothing CPR-shaped, not the name
    Column("municipality_codes", String(200), nullable=False),  # the citizen's and its courses', e.g. "740,751"
    CheckConstraint("kind IN ('erased', 'anonymised')", name="kind"),
    CheckConstraint("reason_category IN ('citizen_request', 'registered_in_error', 'unlawful', 'retention', "
                    "'other')", name="reason_category"),
)
