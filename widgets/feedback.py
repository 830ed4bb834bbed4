"""Feedback pages: the citizen's own results (start against end, and the indicators for this
course) and the municipality's indicator table. Plain HTML tables with inline styles (no fetches),
readable at 1280x800; labels and units from the data contract, UI words from :mod:`hjertekom_widgets.text`.

Whether one course meets K1-K6 is decided by the core's own indicator definitions
(``hjertekom_core.indicators.course.course_criteria``), so the entry app, the reports and the tests
can never disagree. Another programme's course gets the indicators its programme declares
(``course.course_indicators``: name, criterion, state and the reason when not met), and the
municipality's table of the same indicators (``municipality_feedback_html(..., indicators=...)``).
"""
from __future__ import annotations

import html
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import ipywidgets as w
import pandas as pd

from hjertekom_core import disclosure
from hjertekom_core.contract import UNKNOWN, Contract, Field, Form
from hjertekom_core.formatting import format_percent
from hjertekom_core.indicators import BY_ID, INDICATORS, STATUS_LABELS, IndicatorSettings
from hjertekom_core.indicators.course import CourseIndicator, course_criteria, course_indicators
from hjertekom_core.indicators.definitions import Indicator
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.measures import start_end_measures
from hjertekom_widgets.field_widgets import HELP_COLOUR, format_number, format_score, format_value
from hjertekom_widgets.text import t

__all__ = ["CRITERION_STATES", "FEEDBACK_FIELDS", "citizen_feedback", "citizen_feedback_html",
           "course_criteria", "course_feedback", "course_feedback_html", "municipality_feedback", "municipality_feedback_html"]

#: The results a citizen sees, in this order (a presentation choice; labels, units and decimals
#: come from the contract, and fields a contract lacks are skipped). A test-type field whose codes
#: name a ``result_field`` (fitness_test in the code lists) becomes the row of the test used.
FEEDBACK_FIELDS: tuple[str, ...] = (
    "weight_kg", "bmi", "waist_cm", "bp_systolic", "bp_diastolic", "resting_hr", "ldl",
    "fitness_test_type",
    "hads_anxiety", "hads_depression", "eq5d_index", "eq5d_vas", "who5_score", "heartqol_global",
)

#: What course_criteria says per indicator.
CRITERION_STATES = ("met", "not_met", "unknown", "not_applicable")

_OPEN = '<div style="font-family:inherit;max-width:1180px">'
_TABLE = "border-collapse:collapse;margin:4px 0 16px 0;font-size:14px;min-width:640px;max-width:1180px"
_TH = "text-align:left;padding:6px 10px;border-bottom:2px solid #98a2b3;background:#f2f4f7"
_TD = "padding:5px 10px;border-bottom:1px solid #e4e7ec;vertical-align:top"
_NUM = _TD + ";text-align:right;white-space:nowrap"
_STATE_COLOURS = {
    "met": "#1e6b34", "not_met": "#8a4b00", "below": "#b00020", "unknown": "#8a4b00",
    "not_applicable": HELP_COLOUR, "no_data": HELP_COLOUR, "no_standard": HELP_COLOUR, "suppressed": HELP_COLOUR,
}


def _e(text: Any) -> str:
    return html.escape(str(text))


def _table(head: str, body: str) -> str:
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# --- which forms are start and end ----------------------------------------------------------------

def _start_end(contract: Contract) -> tuple[Form, Form] | None:
    """The first and last form after the course form (start meeting and end of course); None for
    a programme without both (it has no start-against-end results)."""
    pair = contract.start_and_end()
    return (contract.form(pair[0]), contract.form(pair[1])) if pair else None


def _declared_measures(start_form: Form, end_form: Form) -> tuple[str, ...]:
    """Another programme's results: what its contract measures at both the start and the end
    (``hjertekom_core.measures``, as the citizen sheet picks them). HjerteKom keeps its own chosen
    list (FEEDBACK_FIELDS)."""
    return start_end_measures(start_form, end_form)


# --- one course's indicators ------------------------------------------------------------------------

# --- the citizen's results --------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def _cell(f: Field, value: Any, lang: str) -> str:
    return format_score(f, value, lang) if f.is_derived and value is not None and value != UNKNOWN \
        else format_value(f, value, lang)


def _change(f: Field, start: Any, end: Any, lang: str) -> str:
    if not (_is_number(start) and _is_number(end)):
        return ""
    decimals = (f.decimals or 0) if f.type == "decimal" else 0
    text = format_number(end - start, decimals, lang, sign=True)
    return f"{text} {f.unit}" if f.unit else text


