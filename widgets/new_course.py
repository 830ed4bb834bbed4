"""A new citizen (unless one is given) and a new course with its course form."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.errors import CitizenElsewhere, ValidationFailed
from hjertekom_core.service import Citizen
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.messages import issues_html

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell


class NewCourseView:
    """Create a citizen (unless given) and open a course with its course form."""

    def __init__(self, shell: EntryShell, cpr: str = "", citizen: Citizen | None = None) -> None:
        self.shell = shell
        self.citizen = citizen
        user = shell.session.user if shell.session else None
        self.cpr = w.Text(value=cpr, description="CPR-nummer", placeholder="ddmmåå-xxxx", continuous_update=True,
                          style={"description_width": "140px"})
        self.name = w.Text(description="Navn", style={"description_width": "140px"},
                           layout=w.Layout(width="420px"))
        self.cpr_hint = w.HTML()
        self.cpr.observe(self._check_cpr, names="value")
        self.form = FormView(shell.contract, "course")
        if user and len(user.municipalities) == 1:
            self.form.load({"municipality": next(iter(user.municipalities))})
        self.save = w.Button(description="Opret forløb", button_style="primary", icon="check")
        self.save.on_click(shell.guarded("create course")(self._create))
        back = w.Button(description="Tilbage", icon="arrow-left")
        back.on_click(shell.guarded("back")(lambda _: shell.open_worklist()))
        who = ([w.HTML(f"<h3>Nyt forløb for {html.escape(citizen.name)}</h3>")] if citizen else
               [w.HTML("<h3>Ny borger og forløb</h3>"), self.cpr, self.cpr_hint, self.name])
        self.widget = w.VBox([*who, self.form.widget, w.HBox([self.save, back])])
        if cpr:
            self._check_cpr({"new": cpr})

    def _check_cpr(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if len(text.replace("-", "")) < 10:
            self.cpr_hint.value = ""
            return
        try:
            info = parse_cpr(text)
        except InvalidCpr as exc:
            self.cpr_hint.value = f"<span class='hk-cpr-error' style='color:#b00020'>{html.escape(exc.message('da'))}</span>"
            return
        self.cpr_hint.value = ("<span class='hk-cpr-warning' style='color:#8a5300'>Bemærk: kontrolcifferet "
                               "stemmer ikke (modulus 11). Kontrollér nummeret.</span>" if not info.modulus11_ok
                               else f"<span style='color:#1e6b34'>Født {info.birth_date:%d-%m-%Y}.</span>")

    def _create(self, _: Any) -> None:
        svc = self.shell.service
        report = self.form.validate(complete=True)
        if report.errors or report.missing:
            self.shell.show("error", issues_html(report.errors + report.missing, "Ret forløbsoplysningerne:"))
            return
        citizen = self.citizen
        if citizen is None:
            municipality = report.cleaned.get(self.shell.contract.municipality_field)
            try:
                citizen = svc.create_citizen(self.cpr.value, self.name.value, int(municipality))
            except ValidationFailed as exc:
                self.shell.show("error", issues_html(exc.errors, "Ret borgeroplysningerne:"))
                return
            except CitizenElsewhere:
                # Only what the user's rights allow: not where, not even that it is another municipality.
                self.shell.show("error", "Borgeren kan ikke oprettes med dette CPR-nummer. Kontrollér nummeret, "
                                         "eller kontakt en administrator.")
                return
        try:
            result = svc.open_course(citizen.id, self.form.data(), complete=True, confirm=True)
        except ValidationFailed as exc:
            self.form.validate(complete=True)
            self.shell.show("error", issues_html(exc.errors, "Ret forløbsoplysningerne:"))
            return
        self.shell.open_course(result.course_id, "start", note="Forløbet er oprettet. Udfyld den afklarende samtale.")
