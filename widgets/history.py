"""A form's "Historik": every revision with who saved it, when (Danish local time), why, and the
fields it changed (old and new value, with the contract's labels and code labels).

Built from ``Service.form_history`` (the append-only revisions); plain HTML with inline styles.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from hjertekom_core.contract import UNKNOWN, Contract, Field
from hjertekom_core.service import RevisionChange
from hjertekom_widgets.danish_time import danish
from hjertekom_widgets.field_widgets import HELP_COLOUR, format_score, format_value
from hjertekom_widgets.messages import STATUS_DA
from hjertekom_widgets.text import t

__all__ = ["history_html", "value_text"]

_TABLE = "border-collapse:collapse;margin:2px 0 10px 0;font-size:14px;min-width:520px"
_TH = "text-align:left;padding:4px 8px;border-bottom:2px solid #98a2b3;background:#f2f4f7"
_TD = "padding:3px 8px;border-bottom:1px solid #e4e7ec;vertical-align:top"


def value_text(f: Field | None, value: Any, lang: str = "da") -> str:
    """A stored value as the form shows it: code labels, dd-mm-åååå, decimals and unit; a score
    with its band; "–" for blank. A field no longer in the contract shows its raw value."""
    if f is None:
        return t("fb_no_value", lang) if value is None else str(value)
    if f.is_derived and value is not None and value != UNKNOWN:
        return format_score(f, value, lang)
    return format_value(f, value, lang)


def _when(change: RevisionChange, lang: str) -> str:
    local = danish(change.saved_at)
    return t("time.other_day", lang, date=f"{local:%d-%m-%Y}", time=f"{local:%H:%M}")


def _status(change: RevisionChange) -> str:
    new = STATUS_DA.get(change.status, change.status)
    if change.previous_status is None or change.previous_status == change.status:
        return new
    return f"{STATUS_DA.get(change.previous_status, change.previous_status)} → {new}"


def history_html(contract: Contract, form_name: str, history: Sequence[RevisionChange], lang: str = "da") -> str:
    """The history of one form, newest revision first."""
    form = contract.form(form_name)
    parts = [f'<div class="hk-history-panel"><h3 style="margin:4px 0">'
             f'{html.escape(t("history.title", lang, form=form.label.get(lang)))}</h3>']
    if not history:
        parts.append(f'<p class="hk-history-empty">{html.escape(t("history.none", lang))}</p></div>')
        return "".join(parts)
    for change in reversed(history):
        who = change.saved_by or t("history.system", lang)
        head = (f'<b>{html.escape(t("history.version", lang, revision=change.revision))}</b> · '
                f'<span class="hk-history-status">{html.escape(_status(change))}</span> · '
                f'<span class="hk-history-who">'
                f'{html.escape(t("history.saved_by", lang, who=who, when=_when(change, lang)))}</span>')
        parts.append(f'<section class="hk-revision" data-revision="{change.revision}" '
                     f'style="margin:6px 0 4px 0"><div>{head}</div>')
        if change.reason:
            parts.append(f'<div class="hk-history-reason">{html.escape(t("history.reason", lang))}: '
                         f'<i>{html.escape(change.reason)}</i></div>')
        for link in change.shared:   # shared questions: from, or carried over to, another programme
            parts.append(f'<div class="hk-history-shared" data-shared="{link.kind}">{html.escape(link.text(lang))}</div>')
        if change.self_reported:
            labels = ", ".join(form.fields[n].label.get(lang) if n in form.fields else n for n in change.self_reported)
            parts.append(f'<div class="hk-history-self-reported">{html.escape(t("history.self_reported", lang))} '
                         f'({len(change.self_reported)}): {html.escape(labels)}</div>')
        if change.changes:
            heads = "".join(f'<th style="{_TH}">{html.escape(t(k, lang))}</th>'
                            for k in ("history.field", "history.before", "history.after"))
            rows = []
            for item in change.changes:
                f = form.fields.get(item.field)
                label = f.label.get(lang) if f is not None else item.field
                if item.field in change.self_reported:
                    label += f' ({t("history.self_reported", lang).lower()})'
                rows.append(f'<tr data-field="{html.escape(item.field)}"><td style="{_TD}">{html.escape(label)}</td>'
                            f'<td style="{_TD}">{html.escape(value_text(f, item.old, lang))}</td>'
                            f'<td style="{_TD}">{html.escape(value_text(f, item.new, lang))}</td></tr>')
            parts.append(f'<table style="{_TABLE}"><thead><tr>{heads}</tr></thead>'
                         f'<tbody>{"".join(rows)}</tbody></table>')
        else:
            parts.append(f'<div style="color:{HELP_COLOUR}">{html.escape(t("history.no_changes", lang))}</div>')
        parts.append("</section>")
    parts.append("</div>")
    return "".join(parts)
