"""One widget per contract field, chosen from a registry by the field's kind.

A :class:`FieldWidget` wraps the ipywidget(s) of one :class:`~hjertekom_core.contract.Field` and
speaks in the values the core understands:

* ``.value`` is the *raw* answer to hand to :func:`hjertekom_core.validation.validate_form`:
  the typed text of number and date fields ("72,5", "17-02-2025"; validation parses them), the
  code of a choice, a list of codes, True/False, a missing reason's code ("UNK" uoplyst, "NA"
  ikke relevant, "DECL" borgeren ønskede ikke) where the field declares it, None for blank.
* ``.set_value(v)`` shows a stored (cleaned) value: ISO dates as dd-mm-åååå, decimals with a
  Danish comma.
* ``.show_error`` / ``.show_warning`` / ``.clear_message`` write the message line under the input.
* ``.observe_change(callback)`` fires when the field is *left* (text inputs use
  ``continuous_update=False``: the value arrives on blur or Enter) or a choice is made; never while
  a value is being set from code.
* ``.visible`` shows or hides the whole ``.container``.

Which class a field gets is looked up in :data:`REGISTRY` under :func:`widget_key` (its type, or
``scale`` for a short coded int such as a questionnaire item, or ``derived``); a new kind of field
is added with :func:`register`, not with another branch.

Building ~80 fields must stay cheap (every ipywidget is a comm in the kernel, and each one creates
its own Layout and Style unless given one), so the static layouts and styles are shared through a
:class:`Kit` per form, code-list options are cached per code list, and the message line under a
field is created only when a first message is shown.
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_description import DescriptionStyle
from ipywidgets.widgets.widget_string import HTMLStyle, LabelStyle, TextStyle

from hjertekom_core import scoring
from hjertekom_core.contract import UNKNOWN, Code, CodeList, Field
from hjertekom_core.formatting import format_number
from hjertekom_widgets.text import STRINGS, t

__all__ = [
    "REGISTRY", "SCALE_MAX_CODES", "SCORE_STYLES", "BoolFieldWidget", "ChoiceFieldWidget", "DerivedFieldWidget",
    "FieldWidget", "Kit", "MultiChoiceFieldWidget", "SCALE_CLASS", "SR_LABEL_CLASS", "SR_LABEL_CSS",
    "ScaleFieldWidget", "ScoreStyle", "TextFieldWidget", "TextareaFieldWidget", "accessible_name",
    "codelist_options", "format_number", "format_score", "format_value", "input_text", "make_field_widget",
    "named", "register", "scale_keys_class", "widget_key",
]

#: A coded int field with at most this many codes is shown as toggle buttons, otherwise as a list.
SCALE_MAX_CODES = 7
#: Free text longer than this (or identifying text) gets a multi-line Textarea.
SHORT_TEXT_MAX = 200

LABEL_WIDTH = "300px"
ERROR_COLOUR = "#b00020"      # red, 6.3:1 on white
WARNING_COLOUR = "#8a4b00"    # dark amber, 6.6:1 on white
WARNING_BACKGROUND = "#fff4e0"
ERROR_BACKGROUND = "#fdecee"
HELP_COLOUR = "#5f6368"       # grey, 6.0:1 on white

ChangeCallback = Callable[["FieldWidget"], None]


# --- formatting ------------------------------------------------------------------------------------

def input_text(f: Field, value: Any) -> str:
    """The text to put into a text input for a stored value of ``f`` (inverse of what validation parses)."""
    if value is None:
        return ""
    if f.type == "date":
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
            return day.strftime("%d-%m-%Y")
        except ValueError:
            return str(value)
    if f.type in ("int", "decimal") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value, f.decimals if f.type == "decimal" else 0, "da", typographic=False)
    return str(value)


@dataclass(frozen=True)
class ScoreStyle:
    """How a derived score is shown beyond its number: a band next to it, a sign in front."""

    band: Callable[[Any], str | None] | None = None
    signed: bool = False


#: derivation function (as the contract names it) -> how its score is shown.
SCORE_STYLES: dict[str, ScoreStyle] = {
    "hads_anxiety": ScoreStyle(band=scoring.hads_band),
    "hads_depression": ScoreStyle(band=scoring.hads_band),
    "who5": ScoreStyle(band=scoring.who5_band),
    "fitness_change_pct": ScoreStyle(signed=True),
}


def format_value(f: Field, value: Any, lang: str = "da", *, unit: bool = True, sign: bool = False) -> str:
    """A stored value of ``f`` as a person reads it: code labels, dd-mm-åååå, decimals, unit."""
    if value is None:
        return t("fb_no_value", lang)
    if value == UNKNOWN:
        return t("fb_unknown_value", lang)
    reason = f.missing_reason(value)
    if reason is not None:
        return reason.label.get(lang).lower()  # "ikke relevant", "borgeren ønskede ikke"
    if f.codelist is not None:
        if isinstance(value, list):
            return ", ".join(f.codelist.label_of(v, lang) for v in value)
        return f.codelist.label_of(value, lang)
    if isinstance(value, bool):
        return t("yes" if value else "no", lang)
    if f.type == "date":
        return input_text(f, value)
    if isinstance(value, (int, float)):
        decimals = f.decimals if f.type == "decimal" else 0
        text = format_number(value, decimals, lang, sign=sign)
        return f"{text} {f.unit}" if unit and f.unit else text
    return str(value)


def format_score(f: Field, value: Any, lang: str = "da") -> str:
    """A derived score with its unit and, where the instrument has one, its band:
    "8 – grænsetilfælde", "0,452", "24,7 kg/m²", "+15,0 %"."""
    if value is None:
        return ""
    style = SCORE_STYLES.get(f.derived.function if f.derived else "", ScoreStyle())
    text = format_value(f, value, lang, sign=style.signed)
    band = style.band(value) if style.band else None
    key = f"band.{f.derived.function}.{band}" if f.derived and band else ""
    return f"{text} – {t(key, lang)}" if key in STRINGS else text


# --- shared pieces ----------------------------------------------------------------------------------

_OPTIONS: dict[tuple[int, str, tuple[Any, ...]], tuple[CodeList, tuple[tuple[str, Any], ...]]] = {}


def codelist_options(codelist: CodeList, lang: str = "da", *,
                     reasons: tuple[Code, ...] = ()) -> tuple[tuple[str, Any], ...]:
    """(label, code) pairs of a code list, cached per code list and language, followed by the
    missing ``reasons`` the list has no code for (("Uoplyst", "UNK"), ("Ikke relevant", "NA"))."""
    key = (id(codelist), lang, tuple(c.code for c in reasons))
    cached = _OPTIONS.get(key)
    if cached is None or cached[0] is not codelist:
        options = tuple((c.label.get(lang), c.code) for c in codelist.codes)
        options += tuple((c.label.get(lang), c.code) for c in reasons if c.code not in codelist)
        cached = _OPTIONS[key] = (codelist, options)  # the list is kept so that its id stays unique
    return cached[1]


def _code_help(field: Field, code: Any, lang: str) -> str:
    """The tooltip of one option: the code's (or missing reason's) help, else its label."""
    assert field.codelist is not None
    found = field.codelist.get(code) or field.missing_reason(code)
    if found is None:
        return t("unknown", lang)
    return found.help.get(lang) if found.help else found.label.get(lang)


class Kit:
    """Layouts and styles shared by every field of one form (none of them changes per field), and
    the form's language. Per-field state that changes (visibility) lives in per-field layouts."""

    def __init__(self, lang: str = "da") -> None:
        self.lang = lang
        self.label_layout = w.Layout(width=LABEL_WIDTH, min_width=LABEL_WIDTH, margin="0 12px 0 0")
        self.row_layout = w.Layout(align_items="flex-start", width="100%")
        self.number_layout = w.Layout(width="9em")
        self.date_layout = w.Layout(width="9em")
        self.text_layout = w.Layout(width="24em")
        self.textarea_layout = w.Layout(width="560px", height="6em")
        self.dropdown_layout = w.Layout(width="max-content", min_width="14em", max_width="560px")
        self.unit_layout = w.Layout(width="auto", margin="0 12px 0 4px")
        self.missing_layout = w.Layout(width="auto", margin="0 0 0 8px")
        self.missing_style = DescriptionStyle(description_width="initial")
        self.option_layout = w.Layout(width="auto")
        self.options_box_layout = w.Layout(width="auto")
        self.output_layout = w.Layout(width="auto", min_width="9em")
        self.message_layout = w.Layout(margin=f"2px 0 6px calc({LABEL_WIDTH} + 14px)", width="auto", max_width="760px")
        self.reference_layout = w.Layout(width="auto", margin="0 0 0 16px")
        self.html_style = HTMLStyle()
        self.label_style = LabelStyle()
        self.text_style = TextStyle()
        self.description_style = DescriptionStyle()
        self.checkbox_style = CheckboxStyle()
        self.toggle_style = w.ToggleButtonsStyle(button_width="auto")

    def html(self, value: str, layout: w.Layout, *classes: str) -> w.HTML:
        return w.HTML(value, layout=layout, style=self.html_style, _dom_classes=classes)


