"""``validate_form`` with its per-form plan (built once per contract and form) decides exactly what
the field-by-field version before it decided: the same cleaned data, scores, visibility, errors,
warnings and missing answers, for every form of every shipped programme and for payloads that mix
valid answers with every kind of wrong one (issue 17: a cheaper save must not change a result).

The reference below is the earlier ``validate_form`` and ``compute_derived``, kept verbatim in
substance on top of the module's unchanged helpers.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from typing import Any

import pytest

from hjertekom_core.branching import make_lookup, visible_fields, visible_fields_of
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.contract.model import NUMERIC_TYPES, UNKNOWN, Contract, Form, Ref
from hjertekom_core import scoring
from hjertekom_core.validation import (
    ValidationReport,
    _blank,
    _coerce,
    _Invalid,
    _limit_issues,
    _rule_issues,
    _unknown_field,
    compute_derived,
    make_issue,
    validate_form,
)

from factories import course_data, end_data, start_data
from paths import CONTRACTS_DIR

TODAY = dt.date(2026, 6, 30)


def reference_derived(form: Form, cleaned: Any, context: Any, contract: Contract) -> dict[str, Any]:
    lookup = make_lookup(form.name, cleaned, context)

    def value(ref: Ref) -> Any:
        found = lookup(ref)
        if isinstance(found, str) and found != UNKNOWN:
            target = contract.forms.get(ref.form or form.name)
            f = target.fields.get(ref.field) if target is not None else None
            if f is not None and f.type in NUMERIC_TYPES and f.missing_reason(found) is not None:
                return UNKNOWN
        return found

    out: dict[str, Any] = {}
    for f in form.fields.values():
        if f.derived is None:
            continue
        kwargs: dict[str, Any] = dict(f.derived.params)
        for name, ref in f.derived.inputs.items():
            kwargs[name] = [value(r) for r in ref] if isinstance(ref, tuple) else value(ref)
        try:
            score = scoring.derive(f.derived.function, **kwargs)
        except ValueError:
            score = None
        if score is not None:
            out[f.name] = score
    return out


def reference_validate(contract: Contract, form_name: str, data: Any, context: Any, complete: bool) -> ValidationReport:
    form = contract.form(form_name)
    report = ValidationReport(form_name)
    coerced: dict[str, Any] = {}
    errors_by_field: dict[str, Any] = {}
    warnings_by_field: dict[str, Any] = {}
    for key, value in data.items():
        f = form.fields.get(key) if isinstance(key, str) else None
        if f is None:
            report.errors.append(_unknown_field(contract, form, key, value))
            continue
        if f.is_derived or _blank(value):
            continue
        try:
            clean = _coerce(contract, f, value, TODAY)
        except _Invalid as bad:
            errors_by_field[key] = make_issue(
                contract, form, f, bad.code, "error", value, template=bad.template, **bad.extra
            )
            continue
        if clean == []:
            continue
        for severity, code, extra in _limit_issues(f, clean):
            issue = make_issue(contract, form, f, code, severity, clean, **extra)
            (errors_by_field if severity == "error" else warnings_by_field)[key] = issue
        if key not in errors_by_field:
            coerced[key] = clean
    report.visible = visible_fields(form, make_lookup(form_name, coerced, context))
    report.cleaned = {k: v for k, v in coerced.items() if report.visible.get(k, True)}
    report.errors += [e for k, e in errors_by_field.items() if report.visible.get(k, True)]
    report.warnings += [w for k, w in warnings_by_field.items() if report.visible.get(k, True)]
    for issue in _rule_issues(contract, form, report.cleaned, context):
        (report.errors if issue.severity == "error" else report.warnings).append(issue)
    report.cleaned.update(reference_derived(form, report.cleaned, context, contract))
    if complete:
        for f in form.input_fields():
            if (
                f.required
                and report.visible.get(f.name, True)
                and f.name not in report.cleaned
                and f.name not in errors_by_field
            ):
                report.missing.append(make_issue(contract, form, f, "required", "error", None))
    return report


JUNK: list[Any] = [
    None,
    "",
    " ",
    [],
    "UNK",
    "uoplyst",
    "NA",
    "DECL",
    "ja",
    True,
    False,
    0,
    1,
    2,
    3,
    4,
    5,
    -1,
    10**12,
    10**13,
    2.5,
    "2,5",
    "1.250",
    "1e3",
    " 7 ",
    float("nan"),
    "17-02-2025",
    "2025-02-30",
    "2099-01-01",
    "1899-12-31",
    "yes",
    "no",
    " yes ",  # a code with spaces around it: taken as the code
    "daily",
    "nurse",
    "nurse\t",
    "x" * 300,
    "\x00",
    ["yes", "no"],
    "a;b",
    {"k": 1},
    300,
    600,
    0.0,
    -0.0,
    88.44,
]


def _value_for(rng: random.Random, contract: Contract, form: Form, name: str) -> Any:
    f = form.fields[name]
    choice = rng.random()
    if f.codelist is not None and choice < 0.4:
        code = rng.choice(f.codelist.values)
        return [code] if f.type == "multi_choice" and rng.random() < 0.7 else code
    if f.type in NUMERIC_TYPES and choice < 0.7:
        limits = f.hard or f.soft
        lo = limits.min if limits and limits.min is not None else -5
        hi = limits.max if limits and limits.max is not None else 500
        number = rng.uniform(lo - 3, hi + 3)
        if f.type == "int" or rng.random() < 0.3:
            return int(number)
        return round(number, f.decimals if f.decimals is not None else 2)
    if f.missing_reasons and choice < 0.8:
        return rng.choice([c.code for c in f.missing_reasons])
    return rng.choice(JUNK)


def _payloads(contract: Contract, form: Form, base: dict[str, Any], n: int, seed: int) -> list[dict[Any, Any]]:
    rng = random.Random(seed)
    names = list(form.fields)
    out = []
    for i in range(n):
        data: dict[Any, Any] = dict(base) if i % 3 else {}
        for name in rng.sample(names, rng.randint(1, min(len(names), 1 + i % 25))):
            data[name] = _value_for(rng, contract, form, name)
        if rng.random() < 0.05:
            data["no_such_field"] = 1
        out.append(data)
    return out


def _same(a: ValidationReport, b: ValidationReport) -> None:
    assert repr(a.cleaned) == repr(b.cleaned)  # repr: 1 and 1.0 and True would compare equal
    assert a.visible == b.visible
    for kind in ("errors", "warnings", "missing"):
        assert [(i.field, i.code, i.severity, i.messages) for i in getattr(a, kind)] == [
            (i.field, i.code, i.severity, i.messages) for i in getattr(b, kind)
        ], kind


def _contracts() -> list[Contract]:
    registry = ContractRegistry(CONTRACTS_DIR)
    return [registry[name] for name in registry.programmes]


BASES = {"course": course_data(), "start": start_data(), "end": end_data()}


@pytest.mark.parametrize("contract", _contracts(), ids=lambda c: c.programme)
def test_planned_validation_decides_as_before(contract: Contract) -> None:
    context_of: dict[str, dict[str, Any]] = {}
    for form_name, form in contract.forms.items():
        base = BASES.get(form_name, {}) if contract.programme == "hjertekom" else {}
        context = dict(context_of)
        for data in _payloads(contract, form, base, 400, zlib.crc32(form_name.encode()) % 1000):
            for complete in (False, True):
                got = validate_form(contract, form_name, data, context=context, complete=complete, today=TODAY)
                _same(got, reference_validate(contract, form_name, data, context, complete))
                assert repr(compute_derived(form, got.cleaned, context, contract)) == repr(
                    reference_derived(form, got.cleaned, context, contract)
                )
                assert visible_fields_of(form, data, context) == visible_fields(
                    form, make_lookup(form_name, data, context)
                )
        context_of[form_name] = validate_form(contract, form_name, base, context=context, today=TODAY).cleaned


def test_plan_follows_a_new_contract_object() -> None:
    """A contract loaded again (another object) gets a plan of its own, never another's."""
    one, two = ContractRegistry(CONTRACTS_DIR)["hjertekom"], ContractRegistry(CONTRACTS_DIR)["hjertekom"]
    for contract in (one, two, one):
        report = validate_form(contract, "start", start_data(), complete=True, today=TODAY)
        assert report.ok and report.cleaned["bmi"] == 27.9


