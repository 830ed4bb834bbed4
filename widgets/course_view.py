"""One course: its forms and how they are saved, so that nothing a clinician enters is lost,
duplicated or silently changed.

* Drafts and completion; unusual values are confirmed first ("Bekræft og gem"). "Gem og gå videre"
  saves a draft and opens the course's next form, with the cursor in its first field.
* A finished (complete) registration is locked: read-only, with "Ret registrering" (a correction,
  with a reason; it stays complete) and "Genåbn som kladde" (with a reason) instead of the save
  buttons. The service enforces the same rule (``Service.save(reason=, reopen=)``).
* "Historik" lists every revision: who, when, why and what changed.
* A save by someone else since the form was opened (or by the same user in another tab) is merged
  with the clinician's input, three-way, by the core; fields both changed are shown side by side
  and nothing is discarded without a click. A stale autosave is merged the same way.
* Autosave on every change, and while typing (the page script sends what is typed but not yet
  left, debounced, over a hidden text widget); the page is marked dirty (CSS class ``hk-dirty``)
  so that the page script asks before the tab is closed.
* Every message, the buttons and the save state are in the save bar at the bottom of the window;
  a refused value is set back to the stored one and said so, never left looking saved.
* After every save the course's and the municipality's feedback are rendered again from the
  latest revisions.
* "Borgerens spørgeskema (tablet)" hands the page to the citizen for the form's questionnaire
  items (questionnaire_mode.py); while it is on, every callback of this view is refused.
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as w

from hjertekom_core.contract import Contract
from hjertekom_core.errors import (
    AccessDenied,
    ConfirmationRequired,
    IncompleteForm,
    RegistrationLocked,
    RevisionConflict,
    SharedRevisionConflict,
    ValidationFailed,
)
from hjertekom_core.revisions import MINE, THEIRS, MergeResult, changed_fields, merge_three_way
from hjertekom_core.service import ConflictDetails, Course, SaveResult
from hjertekom_core.shared_questions import form_day
from hjertekom_widgets.conflict import ConflictPanel, conflict_message
from hjertekom_widgets.danish_time import clock_text, when_text
from hjertekom_widgets.feedback_api import fetch_feedback, render_feedback
from hjertekom_widgets.field_widgets import SR_LABEL_CLASS
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.history import history_html, value_text
from hjertekom_widgets.messages import STATUS_DA, issues_html, message_html
from hjertekom_widgets.programmes import (
    course_sheets,
    form_roles,
    form_word,
    programme_name,
)
from hjertekom_widgets.questionnaire_mode import QuestionnaireMode
from hjertekom_widgets.save_bar import SaveBar, goto_link
from hjertekom_widgets.shared_answers import SharedAnswersPanel
from hjertekom_widgets.text import t as app_t

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell

F = TypeVar("F", bound=Callable[..., Any])

#: What the page script may send over the typing channel (a JSON object), at most.
TYPING_MAX_CHARS = 200_000
TYPED_VALUE_MAX_CHARS = 10_000

#: Every button of the course view shows its whole text ("Afklarende samtale (kladde)", "Genåbn
#: som kladde"): ipywidgets gives buttons a fixed width and cuts longer text off with "…".
_COURSE_CSS = ("<style>.hk-course .jupyter-button{width:auto;min-width:max-content;"
               "padding-left:12px;padding-right:12px}</style>")

#: The course view's class naming the course it shows (hk-of-course-<id>), which the page script
#: sends with what is typed, so that text typed into one course never reaches another.
COURSE_CLASS = "hk-of-course-"
#: The field the page script puts the cursor in once it is drawn (after "Gem og gå videre").
FOCUS_FIRST = "hk-focus-first"

#: The save bar's modes of a form: editable (never saved, or a draft), finished and locked, and a
#: finished registration being corrected.
OPEN, LOCKED, CORRECTING = "open", "locked", "correcting"


_SHEET_KINDS = {"borger": "citizen", "opsummering": "summary"}


def _course_sheet_links(course_id: int, words: tuple[str, ...] = ("borger", "opsummering")) -> str:
    """Links to the citizen sheet and the course summary (``words``: those of the course's
    programme, ``programmes.course_sheets``), which the server renders on request."""
    links = []
    for word in words:
        kind = _SHEET_KINDS[word]
        base = f"hjertekom/forloeb/{course_id}/{word}"
        links.append(f'<a href="{base}.html" target="_blank" class="hk-sheet-{kind}">{app_t(f"reports.kind.{kind}")}</a>'
                     f' (<a href="{base}.pdf" target="_blank" class="hk-sheet-{kind}-pdf">{app_t("reports.as_pdf")}</a>)')
    return '<div style="margin:2px 0 6px 0">' + " · ".join(links) + "</div>"


class CourseView:
    """The course view of one kernel (page), made once and filled with a course by :meth:`open`.

    A form is about 500 widgets: building them (comms in the kernel, models and views in the
    browser) took most of the 0.7-1.1 s from a click on a course to a usable field. Each form's
    widgets are therefore built once per kernel, at its first use, and filled afresh for the next
    course (``FormView.reset``); every form built stays in the page, hidden unless it is the one
    shown, so the browser keeps the views it has drawn.
    """

    def __init__(self, shell: EntryShell) -> None:
        self.shell = shell
        self.course_id = 0
        self.course: Course   # set by open()
        # (programme, form name) -> its widgets, built once: programmes may name their forms alike
        # ("start") and still differ in every field.
        self._views: dict[tuple[str, str], FormView] = {}
        self._focus_marked: w.Widget | None = None  # the field "Gem og gå videre" put the cursor in
        # The course's own programme's contract (set by open()); until then the default one's.
        self.contract: Contract = shell.contract_of(shell.programmes[0])
        forms = list(self.contract.forms)
        self.form_name = forms[0]
        self._relabelling = False
        self.selector = w.ToggleButtons(options=[(form_word(self.contract, f), f) for f in forms],
                                        value=self.form_name)
        self.selector.add_class("hk-form-selector")
        self.selector.observe(self._guarded("switch form")(self._switch), names="value")
        self.notes = w.VBox()          # at the top of the form: restored input
        self.notes.add_class("hk-form-notes")
        self.area = w.VBox()
        self.feedback = w.VBox()
        self._feedback_html = (w.HTML(), w.HTML())   # the course's and the municipality's, refilled
        self.feedback.add_class("hk-feedback")
        self.bar = SaveBar()
        # What is typed but not yet left, from the page script (hjertekom.js), for autosave.
        self.typing = w.Text(value="", layout=w.Layout(display="none"))
        self.typing.add_class("hk-typing-channel")
        self.typing.observe(self._guarded("typing")(self._typed_in), names="value")
        self.title = w.HTML()
        back = w.Button(description="Arbejdsliste", icon="arrow-left")
        back.on_click(self._guarded("back")(lambda _: shell.open_worklist()))
        self.sheets = w.HTML()
        self.sheets.add_class("hk-sheets")
        self.widget = w.VBox([w.HTML(_COURSE_CSS),
                              w.HBox([back, self.title], layout=w.Layout(gap="12px", align_items="center")),
                              self.sheets, self.selector, self.notes, self.area, self.feedback,
                              self.bar.spacer, self.bar.widget, self.typing])
        self.widget.add_class("hk-course")
        # The citizen's questionnaire on a tablet (questionnaire_mode.py): while it is on, every
        # callback of this view is refused (see _guarded).
        self.questionnaire = QuestionnaireMode(self)
        # Shared questions: an instrument answered in another programme the same day (shared_answers.py).
        self.shared = SharedAnswersPanel()
        # The save bar's buttons, made once and reused, and what each does now (see _button).
        self._buttons: dict[tuple[str, str], w.Button] = {}
        self._actions: dict[tuple[str, str], Callable[[], None]] = {}

    def open(self, course_id: int, form: str | None = None) -> None:
        """Show course ``course_id`` (refused by the service if the user may not see it), on
        ``form`` or the first form not yet finished. Nothing of the course shown before stays."""
        course = self.shell.service.get_course(course_id)   # first: a refusal changes nothing
        contract = self.shell.contract_of(course.programme)
        self._forget_course()
        self.course_id, self.course, self.contract = course_id, course, contract
        self.widget._dom_classes = (*(c for c in self.widget._dom_classes if not c.startswith(COURSE_CLASS)),
                                    f"{COURSE_CLASS}{course_id}")
        citizen = course.citizen
        names = self.shell.contracts.codelists["municipalities"]
        # Which programme, only when there is more than one to tell apart.
        programme = (f"<span class='hk-course-programme'>{html.escape(programme_name(contract))}</span> · "
                     if self.shell.several_programmes else "")
        self.title.value = (
            f"<h3 style='margin:4px 0'>{html.escape(citizen.name)} · {citizen.cpr[:6]}-{citizen.cpr[6:]}</h3>"
            f"<div style='color:#555'>Forløb {course_id} · {programme}"
            f"{html.escape(names.label_of(course.municipality_code))}</div>")
        self.sheets.value = _course_sheet_links(course_id, course_sheets(contract.programme))
        if form not in contract.forms:   # an address may name a form of another programme
            form = None
        self.form_name = form or self._next_form(list(contract.forms))
        for key, view in self._views.items():   # the hidden forms hold nothing of the course before
            if key != (contract.programme, self.form_name):
                view.reset()
        self._relabel()
        self._show_form()
        ending = form_roles(contract).get("end")
        if ending is not None and course.forms.get(ending):
            self._show_feedback()

    def _forget_course(self) -> None:
        """Clear what belongs to the course shown before: its feedback, notes, messages, and what
        its page script may still send (typed text is tagged with its course, see _typed_in)."""
        self.feedback.children = ()
        self.notes.children = ()
        self.bar.clear()
        self.typing.value = ""

    # --- infrastructure ---------------------------------------------------------------------------
    def _guarded(self, context: str) -> Callable[[F], F]:
        """The shell's ``guarded``, with its message shown in the save bar as well: a message at
        the top of a long page is out of sight."""
        def wrap(func: F) -> F:
            inner = self.shell.guarded(context)(func)

            @functools.wraps(func)
            def run(*args: Any, **kwargs: Any) -> Any:
                if self.questionnaire.active:   # the tablet is with the citizen: nothing here may run
                    self.questionnaire.refused(context)
                    return None
                before = self.shell.message.value
                result = inner(*args, **kwargs)
                after = self.shell.message.value
                if after and after != before and self.shell.course_shown:
                    self.bar.mirror(after)
                return result

            return run  # type: ignore[return-value]

        return wrap

    def _button(self, key: str, css: str, icon: str, action: Callable[[], None], style: str = "") -> w.Button:
        """The save bar's button ``key``, made at its first use and reused after: the bar's buttons
        are set again at every save and every mode change, and a new button each time was three new
        widgets (button, layout, style) in the kernel and in the page, never closed (15 per save,
        each a message through the server). A click does the ``action`` given last."""
        slot = (key, css)
        self._actions[slot] = action
        button = self._buttons.get(slot)
        if button is None:
            button = self._buttons[slot] = w.Button(description=app_t(key), icon=icon, button_style=style)
            button.add_class(css)
            button.on_click(self._guarded(key)(lambda _: self._actions[slot]()))
        return button

    def _next_form(self, forms: list[str]) -> str:
        for name in forms:
            reg = self.course.forms.get(name)
            if reg is None or reg.status != "complete":
                return name
        return forms[-1]

    def _form_label(self, form: str) -> str:
        reg = self.course.forms.get(form)
        return f"{form_word(self.contract, form)} ({STATUS_DA[reg.status if reg else None]})"

    def _relabel(self) -> None:
        # New options make ipywidgets select the first one: keep the form the user is on.
        self._relabelling = True
        try:
            self.selector.options = [(self._form_label(f), f) for f in self.contract.forms]
            self.selector.value = self.form_name
        finally:
            self._relabelling = False

    def _switch(self, change: dict[str, Any]) -> None:
        if self._relabelling or change["new"] == self.form_name:
            return
        self.form_name = change["new"]
        self._show_form()

    def _context(self) -> dict[str, Any]:
        return {name: reg.data for name, reg in self.course.forms.items() if name != self.form_name}

    @property
    def _form_word(self) -> str:
        return form_word(self.contract, self.form_name)

    # --- opening a form ----------------------------------------------------------------------------
    def _form_view(self) -> FormView:
        """This form's widgets: built at the first use in this kernel, emptied for this course."""
        key = (self.contract.programme, self.form_name)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = FormView(self.contract, self.form_name, context=self._context())
            view.widget.add_class(f"hk-form-{self.form_name}")
            view.widget.add_class(f"hk-programme-{self.contract.programme}")
        else:
            view.reset(self._context())
        return view

    def _show_form(self) -> None:
        svc = self.shell.service
        if self._focus_marked is not None:   # the widgets are used again: the cursor goes there once
            self._focus_marked.remove_class(FOCUS_FIRST)
            self._focus_marked = None
        self.view = self._form_view()
        latest = self.course.forms.get(self.form_name)
        self.base_revision = latest.revision if latest else 0
        self._autosave_base = self.base_revision   # stays older while a merge is undecided
        self._typed: dict[str, str] = {}
        self._merge: MergeResult | None = None
        self._details: ConflictDetails | None = None
        self._choices: dict[str, str] = {}
        self._panel: ConflictPanel | None = None
        self._prompt: list[w.Widget] = []
        self._history: w.Widget | None = None
        self._last_autosave: dt.datetime | None = None
        self.reason = w.Text(placeholder=app_t("entry.reason_placeholder"), layout=w.Layout(width="40em"),
                             description=app_t("entry.reason_label"))
        self.reason.add_class("hk-reason")
        self.reason.add_class(SR_LABEL_CLASS)   # named for screen readers; the question above is its visible label
        if latest:
            self.view.load(latest.data)
        self.mode = LOCKED if latest and latest.status == "complete" else OPEN
        restored = svc.autosaved(self.course_id, self.form_name)
        notes: list[str] = []
        stale: int | None = None
        if restored and restored.data:
            self.view.load(restored.data)
            self.view.dirty = True
            self._last_autosave = restored.saved_at
            notes.append(app_t("entry.restored", time=when_text(restored.saved_at)))
            if restored.base_revision != self.base_revision:
                stale = restored.base_revision   # saved since: merged below, never dropped
            elif self.mode == LOCKED:
                self.mode = CORRECTING
                notes.append(app_t("entry.restored_correction"))
        self.view.on_change = self._guarded("autosave")(self._changed)
        if notes:
            note = w.HTML(message_html("info", html.escape(" ".join(notes))))
            note.add_class("hk-restored")
            self.notes.children = (note,)
        else:
            self.notes.children = ()
        # Every form built so far stays in the page, the others hidden: the browser keeps them drawn,
        # and a form switch or the next course only changes what is shown (and values).
        for view in self._views.values():
            view.widget.layout.display = "" if view is self.view else "none"
        self.area.children = tuple(view.widget for view in self._views.values())
        self.bar.clear()
        self._apply_mode()
        self._mark_dirty(self.view.dirty)
        self.questionnaire.form_shown(restored.data if restored else None)
        self._show_shared()
        if stale is not None:
            self._merge_with_latest(stale)

    def _show_shared(self, keep_editing: tuple[str, ...] = ()) -> None:
        """Fill in and mark the form's instruments answered in another programme on the form's day
        (``Service.shared_answers``; nothing with one programme, or without a date yet)."""
        view = self.view
        day = form_day(self.contract, self.form_name, view.report.cleaned) if view.report else None
        answers = []
        if day is not None and self.shell.several_programmes and view.instrument_sections:
            answers = self.shell.service.shared_answers(self.course_id, self.form_name, day)
        self.shared.show(view, answers, keep_editing=keep_editing, saved_data=self.course.data_of(self.form_name))
        if self.shared.filled:   # filled in, not yet saved: unsaved input like typed answers
            self._mark_dirty(True)

    def _apply_mode(self) -> None:
        """Lock or unlock the fields and show the buttons of the mode."""
        self.view.set_locked(self.mode == LOCKED)
        history = self._button("entry.history_hide" if self._history else "entry.history", "hk-history",
                               "history", self._toggle_history)
        if self.mode == LOCKED:
            buttons = [self._button("entry.correct", "hk-correct", "pencil", lambda: self._ask_reason(CORRECTING)),
                       self._button("entry.reopen", "hk-reopen", "undo", lambda: self._ask_reason(OPEN))]
        elif self.mode == CORRECTING:
            buttons = [self._button("entry.save_correction", "hk-save-correction", "check",
                                    lambda: self._save(complete=True), "success"),
                       self._button("entry.cancel_correction", "hk-cancel-correction", "times",
                                    self._cancel_correction)]
        else:
            buttons = [self._button("entry.save_draft", "hk-save-draft", "save", lambda: self._save(complete=False)),
                       self._button("entry.complete", "hk-complete", "check", lambda: self._save(complete=True),
                                    "success")]
            if self._following_form() is not None:
                buttons.append(self._button("entry.save_next", "hk-save-next", "arrow-right",
                                            lambda: self._save(complete=False, go_on=True)))
        if self.mode != LOCKED and self.questionnaire.offered():
            buttons.append(self._button("qm.start", "hk-qm-start", "tablet", self.questionnaire.enter))
        self.bar.set_buttons([*buttons, history])
        self._refresh_actions()
        self._update_state()

    def _refresh_actions(self) -> None:
        children = list(self._prompt)
        if self.mode == CORRECTING and not self._prompt:
            label = w.HTML(f"<b>{html.escape(app_t('entry.reason_label'))}:</b> "
                           f"<span style='color:#3d4a5c'>{html.escape(app_t('entry.correcting'))}</span>")
            children.append(w.VBox([label, self.reason]))
        if self._panel is not None and self._merge is not None:
            children.append(self._panel.widget)
        if self._history is not None:
            children.append(self._history)
        self.bar.set_actions(children)

    def _update_state(self) -> None:
        latest = self.course.forms.get(self.form_name)
        if self.view.dirty:
            text = (app_t("entry.unsaved", time=when_text(self._last_autosave)) if self._last_autosave
                    else app_t("entry.unsaved_no_time"))
        elif self.mode == LOCKED:
            text = app_t("entry.locked")
        elif latest is not None:
            text = app_t("entry.all_saved", revision=latest.revision, status=STATUS_DA[latest.status])
        else:
            text = app_t("entry.nothing_saved")
        self.bar.set_state(text)

    def _mark_dirty(self, dirty: bool) -> None:
        """``hk-dirty`` on the course tells the page script that leaving would leave input unsaved."""
        if dirty:
            self.widget.add_class("hk-dirty")
        else:
            self.widget.remove_class("hk-dirty")
        self._update_state()

    # --- the citizen's questionnaire (questionnaire_mode.py) ----------------------------------------
    def typed_values(self) -> dict[str, str]:
        """What the page script saw typed into this form but not yet left."""
        return dict(self._typed)

    @property
    def autosave_base(self) -> int:
        """The revision this form's autosave starts from."""
        return self._autosave_base

    def after_questionnaire(self, answered: int) -> None:
        """Back from the citizen's questionnaire with ``answered`` answers in the form: kept as
        unsaved input, for the clinician to review and save."""
        if answered or self.view.dirty or self.questionnaire.marked:
            self._autosave()   # replaces the hand-over's autosave: a reload now opens the form
        else:
            self.shell.service.discard_autosave(self.course_id, self.form_name)
        self._apply_mode()
        self.bar.show_text("ok", app_t("qm.returned", n=answered), css_class="hk-qm-returned")

    # --- autosave ----------------------------------------------------------------------------------
    def _changed(self, _view: FormView, name: str) -> None:
        self._typed.pop(name, None)      # the field was left: its value is the form's now
        if name == self.contract.form(self.form_name).date_field:
            self._show_shared(self.shared.edited)   # another day: other answers may be shared
        self.questionnaire.clinician_changed(name)
        if self._merge is not None and name in self._conflict_fields() and name not in self._choices:
            self._chosen(name, MINE, apply=False)   # editing a field both changed is a choice too
        self._autosave()

    def _autosave(self) -> None:
        data = {**self.view.data(), **self._typed, **self.questionnaire.autosave_extra()}
        self.shell.service.autosave(self.course_id, self.form_name, data, self._autosave_base)
        self._last_autosave = dt.datetime.now(dt.timezone.utc)
        self._mark_dirty(True)

    def _typed_in(self, change: dict[str, Any]) -> None:
        """What the page script saw typed but not yet left (JSON: form, field -> text)."""
        raw = change["new"]
        if not raw or len(raw) > TYPING_MAX_CHARS or self.view.locked:
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        values = payload.get("values")
        if (payload.get("form") != self.form_name or str(payload.get("course")) != str(self.course_id)
                or not isinstance(values, dict)):
            return   # typed into a form or course no longer shown: its change arrived when it was left
        fields = self.view.fields
        typed = {name: text for name, text in values.items()
                 if name in fields and not fields[name].field.is_derived and isinstance(text, str)
                 and len(text) <= TYPED_VALUE_MAX_CHARS}
        if typed:
            self._typed.update(typed)
            self._autosave()

    # --- saving ------------------------------------------------------------------------------------
    def _conflict_fields(self) -> set[str]:
        return {c.field for c in self._merge.conflicts} if self._merge else set()

    def _unresolved(self) -> bool:
        return bool(self._conflict_fields() - set(self._choices))

    def _show_problems(self, body_html: str, first: str | None) -> None:
        link = ""
        if first is not None and first in self.view.fields:
            link = goto_link(first, self.view.fields[first].field.label.get("da"))
        self.bar.show("error", body_html + (f"<div>{link}</div>" if link else ""))

    def _save(self, complete: bool, confirm: bool = False, go_on: bool = False) -> None:
        """"Gem kladde", "Markér som færdig" and "Gem rettelse" (which keeps the form complete);
        ``go_on``: "Gem og gå videre" (a draft, then the next form, once it is saved)."""
        self._prompt = []
        self._refresh_actions()
        if self._unresolved():
            self.bar.show_text("error", app_t("conflict.unresolved"), css_class="hk-conflict")
            return
        reason = None
        if self.mode == CORRECTING:
            complete = True
            reason = self.reason.value.strip()
            if not reason:
                self.bar.show_text("error", app_t("entry.reason_missing"))
                return
        report = self.view.validate(complete=complete)
        if report.errors:
            self._show_problems(issues_html(report.errors, app_t("entry.fix_errors")), self.view.first_issue(report))
            return
        if complete and report.missing:
            summary = html.escape(self.view.missing_summary(report)).replace("\n", "<br>")
            self._show_problems(summary, self.view.first_issue(report))
            return
        self._write(complete=complete, confirm=confirm, reason=reason, go_on=go_on)

    def _write(self, *, complete: bool, confirm: bool, reason: str | None = None, reopen: bool = False,
               go_on: bool = False) -> None:
        svc = self.shell.service
        try:
            result = svc.save(self.course_id, self.form_name, self.view.data(), self.base_revision,
                              complete=complete, confirm=confirm, reason=reason, reopen=reopen,
                              self_reported=self.questionnaire.marked, shared_edit=self.shared.edited,
                              shared_seen=tuple(self.shared.answers.values()), drop_autosave=True)
        except ConfirmationRequired as exc:
            self._ask_confirmation(exc, lambda: self._write(complete=complete, confirm=True, reason=reason,
                                                            reopen=reopen, go_on=go_on))
            return
        except IncompleteForm as exc:
            self._show_problems(issues_html(exc.errors, app_t("entry.missing")),
                                next((i.field for i in exc.errors), None))
            return
        except RegistrationLocked as exc:
            self.bar.show("error", issues_html(exc.errors, app_t("entry.fix_errors")))
            return
        except ValidationFailed as exc:
            first = next((i.field for i in exc.errors if i.field in self.view.fields), None)
            self._show_problems(issues_html(exc.errors, app_t("entry.fix_errors")), first)
            return
        except SharedRevisionConflict as exc:   # the other programme's registration, not this form
            self.bar.show_text("error", exc.message("da"), css_class="hk-shared-conflict")
            return
        except RevisionConflict:
            self._merge_with_latest(self.base_revision)
            return
        except AccessDenied as exc:
            self._refused(exc)
            return
        self._saved(result, reopened=reopen, corrected=reason is not None and not reopen, go_on=go_on)

    def _saved(self, result: SaveResult, *, reopened: bool, corrected: bool, go_on: bool = False) -> None:
        svc = self.shell.service
        self.view.mark_saved()
        self.questionnaire.saved()
        self._typed = {}
        self._merge, self._details, self._panel, self._choices, self._prompt = None, None, None, {}, []
        self.base_revision = self._autosave_base = result.revision
        self.mode = LOCKED if result.status == "complete" else OPEN
        self.reason.value = ""
        key = ("entry.reopened" if reopened else "entry.saved_correction" if corrected
               else "entry.saved_complete" if result.status == "complete" else "entry.saved_draft")
        said = app_t(key, form=self._form_word, time=clock_text(), revision=result.revision)
        if result.shared:   # shared questions: taken from, carried over to, or differing in another programme
            said = " ".join([said, *(note.message("da") for note in result.shared)])
        # The revision is committed, and the autosave dropped with it (drop_autosave): say so at
        # once. Reading the course again (two more transactions, one with its audit row) comes after,
        # in the same callback, so the page ends as before; the clinician no longer waits for it
        # (issue 17: every round trip to the store waits for a CPU when 100 clinicians share two cores).
        self.bar.show_text("ok", said, css_class="hk-saved")
        self.course = svc.get_course(self.course_id)
        self._relabel()
        if self._history is not None:
            self._history = self._history_widget()
        self._apply_mode()
        self._show_shared()
        self._mark_dirty(False)
        self._show_feedback()
        following = self._following_form() if go_on else None
        if following is not None:
            self._open_following(following, said)

    # --- "Gem og gå videre" ---------------------------------------------------------------------------
    def _following_form(self) -> str | None:
        """The form after this one in the course (the contract's order), None after the last."""
        forms = list(self.contract.forms)
        at = forms.index(self.form_name)
        return forms[at + 1] if at + 1 < len(forms) else None

    def _open_following(self, form: str, said: str) -> None:
        """Open ``form`` after this one was saved, saying both; the page script puts the cursor in
        its first field (class hk-focus-first), so that entry goes on from the keyboard."""
        self.form_name = form
        self._relabel()
        self._show_form()
        first = next((fw for fw in self.view.fields.values() if fw.visible and not fw.field.is_derived), None)
        if first is not None and self.mode != LOCKED:
            first.container.add_class(FOCUS_FIRST)
            self._focus_marked = first.container
        if self._details is None:   # unless opening it merged an older autosave: that message stays
            self.bar.show_text("ok", f"{said} {app_t('entry.next_open', form=self._form_word)}",
                               css_class="hk-saved")

    def _ask_confirmation(self, exc: ConfirmationRequired, retry: Callable[[], None]) -> None:
        yes = w.Button(description=app_t("entry.confirm"), button_style="warning", icon="check")
        yes.add_class("hk-confirm")
        no = w.Button(description=app_t("entry.confirm_no"))
        no.add_class("hk-confirm-no")

        def confirmed() -> None:
            self._prompt = []
            self._refresh_actions()
            retry()

        def declined() -> None:
            self._prompt = []
            self._refresh_actions()

        yes.on_click(self._guarded("confirm")(lambda _: confirmed()))
        no.on_click(self._guarded("decline")(lambda _: declined()))
        self.bar.clear()
        self._prompt = [w.HTML(message_html("warn", issues_html(exc.warnings, app_t("entry.confirm_heading")))),
                        w.HBox([yes, no], layout=w.Layout(gap="8px"))]
        self._refresh_actions()

    # --- a finished registration: correct it, or reopen it ---------------------------------------------
    def _ask_reason(self, purpose: str) -> None:
        """Ask why the finished registration is changed (``CORRECTING``) or reopened (``OPEN``)."""
        question = app_t("entry.reason_for_correction" if purpose == CORRECTING else "entry.reason_for_reopen")
        go = w.Button(description=app_t("entry.continue" if purpose == CORRECTING else "entry.reopen"),
                      button_style="primary", icon="check")
        go.add_class("hk-reason-ok")
        cancel = w.Button(description=app_t("entry.cancel"))
        cancel.add_class("hk-reason-cancel")
        go.on_click(self._guarded("reason")(lambda _: self._reason_given(purpose)))
        cancel.on_click(self._guarded("reason cancelled")(lambda _: self._reason_cancelled()))
        self.bar.clear()
        self._prompt = [w.HTML(f"<b>{html.escape(question)}</b>"), self.reason,
                        w.HBox([go, cancel], layout=w.Layout(gap="8px"))]
        self._refresh_actions()

    def _reason_cancelled(self) -> None:
        self._prompt = []
        self.reason.value = ""
        self.bar.clear()
        self._refresh_actions()

    def _reason_given(self, purpose: str) -> None:
        reason = self.reason.value.strip()
        if not reason:
            self.bar.show_text("error", app_t("entry.reason_missing"))
            return
        self._prompt = []
        self.bar.clear()
        if purpose == CORRECTING:
            self.mode = CORRECTING
            self._apply_mode()
            return
        # Reopening keeps the data as it is (confirmed when it was saved) and makes it a draft.
        self._refresh_actions()
        self._write(complete=False, confirm=True, reason=reason, reopen=True)

    def _cancel_correction(self) -> None:
        """Back to the finished registration as stored (the clinician's explicit choice)."""
        svc = self.shell.service
        svc.discard_autosave(self.course_id, self.form_name)
        self.course = svc.get_course(self.course_id)
        latest = self.course.forms[self.form_name]
        self.view.load(latest.data)
        self.base_revision = self._autosave_base = latest.revision
        self._typed = {}
        self._merge, self._details, self._panel, self._choices, self._prompt = None, None, None, {}, []
        self.reason.value = ""
        self.mode = LOCKED if latest.status == "complete" else OPEN
        self.notes.children = ()
        self.questionnaire.form_shown(None)   # the citizen's answers went with the correction
        self.bar.clear()
        self._apply_mode()
        self._mark_dirty(False)

    # --- a value the user may not save ---------------------------------------------------------------
    def _refused(self, exc: AccessDenied) -> None:
        """A save refused for lack of rights: nothing was saved. A course moved to a municipality the
        user does not act in gets its stored municipality back, with a note, and the autosave
        forgets the refused value, so that it never comes back looking saved."""
        contract = self.contract
        name = contract.municipality_field
        if self.form_name != contract.course_form or exc.municipality is None or name not in self.view.fields:
            self.bar.show_text("error", app_t("entry.no_access"), css_class="hk-refused")
            return
        f = self.view.fields[name].field
        stored = self.course.data_of(self.form_name).get(name)
        refused_text, stored_text = value_text(f, exc.municipality), value_text(f, stored)
        self.view.apply_values({name: stored})
        self.view.note_field(name, app_t("entry.refused_field", refused=refused_text))
        fields = self.view.fields
        stored_inputs = {k: v for k, v in self.course.data_of(self.form_name).items()
                         if k in fields and not fields[k].field.is_derived}
        if not changed_fields(stored_inputs, self.view.comparable_data()) and not self._typed:
            self.shell.service.discard_autosave(self.course_id, self.form_name)   # nothing else was changed
            self.view.mark_saved()
            self._mark_dirty(False)
        else:
            self._autosave()
        label = f.label.get("da")
        text = app_t("entry.refused_move", refused=refused_text, label=label, stored=stored_text)
        if self.view.dirty:
            text += " " + app_t("entry.refused_others")
        self.bar.show("error", html.escape(text) + f"<div>{goto_link(name, label)}</div>", css_class="hk-refused")

    # --- someone saved first: merge, three-way ---------------------------------------------------------
    def _merge_with_latest(self, base_revision: int) -> None:
        """Merge the clinician's input (started from ``base_revision``) with the newest revision:
        what only the other save changed is taken in, the clinician's own changes are kept, and
        fields both changed wait for a choice. Nothing is saved; the next save goes on top of the
        newest revision."""
        svc = self.shell.service
        if self._typed:
            self.view.apply_values(self._typed)
            self._typed = {}
        details = svc.conflict_details(self.course_id, self.form_name, base_revision)
        form = self.contract.form(self.form_name)
        order = [f.name for f in form.input_fields()]

        def inputs(data: Any) -> dict[str, Any]:
            return {k: v for k, v in data.items() if k in order}

        result = merge_three_way(inputs(details.base.data if details.base else {}), inputs(details.latest.data),
                                 inputs(self.view.comparable_data()), order)
        self.course = svc.get_course(self.course_id)
        self.view.set_context(self._context())
        self.view.apply_values({name: details.latest.data.get(name) for name in result.theirs_taken})
        self.view.dirty = True
        self.base_revision = details.latest.revision
        self._details, self._choices = details, {}
        self._merge = result if result.conflicts else None
        self._panel = (ConflictPanel(form, result.conflicts, details, self._guarded("choose")(self._chosen))
                       if result.conflicts else None)
        # Until every conflict is decided, the autosave keeps the old base: a closed tab merges again.
        self._autosave_base = base_revision if result.conflicts else self.base_revision
        if details.latest.status == "complete":
            self.mode = CORRECTING
        else:
            self.mode = OPEN
            self.reason.value = ""
        self._prompt = []
        self._relabel()
        self.bar.show("warn", conflict_message(details, result, form), css_class="hk-conflict")
        self._apply_mode()
        self._autosave()

    def _chosen(self, name: str, choice: str, *, apply: bool = True) -> None:
        """The clinician chose ``choice`` ("mine"/"theirs") for a field both sides changed (by a
        click, or by editing the field: ``apply=False`` keeps what was typed)."""
        if self._merge is None or self._panel is None:
            return
        conflict = next(c for c in self._merge.conflicts if c.field == name)
        if apply:
            self.view.apply_values({name: conflict.theirs if choice == THEIRS else conflict.mine})
        self._choices[name] = choice
        self._panel.mark(name, choice)
        if not self._unresolved():
            self._autosave_base = self.base_revision
            if self._details is not None:
                self.bar.show_text("warn", app_t("conflict.save_on_top", revision=self._details.latest.revision),
                                   css_class="hk-conflict")
        self._autosave()

    # --- history -----------------------------------------------------------------------------------
    def _history_widget(self) -> w.Widget:
        changes = self.shell.service.form_history(self.course_id, self.form_name)
        box = w.Box([w.HTML(history_html(self.contract, self.form_name, changes))],
                    layout=w.Layout(max_height="40vh", overflow="auto"))
        box.add_class("hk-history-box")
        return box

    def _toggle_history(self) -> None:
        self._history = None if self._history is not None else self._history_widget()
        self._apply_mode()

    # --- feedback ----------------------------------------------------------------------------------
    def _show_feedback(self) -> None:
        session = self.shell.session
        assert session is not None
        # Rendered by the server (one process), so that this kernel never loads pandas, SciPy and
        # DuckDB; without a server (e.g. a plain notebook) the kernel renders it itself. Always
        # from the latest revisions, so a reopened end no longer counts as finished.
        parts = fetch_feedback(self.course_id) or render_feedback(session.workspace, session.user, self.course_id)
        self._feedback_html[0].value, self._feedback_html[1].value = parts["course"], parts["municipality"]
        # The municipality's table of the course's own programme's indicators; none when the
        # programme declares none (the server then sends an empty part).
        self.feedback.children = self._feedback_html if parts["municipality"] else self._feedback_html[:1]

