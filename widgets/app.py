"""The clinician's workbench in Voilà: worklist, search, new citizen and course, the forms.

The notebook (notebooks/entry.ipynb) only calls ``prepare()`` before the request arrives (so that
a preheated kernel has imported and built everything it can without knowing the user) and
``shell.start()`` after it. Every callback runs through ``_guarded``: a known problem becomes a
short Danish message, anything else is logged with its context and shown as a general message,
never as a traceback.
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as w

from hjertekom_core.contract import Contract
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.errors import (
    AccessDenied,
    CitizenElsewhere,
    ConfirmationRequired,
    HjerteKomError,
    IncompleteForm,
    NotFound,
    RevisionConflict,
    ValidationFailed,
)
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import load_config
from hjertekom_core.logs import setup_logging
from hjertekom_core.service import Citizen, Course, Service, WorklistItem
from hjertekom_widgets.text import t as app_t
from hjertekom_widgets.feedback_api import fetch_feedback, render_feedback
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.session import NotSignedIn, Session, start_session

log = logging.getLogger("hjertekom.entry")
F = TypeVar("F", bound=Callable[..., Any])

STATUS_DA = {"draft": "kladde", "complete": "færdig", None: "ikke startet"}
FORM_BUTTON = {"course": "Forløb", "start": "Afklarende samtale", "end": "Afslutning"}


def _msg(kind: str, text: str) -> str:
    colours = {"ok": ("#e6f4ea", "#1e6b34"), "error": ("#fdecea", "#b00020"), "warn": ("#fff4e5", "#8a5300"),
               "info": ("#eef3f8", "#24476b")}
    bg, fg = colours[kind]
    return (f'<div role="{"alert" if kind == "error" else "status"}" class="hk-msg hk-{kind}" '
            f'style="background:{bg};color:{fg};padding:8px 12px;border-radius:4px;margin:6px 0">{text}</div>')


def _issues_html(issues: Any, heading: str) -> str:
    items = "".join(f"<li>{html.escape(i.message('da'))}</li>" for i in issues)
    return f"{html.escape(heading)}<ul style='margin:4px 0 0 18px'>{items}</ul>"


class EntryShell:
    """The page: built before the user is known, filled once the session starts."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.workspace: Workspace | None = None  # opened before the request when possible
        self.header = w.HTML(layout=w.Layout(margin="0 0 8px 0"))
        self.message = w.HTML()
        self.body = w.VBox()
        self.widget = w.VBox([self.header, self.message, self.body],
                             layout=w.Layout(max_width="1200px", padding="4px 12px"))
        self.widget.add_class("hk-app")

    # --- infrastructure ---------------------------------------------------------------------------
    @property
    def service(self) -> Service:
        assert self.session is not None
        return Service(self.session.workspace.store, self.session.workspace.contracts, self.session.user)

    @property
    def contract(self) -> Contract:
        assert self.session is not None
        return self.session.workspace.contracts["hjertekom"]

    def show(self, kind: str, text: str) -> None:
        self.message.value = _msg(kind, text) if text else ""

    def guarded(self, context: str) -> Callable[[F], F]:
        def wrap(func: F) -> F:
            @functools.wraps(func)
            def run(*args: Any, **kwargs: Any) -> Any:
                try:
                    return func(*args, **kwargs)
                except NotFound:
                    self.show("error", "Borgeren eller forløbet findes ikke, eller du har ikke adgang til det.")
                except AccessDenied:
                    self.show("error", "Det har du ikke adgang til. Kontakt din koordinator, hvis det er en fejl.")
                except RevisionConflict:
                    self.show("error", "En kollega har gemt samtidig med dig. Genindlæs siden og prøv igen.")
                except HjerteKomError as exc:
                    # Known, but not one a clinician can act on: logged with context, shown in Danish.
                    log.warning("%s failed (user %s): %s", context,
                                self.session.user.username if self.session else "-", type(exc).__name__)
                    self.show("error", app_t("unexpected"))
                except Exception:
                    user = self.session.user.username if self.session else "-"
                    log.exception("unexpected error in %s (user %s)", context, user)
                    self.show("error", app_t("unexpected"))
                return None

            return run  # type: ignore[return-value]

        return wrap

    # --- start -----------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.session = start_session(self.workspace)
        except NotSignedIn:
            self.body.children = ()
            self.show("error", app_t("not_signed_in"))
            return
        config = self.session.workspace.config
        setup_logging(config.log_file, config.log_level)
        user = self.session.user
        names = self.contract.codelists["municipalities"]
        where = ", ".join(names.label_of(c) for c in sorted(user.municipalities)) or "alle kommuner"
        reports_link = (f'<a href="hjertekom/rapporter" target="_blank" class="hk-reports">{app_t("reports.link")}</a> · '
                        if user.can("report.read") else "")
        self.header.value = (
            '<div style="display:flex;justify-content:space-between;align-items:center;'
            'border-bottom:2px solid #8b1e2d;padding:6px 0">'
            '<span style="font-size:1.3em;color:#8b1e2d;font-weight:600">HjerteKom</span>'
            f'<span class="hk-user">{html.escape(user.display_name)} · {html.escape(where)} · '
            f'{reports_link}<a href="logout" class="hk-logout">{app_t("log_out")}</a></span></div>')
        self.open_worklist()

    # --- views -----------------------------------------------------------------------------------
    def open_worklist(self, note: str = "") -> None:
        self.show("ok" if note else "info", note)
        self.body.children = (WorklistView(self).widget,)

    def open_new_citizen(self, cpr: str = "", citizen: Citizen | None = None) -> None:
        self.show("", "")
        self.body.children = (NewCourseView(self, cpr, citizen).widget,)

    def open_course(self, course_id: int, form: str | None = None, note: str = "") -> None:
        view = CourseView(self, course_id, form)
        self.body.children = (view.widget,)
        self.show("ok" if note else "", note)


