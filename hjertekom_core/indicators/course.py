"""The indicators for ONE course: which criteria this citizen meets, from the same definitions.

``course_criteria`` gives HjerteKom's K1-K6 states (and any other programme's declared
indicators' states); ``course_indicators`` gives, for any programme that declares indicators
(``<programme>/indicators.yaml`` beside its contract), each indicator with its name, its criterion,
the course's state and, when it is not met, a short reason composed from the label of the declared
condition that decided it (``evaluate.course_decisive``). Nothing here names an indicator.

The course is evaluated by ``indicators.evaluate.course_counts``: the same declarations
(``indicators.yaml``) that ``engine.compute`` runs as SQL over a snapshot, interpreted in Python
for one course (a DuckDB layout of one course cost about 170 ms per save; this costs about a
millisecond). tests/test_indicator_evaluator.py proves both give every course the same counts, so
no indicator logic is repeated for the single-course view the entry app shows after saving.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hjertekom_core.contract import Contract, Text
from hjertekom_core.indicators.counting import DANISH_TIME, declarations_of
from hjertekom_core.indicators.declarations import DECLARATIONS_FILE, Declarations, load
from hjertekom_core.indicators.definitions import INDICATORS, condition_text, fill, indicators_of
from hjertekom_core.indicators.engine import IndicatorSettings
from hjertekom_core.indicators.evaluate import Decisive, course_counts, course_decisive
from hjertekom_core.indicators.facts import PROGRAMME


def course_criteria(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]], *,
                    statuses: Mapping[str, str] | None = None,
                    settings: IndicatorSettings | None = None,
                    reference: dt.date | None = None) -> dict[str, str]:
    """Indicator id -> "met", "not_met", "unknown" (cannot be determined; counts as not met) or
    "not_applicable" (the course is not in the indicator's denominator) for ONE course.

    ``course_forms`` maps form name -> cleaned data (``course.data_of(form)``); ``statuses`` form
    name -> "draft"/"complete" (default: every given form complete). For hjertekom: K1-K6; for
    another programme its declared indicators (``course_indicators``), empty when it declares none.

    The core's declarations decide: ``evaluate.course_counts`` counts the course as
    ``indicators.compute`` would (numerator/denominator/unknown of 0 or 1). ``reference``: the
    date to judge it on (default today in Denmark): a course that started and has not ended is in
    K1 (not met) once ``completion_limit_days`` have passed since its start meeting.
    """
    if contract.programme != PROGRAMME:
        return {ind.id: ind.state for ind in course_indicators(contract, course_forms, statuses=statuses,
                                                               settings=settings, reference=reference)}
    settings = settings or IndicatorSettings()
    forms = {name: data for name, data in course_forms.items() if name in contract.forms}
    result = {ind.id: "not_applicable" for ind in INDICATORS}
    if not forms:
        return result
    counts = course_counts(declarations_of(settings), forms, statuses or {}, settings,
                           reference or dt.datetime.now(DANISH_TIME).date(), contract=contract)
    for count in counts:
        if count.denominator:
            result[count.indicator] = "met" if count.numerator else "unknown" if count.unknown else "not_met"
    return result


# --- any programme: the declared indicators of one course, with the reason --------------------------

_LOADED: dict[tuple[str, int, str], Declarations] = {}
_LOADED_LOCK = threading.Lock()


def programme_declarations(contract: Contract) -> Declarations | None:
    """The indicators declared beside ``contract`` (``<programme>/indicators.yaml``, checked
    against it), or None when the programme declares none."""
    path = Path(contract.source).parent / DECLARATIONS_FILE
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    key = (str(path), mtime, contract.version)
    with _LOADED_LOCK:
        found = _LOADED.get(key)
    if found is None:
        found = load(path, contract)
        with _LOADED_LOCK:
            _LOADED[key] = found
    return found


@dataclass(frozen=True)
class CourseIndicator:
    """One declared indicator for one course, as the entry app's feedback shows it.

    ``state``: "met", "not_met", "unknown" (cannot be determined; counts as not met) or
    "not_applicable" (not in the denominator); ``criterion``: the numerator's text (the declared
    labels); ``reason``: why, when the state is not "met" (None when met)."""

    id: str
    name: Text
    criterion: Text
    state: str
    reason: Text | None


#: The reason's frame per where the course stopped and whether the deciding condition was false
#: or unknown; ``{what}`` is the condition's label (its fact's label when it has none).
REASONS: dict[tuple[str, bool | None], Text] = {
    ("population", False): Text("Ikke med i nævneren – ikke opfyldt: {what}",
                                "Not in the denominator – not true: {what}"),
    ("population", None): Text("Ikke med i nævneren – ukendt: {what}", "Not in the denominator – unknown: {what}"),
    ("denominator", False): Text("Ikke med i nævneren – ikke opfyldt: {what}",
                                 "Not in the denominator – not true: {what}"),
    ("denominator", None): Text("Udeladt af nævneren – ukendt: {what}", "Left out of the denominator – unknown: {what}"),
    ("period", None): Text("Ikke med i nævneren – ukendt: {what}", "Not in the denominator – unknown: {what}"),
    ("impossible", None): Text("Umulige data: {what}", "Impossible data: {what}"),
    ("determinable", None): Text("Kan ikke afgøres: {what}", "Cannot be determined: {what}"),
    ("numerator", False): Text("Ikke opfyldt: {what}", "Not met: {what}"),
    ("numerator", None): Text("Kan ikke afgøres – ukendt: {what}", "Cannot be determined – unknown: {what}"),
}


def _what(decl: Declarations, decisive: Decisive, lang: str) -> str:
    cond = decisive.condition
    if decisive.rule is not None:
        return next(r.label.get(lang) for r in decl.impossible if r.name == decisive.rule)
    if decisive.fact is not None:
        return decl.facts[decisive.fact].label.get(lang)
    if cond is None:
        return ""
    text = condition_text(cond, lang)
    if not text and cond.fact is not None and cond.fact in decl.facts:
        text = decl.facts[cond.fact].label.get(lang)
    return text


def _reason(decl: Declarations, decisive: Decisive, settings: IndicatorSettings) -> Text | None:
    frame = REASONS.get((decisive.stage, None if decisive.stage in ("period", "impossible", "determinable")
                         else decisive.value))
    if frame is None:
        return None
    return Text(*(fill(frame.get(lang).replace("{what}", _what(decl, decisive, lang)), settings)
                  for lang in ("da", "en")))


def course_indicators(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]], *,
                      statuses: Mapping[str, str] | None = None,
                      settings: IndicatorSettings | None = None,
                      reference: dt.date | None = None,
                      declarations: Declarations | None = None) -> tuple[CourseIndicator, ...]:
    """Every indicator ``contract``'s programme declares, for ONE course, in the declarations' order
    (empty when it declares none). Arguments as ``course_criteria``; ``declarations``: default the
    settings' when they are this programme's, else the file beside the contract.

    The state is the count ``evaluate.course_counts`` gives the course (the same as the live
    counts and ``compute``); the reason names the declared condition that decided it: the first
    one not true in the population, the denominator (or its period date unknown), the conditions
    under which it can be determined, or the numerator.
    """
    settings = settings or IndicatorSettings()
    decl = declarations
    if decl is None:
        own = settings.declarations
        decl = own if own is not None and own.programme == contract.programme else programme_declarations(contract)
    if decl is None or not decl.indicators:
        return ()
    forms = {name: data for name, data in course_forms.items() if name in contract.forms}
    reference = reference or dt.datetime.now(DANISH_TIME).date()
    counts = {c.indicator: c for c in course_counts(decl, forms, statuses or {}, settings, reference,
                                                    contract=contract)}
    decisive = course_decisive(decl, forms, statuses or {}, settings, reference, contract=contract)
    out = []
    for ind in indicators_of(decl):
        count = counts[ind.id]
        state = ("not_applicable" if not count.denominator else "met" if count.numerator
                 else "unknown" if count.unknown else "not_met")
        criterion = Text(*(fill(ind.numerator_text.get(lang), settings) for lang in ("da", "en")))
        reason = None if state == "met" else _reason(decl, decisive[ind.id], settings)
        out.append(CourseIndicator(ind.id, ind.name, criterion, state, reason))
    return tuple(out)
