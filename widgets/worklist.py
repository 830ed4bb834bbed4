"""The worklist: search by CPR or name, the day's lists, and the way to a new citizen and course."""
from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hjertekom_core.contract import Contract
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.name_search import danish_sort_key, looks_like_number, typed_cpr
from hjertekom_core.service import WORKLIST_GROUPS, Citizen, Course, Service, WorklistItem
from hjertekom_widgets.messages import FORM_BUTTON, STATUS_DA, message_html
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
from hjertekom_widgets.shared_looks import SharedLooks

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell


class WorklistView:
    def __init__(self, shell: EntryShell) -> None:
        self.shell = shell
        self.looks = SharedLooks()   # the lists' and the hits' many alike buttons and rows
        self.search = w.Text(placeholder="CPR-nummer (ddmmåå-xxxx) eller navn", continuous_update=True,
                             layout=w.Layout(width="320px"))
        self.search.add_class("hk-search")
        self.hint = w.HTML()
        self.search_button = w.Button(description="Søg", button_style="primary", icon="search")
        self.new_button = w.Button(description="Ny borger og forløb", icon="plus")
        self.results = w.VBox()
        self.results.add_class("hk-search-results")
        self.search.observe(self._check_as_typed, names="value")
        search = shell.guarded("search")(self._search)
        self.search_button.on_click(search)
        # Enter in the search box: the text widget's own "submit" message (Text.on_submit is
        # deprecated in ipywidgets 8; the message is not). The typed value has arrived before it.
        self.search.on_msg(lambda _w, content, _b: search(None) if content.get("event") == "submit" else None)
        self.new_button.on_click(shell.guarded("new")(lambda _: shell.open_new_citizen(self._typed_cpr())))
        lists = self._lists()
        self.widget = w.VBox([
            w.HTML("<h3 style='margin:4px 0'>Find borger</h3>"),
            w.HBox([self.search, self.search_button, self.new_button]), self.hint, self.results, lists])

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
        tables = [WorklistTable(titles[group], f"hk-{group.replace('_', '-')}",
                                [i for i in items if group in i.groups], forms, self._open_item,
                                self.shell.guarded, programmes=programmes, headings=headings, looks=self.looks)
                  for group in WORKLIST_GROUPS]
        self.tables = tables
        return w.VBox([w.HTML(_TABLE_STYLE), *(t.widget for t in tables)])

    def _open_item(self, course_id: int) -> Callable[[Any], None]:
        return self.shell.guarded("open worklist item")(lambda _: self.shell.open_course(course_id))


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

_TABLE_STYLE = """<style>
.hk-worklist-head .jupyter-button { text-align: left; margin: 0; padding: 0 6px; font-weight: 600;
  background: #eef1f5; overflow: hidden; text-overflow: ellipsis; }
.hk-worklist-cells { display: grid; align-items: center; }
.hk-worklist-cells > span { padding: 0 6px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.hk-status-draft { color: #8a5300; } .hk-status-none { color: #555; } .hk-status-complete { color: #1e6b34; }
</style>"""


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
    """One of the day's lists: a heading with its count, column headings that sort (a click sorts
    ascending, a second click descending), and a row per course with "Åbn"."""

    def __init__(self, title: str, css: str, items: Sequence[WorklistItem], forms: Sequence[str],
                 open_item: Callable[[int], Callable[[Any], None]],
                 guarded: Callable[[str], Callable[[Any], Any]] = lambda _: (lambda f: f), *,
                 programmes: Mapping[str, Contract] | None = None,
                 headings: Mapping[str, str] | None = None, looks: SharedLooks | None = None) -> None:
        """``forms``: the status columns, form names of the one programme; or, with ``programmes``
        (the contracts of several programmes), roles (``programmes.ROLES``). ``headings``: form
        or role -> its column's heading (default: HjerteKom's words). ``looks``: the layouts and
        styles its rows and headings share (with the other lists of the page)."""
        self.looks = looks or SharedLooks()
        self.items = list(items)   # in the service's order: newest course first
        self.programmes = programmes
        fixed = [*_COLUMNS[:2], _PROGRAMME_COLUMN, *_COLUMNS[2:]] if programmes else list(_COLUMNS)
        heading = headings or (ROLE_WORDS if programmes else FORM_BUTTON)
        self.columns = [*fixed, *((f"status:{f}", heading.get(f, f), _STATUS_WIDTH.get(f, "120px"))
                                  for f in forms)]
        self.open_item = open_item
        self.guarded = guarded
        self.order: tuple[str, bool] | None = None   # (column, descending), None: the service's order
        self.show_all = False
        self.header = self.looks.hbox([], "hk-worklist-head")
        self.rows = w.VBox(layout=self.looks.layout())
        self.more = self.looks.button(f"Vis alle {len(self.items)}", "hk-show-all", width="auto")
        self.more.on_click(guarded("show all")(lambda _: self._show_all()))
        heading = self.looks.html(f"<h3 style='margin:12px 0 4px 0'>{html.escape(title)} ({len(self.items)})</h3>")
        self.widget = w.VBox([heading, self.header, self.rows], layout=self.looks.layout(),
                             _dom_classes=(css, "hk-worklist"))
        self._render()

    @property
    def _grid(self) -> str:
        return " ".join(width for _, _, width in self.columns)

    def _render(self) -> None:
        if not self.items:
            self.header.children = ()
            self.rows.children = (self.looks.html("<span style='color:#555'>Ingen.</span>"),)
            return
        self.header.children = (self.looks.html("", width=_OPEN_WIDTH, min_width=_OPEN_WIDTH),
                                *(self._heading(key, label, width) for key, label, width in self.columns))
        shown = sort_items(self.items, *self.order, programmes=self.programmes) if self.order else self.items
        limit = len(shown) if self.show_all else ROWS_SHOWN
        rows: list[w.Widget] = [self._row(item) for item in shown[:limit]]
        if len(shown) > limit:
            note = self.looks.html(f"<span style='color:#555'>Viser {limit} af {len(shown)}.</span>")
            rows.append(self.looks.hbox([note, self.more], align_items="center"))
        self.rows.children = tuple(rows)

    def _heading(self, key: str, label: str, width: str) -> w.Button:
        arrow, hint = "", "stigende"
        if self.order and self.order[0] == key:
            arrow = " ▼" if self.order[1] else " ▲"
            hint = "faldende" if not self.order[1] else "stigende"
        button = self.looks.button(label + arrow, f"hk-sort-{key.replace(':', '-')}",
                                   tooltip=f"Sortér efter {label.lower()} ({hint})", width=width, min_width=width)
        button.on_click(self.guarded("sort worklist")(lambda _: self.sort_by(key)))
        return button

    def sort_by(self, column: str) -> None:
        """Sort by ``column``: ascending first, descending on the next click of the same column."""
        descending = bool(self.order and self.order[0] == column and not self.order[1])
        self.order = (column, descending)
        self._render()

    def _show_all(self) -> None:
        self.show_all = True
        self._render()

    def _row(self, item: WorklistItem) -> w.Widget:
        button = self.looks.button("Åbn", "hk-open-item", width=_OPEN_WIDTH, min_width=_OPEN_WIDTH)
        button.on_click(self.open_item(item.course_id))
        cells = "".join(f"<span class='hk-cell-{key.replace(':', '-')}'>{self._cell(item, key)}</span>"
                        for key, _, _ in self.columns)
        text = self.looks.html(f"<div class='hk-worklist-cells' style='grid-template-columns:{self._grid}'>"
                               f"{cells}</div>")
        return self.looks.hbox([button, text], "hk-worklist-row", align_items="center")

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
