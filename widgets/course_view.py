"""One course: its forms, saving (drafts, completion, confirmation, conflicts), autosave, feedback."""
from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hjertekom_core.errors import ConfirmationRequired, IncompleteForm, RevisionConflict, ValidationFailed
from hjertekom_widgets.feedback_api import fetch_feedback, render_feedback
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.messages import FORM_BUTTON, STATUS_DA, issues_html, message_html
from hjertekom_widgets.text import t as app_t

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell


def _course_sheet_links(course_id: int) -> str:
    """Links to the citizen sheet and the course summary, which the server renders on request."""
    links = []
    for word, kind in (("borger", "citizen"), ("opsummering", "summary")):
        base = f"hjertekom/forloeb/{course_id}/{word}"
        links.append(f'<a href="{base}.html" target="_blank" class="hk-sheet-{kind}">{app_t(f"reports.kind.{kind}")}</a>'
                     f' (<a href="{base}.pdf" target="_blank" class="hk-sheet-{kind}-pdf">{app_t("reports.as_pdf")}</a>)')
    return '<div style="margin:2px 0 6px 0">' + " · ".join(links) + "</div>"


class CourseView:
    def __init__(self, shell: EntryShell, course_id: int, form: str | None = None) -> None:
        self.shell = shell
        self.course_id = course_id
        self.course = shell.service.get_course(course_id)
        forms = list(shell.contract.forms)
        self.form_name = form or self._next_form(forms)
        self._relabelling = False
        self.selector = w.ToggleButtons(options=[(self._form_label(f), f) for f in forms], value=self.form_name)
        self.selector.add_class("hk-form-selector")
        self.selector.observe(shell.guarded("switch form")(self._switch), names="value")
        self.area = w.VBox()
        self.feedback = w.VBox()
        self.feedback.add_class("hk-feedback")
        self.confirm_box = w.VBox()
        citizen = self.course.citizen
        names = shell.contract.codelists["municipalities"]
        self.title = w.HTML(
            f"<h3 style='margin:4px 0'>{html.escape(citizen.name)} · {citizen.cpr[:6]}-{citizen.cpr[6:]}</h3>"
            f"<div style='color:#555'>Forløb {course_id} · {html.escape(names.label_of(self.course.municipality_code))}</div>")
        back = w.Button(description="Arbejdsliste", icon="arrow-left")
        back.on_click(shell.guarded("back")(lambda _: shell.open_worklist()))
        self.sheets = w.HTML(_course_sheet_links(course_id))
        self.sheets.add_class("hk-sheets")
        self.widget = w.VBox([w.HBox([back, self.title], layout=w.Layout(gap="12px", align_items="center")),
                              self.sheets, self.selector, self.area, self.confirm_box, self.feedback])
        self.widget.add_class("hk-course")
        self._show_form()
        if self.course.forms.get("end"):
            self._show_feedback()

    def _next_form(self, forms: list[str]) -> str:
        for name in forms:
            reg = self.course.forms.get(name)
            if reg is None or reg.status != "complete":
                return name
        return forms[-1]

    def _form_label(self, form: str) -> str:
        reg = self.course.forms.get(form)
        return f"{FORM_BUTTON.get(form, form)} ({STATUS_DA[reg.status if reg else None]})"

    def _switch(self, change: dict[str, Any]) -> None:
        if self._relabelling or change["new"] == self.form_name:
            return
        self.form_name = change["new"]
        self._show_form()

    def _context(self) -> dict[str, Any]:
        return {name: reg.data for name, reg in self.course.forms.items() if name != self.form_name}

    def _show_form(self) -> None:
        svc = self.shell.service
        self.view = FormView(self.shell.contract, self.form_name, context=self._context())
        self.base_revision = self.course.revision_of(self.form_name)
        stored = self.course.data_of(self.form_name)
        if stored:
            self.view.load(stored)
        restored = svc.autosaved(self.course_id, self.form_name)
        note = ""
        if restored and restored.base_revision == self.base_revision and restored.data:
            self.view.load(restored.data)
            note = f"Dine ikke-gemte indtastninger fra {restored.saved_at:%d-%m-%Y %H:%M} er hentet frem igen."
        self.view.on_change = self.shell.guarded("autosave")(self._autosave)
        draft = w.Button(description="Gem kladde", icon="save")
        draft.add_class("hk-save-draft")
        done = w.Button(description="Markér som færdig", button_style="success", icon="check")
        done.add_class("hk-complete")
        draft.on_click(self.shell.guarded("save draft")(lambda _: self._save(complete=False)))
        done.on_click(self.shell.guarded("complete")(lambda _: self._save(complete=True)))
        self.status = w.HTML(message_html("info", note) if note else "")
        self.status.add_class("hk-status")
        self.area.children = (self.view.widget, self.status, w.HBox([draft, done], layout=w.Layout(gap="8px")))
        self.confirm_box.children = ()

    def _autosave(self, *_: Any) -> None:
        self.shell.service.autosave(self.course_id, self.form_name, self.view.data(), self.base_revision)

    def _save(self, complete: bool, confirm: bool = False) -> None:
        svc = self.shell.service
        self.confirm_box.children = ()
        self.status.remove_class("hk-saved")
        self.status.remove_class("hk-conflict")
        report = self.view.validate(complete=complete)
        if report.errors:
            self.status.value = message_html("error", issues_html(report.errors, "Ret fejlene, før der kan gemmes:"))
            return
        if complete and report.missing:
            self.status.value = message_html("error", html.escape(self.view.missing_summary(report)).replace("\n", "<br>"))
            return
        try:
            result = svc.save(self.course_id, self.form_name, self.view.data(), self.base_revision,
                              complete=complete, confirm=confirm)
        except ConfirmationRequired as exc:
            self._ask_confirmation(exc, complete)
            return
        except IncompleteForm as exc:
            self.status.value = message_html("error", issues_html(exc.errors, "Mangler, før skemaet er færdigt:"))
            return
        except ValidationFailed as exc:
            self.status.value = message_html("error", issues_html(exc.errors, "Ret fejlene, før der kan gemmes:"))
            return
        except RevisionConflict:
            self._conflict()
            return
        svc.discard_autosave(self.course_id, self.form_name)
        self.view.mark_saved()
        self.course = svc.get_course(self.course_id)
        self.base_revision = result.revision
        # New options make ipywidgets select the first one: keep the form the user is on.
        self._relabelling = True
        try:
            self.selector.options = [(self._form_label(f), f) for f in self.shell.contract.forms]
            self.selector.value = self.form_name
        finally:
            self._relabelling = False
        saved = "markeret som færdig" if complete else "gemt som kladde"
        self.status.value = message_html("ok", f"{FORM_BUTTON.get(self.form_name, self.form_name)} er {saved} "
                                       f"({dt.datetime.now():%H:%M:%S}, version {result.revision}).")
        self.status.add_class("hk-saved")
        self._show_feedback()

    def _ask_confirmation(self, exc: ConfirmationRequired, complete: bool) -> None:
        yes = w.Button(description="Bekræft og gem", button_style="warning", icon="check")
        yes.add_class("hk-confirm")
        no = w.Button(description="Ret værdierne")
        yes.on_click(self.shell.guarded("confirm")(lambda _: self._save(complete, confirm=True)))
        no.on_click(lambda _: setattr(self.confirm_box, "children", ()))
        self.confirm_box.children = (
            w.HTML(message_html("warn", issues_html(exc.warnings, "Usædvanlige værdier – er de rigtige?"))),
            w.HBox([yes, no], layout=w.Layout(gap="8px")))

    def _conflict(self) -> None:
        reload = w.Button(description="Genindlæs skemaet", button_style="warning", icon="refresh")
        reload.add_class("hk-reload")
        reload.on_click(self.shell.guarded("reload")(
            lambda _: self.shell.open_course(self.course_id, self.form_name,
                                             note="Skemaet er genindlæst med kollegaens ændringer.")))
        self.status.value = message_html("error", "En kollega har gemt dette skema, efter du åbnede det. Dine ændringer "
                                          "er ikke gemt. Genindlæs skemaet og indtast dine ændringer igen.")
        self.status.add_class("hk-conflict")
        self.confirm_box.children = (reload,)

    def _show_feedback(self) -> None:
        session = self.shell.session
        assert session is not None
        # Rendered by the server (one process), so that this kernel never loads pandas, SciPy and
        # DuckDB; without a server (e.g. a plain notebook) the kernel renders it itself.
        parts = fetch_feedback(self.course_id) or render_feedback(session.workspace, session.user, self.course_id)
        self.feedback.children = (w.HTML(parts["course"]), w.HTML(parts["municipality"]))