# --- the base class ----------------------------------------------------------------------------------

class FieldWidget:
    """The widget(s) of one contract field. Subclasses set ``self.input`` and implement
    ``value``/``set_value``; ``_watched()`` names the widgets whose ``value`` is an answer."""

    def __init__(self, field: Field, kit: Kit, input_widget: w.DOMWidget, extras: Sequence[w.Widget] = ()) -> None:
        self.field = field
        self.kit = kit
        self.lang = kit.lang
        self.input = input_widget
        self._callbacks: list[ChangeCallback] = []
        self._quiet_depth = 0
        self._message: tuple[str, str] | None = None
        self._message_widget: w.HTML | None = None
        self._reference_widget: w.HTML | None = None
        self._visible = True
        self.label = kit.html(self._label_html(), kit.label_layout)
        self.row = w.HBox([self.label, input_widget, *extras], layout=kit.row_layout)
        # hk-field-<name>: a stable handle for tests, styling and the page script (set at creation:
        # every class added afterwards is one more message to the browser)
        self.container = w.VBox([self.row], layout=w.Layout(margin="0 0 4px 0"),
                                _dom_classes=(f"hk-field-{field.name}",))
        for widget in self._watched():
            widget.observe(self._changed, names="value")

    # --- what subclasses provide --------------------------------------------------------------------
    @property
    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def _watched(self) -> Iterator[w.Widget]:
        yield self.input

    # --- labels and help ------------------------------------------------------------------------------
    @property
    def label_text(self) -> str:
        return self.field.label.get(self.lang)

    @property
    def help_text(self) -> str:
        return self.field.help.get(self.lang) if self.field.help else ""

    def _label_html(self) -> str:
        required = (f' <span title="{html.escape(t("required_mark", self.lang))}" '
                    f'style="color:{ERROR_COLOUR}">*</span>') if self.field.required else ""
        help_html = (f'<div class="hk-help" style="color:{HELP_COLOUR};font-size:0.85em;line-height:1.3;'
                     f'margin-top:2px">{html.escape(self.help_text)}</div>') if self.help_text else ""
        return (f'<div style="line-height:1.3;padding-top:4px"><b>{html.escape(self.label_text)}</b>{required}'
                f'{help_html}</div>')

    # --- change notification ------------------------------------------------------------------------
    def observe_change(self, callback: ChangeCallback) -> None:
        """Call ``callback(self)`` whenever the person leaves the field with a new value or makes a choice."""
        self._callbacks.append(callback)

    def _changed(self, _change: Any = None) -> None:
        if self._quiet_depth:
            return
        for callback in list(self._callbacks):
            callback(self)

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set values from code without telling the observers."""
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    # --- messages -------------------------------------------------------------------------------------
    @property
    def message(self) -> tuple[str, str] | None:
        """("error" | "warning", text) of the message shown under the field, or None."""
        return self._message

    def show_error(self, text: str) -> None:
        self._set_message("error", text)

    def show_warning(self, text: str) -> None:
        self._set_message("warning", text)

    def clear_message(self) -> None:
        if self._message is None:
            return
        self._message = None
        self.container.children = (self.row,)

    def _set_message(self, severity: str, text: str) -> None:
        if self._message == (severity, text):
            return
        error = severity == "error"
        colour, background = (ERROR_COLOUR, ERROR_BACKGROUND) if error else (WARNING_COLOUR, WARNING_BACKGROUND)
        icon, title = ("\u2716", t("error_prefix", self.lang)) if error else ("\u26a0", t("warning_prefix", self.lang))
        body = "<br>".join(html.escape(line) for line in text.splitlines())
        markup = (f'<div role="alert" style="color:{colour};background:{background};padding:2px 6px;'
                  f'border-left:3px solid {colour};line-height:1.35">'
                  f'<span title="{html.escape(title)}" aria-label="{html.escape(title)}">{icon}</span> {body}</div>')
        if self._message_widget is None:
            self._message_widget = self.kit.html(markup, self.kit.message_layout)
        else:
            self._message_widget.value = markup
        if self._message is None:
            self.container.children = (self.row, self._message_widget)
        self._message = (severity, text)

    # --- a value to compare with ---------------------------------------------------------------------
    @property
    def reference(self) -> str:
        """The HTML shown read-only at the end of the row (e.g. the start value), "" for none."""
        return self._reference_widget.value if self._reference_widget is not None else ""

    def show_reference(self, markup: str) -> None:
        """Show ``markup`` (HTML) read-only at the end of the field's row, e.g. the value measured
        at the start beside the end's input; "" shows nothing. Made at the first use only."""
        if self._reference_widget is None:
            if not markup:
                return
            self._reference_widget = self.kit.html(markup, self.kit.reference_layout, "hk-reference")
            self.row.children = (*self.row.children, self._reference_widget)
        elif self._reference_widget.value != markup:
            self._reference_widget.value = markup

    # --- visibility -----------------------------------------------------------------------------------
    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, shown: bool) -> None:
        shown = bool(shown)
        if shown != self._visible:
            self._visible = shown
            self.container.layout.display = "" if shown else "none"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.field.form}.{self.field.name}={self.value!r}>"


