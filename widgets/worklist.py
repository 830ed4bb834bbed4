"""The worklist: search by CPR or name, the day's lists, and the way to a new citizen and course."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.service import Citizen, Course, Service, WorklistItem
from hjertekom_widgets.messages import FORM_BUTTON, STATUS_DA, message_html

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell


class WorklistView:
    def __init__(self, shell: EntryShell) -> None:
        self.shell = shell
        self.search = w.Text(placeholder="CPR-nummer (ddmmåå-xxxx) eller navn", continuous_update=True,
                             layout=w.Layout(width="320px"))
        self.search.add_class("hk-search")
        self.hint = w.HTML()
        self.search_button = w.Button(description="Søg", button_style="primary", icon="search")
        self.new_button = w.Button(description="Ny borger og forløb", icon="plus")
        self.results = w.VBox()
        self.search.observe(self._check_as_typed, names="value")
        self.search_button.on_click(shell.guarded("search")(self._search))
        self.new_button.on_click(shell.guarded("new")(lambda _: shell.open_new_citizen(self._typed_cpr())))
        lists = self._lists()
        self.widget = w.VBox([
            w.HTML("<h3 style='margin:4px 0'>Find borger</h3>"),
            w.HBox([self.search, self.search_button, self.new_button]), self.hint, self.results, lists])

    def _typed_cpr(self) -> str:
        text = self.search.value.strip()
        return text if any(ch.isdigit() for ch in text) else ""

    def _check_as_typed(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        digits = text.replace("-", "")
        if not digits.isdigit():
            self.hint.value = ""
            return
        if len(digits) < 10:
            self.hint.value = f"<span style='color:#555'>{len(digits)} af 10 cifre</span>"
            return
        try:
            info = parse_cpr(text)
        except InvalidCpr as exc:
            self.hint.value = f"<span class='hk-cpr-error' style='color:#b00020'>{html.escape(exc.message('da'))}</span>"
            return
        check = ("" if info.modulus11_ok else
                 " <span class='hk-cpr-warning' style='color:#8a5300'>Bemærk: kontrolcifferet stemmer ikke "
                 "(modulus 11). Det kan være korrekt for numre fra efter 2007 – kontrollér nummeret.</span>")
        sex = "mand" if info.sex == "M" else "kvinde"
        self.hint.value = f"<span style='color:#1e6b34'>Født {info.birth_date:%d-%m-%Y}, {sex}.</span>{check}"

    def _search(self, _: Any) -> None:
        text = self.search.value.strip()
        svc = self.shell.service
        digits = text.replace("-", "")
        if digits.isdigit():
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
            label = f"Forløb {course.id} ({self._course_state(course)})"
            b = w.Button(description=label, layout=w.Layout(width="auto"))
            b.on_click(self.shell.guarded("open course")(lambda _, cid=course.id: self.shell.open_course(cid)))
            buttons.append(b)
        new = w.Button(description="Nyt forløb", icon="plus", layout=w.Layout(width="auto"))
        new.on_click(self.shell.guarded("new course")(lambda _, c=citizen: self.shell.open_new_citizen(citizen=c)))
        title = w.HTML(f"<b>{html.escape(citizen.name)}</b> · {citizen.cpr[:6]}-{citizen.cpr[6:]}")
        return w.HBox([title, *buttons, new], layout=w.Layout(gap="8px", align_items="center"))

    @staticmethod
    def _course_state(course: Course) -> str:
        parts = [f"{FORM_BUTTON.get(f, f)}: {STATUS_DA.get(r.status, r.status)}" for f, r in course.forms.items()
                 if f != "course"]
        return ", ".join(parts) or "ikke startet"

    def _lists(self) -> w.Widget:
        config = self.shell.session.workspace.config if self.shell.session else None
        limit = config.completion_limit_days if config else 180
        items = self.shell.service.worklist(completion_limit_days=limit)
        sections = [
            ("Afventer afklarende samtale", [i for i in items if "awaiting_start" in i.groups], "hk-awaiting-start"),
            ("Mangler afslutning", [i for i in items if "missing_end" in i.groups], "hk-missing-end"),
            ("Kladder, der ikke er færdige", [i for i in items if "drafts" in i.groups], "hk-drafts"),
            (f"Over {limit} dage uden afslutning", [i for i in items if "overdue" in i.groups], "hk-overdue"),
        ]
        boxes = []
        for title, rows, css in sections:
            box = w.VBox([w.HTML(f"<h3 style='margin:12px 0 4px 0'>{title} ({len(rows)})</h3>")])
            box.add_class(css)
            box.children += tuple(self._item_row(i) for i in rows[:50])
            if not rows:
                box.children += (w.HTML("<span style='color:#555'>Ingen.</span>"),)
            boxes.append(box)
        return w.VBox(boxes)

    def _item_row(self, item: WorklistItem) -> w.Widget:
        if item.awaiting_start:
            start = f"henvist {item.referral_date:%d-%m-%Y}" if item.referral_date else "ingen henvisningsdato"
        else:
            start = f"start {item.start_date:%d-%m-%Y}" if item.start_date else "ingen startdato"
        drafts = f" · kladde: {', '.join(FORM_BUTTON.get(f, f) for f in item.drafts)}" if item.drafts else ""
        b = w.Button(description="Åbn", layout=w.Layout(width="70px"))
        b.on_click(self.shell.guarded("open worklist item")(
            lambda _, cid=item.course_id: self.shell.open_course(cid)))
        text = w.HTML(f"{html.escape(item.citizen.name)} · {start}{drafts}")
        row = w.HBox([b, text], layout=w.Layout(gap="8px", align_items="center"))
        row.add_class("hk-worklist-row")
        return row


# --- a new citizen and course ----------------------------------------------------------------------
