"""The one service layer behind the entry app, the CLI and the tests.

Every call is authorised by role, municipality and programme, validated against the data contract
and audited. Records outside the user's municipalities, and courses of a programme the user does
not act in there, are reported as not found, so that nobody learns what another municipality (or
programme) holds. A citizen (the person: CPR number, name) is shared by the programmes: found by
CPR number in the user's municipalities, by name only with a course the user may see or none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import json
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, and_, bindparam, exists, false, func, insert, or_, select, true
from sqlalchemy.exc import IntegrityError

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.citizen_state import (
    RESTRICTED_MESSAGE,
    not_restricted,
    open_for_entry,
    tombstones_of,
)
from hjertekom_core.contract import Contract, ContractRegistry
from hjertekom_core.cpr import InvalidCpr, normalise_cpr, parse_cpr
from hjertekom_core.errors import (
    CitizenExists,
    OpenCourseExists,
    AccessDenied,
    CitizenElsewhere,
    CitizenRestricted,
    ConfirmationRequired,
    FieldIssue,
    IncompleteForm,
    NotFound,
    ReasonRequired,
    ReopenRequired,
    RevisionConflict,
    SharedRevisionConflict,
    ValidationFailed,
)
from hjertekom_core.name_search import NameQuery, typed_cpr
from hjertekom_core.revisions import FieldChange, changed_fields
from hjertekom_core.save_events import observed_save
from hjertekom_core.shared_questions import (
    SharedAnswer,
    SharedLink,
    SharedNote,
    form_day,
    items_of,
    may_fill,
    place_text,
    with_answers,
)
from hjertekom_core.store import Store
from hjertekom_core.store.engine import StoreSession
from hjertekom_core.store.schema import audit_log, autosaves, citizens, courses, municipalities, registrations, users
from hjertekom_core.validation import ValidationReport, make_issue, validate_form

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

#: What the user cannot tell apart, so neither does the audit row's reason.
NOT_FOUND_OR_NOT_YOURS = "not found or not in the user's municipalities"
#: What a clinician is told when a CPR number cannot be registered: nothing about where it is held.
CITIZEN_ELSEWHERE_MESSAGE = (
    "Borgeren kan ikke oprettes med dette CPR-nummer. Kontrollér nummeret, eller kontakt "
    "en administrator. / The citizen cannot be registered with this CPR number. Check the "
    "number, or contact an administrator."
)
_OWNER_TABLES = {"citizen": citizens, "course": courses}


def _refusals_audited(attempted: str, entity: str, id_param: str | None = None) -> Callable[[F], F]:
    """Audit every refusal of the decorated Service method with ``audit.deny``, once.

    AccessDenied and NotFound raised anywhere in the call (after its transactions have ended)
    become one ``access.denied`` row: ``attempted`` (or the permission that failed), the record
    (``id_param`` names the argument holding its id; never a CPR number) and the municipality. A
    nested audited call (save_draft -> save) is recorded once.
    """

    def wrap(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: Service, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (AccessDenied, NotFound) as exc:
                if not getattr(exc, "audited", False):
                    entity_id = None
                    if id_param is not None:
                        entity_id = signature.bind(self, *args, **kwargs).arguments.get(id_param)
                    self._refused(attempted, entity, entity_id, exc)
                    exc.audited = True  # type: ignore[attr-defined]
                raise

        return wrapper  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class Citizen:
    id: int
    cpr: str = field(repr=False)
    name: str = field(repr=False)
    birth_date: dt.date
    sex: str
    municipality_code: int
    # Set by create_citizen when the CPR number was erased before (a tombstone matches): the
    # clinician should be told (citizen_state.PREVIOUSLY_ERASED_MESSAGE); a note, not part of who the citizen is.
    previously_erased: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Registration:
    course_id: int
    form: str
    revision: int
    status: str
    data: Mapping[str, Any] = field(repr=False)
    contract_version: str
    user_id: int | None
    saved_at: dt.datetime
    reason: str | None = None  # why a complete revision was changed or reopened (see Service.save)
    # The fields of this revision the citizen answered themselves (questionnaire mode), form order.
    self_reported: tuple[str, ...] = ()


@dataclass(frozen=True)
class Course:
    id: int
    programme: str
    municipality_code: int
    citizen: Citizen
    forms: Mapping[str, Registration]  # the latest revision of each form
    history: Sequence[Registration] = ()  # every revision, oldest first

    def revision_of(self, form: str) -> int:
        """The revision an edit of ``form`` starts from (0 when the form was never saved)."""
        reg = self.forms.get(form)
        return reg.revision if reg else 0

    def data_of(self, form: str) -> Mapping[str, Any]:
        reg = self.forms.get(form)
        return reg.data if reg else {}


@dataclass(frozen=True)
class WorklistItem:
    """One course on a clinician's worklist, with why it is there."""

    course_id: int
    citizen: Citizen
    municipality_code: int
    statuses: Mapping[str, str]  # form -> status of its latest revision
    start_date: dt.date | None
    missing_end: bool  # started (start complete), no complete end
    drafts: tuple[str, ...]  # forms whose latest revision is a draft
    overdue: bool  # missing end and past the completion limit
    awaiting_start: bool = False  # referred (course form saved), no start form yet, no end
    referral_date: dt.date | None = None
    days: int | None = None  # days since the start meeting, or since referral before it
    days_since: str | None = None  # what ``days`` counts from: "start", "referral" or None
    programme: str = "hjertekom"  # the course's programme (the entry app shows its forms)

    @property
    def groups(self) -> tuple[str, ...]:
        """The worklist groups (keys of WORKLIST_GROUPS) the course belongs to, in their order."""
        member = {
            "awaiting_start": self.awaiting_start,
            "missing_end": self.missing_end and not self.overdue,
            "drafts": bool(self.drafts),
            "overdue": self.overdue,
        }
        return tuple(g for g in WORKLIST_GROUPS if member[g])


#: The worklist's groups, in the order the entry app shows them: referred but no start meeting
#: yet, started without an end, drafts, and started without an end past the completion limit.
WORKLIST_GROUPS = ("awaiting_start", "missing_end", "drafts", "overdue")


@dataclass(frozen=True)
class Autosave:
    course_id: int
    form: str
    base_revision: int
    data: Mapping[str, Any] = field(repr=False)
    saved_at: dt.datetime


@dataclass(frozen=True)
class RevisionChange:
    """One revision of a form in its history: who saved it, when, why, and what it changed
    (``changes``: every field whose value differs from the revision before, old and new cleaned
    values; for the first revision, every field it holds)."""

    revision: int
    status: str
    previous_status: str | None  # the status of the revision before (None for the first)
    user_id: int | None
    saved_by: str | None = field(repr=False)  # the user's display name (None: a system job)
    saved_at: dt.datetime  # aware, UTC
    reason: str | None = field(repr=False)
    changes: tuple[FieldChange, ...] = field(repr=False)
    self_reported: tuple[str, ...] = ()  # the fields of the revision the citizen answered themselves
    #: Shared questions: the other programme's registration this revision's answers came from, or
    #: that it carried a correction over to (from the save's audit row; only programmes the user
    #: acts in there).
    shared: tuple[SharedLink, ...] = ()


@dataclass(frozen=True)
class ConflictDetails:
    """What a clinician needs after RevisionConflict: the revision they started from (``base``,
    None when the form was new), the newest revision (``latest``), who saved it (``saved_by``, a
    display name) and whether that was this very user (another tab), for a three-way merge
    (``hjertekom_core.revisions.merge_three_way``)."""

    base: Registration | None
    latest: Registration
    saved_by: str | None = field(repr=False)
    by_me: bool


@dataclass(frozen=True)
class SaveResult:
    course_id: int
    form: str
    revision: int
    status: str
    data: Mapping[str, Any]
    warnings: Sequence[FieldIssue]
    #: What the save did with shared questions (answers taken from, or carried over to, another
    #: programme's registration of the same day; or found to differ there): shared_questions.py.
    shared: tuple[SharedNote, ...] = ()


@dataclass(frozen=True)
class _Source:
    """Another programme's registration of the same day holding answers of an instrument."""

    answer: SharedAnswer
    course: Course
    registration: Registration


@dataclass
class _SharedPlan:
    """What a save does with its shared instruments: the data with answers filled in, the other
    programmes' revisions to insert with it, the notes for the clinician and the provenance."""

    data: Mapping[str, Any]
    sources: dict[str, list[_Source]]
    filled: tuple[str, ...] = ()
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    notes: list[SharedNote] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    carried: list[dict[str, Any]] = field(default_factory=list)
    targets: list[SharedAnswer] = field(default_factory=list)  # the answers each row of ``rows`` replaces