# --- worklist and search ---------------------------------------------------------------------------

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
            self.results.children = (w.HTML(_msg("info", "Ingen borger fundet i din kommune. Opret en ny "
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
            ("Mangler afslutning", [i for i in items if i.missing_end and not i.overdue], "hk-missing-end"),
            ("Kladder, der ikke er færdige", [i for i in items if i.drafts], "hk-drafts"),
            (f"Over {limit} dage uden afslutning", [i for i in items if i.overdue], "hk-overdue"),
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
        start = f"start {item.start_date:%d-%m-%Y}" if item.start_date else "ingen startdato"
        drafts = f" · kladde: {', '.join(FORM_BUTTON.get(f, f) for f in item.drafts)}" if item.drafts else ""
        b = w.Button(description="Åbn", layout=w.Layout(width="70px"))
        b.on_click(self.shell.guarded("open worklist item")(
            lambda _, cid=item.course_id: self.shell.open_course(cid)))
        text = w.HTML(f"{html.escape(item.citizen.name)} · {start}{drafts}")
        return w.HBox([b, text], layout=w.Layout(gap="8px", align_items="center"))


# --- a new citizen and course ----------------------------------------------------------------------

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
            self.shell.show("error", _issues_html(report.errors + report.missing, "Ret forløbsoplysningerne:"))
            return
        citizen = self.citizen
        if citizen is None:
            municipality = report.cleaned.get(self.shell.contract.municipality_field)
            try:
                citizen = svc.create_citizen(self.cpr.value, self.name.value, int(municipality))
            except ValidationFailed as exc:
                self.shell.show("error", _issues_html(exc.errors, "Ret borgeroplysningerne:"))
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
            self.shell.show("error", _issues_html(exc.errors, "Ret forløbsoplysningerne:"))
            return
        self.shell.open_course(result.course_id, "start", note="Forløbet er oprettet. Udfyld den afklarende samtale.")


# --- one course: its forms, saving, feedback -------------------------------------------------------

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
        self.status = w.HTML(_msg("info", note) if note else "")
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
            self.status.value = _msg("error", _issues_html(report.errors, "Ret fejlene, før der kan gemmes:"))
            return
        if complete and report.missing:
            self.status.value = _msg("error", html.escape(self.view.missing_summary(report)).replace("\n", "<br>"))
            return
        try:
            result = svc.save(self.course_id, self.form_name, self.view.data(), self.base_revision,
                              complete=complete, confirm=confirm)
        except ConfirmationRequired as exc:
            self._ask_confirmation(exc, complete)
            return
        except IncompleteForm as exc:
            self.status.value = _msg("error", _issues_html(exc.errors, "Mangler, før skemaet er færdigt:"))
            return
        except ValidationFailed as exc:
            self.status.value = _msg("error", _issues_html(exc.errors, "Ret fejlene, før der kan gemmes:"))
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
        self.status.value = _msg("ok", f"{FORM_BUTTON.get(self.form_name, self.form_name)} er {saved} "
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
            w.HTML(_msg("warn", _issues_html(exc.warnings, "Usædvanlige værdier – er de rigtige?"))),
            w.HBox([yes, no], layout=w.Layout(gap="8px")))

    def _conflict(self) -> None:
        reload = w.Button(description="Genindlæs skemaet", button_style="warning", icon="refresh")
        reload.add_class("hk-reload")
        reload.on_click(self.shell.guarded("reload")(
            lambda _: self.shell.open_course(self.course_id, self.form_name,
                                             note="Skemaet er genindlæst med kollegaens ændringer.")))
        self.status.value = _msg("error", "En kollega har gemt dette skema, efter du åbnede det. Dine ændringer "
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


def prepare() -> EntryShell:
    """Everything that does not depend on the user (runs before a preheated kernel is claimed):
    the widgets, and the workspace (configuration, contracts parsed from YAML, the store's engine),
    which costs about 0.5 s and would otherwise be paid after the request arrived."""
    shell = EntryShell()
    try:
        shell.workspace = open_workspace(load_config())
    except Exception:  # noqa: BLE001 - start() opens it again and reports the problem properly
        log.exception("could not open the workspace before the request")
    return shell