# --- the registry ------------------------------------------------------------------------------------

Factory = Callable[[Field, Kit], FieldWidget]
REGISTRY: dict[str, Factory] = {}


def register(*keys: str) -> Callable[[Factory], Factory]:
    """Register a factory (usually a FieldWidget class) for the given :func:`widget_key` values."""

    def add(factory: Factory) -> Factory:
        for key in keys:
            REGISTRY[key] = factory
        return factory

    return add


def widget_key(f: Field) -> str:
    """The registry key of a field: ``derived``, ``scale`` (a coded int with few codes, e.g. a
    questionnaire item), ``choice`` for a coded int with many codes (municipality), else its type."""
    if f.is_derived:
        return "derived"
    if f.type == "int" and f.codelist is not None:
        return "scale" if len(f.codelist.codes) <= SCALE_MAX_CODES else "choice"
    return f.type


def make_field_widget(f: Field, kit: Kit | None = None, lang: str = "da") -> FieldWidget:
    """The widget for ``f``; pass the form's ``kit`` to share layouts and styles."""
    return REGISTRY[widget_key(f)](f, kit or Kit(lang))


# --- text-like inputs ---------------------------------------------------------------------------------

_PLACEHOLDERS = {"int": "int_placeholder", "decimal": "decimal_placeholder", "date": "date_placeholder",
                 "text": "text_placeholder"}