# Statements built once and executed with parameters: SQLAlchemy then skips building the statement
# and generating its cache key on every call.
_INSERT_REGISTRATION = insert(registrations)
# PostgreSQL: the new revision and its audit row in ONE statement (the registration's INSERT in a
# WITH, which PostgreSQL runs to completion with the outer INSERT: both rows or, on an error such
# as the unique revision key, neither). Run in autocommit, it replaces BEGIN, two INSERTs and
# COMMIT, four round trips, by one. Parameters: the registration row's keys prefixed "reg_", the
# audit row's prefixed "audit_".
_REGISTRATION_KEYS = (
    "course_id",
    "form",
    "revision",
    "status",
    "data",
    "contract_version",
    "user_id",
    "saved_at",
    "reason",
    "self_reported",
)
_AUDIT_KEYS = ("at", "user_id", "username", "action", "entity", "entity_id", "municipality_code", "detail")
_INSERT_SAVE_PG = (
    insert(audit_log)
    .values({c: bindparam(f"audit_{c}", type_=audit_log.c[c].type) for c in _AUDIT_KEYS})
    .add_cte(
        insert(registrations)
        .values({c: bindparam(f"reg_{c}", type_=registrations.c[c].type) for c in _REGISTRATION_KEYS})
        .cte("new_registration")
    )
)
_MOVE_COURSE = (
    courses.update()
    .where(courses.c.id == bindparam("move_course_id"))
    .values(municipality_code=bindparam("move_to"))
)
_DELETE_AUTOSAVE = autosaves.delete().where(autosaves.c.user_id == bindparam("user_id"),
                                            autosaves.c.course_id == bindparam("course_id"),
                                            autosaves.c.form == bindparam("form"))
# The entry app's save (drop_autosave) on PostgreSQL: the same statement with the user's autosave
# of the form deleted in a third data-modifying WITH (PostgreSQL runs every one of them to
# completion, or none).
_INSERT_SAVE_DROP_PG = _INSERT_SAVE_PG.add_cte(
    autosaves.delete()
    .where(
        autosaves.c.user_id == bindparam("drop_user_id"),
        autosaves.c.course_id == bindparam("drop_course_id"),
        autosaves.c.form == bindparam("drop_form"),
    )
    .cte("dropped_autosave")
)
_COURSE_ID = bindparam("course_id")
# The columns a Course is made of (_course_citizen, _check_course): nothing more is read and
# converted at every save (created_at, a datetime parsed from SQLite's text, was never used).
_COURSE_Q = (
    select(
        courses.c.id,
        courses.c.citizen_id,
        courses.c.programme,
        courses.c.municipality_code,
        citizens.c.cpr,
        citizens.c.name,
        citizens.c.birth_date,
        citizens.c.sex,
        citizens.c.municipality_code.label("citizen_municipality"),
        citizens.c.restricted_at,
        citizens.c.anonymised_at,
    )
    .join(citizens, citizens.c.id == courses.c.citizen_id)
    .where(courses.c.id == _COURSE_ID)
)
_HISTORY_Q = select(registrations).where(registrations.c.course_id == _COURSE_ID).order_by(registrations.c.id)
_LATEST = (
    select(registrations.c.form, func.max(registrations.c.revision).label("rev"))
    .where(registrations.c.course_id == _COURSE_ID)
    .group_by(registrations.c.form)
    .subquery()
)
_LATEST_Q = (
    select(registrations)
    .join(_LATEST, and_(registrations.c.form == _LATEST.c.form, registrations.c.revision == _LATEST.c.rev))
    .where(registrations.c.course_id == _COURSE_ID)
    .order_by(registrations.c.id)
)
# The course, its citizen and the latest revision of each form in ONE statement (one round trip
# instead of two): a row per form, or one row with NULL registration columns when none is saved.
_LATEST_REGS = _LATEST_Q.order_by(None).subquery("latest_regs")
_REG_COLUMNS = ("id", *_REGISTRATION_KEYS)
_COURSE_LATEST_Q = (
    select(*_COURSE_Q.selected_columns, *(_LATEST_REGS.c[c].label(f"reg_{c}") for c in _REG_COLUMNS))
    .select_from(
        courses.join(citizens, citizens.c.id == courses.c.citizen_id).outerjoin(
            _LATEST_REGS, _LATEST_REGS.c.course_id == courses.c.id
        )
    )
    .where(courses.c.id == _COURSE_ID)
    .order_by(_LATEST_REGS.c.id)
)


#: Why a citizen with a course that is not finished gets another one at once (the clinician's choice).
SECOND_COURSE_REASONS: dict[str, dict[str, str]] = {
    "new_referral": {
        "da": "Ny henvisning (nyt hjertetilfælde eller ny diagnose)",
        "en": "A new referral (a new cardiac event or diagnosis)",
    },
    "open_in_error": {
        "da": "Det åbne forløb er oprettet ved en fejl og skal afsluttes",
        "en": "The open course was created in error and will be closed",
    },
    "other_programme_step": {
        "da": "Et nyt forløb efter en pause aftalt med borgeren",
        "en": "A new course after a break agreed with the citizen",
    },
}


def _same_name(registered: str, typed: str) -> bool:
    """The same name, whatever the case and spacing."""
    return " ".join(registered.split()).casefold() == " ".join(typed.split()).casefold()


def _form_date(form: Any, forms: Mapping[str, tuple[str, str]]) -> dt.date | None:
    """The date of ``form`` (its contract ``date_field``) from its latest revision's JSON data;
    None when the form or the date is missing (or recorded as unknown)."""
    if form is None or not form.date_field or form.name not in forms:
        return None
    raw = json.loads(forms[form.name][1]).get(form.date_field)
    try:
        return dt.date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:  # a missing reason ("UNK", ...) instead of a date
        return None


#: What ``json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))`` builds at
#: every call, built once (the same encoder, so the same text).
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
#: Types that orjson writes exactly as ``_ENCODE`` does (exact types: a subclass, an enum, goes to
#: ``_ENCODE``). An int beyond 64 bits or a str with a lone surrogate makes orjson raise: ``_ENCODE``.
_PLAIN = frozenset({str, int, bool, type(None)})


def _plain(data: Mapping[str, Any]) -> bool:
    """True when orjson writes ``data`` byte for byte as ``_ENCODE`` does (the usual registration:
    str keys; strings, ints, booleans, floats, lists of codes); False sends it to ``_ENCODE``."""
    plain = _PLAIN
    for key, value in data.items():
        kind = type(value)
        if type(key) is not str:
            return False
        if kind in plain:
            continue
        if kind is float:
            # Python writes 1e-05 and 1e+16 where orjson writes 0.00001 and 1e16, NaN where it
            # writes null; in between both write the shortest repr (tests/test_dump_data.py).
            if value == 0 or 1e-4 <= abs(value) < 1e16:
                continue
            return False
        if kind is list:
            for item in value:
                if type(item) not in plain:
                    return False
            continue
        return False
    return True


def dump_data(data: Mapping[str, Any]) -> str:
    """The one JSON form of registration data in the store (compact, keys sorted).

    The text is ``_ENCODE``'s; orjson writes it for data of plain types (``_plain``), in a seventh of
    the CPU (about 14 µs less on a full start registration, on every save). Any other mapping (a
    stored revision's data decoded on first use, ``_StoredData``) is written as the dict it holds."""
    if type(data) is dict and _plain(data):
        try:
            return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate: _ENCODE writes them
            pass
    return _ENCODE(data if isinstance(data, dict) else dict(data))


def _scoped(user: User, municipality: Any, in_programmes: Callable[[list[str]], Any]) -> Any:  # noqa: ANN401
    """``municipality`` in a municipality where ``user`` acts in every programme, or in one where
    they act in some programmes only and ``in_programmes(those programmes)`` holds; true() for an
    administrator, false() for a user without grants."""
    scope = user.course_scope()
    if scope is None:
        return true()
    everywhere = [m for m, programmes in scope.items() if programmes is None]
    parts = [municipality.in_(everywhere)] if everywhere else []
    parts += [
        and_(municipality == code, in_programmes(sorted(programmes)))
        for code, programmes in scope.items()
        if programmes
    ]
    return or_(*parts) if parts else false()


def course_condition(user: User, municipality: Any, programme: Any) -> Any:  # noqa: ANN401 - SQL expressions
    """A SQL condition on a course's ``municipality`` and ``programme`` columns: the courses
    ``user`` may see (in a municipality where they act in the course's programme)."""
    return _scoped(user, municipality, programme.in_)


def citizen_condition(user: User) -> Any:  # noqa: ANN401 - a SQL expression
    """The citizens ``user`` may find by name: in their municipalities and, where they act in some
    programmes only, with a course of one of those (anywhere) or with no course yet. A citizen known
    only from another programme's courses is not shown; one just registered, without a course, is."""

    def course_of(programmes: list[str]) -> Any:  # noqa: ANN401 - a SQL expression
        has_course = exists().where(courses.c.citizen_id == citizens.c.id)
        has_theirs = exists().where(courses.c.citizen_id == citizens.c.id, courses.c.programme.in_(programmes))
        return or_(~has_course, has_theirs)

    return _scoped(user, citizens.c.municipality_code, course_of)


def _citizen(row: Any) -> Citizen:
    return Citizen(row.id, row.cpr, row.name, row.birth_date, row.sex, row.municipality_code)


def _check_open(
    citizen_id: int,
    municipality: int,
    restricted_at: Any,
    anonymised_at: Any,
    kind: str,
    key: object,
    action: str = "citizen.read",
) -> None:
    """A citizen (or their course) the user may see in scope, but not process: restricted (GDPR
    art. 18) -> CitizenRestricted, saying so; anonymised (no longer a person) -> NotFound."""
    if anonymised_at is not None:
        raise NotFound(kind, key)
    if restricted_at is not None:
        raise CitizenRestricted(citizen_id, municipality, RESTRICTED_MESSAGE, action=action)