def _test_results(test: Field) -> dict[Any, str]:
    """Test code -> the field holding its result, from the code list's ``result_field`` attributes."""
    assert test.codelist is not None
    return {c.code: c.attributes["result_field"] for c in test.codelist.codes if "result_field" in c.attributes}


def _test_rows(test: Field, start_form: Form, end_form: Form, start: Mapping[str, Any], end: Mapping[str, Any],
               lang: str) -> list[tuple[str, str, str, str]]:
    """The row of the physical test used: its result at start and end, the change and, when the
    end form derives one from the test, the change in per cent (e.g. "+63 m (+15,0 %)")."""
    results = _test_results(test)
    s_type, e_type = start.get(test.name), end.get(test.name)
    if s_type is None and e_type is None:
        return []

    def value_of(form: Form, data: Mapping[str, Any], kind: Any, with_test: bool) -> tuple[Field | None, str]:
        name = results.get(kind)
        if name is None or name not in form.fields:
            return None, format_value(test, kind, lang)  # not done / unknown / blank
        f = form.fields[name]
        text = format_value(f, data.get(name), lang)
        return f, f"{text} ({test.codelist.label_of(kind, lang)})" if with_test else text  # type: ignore[union-attr]

    same = s_type == e_type and s_type in results
    f_start, s_text = value_of(start_form, start, s_type, not same)
    f_end, e_text = value_of(end_form, end, e_type, not same)
    if not same:
        change = t("fb_different_test", lang) if s_type in results and e_type in results else ""
        return [(test.label.get(lang), s_text, e_text, change)]
    f = f_end or f_start
    assert f is not None
    change = _change(f, start.get(f.name), end.get(f.name), lang)
    for derived in end_form.fields.values():
        if derived.derived and any(ref.field == test.name for ref in derived.derived.refs()) \
                and end.get(derived.name) is not None and change:
            change += f" ({format_score(derived, end[derived.name], lang)})"
    return [(f.label.get(lang), s_text, e_text, change)]


def _result_rows(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]],
                 lang: str) -> list[tuple[str, str, str, str]]:
    pair = _start_end(contract)
    if pair is None:
        return []
    start_form, end_form = pair
    start, end = course_forms.get(start_form.name, {}), course_forms.get(end_form.name, {})
    rows: list[tuple[str, str, str, str]] = []
    measures = FEEDBACK_FIELDS if contract.programme == PROGRAMME else _declared_measures(start_form, end_form)
    for name in measures:
        f = end_form.fields.get(name) or start_form.fields.get(name)
        if f is None:
            continue
        if f.type == "choice" and f.codelist is not None and _test_results(f):
            rows += _test_rows(f, start_form, end_form, start, end, lang)
            continue
        s, e = start.get(name), end.get(name)
        if s is None and e is None:
            continue
        s_text = _cell(start_form.fields.get(name, f), s, lang)
        e_text = _cell(end_form.fields.get(name, f), e, lang)
        rows.append((f.label.get(lang), s_text, e_text, _change(f, s, e, lang)))
    return rows


def citizen_feedback_html(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]], lang: str = "da", *,
                          statuses: Mapping[str, str] | None = None,
                          settings: IndicatorSettings | None = None) -> str:
    """The HTML of :func:`citizen_feedback`."""
    settings = settings or IndicatorSettings()
    parts = [_OPEN, f'<h2 style="margin:4px 0 8px 0">{_e(t("fb_title", lang))}</h2>']
    rows = _result_rows(contract, course_forms, lang)
    if rows:
        head = "".join(f'<th style="{_TH}{";text-align:right" if i else ""}">{_e(t(k, lang))}</th>'
                       for i, k in enumerate(("fb_measure", "fb_start", "fb_end", "fb_change")))
        body = "".join(
            f'<tr><td style="{_TD}">{_e(label)}</td><td style="{_NUM}">{_e(s)}</td><td style="{_NUM}">{_e(e)}</td>'
            f'<td style="{_NUM}"><b>{_e(change)}</b></td></tr>' for label, s, e, change in rows)
        parts.append(_table(head, body))
    else:
        parts.append(f"<p>{_e(t('fb_no_results', lang))}</p>")

    if contract.programme != PROGRAMME:
        parts.append(_declared_indicators_html(course_indicators(contract, course_forms, statuses=statuses,
                                                                 settings=settings), lang))
        parts.append("</div>")
        return "".join(parts)
    criteria = course_criteria(contract, course_forms, statuses=statuses, settings=settings)
    if criteria:
        parts.append(f'<h3 style="margin:8px 0 4px 0">{_e(t("fb_indicators_title", lang))}</h3>')
        if all(state == "not_applicable" for state in criteria.values()):
            parts.append(f'<p style="color:{HELP_COLOUR}">{_e(t("fb_not_finished", lang))}</p>')
        else:
            head = "".join(f'<th style="{_TH}">{_e(t(k, lang))}</th>'
                           for k in ("fb_indicator", "fb_criterion", "fb_result"))
            body = []
            for ind in INDICATORS:
                state = criteria.get(ind.id, "not_applicable")
                criterion = ind.numerator_text.get(lang).format(limit=settings.completion_limit_days)
                mark = {"met": "\u2714 ", "not_met": "\u2716 ", "unknown": "? "}.get(state, "")
                body.append(
                    f'<tr data-indicator="{ind.id}" data-state="{state}"><td style="{_TD}"><b>{ind.id}</b> '
                    f'{_e(ind.name.get(lang))}</td><td style="{_TD}">{_e(criterion)}</td>'
                    f'<td style="{_TD};color:{_STATE_COLOURS[state]};font-weight:bold">{mark}'
                    f'{_e(t("crit." + state, lang))}</td></tr>')
            parts.append(_table(head, "".join(body)))
    parts.append("</div>")
    return "".join(parts)