#: Visually hidden but read by screen readers (the usual "sr-only" rules, inline: a description's
#: HTML keeps only inline styles).
_SCREEN_READER_ONLY = ("position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;"
                       "clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap;border:0")


#: The "Mangler" dropdown's value for "Nej" (no missing reason: the input holds the answer).
NO_REASON = ""

#: A control carrying this class has its own <label> (the ipywidget's ``description``) holding the
#: field's name, hidden from sight: the form already shows the label in its own column, but a
#: screen reader (and axe) needs a name bound to the control itself; a tooltip alone is no name.
SR_LABEL_CLASS = "hk-sr-label"
#: The rule that hides it (``!important``: ipywidgets sets the label's width and display inline).
SR_LABEL_CSS = (f".{SR_LABEL_CLASS}>.widget-label{{"
                + ";".join(f"{rule} !important" for rule in _SCREEN_READER_ONLY.split(";")) + "}")


def accessible_name(field: Field, lang: str = "da") -> str:
    """The name a screen reader reads for a field's control: its label, and its unit ("Vægt (kg)")."""
    label = field.label.get(lang)
    return f"{label} ({field.unit})" if field.unit else label


def named(field: Field, lang: str, *classes: str) -> dict[str, Any]:
    """The keyword arguments that give a control the field's accessible name, through a hidden
    label of its own, and the CSS ``classes``: passed to the constructor, because every trait set
    afterwards is one more message to the browser for each of a form's ~150 controls."""
    return {"description": accessible_name(field, lang), "_dom_classes": (SR_LABEL_CLASS, *classes)}


