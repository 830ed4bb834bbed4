"""The worklist: search by CPR or name, the day's lists, and the way to a new citizen and course."""
from __future__ import annotations

import contextlib
import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hjertekom_core.contract import Contract
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.name_search import danish_sort_key, looks_like_number, typed_cpr
from hjertekom_core.service import WORKLIST_GROUPS, Citizen, Course, Service, WorklistItem
from hjertekom_widgets.messages import FORM_BUTTON, STATUS_DA, message_html
from hjertekom_widgets.page_actions import action_attribute
from hjertekom_widgets.programmes import (
    DEFAULT_PROGRAMME,
    OTHERS,
    OTHERS_WORD,
    ROLE_WORDS,
    ROLES,
    form_roles,
    form_word,
    further_forms,
    programme_name,
)
from hjertekom_widgets.routes import COURSE, Route
from hjertekom_widgets.shared_looks import SharedLooks

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell


class WorklistView:
    def __init__(self, shell: EntryShell) -> None:
        self.shell = shell
        # The page's looks (the shell's): the lists' and the hits' many alike buttons and rows, and
        # this view's fixed widgets, add no layout or style model when the worklist is drawn again.
        looks = self.looks = shell.looks
        self.search = looks.text("hk-search", placeholder="CPR-nummer (ddmmåå-xxxx) eller navn",
                                 continuous_update=True, layout={"width": "320px"})
        self.hint = looks.html("")
        self.search_button = w.Button(description="Søg", button_style="primary", icon="search",
                                      layout=looks.layout(), style=looks.style(w.ButtonStyle))
        self.new_button = w.Button(description="Ny borger og forløb", icon="plus", layout=looks.layout(),
                                   style=looks.style(w.ButtonStyle))
        self.results = looks.vbox([], "hk-search-results")
        self.search.observe(self._check_as_typed, names="value")
        search = shell.guarded("search")(self._search)
        self.search_button.on_click(search)
        # Enter in the search box: the text widget's own "submit" message (Text.on_submit is
        # deprecated in ipywidgets 8; the message is not). The typed value has arrived before it.
        self.search.on_msg(lambda _w, content, _b: search(None) if content.get("event") == "submit" else None)
        self.new_button.on_click(shell.guarded("new")(lambda _: shell.open_new_citizen(self._typed_cpr())))
        lists = self._lists()
        self.widget = looks.vbox([
            looks.html("<h3 style='margin:4px 0'>Find borger</h3>"),
            looks.hbox([self.search, self.search_button, self.new_button]), self.hint, self.results, lists])

    def _typed_cpr(self) -> str:
        """What to carry over to "Ny borger og forløb": a CPR number as "DDMMYY-SSSS" when one was
        typed (with a space, say), any other digits as typed, no name."""
        text = self.search.value.strip()
        if not looks_like_number(text):
            return ""
        return typed_cpr(text) or text

    def _check_as_typed(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if not looks_like_number(text):
            self.hint.value = ""
            return
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) < 10:
            self.hint.value = f"<span style='color:#555'>{len(digits)} af 10 cifre</span>"
            return
        try:
            info = parse_cpr(typed_cpr(text) or text)
        except InvalidCpr as exc:
            self.hint.value = f"<span class='hk-cpr-error' style='color:#b00020'>{html.escape(exc.message('da'))}</span>"
            return
        check = ("" if info.modulus11_ok else
                 " <span class='hk-cpr-warning' style='color:#8a5300'>Bemærk: kontrolcifferet stemmer ikke "
                 "(modulus 11). Det kan være korrekt for numre fra efter 2007 – kontrollér nummeret.</span>")
        sex = "mand" if info.sex == "M" else "kvinde"
        self.hint.value = f"<span style='color:#1e6b34'>Født {info.birth_date:%d-%m-%Y}, {sex}.</span>{check}"

    def _search(self, _: Any) -> None:
        """Search by CPR number (digits, spaces and dashes only) or by name. Whatever an earlier
        search said (a refused number, no hits) goes first."""
        self.shell.show("", "")
        self.results.children = ()
        text = self.search.value.strip()
        svc = self.shell.service
        if looks_like_number(text):
            try:
                citizen = svc.find_citizen(text)
            except InvalidCpr as exc:
                self.shell.show("error", html.escape(exc.message("da")))
                return
            found = [citizen] if citizen else []
        else:
            found = svc.search_citizens(text)
        if not found:
            self.results.children = (w.HTML(message_html("info", "Ingen borger fundet i din kommune. Opret en ny "
                                                          "borger med knappen ‘Ny borger og forløb’.")),)
            return
        rows = []
        for citizen in found:
            rows.append(self._citizen_row(svc, citizen))
        self.results.children = tuple(rows)

    def _citizen_row(self, svc: Service, citizen: Citizen) -> w.Widget:
        courses = svc.courses_of(citizen.id)
        buttons = []
        for course in courses:
            if course.programme not in self.shell.contracts:
                continue   # a programme this workspace no longer loads: its forms cannot be shown
            contract = self.shell.contract_of(course.programme)
            which = f"{programme_name(contract)} · " if self.shell.several_programmes else ""
            label = f"Forløb {course.id} ({which}{self._course_state(contract, course)})"
            b = self.looks.button(label, width="auto")
            b.on_click(self.shell.guarded("open course")(lambda _, cid=course.id: self.shell.open_course(cid)))
            buttons.append(b)
        new = w.Button(description="Nyt forløb", icon="plus", layout=self.looks.layout(width="auto"),
                       style=self.looks.style(w.ButtonStyle))
        new.on_click(self.shell.guarded("new course")(lambda _, c=citizen: self.shell.open_new_citizen(citizen=c)))
        title = self.looks.html(f"<b>{html.escape(citizen.name)}</b> · {citizen.cpr[:6]}-{citizen.cpr[6:]}")
        page = w.Button(description="Vis borger", icon="user", layout=self.looks.layout(width="auto"),
                        style=self.looks.style(w.ButtonStyle), _dom_classes=("hk-open-citizen",))
        page.on_click(self.shell.guarded("open citizen")(lambda _, cid=citizen.id: self.shell.open_citizen(cid)))
        return self.looks.hbox([title, page, *buttons, new], "hk-search-hit", align_items="center")

    @staticmethod
    def _course_state(contract: Contract, course: Course) -> str:
        parts = [f"{form_word(contract, f)}: {STATUS_DA.get(r.status, r.status)}" for f, r in course.forms.items()
                 if f != contract.course_form]
        return ", ".join(parts) or "ikke startet"

    def _lists(self) -> w.Widget:
        config = self.shell.session.workspace.config if self.shell.session else None
        limit = config.completion_limit_days if config else 180
        items = self.shell.service.worklist(completion_limit_days=limit)
        titles = {"awaiting_start": "Afventer afklarende samtale", "missing_end": "Mangler afslutning",
                  "drafts": "Kladder, der ikke er færdige", "overdue": f"Over {limit} dage uden afslutning"}
        loaded = self.shell.contracts
        items = [i for i in items if i.programme in loaded]   # a programme no longer loaded cannot open
        if self.shell.several_programmes:
            # Programmes may have different forms: one status column per role (course, start, end)
            # with the programme's own form in each, and a column saying which programme.
            programmes: dict[str, Contract] | None = {p: loaded[p] for p in self.shell.programmes}
            forms: list[str] = list(ROLES)
            headings = dict(ROLE_WORDS)
            if any(further_forms(c) for c in programmes.values()):
                # A programme with more than three forms: the ones between start and end, each with
                # its status, in a column of their own.
                forms.append(OTHERS)
                headings[OTHERS] = OTHERS_WORD
            titles["awaiting_start"] = "Afventer opstart"   # the start forms have different names
        else:
            only = loaded[self.shell.programmes[0]]
            programmes, forms = None, list(only.forms)
            headings = {f: form_word(only, f) for f in forms}   # HjerteKom's labels are its usual words
            start = form_roles(only).get("start")
            if only.programme != DEFAULT_PROGRAMME and start is not None:
                titles["awaiting_start"] = f"Afventer {form_word(only, start).lower()}"
        tables = {group: WorklistTable(group, titles[group], f"hk-{group.replace('_', '-')}",
                                       [i for i in items if group in i.groups], forms,
                                       programmes=programmes, headings=headings, looks=self.looks)
                  for group in WORKLIST_GROUPS}
        self.tables = tables
        actions = self.shell.actions
        actions.register("worklist-sort", self.shell.guarded("sort worklist")(self._sort))
        actions.register("worklist-all", self.shell.guarded("show all of a list")(self._show_all))
        return w.VBox([t.widget for t in tables.values()], layout=self.looks.layout())

    def _sort(self, args: Sequence[str]) -> None:
        """A click on a column heading: ``args`` = (list, column), both as the page drew them."""
        table = self.tables.get(args[0]) if len(args) == 2 else None
        if table is not None:
            with contextlib.suppress(ValueError):   # a column the list does not have: nothing to do
                table.sort_by(args[1])

    def _show_all(self, args: Sequence[str]) -> None:
        table = self.tables.get(args[0]) if len(args) == 1 else None
        if table is not None:
            table.show_everything()


