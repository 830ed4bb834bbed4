"""Shared questions: a standard instrument answered once serves every programme that asks it.

A block of a contract may declare the instrument it is (``instrument: who5``); blocks declaring the
same instrument ask the same items in every programme (checked when the contracts are loaded,
``contract.loader.check_shared_instruments``). When the same citizen has, in another programme, a
saved registration of a form with that instrument whose date field (the meeting or answer date) is
the same day, the instrument's answers are taken from it instead of being asked again. What the
service does with them (fill in, record where they came from, carry a correction over) is in
``Service.save`` and ``Service.shared_answers``; this module holds the pure rules.

Only answers the user may see are ever used: the service looks only at courses in a municipality
where the user acts in the course's programme (``User.acts_in``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hjertekom_core.contract import Contract, Section

__all__ = ["SharedAnswer", "SharedLink", "SharedNote", "date_text", "form_day", "items_of", "place_text", "with_answers"]


def date_text(day: dt.date) -> str:
    """12.03.2026."""
    return day.strftime("%d.%m.%Y")


def place_text(contract: Contract, form: str, day: dt.date, lang: str = "da") -> str:
    """"HjerteKom – afklarende samtale 12.03.2026": the programme's short name (its label up to
    " – "), the form's label and the day."""
    programme = contract.label.get(lang).split(" – ")[0].strip() or contract.programme
    return f"{programme} – {contract.form(form).label.get(lang).lower()} {date_text(day)}"


def form_day(contract: Contract, form: str, data: Mapping[str, Any]) -> dt.date | None:
    """The day of a registration: its form's ``date_field`` (a date, or an ISO date text); None
    when the form has no date field or the date is missing or a missing reason."""
    name = contract.form(form).date_field
    value = data.get(name) if name else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def items_of(section: Section, data: Mapping[str, Any]) -> dict[str, Any]:
    """The instrument's answered items in ``data`` (blanks left out)."""
    return {f.name: data[f.name] for f in section.instrument_items() if data.get(f.name) is not None}


def _plain(value: Any) -> Any:  # noqa: ANN401 - a cleaned value
    return value.isoformat() if isinstance(value, dt.date) else value


def with_answers(section: Section, data: Mapping[str, Any], answers: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the instrument's items replaced by ``answers`` (items not in it blanked) and, where
    the section has a questionnaire status of its own (HjerteKom's ``who5_status``), that status set
    to answered. Derived scores are left to the validation."""
    out = {k: _plain(v) for k, v in data.items()}
    for f in section.instrument_items():
        out.pop(f.name, None)
    out.update({k: _plain(v) for k, v in answers.items()})
    report = section.self_report
    if answers and report is not None and report.status is not None and report.answered is not None:
        out[report.status] = report.answered
    return out


def may_fill(section: Section, data: Mapping[str, Any]) -> bool:
    """Whether shared answers may be filled into ``data``: none of the instrument's items is
    answered, and the section's own questionnaire status (if any) is blank or says answered (a
    clinician who recorded "not answered" or "declined" is not overruled)."""
    if items_of(section, data):
        return False
    report = section.self_report
    if report is None or report.status is None:
        return True
    return data.get(report.status) in (None, report.answered)


@dataclass(frozen=True)
class SharedAnswer:
    """The answers of ``instrument`` saved in another programme's registration on ``day``."""

    instrument: str
    programme: str
    course_id: int
    form: str
    revision: int
    day: dt.date
    values: Mapping[str, Any] = field(repr=False)
    place: str = ""        # "HjerteKom – afklarende samtale 12.03.2026"
    place_en: str = ""

    def provenance(self) -> dict[str, Any]:
        """Where the answers came from, as recorded in the audit log (no person data)."""
        return {"programme": self.programme, "course_id": self.course_id, "form": self.form,
                "revision": self.revision, "day": self.day.isoformat()}

    def note(self, lang: str = "da", *, saved: bool = False) -> str:
        """What the form says above the instrument when its answers come from here; ``saved``: the
        form's own saved registration holds the same answers already (whichever was first)."""
        if saved:
            if lang == "en":
                return f"The same answers as in {self.place_en} (a shared question) — a correction is saved in both"
            return f"Samme svar som i {self.place} (delt spørgsmål) — en rettelse gemmes begge steder"
        if lang == "en":
            return f"Answered in {self.place_en} — not asked again"
        return f"Besvaret i {self.place} — udfyldes ikke igen"


#: What a save did with a shared instrument, for the clinician (``SaveResult.shared``).
SHARED_NOTE_KINDS = ("from", "updated", "differs")


@dataclass(frozen=True)
class _SharedPlace:
    """An instrument's answers and the other programme's registration they concern (``place``:
    "MoEva – første spørgeskema 17.02.2025")."""

    kind: str
    instrument: str
    label_da: str        # the instrument's section label, "Trivsel (WHO-5)"
    label_en: str
    programme: str
    course_id: int
    form: str
    revision: int
    place: str
    place_en: str


@dataclass(frozen=True)
class SharedNote(_SharedPlace):
    """``kind`` "from": the answers saved are those of ``place``; "updated": the other programme's
    registration got the corrected answers as a new revision; "differs": it holds other answers,
    left as they are (they were not the same answer before)."""

    def message(self, lang: str = "da") -> str:
        label = self.label_en if lang == "en" else self.label_da
        if lang == "en":
            return {"from": f"{label}: the answers of {self.place_en} were saved here too.",
                    "updated": f"{label}: the correction was saved in {self.place_en} too (revision {self.revision}).",
                    "differs": f"{label}: {self.place_en} holds other answers, which were not changed. "
                               "Check which answers are right and correct the other registration."}[self.kind]
        return {"from": f"{label}: svarene fra {self.place} er gemt her også.",
                "updated": f"{label}: rettelsen er også gemt i {self.place} (revision {self.revision}).",
                "differs": f"{label}: {self.place} har andre svar, som ikke er ændret. "
                           "Undersøg, hvilke svar der er rigtige, og ret den anden registrering."}[self.kind]


@dataclass(frozen=True)
class SharedLink(_SharedPlace):
    """In a form's history: a revision whose shared answers came from (``kind`` "from") or were
    carried over to ("to") another programme's registration, read from the save's audit row
    (``shared_from`` / ``shared_to``)."""

    def text(self, lang: str = "da") -> str:
        """"Overført fra MoEva – første spørgeskema 17.02.2025 (Trivsel (WHO-5), version 2)"."""
        if lang == "en":
            word = "Carried over from" if self.kind == "from" else "Carried over to"
            return f"{word} {self.place_en} ({self.label_en}, version {self.revision})"
        word = "Overført fra" if self.kind == "from" else "Overført til"
        return f"{word} {self.place} ({self.label_da}, version {self.revision})"