def missing_reason_dropdown(field: Field, kit: Kit) -> w.Dropdown:
    """"Mangler: Nej / Uoplyst / Ikke relevant / Borgeren ønskede ikke" for a field that declares
    missing reasons: a native select (Tab to reach it, arrow keys to choose), visibly labelled
    "Mangler" and named for screen readers after its field ("Vægt: årsag til, at svaret mangler")."""
    lang = kit.lang
    name = t("missing_name", lang, label=field.label.get(lang))
    description = (f'<span aria-hidden="true">{html.escape(t("missing", lang))}</span>'
                   f'<span style="{_SCREEN_READER_ONLY}">{html.escape(name)}</span>')
    # "Nej" is "" rather than None: a Dropdown takes the value None for "nothing selected" and
    # would show an empty box, and the first arrow key would land on "Nej" instead of moving on.
    options = ((t("no", lang), NO_REASON), *((c.label.get(lang), c.code) for c in field.missing_reasons))
    dropdown = w.Dropdown(options=options, value=NO_REASON, description=description, description_allow_html=True,
                          tooltip=t("missing_tooltip", lang), layout=kit.missing_layout, style=kit.missing_style)
    dropdown.add_class("hk-missing-reason")
    return dropdown


@register("int", "decimal", "date")
class TextFieldWidget(FieldWidget):
    """A one-line Text input for numbers, dates and short text, with the unit after it and, where
    the field declares missing reasons, a "Mangler" dropdown beside it: choosing a reason disables
    the input (its text is kept, and comes back with "Nej") and yields the reason's code.

    Text rather than FloatText, so that "72,5" with a Danish comma and a blank are possible; the
    validation parses what was typed and explains what it cannot parse."""

    multiline = False

    def __init__(self, field: Field, kit: Kit) -> None:
        lang = kit.lang
        layout = {"int": kit.number_layout, "decimal": kit.number_layout, "date": kit.date_layout}.get(
            field.type, kit.textarea_layout if self.multiline else kit.text_layout)
        cls = w.Textarea if self.multiline else w.Text
        text = cls(value="", placeholder=t(_PLACEHOLDERS.get(field.type, "text_placeholder"), lang),
                   continuous_update=False, layout=layout, style=kit.text_style,
                   tooltip=field.help.get(lang) if field.help else None, **named(field, lang))
        extras: list[w.Widget] = []
        self.unit: w.Label | None = None
        if field.unit:
            self.unit = w.Label(field.unit, layout=kit.unit_layout, style=kit.label_style)
            extras.append(self.unit)
        self.missing: w.Dropdown | None = None
        if field.missing_reasons:
            self.missing = missing_reason_dropdown(field, kit)
            self.missing.observe(self._reason_chosen, names="value")
            extras.append(self.missing)
        super().__init__(field, kit, text, extras)

    def _reason_chosen(self, change: Any) -> None:
        self.input.disabled = bool(change["new"])

    def _watched(self) -> Iterator[w.Widget]:
        yield self.input
        if self.missing is not None:
            yield self.missing

    @property
    def value(self) -> Any:
        if self.missing is not None and self.missing.value:
            return self.missing.value
        text = self.input.value.strip()
        return text or None

    def set_value(self, value: Any) -> None:
        with self._quiet():
            reason = self.field.missing_reason(value) if self.missing is not None else None
            if self.missing is not None:
                self.missing.value = reason.code if reason is not None else NO_REASON
            self.input.value = "" if reason is not None else input_text(self.field, value)


