"""What the entry app shows of a course's programme: the words for its forms, its name, and which
of its forms are the course, start and end (issue 19: several programmes on one platform).

A course is always shown with its own programme's contract. The words come from that contract
(each form's ``label``), so that a programme declared by YAML alone gets its own words; HjerteKom's
short words (``messages.FORM_BUTTON``) are its contract's labels, so nothing it shows changes.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hjertekom_core.contract import Contract
from hjertekom_widgets.messages import FORM_BUTTON, STATUS_DA

#: The programme a single-programme workspace has always been, and whose contract the shell
#: falls back to while no course is shown (``EntryShell.contract``).
DEFAULT_PROGRAMME = "hjertekom"

#: The roles of a course's forms, in order, and their Danish column headings when the worklist
#: shows courses of several programmes side by side (their forms may be named differently).
ROLES: tuple[str, ...] = ("course", "start", "end")
ROLE_WORDS = {"course": "Forløb", "start": "Start", "end": "Afslutning"}
#: The worklist's column for the forms that play no role (``further_forms``), when a loaded
#: programme has any.
OTHERS = "others"
OTHERS_WORD = "Øvrige skemaer"


def form_word(contract: Contract, form: str) -> str:
    """The Danish word of ``form`` in ``contract`` (its label); an unknown form shows its name."""
    found = contract.forms.get(form)
    if found is None:
        return FORM_BUTTON.get(form, form)
    return found.label.get("da")


def programme_name(contract: Contract) -> str:
    """The programme's short Danish name for columns and buttons: its label up to " – " (HjerteKom's
    label is "HjerteKom – kommunal hjerterehabilitering"; a column has room for "HjerteKom")."""
    return contract.label.get("da").split(" – ")[0].strip() or contract.programme


def form_roles(contract: Contract) -> dict[str, str]:
    """Role ("course", "start", "end") -> the form of ``contract`` that plays it: the course form,
    then the first and the last form after it (``Contract.start_and_end``). A programme with one
    form after the course form has it as its start only."""
    roles = {"course": contract.course_form}
    others = [name for name in contract.forms if name != contract.course_form]
    if others:
        roles["start"] = others[0]
    if len(others) >= 2:
        roles["end"] = others[-1]
    return roles


def further_forms(contract: Contract) -> list[str]:
    """The forms of ``contract`` that play no role (between start and end, in contract order): a
    programme with more than three forms has them. The worklist lists their status in "Øvrige
    skemaer" when several programmes share its role columns."""
    playing = set(form_roles(contract).values())
    return [name for name in contract.forms if name not in playing]


def role_statuses(contract: Contract, statuses: dict[str, str] | Any) -> dict[str, str | None]:
    """Role -> the status of the form playing it (None: not begun, or no such form)."""
    return {role: statuses.get(form) for role, form in form_roles(contract).items()}


def states_text(contract: Contract, forms: Iterable[str], status_of: Any) -> str:
    """"Forløb: færdig, Afklarende samtale: kladde, ..." for ``forms`` of ``contract``."""
    return ", ".join(f"{form_word(contract, name)}: {STATUS_DA.get(status_of(name), status_of(name))}"
                     for name in forms)


def course_sheets(programme: str) -> tuple[str, ...]:
    """The course reports the course view links to, as the server's words (reports_api.COURSE_KINDS):
    every programme's course has its citizen sheet ("borger": HjerteKom's own, or another
    programme's start/end measures, reports/citizen.py); the course summary for hospital and GP
    ("opsummering", gp_summary.py) reads HjerteKom's cardiac measures and stays HjerteKom's."""
    return ("borger", "opsummering") if programme == DEFAULT_PROGRAMME else ("borger",)


def end_form(contract: Contract) -> str:
    """The form that finishes a course: the last in the contract (as ``Service.open_course`` counts)."""
    return list(contract.forms)[-1]


__all__ = ["DEFAULT_PROGRAMME", "OTHERS", "OTHERS_WORD", "ROLES", "ROLE_WORDS", "end_form", "form_roles",
           "course_sheets", "form_word", "further_forms",
           "programme_name",
           "role_statuses", "states_text"]
