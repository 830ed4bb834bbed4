"""One exception hierarchy for the whole core.

Callers (UI, CLI, tests) match on the type and read the structured fields; the message text is
for people. Danish and English text for clinicians comes from the data contract, not from here.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any


class HjerteKomError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(HjerteKomError):
    """The configuration file or an environment variable holds something unusable."""


class ContractError(HjerteKomError):
    """A data contract or code list is broken; raised at load time."""

    def __init__(self, file: str, where: str, reason: str) -> None:
        self.file = file
        self.where = where
        self.reason = reason
        super().__init__(f"{file}: {where}: {reason}")


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field: a hard error or a soft warning.

    ``code`` is a reason code (``required``, ``hard_max``, ``soft_min``, a rule name, ...);
    ``messages`` holds the text per language, naming the field and what to do.
    """

    form: str
    field: str
    code: str
    severity: str  # "error" or "warning"
    messages: dict[str, str] = dc_field(default_factory=dict, compare=False)
    value: Any = dc_field(default=None, compare=False, repr=False)

    def message(self, lang: str = "da") -> str:
        return self.messages.get(lang) or self.messages.get("da") or self.code


class ValidationFailed(HjerteKomError):
    """Input was rejected; carries every field error at once. Nothing was written."""

    def __init__(self, errors: Sequence[FieldIssue], warnings: Sequence[FieldIssue] = ()) -> None:
        self.errors = list(errors)
        self.warnings = list(warnings)
        summary = "; ".join(f"{e.form}.{e.field}: {e.code}" for e in self.errors[:10])
        super().__init__(f"{len(self.errors)} field error(s): {summary}")


class ConfirmationRequired(HjerteKomError):
    """Soft limits were exceeded and the user has not confirmed the values. Nothing was written."""

    def __init__(self, warnings: Sequence[FieldIssue]) -> None:
        self.warnings = list(warnings)
        summary = "; ".join(f"{w.form}.{w.field}: {w.code}" for w in self.warnings[:10])
        super().__init__(f"{len(self.warnings)} value(s) need confirmation: {summary}")


class IncompleteForm(ValidationFailed):
    """Marking a form complete failed because required fields are missing."""


class RegistrationLocked(ValidationFailed):
    """The form's latest revision is complete (a finished registration is locked): a new revision
    needs a reason for the change, and saving it as a draft needs ``reopen=True`` as well. The
    issue is on the pseudo-field ``reason``. Nothing was written."""


class ReasonRequired(RegistrationLocked):
    """A change of a finished registration came without a reason (or with one that is too long)."""


class ReopenRequired(RegistrationLocked):
    """A finished registration was to be saved as a draft without ``reopen=True``: it would
    silently stop counting as finished. Reopening is a choice of its own."""


class AccessDenied(HjerteKomError):
    """The user's role or municipalities do not allow this action.

    ``municipality``: the municipality the user asked to act in, when that was the problem (for the
    audit entry; it is the user's own request, never where a record actually is).
    """

    def __init__(self, action: str, reason: str = "", *, municipality: int | None = None) -> None:
        self.action = action
        self.reason = reason
        self.municipality = municipality
        super().__init__(f"access denied: {action}" + (f" ({reason})" if reason else ""))


class CitizenRestricted(AccessDenied):
    """The citizen's processing is restricted (GDPR art. 18): nothing may be read, saved or added
    for them until the restriction is lifted. Raised only for a citizen in the user's own
    municipalities (elsewhere: NotFound, as ever). ``messages``: Danish and English for the user;
    ``str()`` gives both."""

    def __init__(self, citizen_id: int, municipality: int | None, messages: dict[str, str], *,
                 action: str = "citizen.read") -> None:
        super().__init__(action, "citizen restricted (GDPR art. 18)", municipality=municipality)
        self.citizen_id = citizen_id
        self.messages = dict(messages)
        #: What the entry app shows instead of its general "no access" text.
        self.user_message = self.messages["da"]
        Exception.__init__(self, f"{messages['da']} / {messages['en']}")


class RightRefused(HjerteKomError):
    """A restriction, erasure or retention run could not be carried out as asked (a reason holding
    a CPR number, a citizen restricted already, ...). ``messages``: Danish and English, saying what
    to fix; ``str()`` gives both. Nothing was changed."""

    def __init__(self, code: str, messages: dict[str, str]) -> None:
        self.code = code
        self.messages = dict(messages)
        super().__init__(f"{messages['da']} / {messages['en']}")


class CitizenNotFound(RightRefused):
    """No citizen (restricted or not) has this CPR number (``code``: "not_found", or "erased" when
    a tombstone shows it was erased before). Nothing was changed."""


#: The one answer to every failed login, whatever the cause (unknown name, wrong password, inactive).
LOGIN_FAILED_MESSAGE = ("Forkert brugernavn eller adgangskode / "
                        "wrong username or password")


