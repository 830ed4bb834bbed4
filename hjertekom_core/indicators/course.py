"""K1-K6 for ONE course: which criteria this citizen meets, from the same definitions.

The course is laid out as a snapshot in an in-memory DuckDB (``snapshot.writer.build_tables``) and
counted by ``engine.compute``, so no indicator logic is repeated for the single-course view the
entry app shows after saving.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from hjertekom_core import duck
from hjertekom_core.contract import Contract
from hjertekom_core.indicators.definitions import INDICATORS
from hjertekom_core.indicators.engine import IndicatorSettings, compute
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.service import dump_data
from hjertekom_core.snapshot.writer import build_tables


class _OneProgramme:
    """Just enough of a ContractRegistry for build_tables: one programme."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self.codelists = contract.codelists

    def __iter__(self) -> Iterator[Contract]:
        return iter((self._contract,))

    def __getitem__(self, programme: str) -> Contract:
        if programme != self._contract.programme:
            raise KeyError(programme)
        return self._contract


def _frames(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]],
            statuses: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """One course in the data-frame shape of ``snapshot.writer.read_store``."""
    course_form = contract.form(contract.course_form)
    municipality = course_forms.get(contract.course_form, {}).get(contract.municipality_field)
    municipality = municipality if isinstance(municipality, int) else 0
    codelist = course_form.fields[contract.municipality_field].codelist
    code = codelist.get(municipality) if codelist is not None else None
    attrs = code.attributes if code is not None else {}
    region_code = attrs.get("region_code")
    now = pd.Timestamp(dt.datetime.now())
    return {
        "municipalities": pd.DataFrame({
            "code": [municipality], "name": [code.label.da if code is not None else ""],
            "region_code": [int(region_code) if str(region_code or "").isdigit() else 0],
            "region": [str(attrs.get("region", ""))]}),
        "citizens": pd.DataFrame({"id": [1], "cpr": [""], "name": [""], "birth_date": pd.Series([pd.NaT]),
                                  "sex": [""], "municipality_code": [municipality]}),
        "courses": pd.DataFrame({"id": [1], "citizen_id": [1], "programme": [contract.programme],
                                 "municipality_code": [municipality], "created_at": [now]}),
        "registrations": pd.DataFrame({
            "course_id": [1] * len(course_forms), "programme": [contract.programme] * len(course_forms),
            "form": list(course_forms), "revision": [1] * len(course_forms),
            "status": [statuses.get(name, "complete") for name in course_forms],
            "contract_version": [contract.version] * len(course_forms),
            "saved_at": pd.Series([now] * len(course_forms), dtype="datetime64[ns]"),
            "data": [dump_data(data) for data in course_forms.values()]}),
    }


def course_criteria(contract: Contract, course_forms: Mapping[str, Mapping[str, Any]], *,
                    statuses: Mapping[str, str] | None = None,
                    settings: IndicatorSettings | None = None,
                    reference: dt.date | None = None) -> dict[str, str]:
    """Indicator id -> "met", "not_met", "unknown" (cannot be determined; counts as not met) or
    "not_applicable" (the course is not in the indicator's denominator) for ONE course.

    ``course_forms`` maps form name -> cleaned data (``course.data_of(form)``); ``statuses`` form
    name -> "draft"/"complete" (default: every given form complete). Only the hjertekom programme
    has K1-K6; for another programme the result is empty.

    The core's definitions decide: the course is laid out as a snapshot in an in-memory DuckDB and
    ``indicators.compute`` counts it (numerator/denominator/unknown of 0 or 1). ``reference``: the
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
    with duck.connect() as con:
        build_tables(con, _frames(contract, forms, statuses or {}), _OneProgramme(contract),  # type: ignore[arg-type]
                     pseudonymised=False, key=None)
        counts = compute(con, settings, levels=("national",), reference=reference)
    for row in counts.itertuples(index=False):
        if row.denominator:
            result[row.indicator] = "met" if row.numerator else "unknown" if row.unknown else "not_met"
    return result