def test_derivations_fetch_each_list_of_items_once() -> None:
    """The HADS subscales share one fetch of their 14 items (the same values:
    test_planned_validation_decides_as_before)."""
    from hjertekom_core.validation import _plan

    contract = ContractRegistry(CONTRACTS_DIR)["hjertekom"]
    plan = _plan(contract, contract.form("start"))
    index = {name: inputs[0][1] for name, _, _, inputs in plan.derivations}
    assert index["hads_anxiety"] == index["hads_depression"]
    assert len(set(index.values())) == len(index) - 1   # the other derivations' inputs are their own


@pytest.mark.parametrize(
    "wrong",
    [{}, {"heartqol_03": 7}, {"heartqol_12": -1}, {"hads_04": 4}, {"hads_04": "x"}, {"heartqol_01": 1.0, "hads_02": 2.0},
     {"heartqol_11": None, "heartqol_12": "UNK", "heartqol_13": None}, {"hads_01": None, "hads_03": "UNK"}],
    ids=repr,
)
def test_a_wrong_item_costs_only_the_scales_that_hold_it(wrong: dict[str, Any]) -> None:
    """Scales sharing their items' fetch still score alone: a wrong item in HeartQoL's global list
    leaves the scale that lacks it its score, as before."""
    contract = ContractRegistry(CONTRACTS_DIR)["hjertekom"]
    form = contract.form("start")
    cleaned = {**validate_form(contract, "start", start_data(), today=TODAY).cleaned, **wrong}
    got = compute_derived(form, cleaned, {}, contract)
    assert repr(got) == repr(reference_derived(form, cleaned, {}, contract))
    if wrong == {"heartqol_03": 7}:
        assert "heartqol_global" not in got and "heartqol_emotional" in got