def _declared_indicators_html(indicators: Sequence[CourseIndicator], lang: str) -> str:
    """Another programme's declared indicators for the course, in the shape of K1-K6's table: the
    indicator, its criterion, and the result with the reason when it is not met."""
    if not indicators:
        return ""
    out = [f'<h3 style="margin:8px 0 4px 0">{_e(t("fb_indicators_title", lang))}</h3>']
    if all(ind.state == "not_applicable" for ind in indicators):
        out.append(f'<p style="color:{HELP_COLOUR}">{_e(t("fb_no_indicators_yet", lang))}</p>')
    head = "".join(f'<th style="{_TH}">{_e(t(k, lang))}</th>' for k in ("fb_indicator", "fb_criterion", "fb_result"))
    body = []
    for ind in indicators:
        mark = {"met": "\u2714 ", "not_met": "\u2716 ", "unknown": "? "}.get(ind.state, "")
        reason = (f'<br><span class="hk-reason" style="color:{HELP_COLOUR};font-weight:normal">'
                  f'{_e(ind.reason.get(lang))}</span>' if ind.reason is not None else "")
        body.append(
            f'<tr data-indicator="{_e(ind.id)}" data-state="{ind.state}"><td style="{_TD}"><b>{_e(ind.id)}</b> '
            f'{_e(ind.name.get(lang))}</td><td style="{_TD}">{_e(ind.criterion.get(lang))}</td>'
            f'<td style="{_TD};color:{_STATE_COLOURS[ind.state]};font-weight:bold">{mark}'
            f'{_e(t("crit." + ind.state, lang))}{reason}</td></tr>')
    out.append(_table(head, "".join(body)))
    return "".join(out)


def citizen_feedback(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]], lang: str = "da", *,
                     statuses: Mapping[str, str] | None = None,
                     settings: IndicatorSettings | None = None) -> w.HTML:
    """The citizen's own results: start against end with the change (labels and units from the
    contract), and for each indicator (K1-K6, or another programme's declared ones) whether this
    course meets the criterion.

    ``course_forms``: form name -> cleaned data of the course (``course.data_of(name)``);
    ``statuses``: form name -> "draft"/"complete" (default: every given form complete; pass the
    real statuses, as :func:`course_feedback` does, so that a draft end does not count);
    ``settings``: the indicator settings (completion limit) from configuration.
    """
    return w.HTML(citizen_feedback_html(contract, course_forms, lang, statuses=statuses, settings=settings))


def course_feedback_html(contract: Contract, course: Any, lang: str = "da", *,
                         settings: IndicatorSettings | None = None) -> str:
    """:func:`citizen_feedback_html` for a ``hjertekom_core.service.Course`` (its latest revisions
    and their statuses)."""
    forms = {name: reg.data for name, reg in course.forms.items()}
    statuses = {name: reg.status for name, reg in course.forms.items()}
    return citizen_feedback_html(contract, forms, lang, statuses=statuses, settings=settings)


def course_feedback(contract: Contract, course: Any, lang: str = "da", *,
                    settings: IndicatorSettings | None = None) -> w.HTML:
    return w.HTML(course_feedback_html(contract, course, lang, settings=settings))


# --- the municipality's indicators ------------------------------------------------------------------

