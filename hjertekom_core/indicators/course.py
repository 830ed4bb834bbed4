"""K1-K6 for ONE course: which criteria this citizen meets, from the same definitions.

The course is evaluated by ``indicators.evaluate.course_counts``: the same declarations
(``indicators.yaml``) that ``engine.compute`` runs as SQL over a snapshot, interpreted in Python
for one course (a DuckDB layout of one course cost about 170 ms per save; this costs about a
millisecond). tests/test_indicator_evaluator.py proves both give every course the same counts, so
no indicator logic is repeated for the single-course view the entry app shows after saving.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hjertekom_core.contract import Contract
from hjertekom_core.indicators.counting import DANISH_TIME, declarations_of
from hjertekom_core.indicators.definitions import INDICATORS
from hjertekom_core.indicators.engine import IndicatorSettings
from hjertekom_core.indicators.evaluate import course_counts
from hjertekom_core.indicators.facts import PROGRAMME


def course_criteria(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]], *,
                    statuses: Mapping[str, str] | None = None,
                    settings: IndicatorSettings | None = None,
                    reference: dt.date | None = None) -> dict[str, str]:
    """Indicator id -> "met", "not_met", "unknown" (cannot be determined; counts as not met) or
    "not_applicable" (the course is not in the indicator's denominator) for ONE course.

    ``course_forms`` maps form name -> cleaned data (``course.data_of(form)``); ``statuses`` form
    name -> "draft"/"complete" (default: every given form complete). Only the hjertekom programme
    has K1-K6; for another programme the result is empty.

    The core's declarations decide: ``evaluate.course_counts`` counts the course as
    ``indicators.compute`` would (numerator/denominator/unknown of 0 or 1). ``reference``: the
    date to judge it on (default today in Denmark): a course that started and has not ended is in
    K1 (not met) once ``completion_limit_days`` have passed since its start meeting.
    """
    if contract.programme != PROGRAMME:
        return {}
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
