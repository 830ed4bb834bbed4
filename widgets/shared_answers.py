"""Shared questions in the entry form: an instrument answered in another programme the same day.

When the form's date (the meeting or answer date) is known, the course view asks the service for
the citizen's answers of the form's instruments (WHO-5, EQ-5D-5L) given that day in another
programme's registration the user may see (``Service.shared_answers``). For each one:

* the form holds no answers of it yet: they are filled in (unsaved input, saved with the form), the
  instrument's fields are read-only, and a note above them says where they were answered: "Besvaret
  i HjerteKom – afklarende samtale 12.03.2026 — udfyldes ikke igen", with a button "Ret svarene";
* the form holds the same answers: the same note, read-only;
* the form holds other answers: a note says so ("Andre svar end i ..."), nothing is locked.

"Ret svarene" makes the fields editable again and tells the clinician that a correction is saved in
both registrations; the save names the instrument in ``shared_edit`` (``Service.save``), which carries
the correction over. Nothing is shown when the user does not act in the other programme there.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets as w

from hjertekom_core.shared_questions import SharedAnswer, items_of, may_fill
from hjertekom_widgets.forms import FormView, _controls

__all__ = ["SharedAnswersPanel"]

_NOTE_STYLE = ("background:#eef3f8;color:#24476b;border-left:3px solid #1f5fa8;padding:6px 10px;"
               "margin:2px 0 8px 0;line-height:1.4")


def _edit_text(answer: SharedAnswer) -> str:
    return (f"Du retter svarene fra {answer.place}. Rettelsen gemmes også dér, når du gemmer "
            "(en ny revision af den registrering).")


def _differs_text(answer: SharedAnswer) -> str:
    return (f"Andre svar end i {answer.place}. Svarene her gemmes som de er; "
            "undersøg, hvilke der er rigtige.")


class SharedAnswersPanel:
    """The notes, read-only fields and "Ret svarene" buttons of one form view's shared instruments."""

    def __init__(self) -> None:
        self.view: FormView | None = None
        self.answers: dict[str, SharedAnswer] = {}      # instrument -> the answers shown as shared
        self.state: dict[str, str] = {}                  # instrument -> "shared" | "editing" | "differs"
        self.filled: set[str] = set()                    # instruments filled in now (unsaved)
        self._notes: dict[str, w.Widget] = {}
        self._locked: dict[str, set[int]] = {}           # instrument -> ids of controls this panel switched off
        self.on_edit: Callable[[str], None] | None = None

    # --- what the course view reads ---------------------------------------------------------------
    @property
    def edited(self) -> tuple[str, ...]:
        """The instruments whose offered answers the clinician chose to correct ("Ret svarene")."""
        return tuple(name for name, state in self.state.items() if state == "editing")

    def note_text(self, instrument: str) -> str:
        widget = self._notes.get(instrument)
        return widget.children[0].value if isinstance(widget, w.HBox) else widget.value if widget else ""

    # --- showing -----------------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every note and make every field this panel made read-only editable again."""
        view = self.view
        if view is not None:
            for instrument, note in self._notes.items():
                key = view.instrument_sections.get(instrument)
                if key is not None:
                    box = view.sections[key]
                    box.children = tuple(c for c in box.children if c is not note)
            for instrument in list(self._locked):
                self._unlock(instrument)
        self._notes, self._locked, self.answers, self.state, self.filled = {}, {}, {}, {}, set()
        self.view = None

    def show(self, view: FormView, answers: Iterable[SharedAnswer], *, keep_editing: Iterable[str] = (),
             saved_data: Mapping[str, Any] | None = None) -> None:
        """Show ``answers`` (from ``Service.shared_answers``) in ``view``; what was shown before goes.
        ``saved_data``: the form's saved registration (its same answers get the "Samme svar" note)."""
        saved_data = saved_data or {}
        editing = set(keep_editing)
        answers = list(answers)
        # Answers filled in for another day (the date was changed since) go again, unless changed.
        stale = {name: self.answers[name] for name in self.filled if self.view is view and name in self.answers}
        self.clear()
        self.view = view
        offered_now = {a.instrument for a in answers}
        for name, old in stale.items():
            section = next((s for s in view.form.sections if s.instrument == name), None)
            if name in offered_now or section is None or view.report is None:
                continue
            if items_of(section, view.report.cleaned) == dict(old.values):
                blank: dict[str, Any] = {f.name: None for f in section.instrument_items()}
                if section.self_report is not None and section.self_report.status is not None:
                    blank[section.self_report.status] = None
                view.apply_values(blank)
        for answer in answers:
            key = view.instrument_sections.get(answer.instrument)
            if key is None:
                continue
            section = next(s for s in view.form.sections if s.instrument == answer.instrument)
            current = items_of(section, view.report.cleaned if view.report else {})
            offered = dict(answer.values)
            if answer.instrument in editing:
                self.answers[answer.instrument] = answer
                self._note(answer, _edit_text(answer), "hk-shared-editing", button=False)
                self.state[answer.instrument] = "editing"
                continue
            if not current and may_fill(section, view.report.cleaned if view.report else {}) and not view.locked:
                values: dict[str, Any] = {f.name: None for f in section.instrument_items()} | offered
                report = section.self_report
                if report is not None and report.status is not None and report.answered is not None:
                    values[report.status] = report.answered
                view.apply_values(values)
                self.filled.add(answer.instrument)
                current = offered
            self.answers[answer.instrument] = answer
            if current == offered:
                self.state[answer.instrument] = "shared"
                saved = answer.instrument not in self.filled and items_of(section, saved_data) == offered
                self._note(answer, answer.note("da", saved=saved), "hk-shared-note", button=True)
                self._lock(answer.instrument)
            else:
                self.state[answer.instrument] = "differs"
                self._note(answer, _differs_text(answer), "hk-shared-differs", button=False)

    def _shown(self) -> FormView:
        if self.view is None:
            raise RuntimeError("no form view shown")
        return self.view

    def _note(self, answer: SharedAnswer, text: str, css: str, *, button: bool) -> None:
        view = self._shown()
        box = view.sections[view.instrument_sections[answer.instrument]]
        label = w.HTML(f'<div style="{_NOTE_STYLE}">{html.escape(text)}</div>')
        label.add_class(css)
        note: w.Widget = label
        if button:
            edit = w.Button(description="Ret svarene", icon="pencil", layout=w.Layout(width="auto"))
            edit.add_class("hk-shared-edit")
            edit.on_click(lambda _: self.edit(answer.instrument))
            note = w.HBox([label, edit], layout=w.Layout(align_items="center", gap="8px"))
        note.add_class("hk-shared")
        self._notes[answer.instrument] = note
        # Right under the section's heading, above its first field.
        box.children = (box.children[0], note, *box.children[1:])

    def _fields_of(self, instrument: str) -> list[str]:
        view = self._shown()
        section = next(s for s in view.form.sections if s.instrument == instrument)
        names = [f.name for f in section.instrument_items()]
        if section.self_report is not None and section.self_report.status is not None:
            names.append(section.self_report.status)
        return names

    def _lock(self, instrument: str) -> None:
        view = self._shown()
        switched: set[int] = set()
        for name in self._fields_of(instrument):
            for control in _controls(view.fields[name].container):
                if view.locked:   # a finished registration: stays read-only after "Ret" too
                    if id(control) not in view._disabled_before_lock:
                        view._disabled_before_lock.add(id(control))
                        switched.add(id(control))
                elif not control.disabled:
                    control.disabled = True
                    switched.add(id(control))
        self._locked[instrument] = switched

    def _unlock(self, instrument: str) -> None:
        view = self.view
        switched = self._locked.pop(instrument, set())
        if view is None or not switched:
            return
        for name in self._fields_of(instrument):
            for control in _controls(view.fields[name].container):
                if id(control) in switched:
                    if view.locked:   # a finished registration: its lock decides when they come back
                        view._disabled_before_lock.discard(id(control))
                    else:
                        control.disabled = False

    def edit(self, instrument: str) -> None:
        """"Ret svarene": the fields editable, the note saying the correction is saved in both."""
        view, answer = self.view, self.answers.get(instrument)
        if view is None or answer is None or self.state.get(instrument) != "shared":
            return
        self._unlock(instrument)
        note = self._notes.pop(instrument)
        box = view.sections[view.instrument_sections[instrument]]
        box.children = tuple(c for c in box.children if c is not note)
        self._note(answer, _edit_text(answer), "hk-shared-editing", button=False)
        self.state[instrument] = "editing"
        if self.on_edit is not None:
            self.on_edit(instrument)