@pytest.mark.parametrize(
    "quiet", [None, (0, 10), (0.5, 9.5), (-math.inf, 3.2), (2.0, math.inf), (5, 4), (-(10**13), 10**13), (1e11 + 0.5, 1e11 + 2)]
)
def test_an_int_is_taken_as_it_is_within_the_quiet_range(quiet: Any) -> None:
    """``_taken_ints`` of a whole-number field without codes: the ints lo <= v <= hi of its quiet range,
    within the magnitude limit (the range the loop of validate_form looked in before)."""
    from hjertekom_core.validation import MAX_MAGNITUDE, _Entry, _taken_ints

    contract = ContractRegistry(CONTRACTS_DIR)["hjertekom"]
    f = contract.form("start").fields["bp_systolic"]
    taken = _taken_ints(_Entry(f, False, None, None, quiet))
    lo, hi = quiet if quiet is not None else (-math.inf, math.inf)
    lo, hi = max(lo, -MAX_MAGNITUDE + 1), min(hi, MAX_MAGNITUDE - 1)
    probes = [-(10**12), -(10**12) + 1, -1, 0, 1, 2, 3, 4, 5, 9, 10, 11, 10**11, 10**11 + 1, 10**11 + 2, 10**11 + 3,
              10**12 - 1, 10**12]
    assert [v for v in probes if v in taken] == [v for v in probes if lo <= v <= hi]


def test_a_questionnaires_items_share_one_visibility_step() -> None:
    """The 14 HADS items after their status are one step of the visibility plan, hidden and shown
    together as each alone was (test_planned_validation_decides_as_before compares every form)."""
    from hjertekom_core.branching import _visibility_plan

    contract = ContractRegistry(CONTRACTS_DIR)["hjertekom"]
    form = contract.form("start")
    _, steps, _ = _visibility_plan(form)
    assert (tuple(f"hads_{i:02d}" for i in range(1, 15)), ("hads_status",)) in [s[:2] for s in steps]
    for status in ("completed", "declined", None):
        data = dict(start_data(), hads_status=status)
        shown = visible_fields_of(form, data, {})
        assert shown == visible_fields(form, make_lookup("start", data, {}))
        assert shown["hads_07"] is (status == "completed")