# --- the lists: one table per group, sortable by each column ---------------------------------------------
#: What each column of a worklist table shows, in order: key, heading, width. The forms' status
#: columns ("status:<form>") follow, one per form of the contract; with several programmes a
#: "Program" column comes after the CPR number and the status columns are the roles
#: ("status:course", "status:start", "status:end", see programmes.form_roles).
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "Navn", "210px"), ("cpr", "CPR-nummer", "110px"), ("referral", "Henvist", "100px"),
    ("days", "Dage", "180px"))
_STATUS_WIDTH = {"course": "90px", "start": "160px", "end": "100px", OTHERS: "220px"}
_PROGRAMME_COLUMN = ("programme", "Program", "150px")
_OPEN_WIDTH = "70px"
#: Status order when sorting: not begun, draft, finished.
_STATUS_RANK = {None: 0, "draft": 1, "complete": 2}
_DAYS_SINCE = {"start": "siden start", "referral": "siden henvisning"}
#: How many rows a list shows before "Vis alle".
ROWS_SHOWN = 50


def sort_value(item: WorklistItem, column: str, programmes: Mapping[str, Contract] | None = None) -> Any:
    """What ``column`` sorts ``item`` by; None: the value is missing (sorted last either way).
    ``programmes``: the contracts when the table shows several programmes (status by role)."""
    if column == "programme":
        contract = programmes.get(item.programme) if programmes else None
        return danish_sort_key(programme_name(contract)) if contract else item.programme
    if column == "name":
        return danish_sort_key(item.citizen.name)
    if column == "cpr":
        return item.citizen.cpr
    if column == "referral":
        return item.referral_date
    if column == "days":
        return item.days
    if column == f"status:{OTHERS}":   # by the further forms' statuses, in order; none: last
        contract = programmes.get(item.programme) if programmes else None
        further = further_forms(contract) if contract else []
        return tuple(_STATUS_RANK.get(item.statuses.get(f), 0) for f in further) if further else None
    if column.startswith("status:"):
        return _STATUS_RANK.get(_status(item, column.removeprefix("status:"), programmes), 0)
    raise ValueError(f"unknown worklist column {column!r}")


