"""Each view of the entry app has an address of its own (the URL's fragment), so that the browser's
Back and Forward buttons, a reload and a bookmark work without reloading the app:

=============================  ============================================================
``#/``                         the worklist
``#/ny``                       a new citizen and course
``#/borger/<id>``              one citizen and their courses
``#/borger/<id>/nyt-forloeb``  a new course for that citizen
``#/forloeb/<id>/<form>``      one form of one course (``<form>``: the contract's form name)
=============================  ============================================================

The citizen's questionnaire on a tablet (questionnaire_mode.py) shows ``#/forloeb/<id>/<form>/
spoergeskema`` while the browser is *held* there (``AddressBar.hold``): every other address the
browser reports (Back, Forward, a typed fragment) is refused and the browser is put back. The
address is not one ``parse`` knows: typed by hand it names no view, and it opens nothing.

A fragment names ids only, never a CPR number or a name (it stays in the browser's history). It
is a request like any other: the view it names is opened through the service, whose scope check
and audit apply (another municipality's course is "not found", and the refusal is audited).

The address travels over two hidden widgets (``AddressBar``): the page script
(``static/hjertekom-routes.js``) writes where the browser is into a text widget (at the start, and
after Back, Forward or a typed address), and reads where the kernel went from an HTML widget, which
it turns into a new history entry (or replaces the current one).
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from hjertekom_widgets.shared_looks import SharedLooks

WORKLIST, NEW, CITIZEN, NEW_COURSE, COURSE = "worklist", "new", "citizen", "new_course", "course"
#: The citizen's questionnaire of one form (a held address only, see ``AddressBar.hold``).
QUESTIONNAIRE = "questionnaire"
#: The longest report of the page script that is read at all (a fragment and a number).
MAX_REPORT_CHARS = 1000
_ID = r"([1-9][0-9]{0,11})"   # a database id: no sign, no leading zero, at most 12 digits
_PATTERNS = (
    (re.compile(r"/?"), WORKLIST),
    (re.compile(r"/ny/?"), NEW),
    (re.compile(rf"/borger/{_ID}/?"), CITIZEN),
    (re.compile(rf"/borger/{_ID}/nyt-forloeb/?"), NEW_COURSE),
    (re.compile(rf"/forloeb/{_ID}(?:/([a-z_][a-z0-9_]{{0,40}}))?/?"), COURSE),
)


@dataclass(frozen=True)
class Route:
    """One view: which one, the citizen's or course's id, and the course's form."""

    view: str
    id: int | None = None
    form: str | None = None

    @property
    def fragment(self) -> str:
        """The address of the view, e.g. ``#/forloeb/12/start``."""
        if self.view == WORKLIST:
            return "#/"
        if self.view == NEW:
            return "#/ny"
        if self.view == CITIZEN:
            return f"#/borger/{self.id}"
        if self.view == NEW_COURSE:
            return f"#/borger/{self.id}/nyt-forloeb"
        if self.view == QUESTIONNAIRE:
            return f"#/forloeb/{self.id}/{self.form}/spoergeskema"
        return f"#/forloeb/{self.id}" + (f"/{self.form}" if self.form else "")


def parse(fragment: str, forms: Collection[str]) -> Route | None:
    """The view ``fragment`` names (with or without its ``#``); None when it names none (an
    unknown path, a form the contract does not have, anything that is not an id)."""
    path = fragment[1:] if fragment.startswith("#") else fragment
    for pattern, view in _PATTERNS:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        groups = match.groups()
        if view == COURSE and groups[1] is not None and groups[1] not in forms:
            return None
        return Route(view, int(groups[0]) if groups else None, groups[1] if view == COURSE else None)
    return None


class AddressBar:
    """The kernel's side of the address: ``show`` says where the app went, ``on_report`` hears
    where the browser is (called with the fragment as reported).

    Until the browser has reported once, ``show`` only remembers: a reload or a bookmark names
    the view the browser wants, which the first report brings, and must not be overwritten by the
    worklist the app starts with."""

    def __init__(self, on_report: Callable[[str], None], looks: SharedLooks | None = None) -> None:
        self.on_report = on_report
        self.current: str | None = None    # the fragment the browser shows, as far as the kernel knows
        self.heard = False
        self._seen = 0                     # the page script numbers its reports; older ones are stale
        self._sent = 0
        self.held: Route | None = None     # the browser is kept at this address (see hold)
        self._on_refused: Callable[[str], None] | None = None
        looks = looks or SharedLooks()   # hidden, all three: one Layout model
        self.inbox = looks.text("hk-route-channel", value="", continuous_update=False, layout={"display": "none"})
        self.inbox.observe(self._reported, names="value")
        self.outbox = looks.html("", "hk-route-out", display="none")
        self.widget = w.Box([self.inbox, self.outbox], layout=looks.layout(display="none"))

    def show(self, route: Route, *, replace: bool = False) -> None:
        """The app now shows ``route``: a new history entry (or, ``replace``, the current one
        corrected), unless the browser is there already."""
        if self.held is not None and route != self.held:
            return   # nothing moves the browser away from a held address
        fragment = route.fragment
        if fragment == self.current:
            return
        self.current = fragment
        if not self.heard:
            return
        self._send(fragment, replace)

    def _send(self, fragment: str, replace: bool) -> None:
        self._sent += 1
        self.outbox.value = (f'<span data-route="{html.escape(fragment)}" data-mode="{"replace" if replace else "push"}"'
                             f' data-seq="{self._sent}"></span>')

    def hold(self, route: Route, on_refused: Callable[[str], None]) -> None:
        """Keep the browser at ``route`` (a history entry of its own) until ``release``: any other
        address it reports is not followed; the browser is put back at once and ``on_refused`` is
        called with the fragment it reported."""
        self.held, self._on_refused = route, on_refused
        self.show(route)

    def release(self) -> None:
        """Follow the browser's addresses again (the next ``show`` says where the app is)."""
        self.held, self._on_refused = None, None

    def _reported(self, change: dict[str, Any]) -> None:
        raw = change["new"]
        if not isinstance(raw, str) or not raw or len(raw) > MAX_REPORT_CHARS:
            return
        try:
            report = json.loads(raw)
        except ValueError:
            return
        if not isinstance(report, dict):
            return
        seq, fragment = report.get("seq"), report.get("hash")
        if not isinstance(seq, int) or not isinstance(fragment, str) or seq <= self._seen:
            return
        self._seen = seq
        self.heard = True
        self.current = fragment
        held = self.held
        if held is not None:
            if fragment != held.fragment:
                self.current = held.fragment
                self._send(held.fragment, replace=True)
                if self._on_refused is not None:
                    self._on_refused(fragment)
            return
        self.on_report(fragment)