@register("text")
def _text_widget(field: Field, kit: Kit) -> FieldWidget:
    long = field.identifying or field.max_length is None or field.max_length > SHORT_TEXT_MAX
    return (TextareaFieldWidget if long else TextFieldWidget)(field, kit)


class TextareaFieldWidget(TextFieldWidget):
    """Free text (identifying or long): a multi-line Textarea; Enter makes a new line, never a save."""

    multiline = True


# --- choices ------------------------------------------------------------------------------------------

class _CodedFieldWidget(FieldWidget):
    """An input whose value is one code of ``self._codes`` (or None)."""

    _codes: list[Any]

    @property
    def value(self) -> Any:
        return self.input.value

    def set_value(self, value: Any) -> None:
        with self._quiet():
            self.input.value = next((c for c in self._codes if c == value and type(c) is type(value)), None)


class _DropdownFieldWidget(_CodedFieldWidget):
    """A Dropdown starting at "— vælg —" (None)."""

    def __init__(self, field: Field, kit: Kit, options: Sequence[tuple[str, Any]]) -> None:
        self._codes = [code for _, code in options]
        dropdown = w.Dropdown(options=((t("choose", kit.lang), None), *options), index=0,
                              layout=kit.dropdown_layout, style=kit.description_style,
                              tooltip=field.help.get(kit.lang) if field.help else None, **named(field, kit.lang))
        dropdown.observe(self._show_placeholder, names="index")
        super().__init__(field, kit, dropdown)

    @staticmethod
    def _show_placeholder(change: Any) -> None:
        # ipywidgets turns the value None into "no option selected" (index None), which the
        # browser shows as an empty box: point at "— vælg —" instead (its value is None too, so
        # the answer stays blank and no change is reported).
        if change["new"] is None:
            change["owner"].index = 0


@register("choice")
class ChoiceFieldWidget(_DropdownFieldWidget):
    """A choice (or a coded int with many codes, e.g. the municipality): a Dropdown with the
    code list's Danish labels; UNK shows as the code list says ("Uoplyst")."""

    def __init__(self, field: Field, kit: Kit) -> None:
        assert field.codelist is not None
        super().__init__(field, kit, codelist_options(field.codelist, kit.lang, reasons=field.missing_reasons))


@register("bool")
class BoolFieldWidget(_DropdownFieldWidget):
    """Yes/no: a Dropdown Ja/Nej, plus the missing reasons the field declares (Uoplyst, ...)."""

    def __init__(self, field: Field, kit: Kit) -> None:
        options = [(t("yes", kit.lang), True), (t("no", kit.lang), False)]
        options += [(c.label.get(kit.lang), c.code) for c in field.missing_reasons]
        super().__init__(field, kit, options)


#: The class of a question answered with one of a few buttons (hjertekom.js makes it a radio group).
SCALE_CLASS = "hk-scale"


def scale_keys_class(codes: Sequence[Any]) -> str:
    """``hk-keys-0-1-2-3-x``: the digit that picks each button, in button order ("x": no digit,
    e.g. "Uoplyst"). The page script reads it; a code is a digit key only if it is one digit."""
    keys = [str(code) if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 9 else "x"
            for code in codes]
    return "hk-keys-" + "-".join(keys)


