"""When someone saved the form since the clinician opened it: say who and when, and let the
clinician choose, field by field, between their own value and the saved one.

The merge itself is the core's (``hjertekom_core.revisions.merge_three_way``); this module only
words the outcome and shows the fields both sides changed, side by side, with one click to keep
either. Nothing is discarded without that click.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import ipywidgets as w

from hjertekom_core.contract import Form
from hjertekom_core.revisions import MINE, THEIRS, FieldConflict, MergeResult
from hjertekom_core.service import ConflictDetails
from hjertekom_widgets.danish_time import when_text
from hjertekom_widgets.history import value_text
from hjertekom_widgets.text import t

__all__ = ["ConflictPanel", "conflict_message", "saved_by_text"]

ChoiceHook = Callable[[str, str], None]


def saved_by_text(details: ConflictDetails, lang: str = "da") -> str:
    """"Bo Bertelsen gemte skemaet kl. 10:42, efter du åbnede det." or, for the same user,
    "Du har selv gemt skemaet i en anden fane kl. 10:42."."""
    when = when_text(details.latest.saved_at, lang)
    if details.by_me:
        return t("conflict.same_user", lang, when=when)
    return t("conflict.colleague", lang, who=details.saved_by or t("conflict.someone", lang), when=when)


def _labels(form: Form, names: Sequence[str], lang: str) -> str:
    return ", ".join(form.fields[n].label.get(lang) if n in form.fields else n for n in names)


def conflict_message(details: ConflictDetails, result: MergeResult, form: Form, lang: str = "da") -> str:
    """The whole message as HTML: who saved and when, that the input is kept, what was taken in
    from the new version, and what is left to choose (or that saving again is all there is to do)."""
    lines = [f"<b>{html.escape(saved_by_text(details, lang))}</b>", html.escape(t("conflict.kept", lang))]
    if result.theirs_taken:
        lines.append(html.escape(t("conflict.taken", lang, fields=_labels(form, result.theirs_taken, lang))))
    if result.conflicts:
        lines.append(html.escape(t("conflict.choose", lang, n=len(result.conflicts))))
    else:
        lines.append(html.escape(t("conflict.save_on_top", lang, revision=details.latest.revision)))
    return "<br>".join(lines)


class ConflictPanel:
    """One row per field both sides changed: the label, "Din værdi" with "Behold min", the saved
    value with "Brug den gemte". ``on_choice(field, "mine" | "theirs")`` is called on a click;
    ``mark`` shows which value was chosen."""

    def __init__(self, form: Form, conflicts: Sequence[FieldConflict], details: ConflictDetails,
                 on_choice: ChoiceHook, lang: str = "da") -> None:
        self.lang = lang
        self._buttons: dict[str, dict[str, w.Button]] = {}
        theirs_head = (t("conflict.theirs_same_user", lang) if details.by_me else
                       t("conflict.theirs", lang, who=details.saved_by or t("conflict.someone", lang)))
        cell = w.Layout(width="280px", min_width="200px")
        head = w.HBox([w.HTML(f"<b>{html.escape(t(k, lang))}</b>", layout=cell)
                       for k in ("conflict.field", "conflict.mine")]
                      + [w.HTML(f"<b>{html.escape(theirs_head)}</b>", layout=cell)])
        rows: list[w.Widget] = [head]
        for conflict in conflicts:
            f = form.fields.get(conflict.field)
            label = f.label.get(lang) if f is not None else conflict.field
            keep = w.Button(description=t("conflict.keep_mine", lang), icon="user")
            keep.add_class("hk-keep-mine")
            take = w.Button(description=t("conflict.take_theirs", lang), icon="download")
            take.add_class("hk-take-theirs")
            keep.on_click(lambda _b, name=conflict.field: on_choice(name, MINE))
            take.on_click(lambda _b, name=conflict.field: on_choice(name, THEIRS))
            self._buttons[conflict.field] = {MINE: keep, THEIRS: take}
            row = w.HBox([
                w.HTML(f"{html.escape(label)}", layout=cell),
                w.VBox([w.HTML(f'<span class="hk-mine-value">{html.escape(value_text(f, conflict.mine, lang))}</span>'),
                        keep], layout=cell),
                w.VBox([w.HTML(f'<span class="hk-theirs-value">{html.escape(value_text(f, conflict.theirs, lang))}'
                               f'</span>'), take], layout=cell),
            ], layout=w.Layout(border_top="1px solid #e4e7ec", padding="4px 0"))
            row.add_class("hk-conflict-field")
            row.add_class(f"hk-conflict-{conflict.field}")
            rows.append(row)
        self.widget = w.VBox(rows)
        self.widget.add_class("hk-conflict-panel")

    def mark(self, field: str, choice: str | None) -> None:
        """Show ``choice`` as made for ``field`` (None: nothing chosen)."""
        for option, button in self._buttons.get(field, {}).items():
            chosen = option == choice
            button.button_style = "success" if chosen else ""
            base = t("conflict.keep_mine" if option == MINE else "conflict.take_theirs", self.lang)
            button.description = f"{base} ({t('conflict.chosen', self.lang)})" if chosen else base