def _status(item: WorklistItem, column: str, programmes: Mapping[str, Contract] | None) -> str | None:
    """The status shown in status column ``column``: of that form, or with several programmes
    of the form playing that role in the item's own programme."""
    if programmes is None:
        return item.statuses.get(column)
    contract = programmes.get(item.programme)
    form = form_roles(contract).get(column) if contract else None
    return item.statuses.get(form) if form else None


def sort_items(items: Sequence[WorklistItem], column: str, descending: bool = False,
               programmes: Mapping[str, Contract] | None = None) -> list[WorklistItem]:
    """``items`` sorted by ``column``, stable (equal values keep their order, newest course first),
    missing values last in either direction."""
    present = [i for i in items if sort_value(i, column, programmes) is not None]
    missing = [i for i in items if sort_value(i, column, programmes) is None]
    return sorted(present, key=lambda i: sort_value(i, column, programmes), reverse=descending) + missing


class WorklistTable:
    """One of the day's lists, drawn as one HTML table (a single widget, whatever its length): a
    heading with its count, column headings that sort (a click sorts ascending, a second click
    descending) and a row per course whose "Åbn" is a link to the course's address
    (``#/forloeb/<id>``, opened through the service like any address, routes.py).

    The headings and "Vis alle" are ``<button>`` elements whose clicks come back over the page's
    action channel (page_actions.py): ``worklist-sort <key> <column>`` and ``worklist-all <key>``,
    ``key`` naming the list (its group)."""

    def __init__(self, key: str, title: str, css: str, items: Sequence[WorklistItem], forms: Sequence[str], *,
                 programmes: Mapping[str, Contract] | None = None,
                 headings: Mapping[str, str] | None = None, looks: SharedLooks | None = None) -> None:
        """``forms``: the status columns, form names of the one programme; or, with ``programmes``
        (the contracts of several programmes), roles (``programmes.ROLES``). ``headings``: form
        or role -> its column's heading (default: HjerteKom's words). ``looks``: the layout and
        style its widget shares (with the other lists of the page)."""
        self.key = key
        self.title = title
        self.looks = looks or SharedLooks()
        self.items = list(items)   # in the service's order: newest course first
        self.programmes = programmes
        fixed = [*_COLUMNS[:2], _PROGRAMME_COLUMN, *_COLUMNS[2:]] if programmes else list(_COLUMNS)
        heading = headings or (ROLE_WORDS if programmes else FORM_BUTTON)
        self.columns = [*fixed, *((f"status:{f}", heading.get(f, f), _STATUS_WIDTH.get(f, "120px"))
                                  for f in forms)]
        self.order: tuple[str, bool] | None = None   # (column, descending), None: the service's order
        self.show_all = False
        self.widget = self.looks.html("", css, "hk-worklist")
        self._render()

    def _render(self) -> None:
        count = len(self.items)
        parts = [f"<h3 style='margin:12px 0 4px 0'>{html.escape(self.title)} ({count})</h3>"]
        if not self.items:
            parts.append("<span style='color:#555'>Ingen.</span>")
            self.widget.value = "".join(parts)
            return
        shown = sort_items(self.items, *self.order, programmes=self.programmes) if self.order else self.items
        limit = count if self.show_all else ROWS_SHOWN
        widths = "".join(f"<col style='width:{width}'>" for width in (_OPEN_WIDTH, *(c[2] for c in self.columns)))
        head = "".join(self._heading(key, label) for key, label, _ in self.columns)
        rows = "".join(self._row(item) for item in shown[:limit])
        parts.append(f"<table class='hk-worklist-table'><colgroup>{widths}</colgroup>"
                     "<thead><tr class='hk-worklist-head'><th scope='col'><span class='hk-visually-hidden'>"
                     f"Åbn</span></th>{head}</tr></thead><tbody>{rows}</tbody></table>")
        if count > limit:
            parts.append(f"<div class='hk-more'>Viser {limit} af {count}. <button type='button' class='hk-show-all' "
                         f"{action_attribute('worklist-all', self.key)}>Vis alle {count}</button></div>")
        self.widget.value = "".join(parts)

    def _heading(self, key: str, label: str) -> str:
        arrow, hint, sort = "", "stigende", "none"
        if self.order and self.order[0] == key:
            arrow = " ▼" if self.order[1] else " ▲"
            hint = "faldende" if not self.order[1] else "stigende"
            sort = "descending" if self.order[1] else "ascending"
        tip = html.escape(f"Sortér efter {label.lower()} ({hint})", quote=True)
        return (f"<th scope='col' aria-sort='{sort}'><button type='button' class='hk-sort-{key.replace(':', '-')}' "
                f"title='{tip}' {action_attribute('worklist-sort', self.key, key)}>{html.escape(label)}{arrow}"
                "</button></th>")

    def sort_by(self, column: str) -> None:
        """Sort by ``column``: ascending first, descending on the next click of the same column."""
        if column not in {key for key, _, _ in self.columns}:
            raise ValueError(f"no column {column!r} in this list")
        descending = bool(self.order and self.order[0] == column and not self.order[1])
        self.order = (column, descending)
        self._render()

    def show_everything(self) -> None:
        """Every row, not only the first ``ROWS_SHOWN``."""
        self.show_all = True
        self._render()

    def _row(self, item: WorklistItem) -> str:
        name = html.escape(item.citizen.name, quote=True)
        cells = "".join(f"<td class='hk-cell-{key.replace(':', '-')}'>{self._cell(item, key)}</td>"
                        for key, _, _ in self.columns)
        return (f"<tr class='hk-worklist-row'><td><a class='hk-open-item' href='{Route(COURSE, item.course_id).fragment}'"
                f" aria-label='Åbn forløbet for {name}'>Åbn</a></td>{cells}</tr>")

    def _cell(self, item: WorklistItem, key: str) -> str:
        contract = self.programmes.get(item.programme) if self.programmes else None
        if key == "programme":
            name = programme_name(contract) if contract else item.programme
            return f"<span title='{html.escape(name, quote=True)}'>{html.escape(name)}</span>"
        if key == "name":
            return html.escape(item.citizen.name)
        if key == "cpr":
            return f"{item.citizen.cpr[:6]}-{item.citizen.cpr[6:]}"
        if key == "referral":
            return f"{item.referral_date:%d-%m-%Y}" if item.referral_date else "–"
        if key == "days":
            return f"{item.days} {_DAYS_SINCE[item.days_since]}" if item.days is not None and item.days_since else "–"
        column = key.removeprefix("status:")
        if column == OTHERS:
            return _others_cell(item, contract)
        status = _status(item, column, self.programmes)
        if contract is not None:   # several programmes: say which form of the programme this is
            form = form_roles(contract).get(column)
            if form is None:
                return "<span class='hk-status-none'>–</span>"
            title = html.escape(f"{form_word(contract, form)}: {STATUS_DA.get(status, status)}", quote=True)
            return f"<span class='hk-status-{status or 'none'}' title='{title}'>{STATUS_DA.get(status, status)}</span>"
        return f"<span class='hk-status-{status or 'none'}'>{STATUS_DA.get(status, status)}</span>"



def _others_cell(item: WorklistItem, contract: Contract | None) -> str:
    """"Øvrige skemaer": each form of the item's programme that plays no role, with its status
    (``Opfølgning: kladde, Telefonopfølgning: ikke startet``); the whole list is the tooltip, as
    the column may cut it. "–" for a programme without such forms."""
    further = further_forms(contract) if contract is not None else []
    if not further:
        return "<span class='hk-status-none'>–</span>"
    parts = []
    for form in further:
        status = item.statuses.get(form)
        parts.append(f"<span class='hk-status-{status or 'none'}'>{html.escape(form_word(contract, form))}: "
                     f"{html.escape(STATUS_DA.get(status, status))}</span>")   # type: ignore[arg-type]
    title = ", ".join(f"{form_word(contract, f)}: {STATUS_DA.get(item.statuses.get(f), item.statuses.get(f))}"
                      for f in further)   # type: ignore[arg-type]
    return f"<span title='{html.escape(title, quote=True)}'>{', '.join(parts)}</span>"