class _StoredData(Mapping[str, Any]):
    """A registration's stored JSON data, decoded at its first use. A save reads the latest
    revision of the form it writes for its revision number and status; its data only for the
    citizen's own answers or shared questions, seldom, and decoding it cost as much as a tenth
    of the save's own work (issue 17)."""

    __slots__ = ("_text", "_data")

    def __init__(self, text: str) -> None:
        self._text = text
        self._data: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self._text)
        return self._data

    def __getitem__(self, key: str) -> Any:  # noqa: ANN401 - a JSON value
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def _course_citizen(row: Any) -> Citizen:  # noqa: ANN401 - a row of _COURSE_Q's columns
    return Citizen(row.citizen_id, row.cpr, row.name, row.birth_date, row.sex, row.citizen_municipality)


def _registration(row: Any) -> Registration:
    return Registration(
        row.course_id,
        row.form,
        row.revision,
        row.status,
        json.loads(row.data),
        row.contract_version,
        row.user_id,
        _utc(row.saved_at),
        row.reason,
        _self_reported_of(row.self_reported),
    )


def _self_reported_of(stored: str | None) -> tuple[str, ...]:
    """The stored JSON list of self-reported fields as a tuple (NULL: none)."""
    return tuple(json.loads(stored)) if stored else ()