@register("scale")
class ScaleFieldWidget(_CodedFieldWidget):
    """A coded int with few codes (a questionnaire item): ToggleButtons with the code labels.
    "Uoplyst" (when allowed) is one more button rather than a checkbox, so that one click answers
    and a second changes the answer; so is every other missing reason the field declares.

    The page script (hjertekom.js) makes the buttons one radio group, named after the field, with
    one Tab stop: arrow keys move between the answers, Space or Enter chooses one, and the digit
    of a code (HADS 0-3, EQ-5D 1-5, WHO-5 0-5) chooses it and goes on to the next question. The
    class from :func:`scale_keys_class` tells it which digit stands for which button: the codes
    themselves, not the labels."""

    def __init__(self, field: Field, kit: Kit) -> None:
        assert field.codelist is not None
        options = codelist_options(field.codelist, kit.lang, reasons=field.missing_reasons)
        self._codes = [code for _, code in options]
        buttons = w.ToggleButtons(options=options, value=None, style=kit.toggle_style,
                                  tooltips=[_code_help(field, code, kit.lang) for code in self._codes],
                                  tooltip=field.help.get(kit.lang) if field.help else None,
                                  **named(field, kit.lang, SCALE_CLASS, scale_keys_class(self._codes)))
        super().__init__(field, kit, buttons)


@register("multi_choice")
class MultiChoiceFieldWidget(FieldWidget):
    """Several codes: one Checkbox per code (a SelectMultiple would need Ctrl-click)."""

    def __init__(self, field: Field, kit: Kit) -> None:
        assert field.codelist is not None
        options = codelist_options(field.codelist, kit.lang)
        self.checkboxes = {code: w.Checkbox(value=False, description=label, indent=False,
                                            tooltip=_code_help(field, code, kit.lang),
                                            layout=kit.option_layout, style=kit.checkbox_style)
                           for label, code in options}
        box = w.VBox(list(self.checkboxes.values()), layout=kit.options_box_layout)
        super().__init__(field, kit, box)

    def _watched(self) -> Iterator[w.Widget]:
        yield from self.checkboxes.values()

    @property
    def value(self) -> list[Any] | None:
        chosen = [code for code, box in self.checkboxes.items() if box.value]
        return chosen or None

    def set_value(self, value: Any) -> None:
        chosen = set(value) if isinstance(value, (list, tuple, set)) else ({value} if value is not None else set())
        with self._quiet():
            for code, box in self.checkboxes.items():
                box.value = code in chosen


# --- derived scores -----------------------------------------------------------------------------------

@register("derived")
class DerivedFieldWidget(FieldWidget):
    """A read-only score computed by the core (shown live; never handed to validation)."""

    def __init__(self, field: Field, kit: Kit) -> None:
        self.score: Any = None
        output = kit.html(self._markup(None, field, kit.lang), kit.output_layout)
        super().__init__(field, kit, output)

    @staticmethod
    def _markup(score: Any, field: Field, lang: str) -> str:
        if score is None:
            return (f'<span style="color:{HELP_COLOUR};font-style:italic;line-height:2">'
                    f'{html.escape(t("not_calculated", lang))}</span>')
        text = html.escape(format_score(field, score, lang))
        return f'<b style="font-size:1.1em;line-height:2" aria-live="polite">{text}</b>'

    def _watched(self) -> Iterator[w.Widget]:
        return iter(())

    @property
    def text(self) -> str:
        """The score as shown, e.g. "8 – grænsetilfælde" ("" when not calculated)."""
        return format_score(self.field, self.score, self.lang)

    @property
    def value(self) -> None:
        return None  # computed by validation, never entered

    def set_value(self, value: Any) -> None:
        self.show_score(value)

    def show_score(self, score: Any) -> None:
        if score == self.score and type(score) is type(self.score):
            return
        self.score = score
        self.input.value = self._markup(score, self.field, self.lang)