def _percent(value: Any, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return t("fb_no_value", lang)
    return format_percent(float(value), 1, lang)


def _count(value: Any) -> str:
    if isinstance(value, str):
        return value  # suppressed: "< 5", or withheld to protect another count: ".."
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(int(value))


def municipality_feedback_html(result: pd.DataFrame, lang: str = "da", *, completion_limit_days: int = 180,
                               own: Collection[int] | None = None, hierarchy: disclosure.Hierarchy | None = None,
                               threshold: int = 5, indicators: Sequence[Indicator] | None = None,
                               programme_name: str | None = None) -> str:
    """The HTML of :func:`municipality_feedback`.

    ``own``: the municipalities whose numbers the viewer may see exactly; any other unit in
    ``result`` is then shown as ``disclosure.protect`` shows it ("< 5", ".."), over the equations
    of ``hierarchy`` (needed for clusters and regions). None: every row is the viewer's own
    (``live.live_indicators`` for the user's municipality, as the entry app does).

    ``indicators``: the indicators the rows are of (names, texts, order; default HjerteKom's
    K1-K6); ``programme_name``: another programme's name for the title. The small-number rules
    are the same for every programme.
    """
    title = t("mf_title", lang) if programme_name is None else t("mf_title_programme", lang, programme=programme_name)
    indicators = INDICATORS if indicators is None else tuple(indicators)
    by_id = BY_ID if indicators is INDICATORS else {ind.id: ind for ind in indicators}
    parts = [_OPEN, f'<h2 style="margin:4px 0 8px 0">{_e(title)}</h2>']
    if result is not None and own is not None and not result.empty:
        mine = (result["level"] == "municipality") & result["unit"].astype(str).isin({str(c) for c in own})
        if not mine.all():
            result = disclosure.protect(result, hierarchy or disclosure.Hierarchy({}), own=own, threshold=threshold)
    if result is None or result.empty:
        parts.append(f"<p>{_e(t('mf_empty', lang))}</p></div>")
        return "".join(parts)
    order = {ind.id: i for i, ind in enumerate(indicators)}
    columns = ("mf_indicator", "mf_counts", "mf_unknown", "mf_proportion", "mf_ci", "mf_standard", "mf_status")
    head = "".join(f'<th style="{_TH}{";text-align:right" if 0 < i < 6 else ""}">{_e(t(k, lang))}</th>'
                   for i, k in enumerate(columns))
    # One pass over the rows as plain records (after every save: pandas masks per group cost more
    # than the counting itself), grouped by unit and period, in the order of unit name and period.
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for r in result.itertuples(index=False):
        groups.setdefault((str(r.unit_name), str(r.period), str(r.unit)), []).append(r)
    for (unit_name, period, _unit), rows in sorted(groups.items(), key=lambda kv: kv[0]):
        body = []
        for r in sorted(rows, key=lambda r: order.get(r.indicator, len(order))):
            ind = by_id.get(r.indicator)
            name = ind.name.get(lang) if ind else ""
            what = ind.describe(lang).replace("{limit}", str(completion_limit_days)) if ind else ""
            ci = (t("fb_no_value", lang) if pd.isna(r.ci_low) or pd.isna(r.ci_high) else
                  f"{format_number(100 * r.ci_low, 1, lang)}–{format_number(100 * r.ci_high, 1, lang)} %")
            standard = t("fb_no_value", lang) if pd.isna(r.standard) else f"≥ {_percent(r.standard, lang)}"
            label = STATUS_LABELS.get(r.status) or disclosure.STATUS_LABELS.get(r.status)
            status = label.get(lang) if label else str(r.status)
            colour = _STATE_COLOURS.get(r.status, HELP_COLOUR)
            body.append(
                f'<tr data-indicator="{_e(r.indicator)}" data-status="{_e(r.status)}">'
                f'<td style="{_TD}" title="{_e(what)}"><b>{_e(r.indicator)}</b> {_e(name)}</td>'
                f'<td style="{_NUM}">{_e(_count(r.numerator))} / {_e(_count(r.denominator))}</td>'
                f'<td style="{_NUM}">{_e(_count(r.unknown))}</td>'
                f'<td style="{_NUM}"><b>{_e(_percent(r.proportion, lang))}</b></td>'
                f'<td style="{_NUM}">{_e(ci)}</td><td style="{_NUM}">{_e(standard)}</td>'
                f'<td style="{_TD};color:{colour};font-weight:bold">{_e(status)}</td></tr>')
        parts.append(f'<h3 style="margin:8px 0 4px 0">{_e(unit_name)} – {_e(period)}</h3>')
        parts.append(_table(head, "".join(body)))
    parts.append("</div>")
    return "".join(parts)


def municipality_feedback(result: pd.DataFrame, lang: str = "da", *, completion_limit_days: int = 180) -> w.HTML:
    """A K1-K6 table per unit and period (indicator, numerator/denominator, unknown, proportion,
    confidence interval, standard, status in Danish from STATUS_LABELS) from a DataFrame as
    ``indicators.compute`` / ``live.live_indicators`` (optionally ``suppress``) return it."""
    return w.HTML(municipality_feedback_html(result, lang, completion_limit_days=completion_limit_days))