def _self_reported_now(
    contract: Contract, form: str, cleaned: Mapping[str, Any], previous: Registration | None, new: Collection[str]
) -> tuple[str, ...]:
    """Which fields of the revision being saved are the citizen's own answers: those given now
    (``new``, from the questionnaire mode) and those of the revision before whose value nobody has
    changed since; only the form's questionnaire items that hold a value, in form order."""
    before = previous.data if previous else {}
    kept = {name for name in (previous.self_reported if previous else ()) if before.get(name) == cleaned.get(name)}
    chosen = kept | set(new)
    if not chosen:
        return ()  # the usual save: nobody's own answers, no need to walk the form's sections
    return tuple(
        name for name in contract.form(form).self_report_items() if name in chosen and cleaned.get(name) is not None
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC time (SQLite gives back the stored UTC time without its zone)."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


#: The longest reason for changing a finished registration (free text).
REASON_MAX_LENGTH = 1000


def _locked_issue(form: str, code: str, da: str, en: str) -> FieldIssue:
    return FieldIssue(form, "reason", code, "error", {"da": da, "en": en})


def _clean_reason(form: str, reason: str | None) -> str | None:
    """The reason, spaces tidied; None when blank. Too long: ReasonRequired saying so."""
    text = " ".join((reason or "").split())
    if len(text) > REASON_MAX_LENGTH:
        raise ReasonRequired(
            [
                _locked_issue(
                    form,
                    "reason_too_long",
                    f"Begrundelsen er for lang (højst {REASON_MAX_LENGTH} tegn). Gør den kortere.",
                    f"The reason is too long (at most {REASON_MAX_LENGTH} characters). Shorten it.",
                )
            ]
        )
    return text or None


def _check_locked(form: str, previous: Registration | None, reason: str | None, complete: bool, reopen: bool) -> bool:
    """The rules of a finished registration; True when this save reopens it as a draft.

    A revision on top of a complete one needs a reason; as a draft it also needs ``reopen``."""
    if previous is None or previous.status != "complete":
        return False
    if reason is None:
        raise ReasonRequired(
            [
                _locked_issue(
                    form,
                    "reason_required",
                    "Registreringen er færdig. Skriv en begrundelse for rettelsen, før den kan gemmes.",
                    "The registration is finished. Give a reason for the change before it can be saved.",
                )
            ]
        )
    if not complete and not reopen:
        raise ReopenRequired(
            [
                _locked_issue(
                    form,
                    "reopen_required",
                    'Registreringen er færdig. Vælg "Genåbn som kladde", hvis den skal være en kladde igen.',
                    'The registration is finished. Choose "Reopen as draft" to make it a draft again.',
                )
            ]
        )
    return not complete


def _cpr_issue(exc: InvalidCpr) -> FieldIssue:
    return FieldIssue("citizen", "cpr", f"cpr_{exc.reason}", "error", dict(exc.messages))


class Service:
    """What one signed-in user can do. Cheap to create; holds no connection."""

    def __init__(self, store: Store, contracts: ContractRegistry, user: User, today: dt.date | None = None) -> None:
        self.store = store
        self.contracts = contracts
        self.user = user
        self._today = today

    @property
    def today(self) -> dt.date:
        return self._today or dt.date.today()

    # --- refusals ------------------------------------------------------------------------------
    def _refused(self, attempted: str, entity: str, entity_id: object, exc: AccessDenied | NotFound) -> None:
        """One access.denied row for a refused call (see ``_refusals_audited``)."""
        if isinstance(exc, NotFound):
            # The same row whether the record is elsewhere or nowhere (the user cannot tell either);
            # the municipality it belongs to, if it exists, is for the auditor.
            audit.deny(
                self.store,
                self.user,
                attempted,
                exc.kind,
                exc.key,
                self._owner(exc.kind, exc.key),
                NOT_FOUND_OR_NOT_YOURS,
            )
        elif isinstance(exc, CitizenRestricted):  # in scope: the auditor sees which citizen and what was tried
            audit.deny(
                self.store,
                self.user,
                attempted,
                entity,
                entity_id,
                exc.municipality,
                exc.reason,
                {"citizen_id": exc.citizen_id},
            )
        else:
            audit.deny(self.store, self.user, exc.action, entity, entity_id, exc.municipality, exc.reason)

    def _owner(self, kind: str, key: object) -> int | None:
        """The municipality a citizen or course belongs to, whoever asks (for the audit row only)."""
        table = _OWNER_TABLES.get(kind)
        if table is None or not isinstance(key, int):
            return None
        with self.store.read() as conn:
            return conn.execute(select(table.c.municipality_code).where(table.c.id == key)).scalar_one_or_none()

    # --- scope helpers -----------------------------------------------------------------------
    def _in_scope(self, column: Any) -> Any:
        scope = self.user.scope()
        return True if scope is None else column.in_(sorted(scope))

    def _courses_in_scope(self) -> Any:
        """Courses in a municipality where the user acts in the course's programme, of a programme
        this service runs (the setting ``programmes``: a programme switched off keeps its courses in
        the store, unseen, instead of breaking the lists that would need its contract)."""
        running = self.contracts.programmes
        loaded = courses.c.programme == running[0] if len(running) == 1 else courses.c.programme.in_(running)
        return and_(course_condition(self.user, courses.c.municipality_code, courses.c.programme), loaded)

    def _require_municipality(self, conn: Connection, code: int) -> None:
        if conn.execute(select(municipalities.c.code).where(municipalities.c.code == code)).first() is None:
            raise ValidationFailed(
                [
                    FieldIssue(
                        "citizen",
                        "municipality",
                        "not_in_codelist",
                        "error",
                        {
                            "da": f"Kommunekoden {code} findes ikke. Vælg en kommune fra listen.",
                            "en": f"Municipality code {code} does not exist. Choose one from the list.",
                        },
                    )
                ]
            )

    # --- citizens ----------------------------------------------------------------------------
    @_refusals_audited("citizen.read", "citizen")
    def find_citizen(self, cpr: str) -> Citizen | None:
        """The citizen with this CPR number in the user's municipalities, or None. The number
        may be typed with a dash, a space or neither (``name_search.typed_cpr``)."""
        self.user.require("citizen.read")
        digits = normalise_cpr(typed_cpr(cpr) or cpr)
        with self.store.read() as conn:
            row = conn.execute(
                select(citizens).where(citizens.c.cpr == digits, self._in_scope(citizens.c.municipality_code))
            ).first()
        if row is not None:  # a restricted citizen is said to be so, not pretended away (nor registered twice)
            _check_open(row.id, row.municipality_code, row.restricted_at, row.anonymised_at, "citizen", row.id)
        with self.store.write() as conn:
            audit.record(
                conn,
                self.user,
                "citizen.find",
                "citizen",
                row.id if row else None,
                row.municipality_code if row else None,
                {"found": row is not None},
            )
        return _citizen(row) if row else None

    @_refusals_audited("citizen.read", "citizen")
    def search_citizens(self, name: str, limit: int = 50) -> list[Citizen]:
        """Citizens in the user's municipalities whose name matches ``name`` as typed, best match
        first: any word order and case, æ/ø/å typed as ae/oe/aa or o/a, one wrong letter
        forgiven (``hjertekom_core.name_search``).

        The matching runs here over the ids and names in scope (measured on a demo store of
        50 000 citizens: 7 ms for Silkeborg's, 0.12 s for all of them), not in SQL, which cannot
        fold Danish letters alike on SQLite and PostgreSQL."""
        self.user.require("citizen.read")
        query = NameQuery.parse(name)
        if query is None:
            return []
        with self.store.read() as conn:
            names = conn.execute(
                select(citizens.c.id, citizens.c.name).where(
                    open_for_entry(), self._in_scope(citizens.c.municipality_code), citizen_condition(self.user)
                )
            )
            ids = query.rank(((r.id, r.name) for r in names), limit)
            rows = {r.id: r for r in conn.execute(select(citizens).where(citizens.c.id.in_(ids)))} if ids else {}
        found = [_citizen(rows[i]) for i in ids if i in rows]
        with self.store.write() as conn:
            audit.record(conn, self.user, "citizen.search", "citizen", None, None, {"hits": len(found)})
        return found

    @_refusals_audited("citizen.read", "citizen", "citizen_id")
    def get_citizen(self, citizen_id: int) -> Citizen:
        self.user.require("citizen.read")
        with self.store.read() as conn:
            row = conn.execute(
                select(citizens).where(citizens.c.id == citizen_id, self._in_scope(citizens.c.municipality_code))
            ).first()
        if row is None:
            raise NotFound("citizen", citizen_id)
        _check_open(row.id, row.municipality_code, row.restricted_at, row.anonymised_at, "citizen", citizen_id)
        with self.store.write() as conn:
            audit.record(conn, self.user, "citizen.read", "citizen", row.id, row.municipality_code)
        return _citizen(row)

    @_refusals_audited("citizen.write", "citizen")
    def create_citizen(self, cpr: str, name: str, municipality: int) -> Citizen:
        """Register a citizen (or return the one with this CPR number and name in the user's
        municipalities).

        Raises CitizenExists when the number is registered in the user's municipalities under
        another name (nothing changes: the registered citizen is the one), CitizenElsewhere when the number is held by a municipality this user does not act
        in; its message does not say so, nor where (an administrator must move the citizen).
        """
        self.user.require("citizen.write", municipality)
        errors: list[FieldIssue] = []
        info = None
        try:
            info = parse_cpr(cpr)
        except InvalidCpr as exc:
            errors.append(_cpr_issue(exc))
        clean_name = " ".join(name.split())
        if not clean_name or len(clean_name) > 200:
            errors.append(
                FieldIssue(
                    "citizen",
                    "name",
                    "required",
                    "error",
                    {
                        "da": "Navn mangler (højst 200 tegn). Skriv borgerens navn.",
                        "en": "Name is missing (at most 200 characters). Enter the citizen's name.",
                    },
                )
            )
        if errors or info is None:
            raise ValidationFailed(errors)
        with self.store.write() as conn:
            self._require_municipality(conn, municipality)
            existing = conn.execute(select(citizens).where(citizens.c.cpr == info.digits)).first()
            if existing is not None and self.user.acts_in(existing.municipality_code):
                _check_open(
                    existing.id,
                    existing.municipality_code,
                    existing.restricted_at,
                    existing.anonymised_at,
                    "citizen",
                    existing.id,
                    "citizen.write",
                )
                found = _citizen(existing)
                # The registered citizen it is; a different typed name is pointed out, never dropped.
                if _same_name(found.name, clean_name):
                    return found
                raise CitizenExists(found, clean_name)
            if existing is None:
                # Erased before (a tombstone of the number): registered all the same, flagged for
                # the clinician (Citizen.previously_erased) and the auditor.
                erased_before = bool(tombstones_of(conn, self.store, [info.digits]))
                citizen_id = conn.execute(
                    insert(citizens).values(
                        cpr=info.digits,
                        name=clean_name,
                        birth_date=info.birth_date,
                        sex=info.sex,
                        municipality_code=municipality,
                        created_at=audit.now(),
                        created_by=self.user.id,
                    )
                ).inserted_primary_key[0]
                detail: dict[str, Any] = {"modulus11_ok": info.modulus11_ok}
                if erased_before:
                    detail["previously_erased"] = True
                audit.record(conn, self.user, "citizen.create", "citizen", citizen_id, municipality, detail)
                return Citizen(
                    citizen_id,
                    info.digits,
                    clean_name,
                    info.birth_date,
                    info.sex,
                    municipality,
                    previously_erased=erased_before,
                )
        # Held by a municipality this user does not act in. Audited after the write transaction has
        # ended (audit.deny takes the write lock itself); the auditor sees where, the user nothing.
        audit.deny(
            self.store,
            self.user,
            "citizen.write",
            "citizen",
            existing.id,
            existing.municipality_code,
            "citizen registered elsewhere",
            {"requested_municipality": municipality},
        )
        raise CitizenElsewhere(CITIZEN_ELSEWHERE_MESSAGE)

    # --- courses -----------------------------------------------------------------------------
    @_refusals_audited("course.write", "citizen", "citizen_id")
    def open_course(
        self,
        citizen_id: int,
        data: Mapping[str, Any],
        *,
        programme: str = "hjertekom",
        complete: bool = False,
        confirm: bool = False,
        second_open_reason: str | None = None,
    ) -> SaveResult:
        """Create a course for a citizen with its first ``course`` registration, in one transaction.

        A citizen with a course of this programme that is not finished (its last form is not
        complete) in the user's municipalities gets no second one at once without an explicit
        ``second_open_reason`` (a key of SECOND_COURSE_REASONS): OpenCourseExists names the open
        ones, so that the clinician can open them instead.
        """
        self.user.require("course.write")
        if second_open_reason is not None and second_open_reason not in SECOND_COURSE_REASONS:
            raise ValidationFailed(
                [
                    FieldIssue(
                        "course",
                        "second_open_reason",
                        "invalid",
                        "error",
                        {
                            "da": "Vælg, hvorfor borgeren skal have et forløb mere.",
                            "en": "Choose why the citizen needs another course.",
                        },
                    )
                ]
            )
        contract = self.contracts[programme]
        report = self._validate(contract, contract.course_form, data, {}, complete, confirm)
        municipality = report.cleaned.get(contract.municipality_field)
        if not isinstance(municipality, int):
            raise ValidationFailed([self._municipality_missing(contract)])
        self.user.require("course.write", municipality, programme=programme)
        with self.store.write() as conn:
            citizen = conn.execute(
                select(
                    citizens.c.id, citizens.c.municipality_code, citizens.c.restricted_at, citizens.c.anonymised_at
                ).where(citizens.c.id == citizen_id, self._in_scope(citizens.c.municipality_code))
            ).first()
            if citizen is None:
                raise NotFound("citizen", citizen_id)
            _check_open(
                citizen.id,
                citizen.municipality_code,
                citizen.restricted_at,
                citizen.anonymised_at,
                "citizen",
                citizen_id,
                "course.write",
            )
            still_open = self._open_courses(conn, contract, citizen_id)
            if still_open and second_open_reason is None:
                raise OpenCourseExists(citizen_id, still_open)
            course_id = conn.execute(
                insert(courses).values(
                    citizen_id=citizen_id,
                    programme=programme,
                    municipality_code=municipality,
                    created_at=audit.now(),
                    created_by=self.user.id,
                )
            ).inserted_primary_key[0]
            result = self._insert_revision(
                conn, contract, course_id, contract.course_form, 1, report, complete, municipality
            )
            detail = {"programme": programme}
            if still_open:  # the choice, and what was open, for whoever looks at duplicates later
                detail |= {"second_open_reason": second_open_reason, "open_courses": still_open}
            audit.record(conn, self.user, "course.create", "course", course_id, municipality, detail)
        return result

    def _open_courses(self, conn: Connection, contract: Contract, citizen_id: int) -> list[int]:
        """The citizen's courses of ``contract``'s programme in the user's municipalities whose last
        form is not complete (not finished)."""
        last_form = list(contract.forms)[-1]
        ids = (
            conn.execute(
                select(courses.c.id)
                .where(
                    courses.c.citizen_id == citizen_id,
                    courses.c.programme == contract.programme,
                    self._courses_in_scope(),
                )
                .order_by(courses.c.id)
            )
            .scalars()
            .all()
        )
        open_ids = []
        for course_id in ids:
            latest = conn.execute(
                select(registrations.c.status)
                .where(registrations.c.course_id == course_id, registrations.c.form == last_form)
                .order_by(registrations.c.revision.desc())
                .limit(1)
            ).scalar()
            if latest != "complete":
                open_ids.append(course_id)
        return open_ids

    @staticmethod
    def _municipality_missing(contract: Contract) -> FieldIssue:
        form = contract.form(contract.course_form)
        return make_issue(contract, form, form.field(contract.municipality_field), "required", "error", None)

    def _load_course(self, conn: Connection, course_id: int, with_history: bool = False) -> Course:
        params = {"course_id": course_id}
        if not with_history:
            return self._course_of(conn.execute(_COURSE_LATEST_Q, params).all(), course_id)
        row = conn.execute(_COURSE_Q, params).first()
        self._check_course(row, course_id)
        revs = [_registration(r) for r in conn.execute(_HISTORY_Q, params)]
        forms = {r.form: r for r in revs}  # ordered by id, so the last one of a form wins
        return Course(row.id, row.programme, row.municipality_code, _course_citizen(row), forms, revs)

    def _course_of(self, rows: Sequence[Any], course_id: int, saving: str | None = None) -> Course:
        """The course of ``_COURSE_LATEST_Q``'s rows, with the latest revision of each form. The data
        of form ``saving`` (the one a save writes: its revision and status are what the save needs)
        is decoded when first read (_StoredData), the other forms' at once."""
        row = rows[0] if rows else None
        self._check_course(row, course_id)
        revs = [
            Registration(
                r.reg_course_id,
                r.reg_form,
                r.reg_revision,
                r.reg_status,
                _StoredData(r.reg_data) if r.reg_form == saving else json.loads(r.reg_data),
                r.reg_contract_version,
                r.reg_user_id,
                _utc(r.reg_saved_at),
                r.reg_reason,
                _self_reported_of(r.reg_self_reported),
            )
            for r in rows
            if r.reg_id is not None
        ]
        forms = {r.form: r for r in revs}  # ordered by id, so the last one of a form wins
        return Course(row.id, row.programme, row.municipality_code, _course_citizen(row), forms, ())

    def _check_course(self, row: Any, course_id: int) -> None:  # noqa: ANN401 - a row of _COURSE_Q's columns
        # Outside the user's municipalities, or of a programme they do not act in there, is the same
        # NotFound as no course at all, decided before anything else is looked at. (Checked here
        # rather than as an IN list in the query: an expanding parameter makes SQLAlchemy render
        # the statement again at every call.)
        if (
            row is None
            or not self.user.acts_in(row.municipality_code, row.programme)
            or row.programme not in self.contracts
        ):
            raise NotFound("course", course_id)
        _check_open(row.citizen_id, row.citizen_municipality, row.restricted_at, row.anonymised_at, "course", course_id)

    @_refusals_audited("course.read", "course", "course_id")
    def get_course(self, course_id: int, *, with_history: bool = False) -> Course:
        self.user.require("course.read")
        with self.store.read() as conn:
            course = self._load_course(conn, course_id, with_history)
        with self.store.write() as conn:
            audit.record(conn, self.user, "course.read", "course", course_id, course.municipality_code)
        return course

    @_refusals_audited("course.read", "citizen", "citizen_id")
    def courses_of(self, citizen_id: int) -> list[Course]:
        self.user.require("course.read")
        with self.store.read() as conn:
            ids = (
                conn.execute(
                    select(courses.c.id)
                    .where(courses.c.citizen_id == citizen_id, self._courses_in_scope())
                    .order_by(courses.c.id)
                )
                .scalars()
                .all()
            )
            found = [self._load_course(conn, i) for i in ids]
        if found:
            with self.store.write() as conn:
                for c in found:
                    audit.record(conn, self.user, "course.read", "course", c.id, c.municipality_code)
        return found

    # --- registrations -----------------------------------------------------------------------
    def _validate(
        self,
        contract: Contract,
        form: str,
        data: Mapping[str, Any],
        context: Mapping[str, Mapping[str, Any]],
        complete: bool,
        confirm: bool,
    ) -> ValidationReport:
        report = validate_form(contract, form, data, context=context, complete=complete, today=self.today)
        if report.errors:
            raise ValidationFailed(report.errors, report.warnings)
        if report.warnings and not confirm:
            raise ConfirmationRequired(report.warnings)
        if complete and report.missing:
            raise IncompleteForm(report.missing, report.warnings)
        return report

    @_refusals_audited("registration.write", "course", "course_id")
    def save(
        self,
        course_id: int,
        form: str,
        data: Mapping[str, Any],
        base_revision: int,
        *,
        complete: bool = False,
        confirm: bool = False,
        reason: str | None = None,
        reopen: bool = False,
        self_reported: Collection[str] = (),
        shared_edit: Collection[str] = (),
        shared_seen: Collection[SharedAnswer] = (),
        drop_autosave: bool = False,
    ) -> SaveResult:
        """Save ``data`` as the next revision of ``form`` (a draft, or complete).

        ``base_revision`` is the revision the user started editing from (0 for a new form); if
        someone saved since, RevisionConflict is raised and nothing is written. Soft-limit warnings
        raise ConfirmationRequired unless ``confirm`` is set.

        A finished registration (latest revision complete) is locked: a new revision needs
        ``reason`` (free text, stored with the revision), else ReasonRequired; saving it as a
        draft needs ``reopen=True`` as well, else ReopenRequired. Both are checked after the
        validation and the rights, and nothing is written when they fail. A reason given on any
        other save is stored too.

        ``self_reported`` names the fields the citizen answered themselves (the questionnaire mode);
        they are stored with the revision, together with those of the revision before that kept
        their value (only the form's questionnaire items, see ``Form.self_report_items``).

        Shared questions (``instrument`` blocks, docs/programmes.md): an instrument left blank is
        filled in from the citizen's registration of the same day in another programme the user acts
        in; answers that change the answers this registration shared (or, for the instruments named
        in ``shared_edit``, the answers it was offered from the other programme) are saved in that
        other registration too, as a new revision in the same transaction; answers that differ
        otherwise are left and reported (``SaveResult.shared``).

        ``shared_seen``: the other programmes' answers the user was shown (``shared_answers``). When a
        correction would be carried over to a registration whose answers someone changed since they
        were shown, or that registration is saved while this save is written, nothing is written and
        SharedRevisionConflict (a RevisionConflict naming the other registration) is raised, never a
        conflict on this form.

        ``drop_autosave``: the user's autosave of the form (``autosave``) goes in the same transaction
        as the revision (the entry app's save: one commit instead of a second one for
        ``discard_autosave``); nothing is dropped when nothing is saved.
        """
        # Observers (save_events: the kernels' reports for /metrics and the drain) hear of the save
        # before it touches the store, and of its outcome after.
        with observed_save():
            if reopen and complete:
                raise ValueError("reopen saves a draft: complete must be False")
            self.user.require("registration.write")
            note = _clean_reason(form, reason)
            with self.store.session() as session:  # one connection for the read and the write
                return self._save(
                    session,
                    course_id,
                    form,
                    data,
                    base_revision,
                    complete=complete,
                    confirm=confirm,
                    note=note,
                    reopen=reopen,
                    self_reported=self_reported,
                    shared_edit=shared_edit,
                    shared_seen=shared_seen,
                    drop_autosave=drop_autosave,
                )

    def _save(
        self,
        session: StoreSession,
        course_id: int,
        form: str,
        data: Mapping[str, Any],
        base_revision: int,
        *,
        complete: bool,
        confirm: bool,
        note: str | None,
        reopen: bool,
        self_reported: Collection[str] = (),
        shared_edit: Collection[str] = (),
        shared_seen: Collection[SharedAnswer] = (),
        drop_autosave: bool = False,
    ) -> SaveResult:
        # one SELECT, no BEGIN/COMMIT around it (on SQLite on the driver's cursor: StoreSession.rows)
        course = self._course_of(session.rows(_COURSE_LATEST_Q, {"course_id": course_id}), course_id, form)
        contract = self.contracts[course.programme]
        contract.form(form)
        latest = course.revision_of(form)
        if base_revision != latest:
            raise RevisionConflict(course_id, form, base_revision, latest)
        context = {name: reg.data for name, reg in course.forms.items() if name != form}
        plan = self._shared_plan(session, course, contract, form, data, context)
        if plan is not None:
            data = plan.data
        report = self._validate(contract, form, data, context, complete, confirm)
        municipality = course.municipality_code
        moved_to = report.cleaned.get(contract.municipality_field) if form == contract.course_form else None
        if moved_to is not None and moved_to != municipality:
            # moving a course needs rights in both places, in the course's programme
            self.user.require("course.write", moved_to, programme=course.programme)
        reopened = _check_locked(form, course.forms.get(form), note, complete, reopen)
        # Everything but the two INSERTs is done before the write transaction: on SQLite that holds
        # the store-wide write lock, so its length is what limits concurrent writers.
        citizens_own = _self_reported_now(contract, form, report.cleaned, course.forms.get(form), self_reported)
        extra: dict[str, Any] = {}
        if plan is not None:
            self._carry_over(plan, course, contract, form, report.cleaned, base_revision + 1, shared_edit)
            self._check_seen(plan, course_id, form, base_revision, shared_seen)
            if plan.provenance:
                extra["shared_from"] = plan.provenance
            if plan.carried:
                extra["shared_to"] = plan.carried
        row, entry, result = self._revision_rows(
            contract,
            course_id,
            form,
            base_revision + 1,
            report,
            complete,
            municipality,
            reason=note,
            reopened=reopened,
            self_reported=citizens_own,
            extra=extra,
        )
        if plan is not None and plan.notes:
            result = dataclasses.replace(result, shared=tuple(plan.notes))
        one_statement = (
            session.dialect == "postgresql"
            and (plan is None or not plan.rows)
            and (moved_to is None or moved_to == municipality)
            and row.keys() == set(_REGISTRATION_KEYS)
            and entry.keys() == set(_AUDIT_KEYS)
        )
        try:
            if one_statement:  # PostgreSQL, the usual save: both rows in one statement (_INSERT_SAVE_PG)
                params = {**{f"reg_{k}": v for k, v in row.items()}, **{f"audit_{k}": v for k, v in entry.items()}}
                statement = _INSERT_SAVE_PG
                if drop_autosave and self.user.id is not None:
                    statement = _INSERT_SAVE_DROP_PG
                    params.update(drop_user_id=self.user.id, drop_course_id=course_id, drop_form=form)
                with session.write_statement() as conn:
                    conn.execute(statement, params)
                return result
            # an IntegrityError inside rolls the whole transaction back (on SQLite the statements run
            # on the driver's cursor: StoreSession.writes)
            with session.writes() as execute:
                execute(_INSERT_REGISTRATION, row)
                execute(audit.INSERT, entry)
                for other_row, other_entry in plan.rows if plan is not None else ():
                    execute(_INSERT_REGISTRATION, other_row)
                    execute(audit.INSERT, other_entry)
                if moved_to is not None and moved_to != municipality:
                    execute(_MOVE_COURSE, {"move_course_id": course_id, "move_to": moved_to})
                if drop_autosave and self.user.id is not None:
                    execute(_DELETE_AUTOSAVE, {"user_id": self.user.id, "course_id": course_id, "form": form})
        except IntegrityError:
            conflict = RevisionConflict(course_id, form, base_revision, None)
        else:
            return result
        # The transaction was rolled back. Whose revision was taken meanwhile: this form's, or (a
        # carried-over correction) the other programme's? The clinician is told which.
        if plan is not None and plan.rows:
            with session.read() as conn:
                mine = (
                    conn.execute(
                        select(func.max(registrations.c.revision)).where(
                            registrations.c.course_id == course_id, registrations.c.form == form
                        )
                    ).scalar()
                    or 0
                )
            if mine == base_revision:
                target = plan.targets[0]
                raise SharedRevisionConflict(course_id, form, base_revision, target.place, target.place_en)
        raise conflict

    @staticmethod
    def _check_seen(
        plan: _SharedPlan, course_id: int, form: str, base_revision: int, seen: Collection[SharedAnswer]
    ) -> None:
        """A correction carried over to a registration whose answers changed since the user was shown
        them would overwrite answers nobody has looked at: refused (SharedRevisionConflict). A save of
        that registration that left the answers as shown is no obstacle (its other fields are kept)."""
        shown = {(a.instrument, a.course_id, a.form): a for a in seen}
        for target, carried in zip(plan.targets, plan.carried):
            answer = shown.get((carried["instrument"], target.course_id, target.form))
            if answer is not None and dict(answer.values) != dict(target.values):
                raise SharedRevisionConflict(course_id, form, base_revision, target.place, target.place_en)

    # --- shared questions (shared_questions.py) --------------------------------------------------------
    def _shared_sources(
        self, conn: Connection, course: Course, contract: Contract, form: str, day: dt.date
    ) -> dict[str, list[_Source]]:
        return self._shared_sources_of(conn, course.citizen.id, course.programme, contract, form, day)

    def shared_for_import(
        self, conn: Connection, citizen_id: int, programme: str, form: str, day: dt.date
    ) -> dict[str, list[SharedAnswer]]:
        """For the bulk import (importer.py), in the caller's transaction: per instrument of
        ``programme``'s ``form``, the answers the citizen gave on ``day`` in another programme's
        registration the user may see (newest first), under the same rules as ``Service.save``."""
        contract = self.contracts[programme]
        if len(self.contracts.programmes) < 2 or not contract.form(form).instruments():
            return {}
        found = self._shared_sources_of(conn, citizen_id, programme, contract, form, day)
        return {name: [s.answer for s in sources] for name, sources in found.items() if sources}

    def _shared_sources_of(
        self, conn: Connection, citizen_id: int, programme: str, contract: Contract, form: str, day: dt.date
    ) -> dict[str, list[_Source]]:
        """Per instrument of ``form``: the citizen's registrations in other programmes, on courses
        the user may see (a municipality where they act in the course's programme), of a form with
        the same instrument dated ``day`` and holding answers of it; newest first."""
        wanted = contract.form(form).instruments()
        found: dict[str, list[_Source]] = {name: [] for name in wanted}
        others = conn.execute(
            select(courses.c.id, courses.c.programme, courses.c.municipality_code)
            .where(
                courses.c.citizen_id == citizen_id,
                courses.c.programme != programme,
                open_for_entry(courses.c.citizen_id),
            )
            .order_by(courses.c.id)
        ).all()
        for row in others:
            if row.programme not in self.contracts or not self.user.acts_in(row.municipality_code, row.programme):
                continue  # nothing is shown, nor used, from a programme the user does not act in there
            other_contract = self.contracts[row.programme]
            try:
                other = self._load_course(conn, row.id)
            except (NotFound, CitizenRestricted):
                continue
            for reg in other.forms.values():
                sections = other_contract.form(reg.form).instruments() if reg.form in other_contract.forms else {}
                if form_day(other_contract, reg.form, reg.data) != day:
                    continue
                for name, section in sections.items():
                    values = items_of(section, reg.data)
                    if name not in found or not values:
                        continue
                    answer = SharedAnswer(
                        name,
                        other.programme,
                        other.id,
                        reg.form,
                        reg.revision,
                        day,
                        values,
                        place_text(other_contract, reg.form, day, "da"),
                        place_text(other_contract, reg.form, day, "en"),
                    )
                    found[name].append(_Source(answer, other, reg))
        for sources in found.values():
            sources.sort(key=lambda s: s.registration.saved_at, reverse=True)
        return found

    def _shared_plan(
        self,
        session: StoreSession,
        course: Course,
        contract: Contract,
        form: str,
        data: Mapping[str, Any],
        context: Mapping[str, Mapping[str, Any]],
    ) -> _SharedPlan | None:
        """The other programmes' answers of the form's instruments on its day, and ``data`` with
        those of them filled in that it leaves blank (``may_fill``); None when nothing is shared."""
        sections = contract.form(form).instruments()
        if not sections or len(self.contracts.programmes) < 2:
            return None
        day = form_day(
            contract,
            form,
            validate_form(contract, form, data, context=context, complete=False, today=self.today).cleaned,
        )
        if day is None:
            return None
        with session.read() as conn:
            sources = self._shared_sources(conn, course, contract, form, day)
        if not any(sources.values()):
            return None
        filled = dict(data)
        taken = []
        for name, section in sections.items():
            if sources[name] and may_fill(section, filled):
                filled = with_answers(section, filled, sources[name][0].answer.values)
                taken.append(name)
        return _SharedPlan(filled, sources, tuple(taken))

    def _carry_over(
        self,
        plan: _SharedPlan,
        course: Course,
        contract: Contract,
        form: str,
        cleaned: Mapping[str, Any],
        revision: int,
        shared_edit: Collection[str],
    ) -> None:
        """Fill ``plan`` with the provenance of the answers saved, the other programmes' revisions
        that take a change of a shared answer, and the notes saying what happened.

        A change is carried over to another programme's registration only where that registration
        held the same answers as this one before the change (this registration's previous answers, or,
        for an instrument in ``shared_edit``, the other's answers it was offered): one answer, corrected
        once. Other answers found there are left as they are and reported ("differs")."""
        previous = course.forms.get(form)
        this_place = place_text(contract, form, form_day(contract, form, cleaned) or self.today)
        this_place_en = place_text(contract, form, form_day(contract, form, cleaned) or self.today, "en")
        for name, section in contract.form(form).instruments().items():
            sources = plan.sources.get(name) or []
            if not sources:
                continue
            new = items_of(section, cleaned)
            before = items_of(section, previous.data) if previous else {}
            baseline = before or (sources[0].answer.values if name in shared_edit else {})

            def note(kind: str, source: _Source, revision: int | None = None) -> SharedNote:
                a = source.answer
                return SharedNote(
                    kind,
                    name,
                    section.label.get("da"),
                    section.label.get("en"),
                    a.programme,
                    a.course_id,
                    a.form,
                    a.revision if revision is None else revision,
                    a.place,
                    a.place_en,
                )

            same = [s for s in sources if new and dict(s.answer.values) == new]
            if same:
                plan.provenance[name] = same[0].answer.provenance()
                if new != before:
                    plan.notes.append(note("from", same[0]))
            for source in sources:
                values = dict(source.answer.values)
                if not new or values == new:
                    continue
                if baseline and new != baseline and values == dict(baseline):
                    plan.rows.append(
                        self._carried_revision(source, name, new, course, form, revision, this_place, this_place_en)
                    )
                    plan.carried.append(
                        {"instrument": name, **source.answer.provenance(), "revision": source.registration.revision + 1}
                    )
                    plan.targets.append(source.answer)
                    plan.notes.append(note("updated", source, source.registration.revision + 1))
                else:
                    plan.notes.append(note("differs", source))

    def _carried_revision(
        self,
        source: _Source,
        instrument: str,
        answers: Mapping[str, Any],
        course: Course,
        form: str,
        revision: int,
        place: str,
        place_en: str,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The other programme's next revision holding the corrected answers, and its audit row; its
        status is kept (a finished registration stays finished, with the reason saying why it changed)."""
        other = source.course
        contract = self.contracts[other.programme]
        reg = source.registration
        section = contract.form(reg.form).instruments()[instrument]
        derived = {f.name for f in contract.form(reg.form).fields.values() if f.is_derived}
        data = with_answers(section, {k: v for k, v in reg.data.items() if k not in derived}, answers)
        context = {name: r.data for name, r in other.forms.items() if name != reg.form}
        complete = reg.status == "complete"
        report = validate_form(contract, reg.form, data, context=context, complete=complete, today=self.today)
        if report.errors or (complete and report.missing):
            first = next(iter(answers))
            raise ValidationFailed(
                [
                    FieldIssue(
                        form,
                        first,
                        "shared_refused",
                        "error",
                        {
                            "da": f"Svarene kan ikke gemmes i {source.answer.place}, som deler spørgsmålene: "
                            "ret dem dér, eller kontakt en administrator.",
                            "en": f"The answers cannot be saved in {source.answer.place_en}, which shares the questions: "
                            "correct them there, or contact an administrator.",
                        },
                    )
                ]
            )
        reason = f"Delt spørgsmål ({section.label.get('da')}) rettet i {place}" if complete else None
        kept = _self_reported_now(contract, reg.form, report.cleaned, reg, ())
        row, entry, _ = self._revision_rows(
            contract,
            other.id,
            reg.form,
            reg.revision + 1,
            report,
            complete,
            other.municipality_code,
            reason=reason,
            self_reported=kept,
            extra={
                "shared_from": {
                    instrument: {
                        "programme": course.programme,
                        "course_id": course.id,
                        "form": form,
                        "revision": revision,
                    }
                }
            },
        )
        return row, entry

    @_refusals_audited("course.read", "course", "course_id")
    def shared_answers(self, course_id: int, form: str, day: dt.date) -> list[SharedAnswer]:
        """The answers of ``form``'s instruments the citizen gave on ``day`` in another programme's
        registration the user may see (newest, one per instrument, in form order): what the entry
        form fills in and shows as answered there. Each one shown is audited as a read of that course
        (``registration.shared_read``); nothing at all comes from a programme the user does not act
        in in that municipality."""
        self.user.require("course.read")
        if len(self.contracts.programmes) < 2:
            return []  # nothing to share with: no read of the course at every form opened
        with self.store.read() as conn:
            course = self._load_course(conn, course_id)
            contract = self.contracts[course.programme]
            if not contract.form(form).instruments():
                return []
            found = self._shared_sources(conn, course, contract, form, day)
        best = [sources[0] for sources in found.values() if sources]
        if best:
            with self.store.write() as conn:
                for source in best:
                    audit.record(
                        conn,
                        self.user,
                        "registration.shared_read",
                        "course",
                        source.course.id,
                        source.course.municipality_code,
                        {
                            "form": source.registration.form,
                            "revision": source.registration.revision,
                            "instrument": source.answer.instrument,
                            "for_course": course_id,
                            "for_form": form,
                        },
                    )
        return [s.answer for s in best]

    def save_draft(
        self, course_id: int, form: str, data: Mapping[str, Any], base_revision: int, *, confirm: bool = False
    ) -> SaveResult:
        return self.save(course_id, form, data, base_revision, complete=False, confirm=confirm)

    def mark_complete(
        self, course_id: int, form: str, data: Mapping[str, Any], base_revision: int, *, confirm: bool = False
    ) -> SaveResult:
        return self.save(course_id, form, data, base_revision, complete=True, confirm=confirm)

    def _revision_rows(
        self,
        contract: Contract,
        course_id: int,
        form: str,
        revision: int,
        report: ValidationReport,
        complete: bool,
        municipality: int,
        *,
        reason: str | None = None,
        reopened: bool = False,
        self_reported: tuple[str, ...] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], SaveResult]:
        """The registration row, its audit row and the result, ready to insert.

        The reason is stored with the revision only; the audit entry says that one was given and
        its length (free text may name a person, which the audit log never holds)."""
        status = "complete" if complete else "draft"
        row = {
            "course_id": course_id,
            "form": form,
            "revision": revision,
            "status": status,
            "data": dump_data(report.cleaned),
            "contract_version": contract.version,
            "user_id": self.user.id,
            "saved_at": audit.now(),
            "reason": reason,
            "self_reported": json.dumps(list(self_reported)) if self_reported else None,
        }
        detail: dict[str, Any] = {"form": form, "revision": revision, "status": status}
        if reason is not None:
            detail["reason_length"] = len(reason)
        if reopened:
            detail["reopened"] = True
        if self_reported:
            detail["self_reported"] = len(self_reported)
        detail.update(extra or {})
        entry = audit.entry(self.user, "registration.save", "course", course_id, municipality, detail)
        return row, entry, SaveResult(course_id, form, revision, status, report.cleaned, report.warnings)

    def _insert_revision(
        self,
        conn: Connection,
        contract: Contract,
        course_id: int,
        form: str,
        revision: int,
        report: ValidationReport,
        complete: bool,
        municipality: int,
    ) -> SaveResult:
        row, entry, result = self._revision_rows(contract, course_id, form, revision, report, complete, municipality)
        conn.execute(_INSERT_REGISTRATION, row)
        audit.insert_entry(conn, entry)
        return result

    # --- history and conflicts -------------------------------------------------------------------
    def _display_names(self, conn: Connection, user_ids: set[int | None]) -> dict[int, str]:
        ids = sorted(i for i in user_ids if i is not None)
        if not ids:
            return {}
        return dict(conn.execute(select(users.c.id, users.c.display_name).where(users.c.id.in_(ids))).all())

    @_refusals_audited("course.read", "course", "course_id")
    def form_history(self, course_id: int, form: str) -> list[RevisionChange]:
        """Every revision of ``form`` of the course, oldest first, with who saved it (display
        name), when (UTC), the reason and the fields it changed. Built from the append-only
        revisions; audited as a read (``registration.history``)."""
        self.user.require("course.read")
        with self.store.read() as conn:
            course = self._load_course(conn, course_id)
            contract = self.contracts[course.programme]
            order = list(contract.form(form).fields)
            revs = [
                _registration(r)
                for r in conn.execute(
                    select(registrations)
                    .where(registrations.c.course_id == course_id, registrations.c.form == form)
                    .order_by(registrations.c.revision)
                )
            ]
            names = self._display_names(conn, {r.user_id for r in revs})
            links = self._shared_links(conn, course_id, contract, form, revs)
        history = []
        previous: Registration | None = None
        sections = contract.form(form).instruments()
        for reg in revs:
            changes = changed_fields(previous.data if previous else {}, reg.data, order)
            changed = {c.field for c in changes}
            # "from" only where the revision took the answers (changed them); "to" always.
            shared = tuple(
                link
                for link in links.get(reg.revision, ())
                if link.kind == "to"
                or link.instrument not in sections
                or changed & {f.name for f in sections[link.instrument].instrument_items()}
            )
            history.append(
                RevisionChange(
                    reg.revision,
                    reg.status,
                    previous.status if previous else None,
                    reg.user_id,
                    names.get(reg.user_id) if reg.user_id is not None else None,
                    reg.saved_at,
                    reg.reason,
                    changes,
                    reg.self_reported,
                    shared,
                )
            )
            previous = reg
        with self.store.write() as conn:
            audit.record(
                conn,
                self.user,
                "registration.history",
                "course",
                course_id,
                course.municipality_code,
                {"form": form, "revisions": len(history)},
            )
        return history

    def _shared_links(
        self, conn: Connection, course_id: int, contract: Contract, form: str, revs: Sequence[Registration]
    ) -> dict[int, list[SharedLink]]:
        """Per revision of ``form``: where its shared answers came from and where it carried a
        correction to, from the saves' audit rows (``shared_from``, ``shared_to``). Read within a
        minute of each revision's save (the audit log's time index), and shown only for courses of a
        programme the user acts in, in that course's municipality (as ``shared_answers``)."""
        sections = contract.form(form).instruments()
        if not sections or not revs or len(self.contracts.programmes) < 2:
            return {}
        minute = dt.timedelta(minutes=1)
        when = or_(*(and_(audit_log.c.at >= r.saved_at - minute, audit_log.c.at <= r.saved_at + minute) for r in revs))
        rows = conn.execute(
            select(audit_log.c.detail)
            .where(
                when,
                audit_log.c.action == "registration.save",
                audit_log.c.entity == "course",
                audit_log.c.entity_id == str(course_id),
            )
            .order_by(audit_log.c.id)
        ).all()
        wanted = {r.revision: r for r in revs}
        found: list[tuple[int, str, str, Mapping[str, Any]]] = []
        for row in rows:
            try:
                detail = json.loads(row.detail)
            except ValueError:
                continue
            if not isinstance(detail, dict) or detail.get("form") != form or detail.get("revision") not in wanted:
                continue
            for instrument, source in (detail.get("shared_from") or {}).items():
                found.append((detail["revision"], "from", instrument, source))
            for target in detail.get("shared_to") or ():
                found.append((detail["revision"], "to", str(target.get("instrument")), target))
        ids = {int(link["course_id"]) for *_, link in found if str(link.get("course_id", "")).isdigit()}
        where = (
            dict(
                conn.execute(
                    select(courses.c.id, courses.c.municipality_code).where(courses.c.id.in_(sorted(ids)))
                ).all()
            )
            if ids
            else {}
        )
        out: dict[int, list[SharedLink]] = {}
        for revision, kind, instrument, link in found:
            programme, other_id, other_form = link.get("programme"), link.get("course_id"), link.get("form")
            if (
                programme not in self.contracts
                or other_id not in where
                or instrument not in sections
                or not self.user.acts_in(where[other_id], programme)
                or other_form not in self.contracts[programme].forms
            ):
                continue
            day = form_day(contract, form, wanted[revision].data)
            if day is None and isinstance(link.get("day"), str):
                day = dt.date.fromisoformat(link["day"])
            if day is None:
                continue
            other = self.contracts[programme]
            label = sections[instrument].label
            out.setdefault(revision, []).append(
                SharedLink(
                    kind,
                    instrument,
                    label.get("da"),
                    label.get("en"),
                    programme,
                    other_id,
                    other_form,
                    int(link.get("revision") or 0),
                    place_text(other, other_form, day, "da"),
                    place_text(other, other_form, day, "en"),
                )
            )
        order = list(sections)
        for links in out.values():  # the audit row's keys are sorted: the form's order instead
            links.sort(key=lambda link: (link.kind != "from", order.index(link.instrument)))
        return out

    @_refusals_audited("course.read", "course", "course_id")
    def conflict_details(self, course_id: int, form: str, base_revision: int) -> ConflictDetails:
        """After RevisionConflict: the revision the user started from and the newest one, who
        saved the newest and whether it was this user (in another tab). Audited as a read
        (``registration.conflict``)."""
        self.user.require("course.read")
        with self.store.read() as conn:
            course = self._load_course(conn, course_id)
            self.contracts[course.programme].form(form)
            rows = {
                r.revision: _registration(r)
                for r in conn.execute(
                    select(registrations).where(
                        registrations.c.course_id == course_id,
                        registrations.c.form == form,
                        registrations.c.revision.in_([base_revision, course.revision_of(form)]),
                    )
                )
            }
            latest = course.forms.get(form)
            if latest is None:
                raise NotFound("registration", course_id)
            names = self._display_names(conn, {latest.user_id})
        with self.store.write() as conn:
            audit.record(
                conn,
                self.user,
                "registration.conflict",
                "course",
                course_id,
                course.municipality_code,
                {"form": form, "base_revision": base_revision, "latest_revision": latest.revision},
            )
        by_me = latest.user_id is not None and latest.user_id == self.user.id
        return ConflictDetails(
            rows.get(base_revision),
            rows.get(latest.revision, latest),
            names.get(latest.user_id) if latest.user_id is not None else None,
            by_me,
        )

    # --- autosave ----------------------------------------------------------------------------
    @_refusals_audited("registration.write", "course", "course_id")
    def autosave(self, course_id: int, form: str, data: Mapping[str, Any], base_revision: int) -> None:
        """Keep unsaved input (raw, unvalidated) so that it survives a closed tab; not a revision."""
        self.user.require("registration.write")
        if self.user.id is None:
            return  # system jobs have nothing to lose
        payload = json.dumps(dict(data), ensure_ascii=False, sort_keys=True, default=str)
        with self.store.write() as conn:
            course = conn.execute(
                select(courses.c.municipality_code).where(
                    courses.c.id == course_id, self._courses_in_scope(), open_for_entry(courses.c.citizen_id)
                )
            ).first()
            if course is None:
                raise NotFound("course", course_id)
            key = and_(
                autosaves.c.user_id == self.user.id, autosaves.c.course_id == course_id, autosaves.c.form == form
            )
            values = {"base_revision": base_revision, "data": payload, "saved_at": audit.now()}
            if conn.execute(autosaves.update().where(key).values(**values)).rowcount == 0:
                conn.execute(insert(autosaves).values(user_id=self.user.id, course_id=course_id, form=form, **values))
            audit.record(
                conn,
                self.user,
                "registration.autosave",
                "course",
                course_id,
                course.municipality_code,
                {"form": form, "base_revision": base_revision},
            )

    def autosaved(self, course_id: int, form: str) -> Autosave | None:
        """This user's unsaved input for the form, if any."""
        if self.user.id is None:
            return None
        with self.store.read() as conn:
            row = conn.execute(
                select(autosaves).where(
                    autosaves.c.user_id == self.user.id, autosaves.c.course_id == course_id, autosaves.c.form == form
                )
            ).first()
        return (
            Autosave(row.course_id, row.form, row.base_revision, json.loads(row.data), _utc(row.saved_at))
            if row
            else None
        )

    def discard_autosave(self, course_id: int, form: str) -> None:
        if self.user.id is None:
            return
        with self.store.write() as conn:
            conn.execute(
                autosaves.delete().where(
                    autosaves.c.user_id == self.user.id, autosaves.c.course_id == course_id, autosaves.c.form == form
                )
            )

    # --- overviews ---------------------------------------------------------------------------
    @_refusals_audited("course.read", "course")
    def worklist(self, completion_limit_days: int = 180, limit: int = 500) -> list[WorklistItem]:
        """Courses needing attention in the user's municipalities: referred without a start
        meeting yet, started without an end, drafts, and courses past the completion limit;
        newest first (``WorklistItem.groups`` says which lists each belongs to)."""
        self.user.require("course.read")
        latest = (
            select(registrations.c.course_id, registrations.c.form, func.max(registrations.c.revision).label("rev"))
            .group_by(registrations.c.course_id, registrations.c.form)
            .subquery()
        )
        query = (
            select(
                courses.c.id.label("course_id"),
                courses.c.programme,
                courses.c.municipality_code.label("course_municipality"),
                citizens,
                registrations.c.form,
                registrations.c.status,
                registrations.c.data,
            )
            .join(citizens, citizens.c.id == courses.c.citizen_id)
            .join(latest, latest.c.course_id == courses.c.id)
            .join(
                registrations,
                and_(
                    registrations.c.course_id == latest.c.course_id,
                    registrations.c.form == latest.c.form,
                    registrations.c.revision == latest.c.rev,
                ),
            )
            .where(self._courses_in_scope(), open_for_entry())
            .order_by(courses.c.id.desc(), registrations.c.form)
        )
        by_course: dict[int, dict[str, Any]] = {}
        with self.store.read() as conn:
            for row in conn.execute(query):
                item = by_course.setdefault(row.course_id, {"row": row, "forms": {}})
                item["forms"][row.form] = (row.status, row.data)
        items = []
        for course_id, found in by_course.items():
            row, forms = found["row"], found["forms"]
            contract = self.contracts[row.programme]
            starting = [f for f in contract.forms.values() if f.name != contract.course_form]
            start_form, end_form = (starting[0], starting[-1]) if len(starting) >= 2 else (None, None)
            statuses = {form: status for form, (status, _) in forms.items()}
            drafts = tuple(f for f, status in statuses.items() if status == "draft")
            started = start_form is not None and statuses.get(start_form.name) == "complete"
            missing_end = started and end_form is not None and statuses.get(end_form.name) != "complete"
            # Referred, but no start meeting registered (not even begun) and not ended either.
            awaiting_start = (
                start_form is not None
                and start_form.name not in statuses
                and (end_form is None or end_form.name not in statuses)
            )
            start_date = _form_date(start_form, forms)
            overdue = bool(missing_end and start_date and (self.today - start_date).days >= completion_limit_days)
            if missing_end or drafts or awaiting_start:
                referral_date = _form_date(contract.forms.get(contract.course_form), forms)
                since, origin = (
                    (start_date, "start")
                    if start_date
                    else (referral_date, "referral")
                    if referral_date
                    else (None, None)
                )
                days = (self.today - since).days if since else None
                items.append(
                    WorklistItem(
                        course_id,
                        _citizen(row),
                        row.course_municipality,
                        statuses,
                        start_date,
                        missing_end,
                        drafts,
                        overdue,
                        awaiting_start,
                        referral_date,
                        days,
                        origin,
                        row.programme,
                    )
                )
            if len(items) >= limit:
                break
        with self.store.write() as conn:
            audit.record(conn, self.user, "worklist.read", "course", None, None, {"items": len(items)})
        return items

    @_refusals_audited("status", "course")
    def status_counts(self) -> list[dict[str, Any]]:
        """Courses and latest form statuses per municipality (no identified data, not audited)."""
        if not (self.user.can("indicator.read") or self.user.can("course.read")):
            raise AccessDenied("status")
        latest = (
            select(registrations.c.course_id, registrations.c.form, func.max(registrations.c.revision).label("rev"))
            .group_by(registrations.c.course_id, registrations.c.form)
            .subquery()
        )
        current = (
            select(registrations.c.course_id, registrations.c.form, registrations.c.status)
            .join(
                latest,
                and_(
                    registrations.c.course_id == latest.c.course_id,
                    registrations.c.form == latest.c.form,
                    registrations.c.revision == latest.c.rev,
                ),
            )
            .subquery()
        )
        query = (
            select(
                courses.c.municipality_code,
                municipalities.c.name,
                current.c.form,
                current.c.status,
                func.count().label("n"),
            )
            .join(municipalities, municipalities.c.code == courses.c.municipality_code)
            .join(current, current.c.course_id == courses.c.id)
            .where(self._courses_in_scope(), not_restricted(courses.c.citizen_id))
            .group_by(courses.c.municipality_code, municipalities.c.name, current.c.form, current.c.status)
            .order_by(courses.c.municipality_code, current.c.form, current.c.status)
        )
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