class AuthenticationFailed(HjerteKomError):
    """Unknown user, wrong password or inactive account (deliberately not saying which).

    ``delay_seconds``: how long the caller should wait before answering. It grows with failures in
    a row; the core does not sleep itself, so that an async web handler can wait without blocking.
    """

    def __init__(self, message: str = LOGIN_FAILED_MESSAGE, *, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds
        super().__init__(message)


class LoginLocked(AuthenticationFailed):
    """Too many failed logins in a row for this account name or client address: every attempt,
    even with the right password, is refused until ``until`` (a UTC datetime)."""

    def __init__(self, until: dt.datetime, *, delay_seconds: float = 0.0) -> None:
        self.until = until
        local = until.astimezone()
        super().__init__(f"For mange mislykkede forsøg: log ind er spærret til {local:%d-%m-%Y %H:%M} / "
                         f"too many failed attempts: login is locked until {local:%Y-%m-%d %H:%M}",
                         delay_seconds=delay_seconds)


class WeakPassword(HjerteKomError, ValueError):
    """A new password breaks the password policy; nothing was stored.

    ``reasons`` holds codes (``too_short``, ``common``, ``contains_username``, ``repetitive``);
    ``messages`` the text per language, saying what to fix. ``str()`` gives Danish and English.
    """

    def __init__(self, reasons: Sequence[str], messages: dict[str, str]) -> None:
        self.reasons = tuple(reasons)
        self.messages = dict(messages)
        super().__init__(f"{messages['da']} / {messages['en']}")


class WeakPin(HjerteKomError, ValueError):
    """A new PIN is not 4-8 digits or is too easy to guess; nothing was stored. ``reason`` is
    ``format`` or ``trivial``; ``messages`` the text per language, saying what to choose."""

    def __init__(self, reason: str, messages: dict[str, str]) -> None:
        self.reason = reason
        self.messages = dict(messages)
        super().__init__(f"{messages['da']} / {messages['en']}")


class NotFound(HjerteKomError):
    """The record does not exist, or is not visible to this user (deliberately not saying which)."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} not found: {key}")


class CitizenExists(HjerteKomError):
    """The CPR number is registered already, in the user's municipalities, under another name than
    the one given: the citizen is the registered one, and the typed name is pointed out rather than
    silently dropped (``citizen`` is the registered citizen, ``typed_name`` what was given)."""

    def __init__(self, citizen: Any, typed_name: str) -> None:
        self.citizen = citizen
        self.typed_name = typed_name
        super().__init__(f"citizen {citizen.id} is registered already, under another name")


class OpenCourseExists(HjerteKomError):
    """The citizen has a course of this programme that is not finished; a second one at once needs
    an explicit reason (``course_ids``: the open courses the user may see)."""

    def __init__(self, citizen_id: int, course_ids: Sequence[int]) -> None:
        self.citizen_id = citizen_id
        self.course_ids = list(course_ids)
        super().__init__(f"citizen {citizen_id} has open course(s) {self.course_ids}")


class CitizenElsewhere(HjerteKomError):
    """The CPR number is registered under a municipality this user cannot act in.

    Neither the message nor any field says which municipality (or even that it is another one):
    the clinician may not learn what other municipalities hold. The refusal is audited with the
    municipality, for the auditor.
    """


class RevisionConflict(HjerteKomError):
    """Someone saved the same form since this user loaded it; reload and re-apply."""

    def __init__(self, course_id: int, form: str, base_revision: int, latest_revision: int | None) -> None:
        self.course_id = course_id
        self.form = form
        self.base_revision = base_revision
        self.latest_revision = latest_revision
        super().__init__(
            f"course {course_id} form {form}: edited from revision {base_revision}, "
            f"but revision {latest_revision} is newer"
        )


class SharedRevisionConflict(RevisionConflict):
    """The form itself was not saved by anyone since, but the other programme's registration that
    shares an instrument with it (shared questions) was: the correction carried over would overwrite
    answers the user has not seen. Nothing was written; reload and look at the shared answers again.

    ``place``/``place_en``: the other registration ("MoEva – første spørgeskema 17.02.2025")."""

    def __init__(self, course_id: int, form: str, base_revision: int, place: str, place_en: str) -> None:
        super().__init__(course_id, form, base_revision, base_revision)
        self.place = place
        self.place_en = place_en
        self.args = (f"course {course_id} form {form}: {place_en}, which shares questions with it, was saved since",)

    def message(self, lang: str = "da") -> str:
        if lang == "en":
            return (f"{self.place_en}, which shares questions with this form, was saved by someone else after "
                    "you opened the form. Nothing was saved. Reload the page (F5) to see its answers, check "
                    "them and save again (what you typed is kept).")
        return (f"{self.place}, som deler spørgsmål med dette skema, er gemt af en anden, efter du åbnede "
                "skemaet. Intet er gemt. Genindlæs siden (F5) for at se svarene dér, kontrollér dem, og gem "
                "igen (det, du har skrevet, er bevaret).")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


class ImportFailed(HjerteKomError):
    """An import file had invalid rows; nothing was imported."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} error(s) in import file; nothing was imported")


class ReportError(HjerteKomError):
    """A report could not be made."""


class ReportFailed(ReportError):
    """A report notebook raised; ``cause`` names the exception inside the notebook."""

    def __init__(self, report: str, cause: str) -> None:
        self.report = report
        self.cause = cause
        super().__init__(f"{report}: {cause}")


class ExportError(HjerteKomError):
    """A transfer or extract could not be written; nothing was written."""
