"""A whole entry form, generated from the data contract, with live branching and scores.

:class:`FormView` lays out the contract's sections in order (each a titled box: a VBox with an
HTML heading, not an Accordion, so that Tab walks every field in order) and keeps one
:class:`~hjertekom_widgets.field_widgets.FieldWidget` per field. Everything it decides is decided
by the core, on the same data that would be saved:

* visibility: ``report.visible`` of :func:`hjertekom_core.validation.validate_form`, which uses
  :mod:`hjertekom_core.branching`, the very show-if logic that decides what is kept;
* derived scores: ``report.cleaned`` of the same call, i.e. exactly what the save will store;
* messages: the report's errors, warnings and (when completing) missing fields, in Danish;
* the value to compare with: beside each measurement of the end form, read-only, the value of the
  start form (an earlier form of the contract measuring the same block, whose data is in the
  context), with the test it was measured with and, once the field is left, the change.

When a field is left with a new value (or a choice is made) the form is re-validated once
(a few milliseconds), that field's message (and those of fields already visited) is updated,
branching and scores are re-applied, ``dirty`` is set and ``on_change`` is called, which is the
hook for autosave. Nothing is bound to Enter: there is no submit in ipywidgets, and saving is the
app's explicit button.

For the course view's save rules the form can also be locked (a finished registration: every input
read-only), take a colleague's values into some fields (``apply_values``, after a three-way merge),
say what it holds in the terms the store compares (``comparable_data``) and put a note under a
field (``note_field``, e.g. a value that was refused).
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import ipywidgets as w

from hjertekom_core.contract import Contract, Field, Section
from hjertekom_core.errors import FieldIssue
from hjertekom_core.formatting import format_number
from hjertekom_core.validation import ValidationReport, validate_form
from hjertekom_widgets.field_widgets import (
    HELP_COLOUR,
    SR_LABEL_CSS,
    FieldWidget,
    Kit,
    format_value,
    make_field_widget,
    widget_key,
)
from hjertekom_widgets.text import t

__all__ = ["FormView"]

#: The app's change hook: called as ``on_change(view, field_name)`` after every change by the user.
ChangeHook = Callable[["FormView", str], None]

_SECTION_BORDER = "#d0d5dd"
REFERENCE_COLOUR = "#3d4a5c"   # 9:1 on white
#: Scoped to the form: a chosen toggle button must stand out, and keyboard focus must be visible;
#: each control's own label (its accessible name) is hidden, the label column shows the name.
_FORM_CSS = (
    "<style>"
    ".hk-form .widget-toggle-button.mod-active{background:#1f5fa8;color:#fff;font-weight:bold}"
    ".hk-form button:focus-visible,.hk-form input:focus-visible,.hk-form select:focus-visible,"
    ".hk-form textarea:focus-visible{outline:2px solid #1f5fa8;outline-offset:1px}"
    f"{SR_LABEL_CSS}"
    "</style>"
)


class FormView:
    """The entry form ``form_name`` of ``contract``.

    ``context`` holds the course's other forms (form name -> cleaned data), which show-if
    conditions, derived scores and cross-field rules may refer to (``start.smoking``,
    ``start.height_cm``); ``today`` fixes the date against which "not in the future" is checked
    (default: the real today).

    Attributes: ``widget`` (the whole form, to display), ``fields`` (name -> FieldWidget, in
    contract order), ``sections`` (section name -> its box), ``dirty`` (changed by the user since
    the last ``load``/``mark_saved``), ``on_change`` (the app's hook), ``report`` (the latest
    ValidationReport).
    """

    def __init__(self, contract: Contract, form_name: str, *, context: Mapping[str, Mapping[str, Any]] | None = None,
                 lang: str = "da", today: dt.date | None = None, on_change: ChangeHook | None = None) -> None:
        self.contract = contract
        self.form = contract.form(form_name)
        self.lang = lang
        self.today = today
        self.context: dict[str, Mapping[str, Any]] = dict(context or {})
        self.on_change = on_change
        self.dirty = False
        self.locked = False
        self._disabled_before_lock: set[int] = set()   # ids of inputs that were off for a reason of their own
        self.report: ValidationReport | None = None
        self.kit = Kit(lang)
        self.fields: dict[str, FieldWidget] = {}
        self.sections: dict[str, w.VBox] = {}
        self._section_fields: dict[str, list[str]] = {}
        self._section_shown: dict[str, bool] = {}
        self._touched: set[str] = set()
        self._shown_codes: dict[str, tuple[str, ...]] = {}   # field -> codes of the message shown
        self.self_reported: frozenset[str] = frozenset()    # fields marked "Besvaret af borgeren"
        self.instrument_sections: dict[str, str] = {}        # instrument (who5, eq5d) -> its section's key

        for section in self.form.sections:
            children: list[w.Widget] = [self._heading(section)]
            names = []
            for f in section.fields:
                fw = make_field_widget(f, self.kit)
                fw.observe_change(self._field_changed)
                self.fields[f.name] = fw
                names.append(f.name)
                children.append(fw.container)
            key = section.name if section.name not in self.sections else f"{section.name}_{len(self.sections)}"
            self.sections[key] = w.VBox(children, layout=w.Layout(
                border=f"1px solid {_SECTION_BORDER}", padding="4px 12px 8px 12px",
                margin="0 0 12px 0"))
            self._section_fields[key] = names
            self._section_shown[key] = True
            if section.instrument is not None:   # shared questions (shared_answers.py)
                self.instrument_sections[section.instrument] = key
        title = self.form.label.get(lang)
        intro = self.form.help.get(lang) if self.form.help else ""
        intro_html = f'<p style="color:{HELP_COLOUR};margin:0 0 8px 0">{html.escape(intro)}</p>' if intro else ""
        header = w.HTML(f'{_FORM_CSS}<h2 style="margin:4px 0">{html.escape(title)}</h2>{intro_html}')
        self.widget = w.VBox([header, *self.sections.values()], layout=w.Layout(max_width="1180px"))
        self.widget.add_class("hk-form")
        self.reference_form, self.compared = self._comparison()
        self.refresh()

    def _heading(self, section: Section) -> w.HTML:
        help_html = (f'<div style="color:{HELP_COLOUR};font-size:0.9em;line-height:1.4;margin:0 0 6px 0">'
                     f'{html.escape(section.help.get(self.lang))}</div>') if section.help else ""
        return w.HTML(f'<h3 style="margin:6px 0 4px 0">{html.escape(section.label.get(self.lang))}</h3>{help_html}',
                      layout=self.kit.row_layout, style=self.kit.html_style)

    # --- data in and out ---------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        """The raw answers of the visible input fields, blanks left out: what to hand to
        ``Service.save`` (which validates it again)."""
        return {name: value for name, fw in self.fields.items()
                if fw.visible and not fw.field.is_derived and (value := fw.value) is not None}

    def _all_answers(self) -> dict[str, Any]:
        """Every non-blank answer, hidden ones included: validation decides what is shown from them
        (a hidden field's own dependants are hidden with it), and keeps only what is shown."""
        return {name: value for name, fw in self.fields.items()
                if not fw.field.is_derived and (value := fw.value) is not None}

    def load(self, cleaned: Mapping[str, Any]) -> ValidationReport:
        """Show stored (cleaned) data, e.g. ``course.data_of(form)``; fields not in it are blanked.
        Warnings of the loaded values are shown again; ``dirty`` is reset."""
        relock = self.locked
        if relock:  # the widgets switch inputs on and off as values are set (e.g. "uoplyst")
            self.set_locked(False)
        for name, fw in self.fields.items():
            if not fw.field.is_derived:
                fw.set_value(cleaned.get(name))  # quiet: no change callbacks
        self._touched = {name for name in cleaned if name in self.fields and not self.fields[name].field.is_derived}
        for name in list(self._shown_codes):
            self._clear(name)
        self.mark_self_reported(())   # a mark belongs to the input it was made for, never to stored data
        report = self.refresh()
        self._show_issues(report, self._touched)
        self.dirty = False
        if relock:
            self.set_locked(True)
        return report

    def reset(self, context: Mapping[str, Mapping[str, Any]] | None = None) -> ValidationReport:
        """Empty the form for another course, as if it were new: editable, every field blank (and
        its missing reason cleared), no messages, not dirty, the other forms' data ``context``.
        Refilling ~80 fields costs a few milliseconds; building their ~500 widgets again costs a
        tenth of a second in the kernel and much more in the browser."""
        self.set_locked(False)
        self.context = dict(context or {})
        self._touched = set()
        return self.load({})

    def set_context(self, context: Mapping[str, Mapping[str, Any]]) -> ValidationReport:
        """Replace the other forms' data (e.g. after the start form was saved) and refresh."""
        self.context = dict(context)
        return self.refresh()

    def mark_saved(self) -> None:
        """Tell the form that what it shows has been saved (resets ``dirty``)."""
        self.dirty = False

    # --- validation, branching and scores -----------------------------------------------------------
    def _validate(self, data: Mapping[str, Any], complete: bool = False) -> ValidationReport:
        return validate_form(self.contract, self.form.name, data, context=self.context, complete=complete,
                             today=self.today)

    def refresh(self) -> ValidationReport:
        """Re-apply show-if visibility and the derived scores from what is entered now."""
        report = self._validate(self._all_answers())
        self._apply(report)
        return report

    def validate(self, complete: bool = False) -> ValidationReport:
        """Validate what would be saved (``data()``), as ``Service.save`` will, and show every error,
        warning and (with ``complete``) missing field next to its field; old messages are cleared."""
        report = self._validate(self.data(), complete)
        self._apply(report)
        self._touched.update(name for name, fw in self.fields.items() if fw.value is not None)
        for name in list(self._shown_codes):
            self._clear(name)
        self._show_issues(report, self.fields.keys())
        return report

    def _apply(self, report: ValidationReport) -> None:
        self.report = report
        for name, fw in self.fields.items():
            shown = report.visible.get(name, True)
            fw.visible = shown
            if not shown and name in self._shown_codes:
                self._clear(name)
            if fw.field.is_derived:
                fw.set_value(report.cleaned.get(name))
        for key, names in self._section_fields.items():
            shown = any(self.fields[n].visible for n in names)
            if shown != self._section_shown[key]:
                self._section_shown[key] = shown
                self.sections[key].layout.display = "" if shown else "none"
        self._show_references(report)

    # --- the value to compare with ----------------------------------------------------------------------
    def _comparison(self) -> tuple[str | None, tuple[str, ...]]:
        """The earlier form whose values are shown beside this form's measurements, and which
        fields get one: the input fields of the blocks both forms measure (measurements, lifestyle,
        physical capacity), but not of a questionnaire (a block of questions answered with buttons),
        whose answers the citizen gives afresh."""
        blocks = {s.block: s for s in self.form.sections if s.block}
        for name, form in self.contract.forms.items():
            if name == self.form.name:
                return None, ()   # only an earlier form: the start beside the end, never the reverse
            shared = {s.block for s in form.sections if s.block} & set(blocks)
            measured = [blocks[b] for b in sorted(shared)
                        if not any(widget_key(f) == "scale" for f in blocks[b].fields)]
            if measured:
                names = {f.name for section in measured for f in section.fields if not f.is_derived}
                return name, tuple(n for n in self.fields if n in names)
        return None, ()

    def _reference_markup(self, f: Field, earlier: Mapping[str, Any], now: Any) -> str:
        """"Start: 88,4 kg · ændring −3,4 kg", "Start: 420 m (6 minutters gangtest)", "Start: –"."""
        lang = self.lang
        before = earlier.get(f.name)
        text = html.escape(format_value(f, before, lang))
        # A result depends on the test it was measured with (show-if): say which test the start used.
        tests = [self.form.fields[r.field] for r in (f.show_if.refs() if f.show_if else ())
                 if r.form is None and r.field in self.form.fields]
        tested = ", ".join(format_value(t, earlier.get(t.name), lang) for t in tests if earlier.get(t.name) is not None)
        if tested:
            text += f" ({html.escape(tested)})"
        numbers = (int, float)
        change = ""
        if (f.type in ("int", "decimal") and isinstance(before, numbers) and isinstance(now, numbers)
                and not isinstance(before, bool) and not isinstance(now, bool)):
            diff = format_number(now - before, f.decimals if f.type == "decimal" else 0, lang, sign=True)
            change = " · " + html.escape(t("reference_change", lang, change=f"{diff} {f.unit}" if f.unit else diff))
        mark = "\ue000"   # where the value goes in the (escaped) sentence, in bold
        sentence = html.escape(t("reference_value", lang, value=mark)).replace(mark, f"<b>{text}</b>")
        return (f'<span style="color:{REFERENCE_COLOUR};line-height:28px;white-space:nowrap">'
                f'{sentence}{change}</span>')

    def _show_references(self, report: ValidationReport) -> None:
        earlier = self.context.get(self.reference_form) if self.reference_form else None
        for name in self.compared:
            fw = self.fields[name]
            if earlier is None or not fw.visible:
                fw.show_reference("")
                continue
            fw.show_reference(self._reference_markup(fw.field, earlier, report.cleaned.get(name)))

    # --- messages -------------------------------------------------------------------------------------
    @staticmethod
    def _issues_by_field(report: ValidationReport) -> tuple[dict[str, list[FieldIssue]], dict[str, list[FieldIssue]]]:
        errors: dict[str, list[FieldIssue]] = {}
        warnings: dict[str, list[FieldIssue]] = {}
        for issue in [*report.errors, *report.missing]:
            errors.setdefault(issue.field, []).append(issue)
        for issue in report.warnings:
            warnings.setdefault(issue.field, []).append(issue)
        return errors, warnings

    def _show_issues(self, report: ValidationReport, names: Any, *, left: str | None = None) -> None:
        """Update the messages of ``names``: errors first, else warnings, else clear; a "missing"
        message stays until the field is answered (or hidden)."""
        errors, warnings = self._issues_by_field(report)
        for name in names:
            fw = self.fields.get(name)
            if fw is None or not fw.visible:
                continue
            if name in errors:
                self._show(fw, errors[name], "error")
            elif name in warnings:
                self._show(fw, warnings[name], "warning")
            elif self._shown_codes.get(name) == ("required",) and name not in report.cleaned:
                continue  # still unanswered: keep telling
            elif self._shown_codes.get(name) == ("note",) and name != left:
                continue  # a note (e.g. a refused value) stays until its own field is changed
            elif name in self._shown_codes:
                self._clear(name)

    def _show(self, fw: FieldWidget, issues: list[FieldIssue], severity: str) -> None:
        text = "\n".join(dict.fromkeys(issue.message(self.lang) for issue in issues))
        (fw.show_error if severity == "error" else fw.show_warning)(text)
        self._shown_codes[fw.field.name] = tuple(issue.code for issue in issues)

    def _clear(self, name: str) -> None:
        self.fields[name].clear_message()
        self._shown_codes.pop(name, None)

    def _field_changed(self, fw: FieldWidget) -> None:
        name = fw.field.name
        self._touched.add(name)
        self.dirty = True
        report = self.refresh()
        # The field just left, and every field already visited (a cross-field rule such as
        # systolic > diastolic may have changed there), but never fields not yet reached.
        self._show_issues(report, [name, *sorted(self._touched - {name})], left=name)
        if self.on_change is not None:
            self.on_change(self, name)

    # --- the course view's save rules ----------------------------------------------------------------
    def _inputs(self) -> Iterator[w.Widget]:
        """Every control of the input fields that can be switched off (text, lists, buttons, boxes)."""
        for fw in self.fields.values():
            if not fw.field.is_derived:
                yield from _controls(fw.container)

    def set_locked(self, locked: bool) -> None:
        """Make every input read-only (a finished registration is locked) or editable again; an
        input that was off for a reason of its own (e.g. "uoplyst" ticked) stays off."""
        if locked == self.locked:
            return
        controls = list(self._inputs())
        if locked:
            self._disabled_before_lock = {id(c) for c in controls if c.disabled}
            for control in controls:
                control.disabled = True
        else:
            for control in controls:
                control.disabled = id(control) in self._disabled_before_lock
            self._disabled_before_lock = set()
        self.locked = locked

    def apply_values(self, values: Mapping[str, Any]) -> ValidationReport:
        """Put ``values`` (cleaned or typed; None blanks the field) into those fields, as if the
        person had entered them: branching, scores and their messages follow, ``dirty`` is set."""
        names = [name for name in values if name in self.fields and not self.fields[name].field.is_derived]
        for name in names:
            self.fields[name].set_value(values[name])
        self._touched.update(names)
        report = self.refresh()
        self._show_issues(report, names)
        if names:
            self.dirty = True
        return report

    def comparable_data(self) -> dict[str, Any]:
        """What the form holds now, comparable with stored data: the cleaned value of each shown
        input field that parses, the typed value of one that does not (so that it never looks
        unchanged); derived scores left out."""
        report = self._validate(self.data())
        out = {name: value for name, value in report.cleaned.items()
               if name in self.fields and not self.fields[name].field.is_derived}
        for issue in report.errors:
            fw = self.fields.get(issue.field)
            if fw is not None and fw.visible and fw.value is not None:
                out[issue.field] = fw.value
        return out

    def mark_self_reported(self, names: Collection[str]) -> None:
        """Mark ``names`` "Besvaret af borgeren" at the end of their rows (the citizen's own answers
        from the questionnaire mode, until the clinician saves); every other field is unmarked.
        Questionnaire items never show a start value there (see ``_comparison``)."""
        marked = frozenset(n for n in names if n in self.fields and n not in self.compared)
        markup = (f'<span class="hk-self-reported" style="color:#1f5fa8;font-weight:600;line-height:28px">'
                  f'\u270e {html.escape(t("qm.answered_by_citizen", self.lang))}</span>')
        for name in self.self_reported | marked:
            self.fields[name].show_reference(markup if name in marked else "")
        self.self_reported = marked

    def note_field(self, name: str, text: str) -> None:
        """A note under a field (shown as a warning) until the field is changed or re-validated."""
        fw = self.fields[name]
        fw.show_warning(text)
        self._shown_codes[name] = ("note",)

    def first_issue(self, report: ValidationReport) -> str | None:
        """The first shown field, in form order, with an error or a missing answer."""
        flagged = {issue.field for issue in [*report.errors, *report.missing]}
        return next((name for name, fw in self.fields.items() if name in flagged and fw.visible), None)

    # --- "Markér som færdig" ------------------------------------------------------------------------
    def missing_summary(self, report: ValidationReport) -> str:
        """What is missing before the form can be marked complete, as a Danish list:
        "Mangler, før skemaet kan markeres som færdigt (2):\\n• Målinger: Vægt\\n• ..."."""
        if not report.missing:
            return t("nothing_missing", self.lang)
        section_labels = {s.name: s.label.get(self.lang) for s in self.form.sections}
        lines = [t("missing_heading", self.lang, n=len(report.missing))]
        for issue in report.missing:
            f = self.form.fields.get(issue.field)
            if f is None:
                lines.append(f"• {issue.message(self.lang)}")
            else:
                lines.append(f"• {section_labels.get(f.section, f.section)}: {f.label.get(self.lang)}")
        return "\n".join(lines)

    def missing_html(self, report: ValidationReport) -> str:
        """:meth:`missing_summary` as HTML (a heading and a bulleted list) for an HTML widget."""
        lines = self.missing_summary(report).split("\n")
        if len(lines) == 1:
            return f"<p>{html.escape(lines[0])}</p>"
        items = "".join(f"<li>{html.escape(line.removeprefix('• '))}</li>" for line in lines[1:])
        return f"<p><b>{html.escape(lines[0])}</b></p><ul style=\"margin-top:0\">{items}</ul>"


def _controls(widget: w.Widget) -> Iterator[w.Widget]:
    """``widget`` and every widget inside it that has a ``disabled`` switch."""
    if widget.has_trait("disabled"):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from _controls(child)
