"""show-if branching: is a field shown, given what has been entered so far?

Used by validation (a hidden field is neither required nor kept) and by the entry forms (which
show and hide widgets live), so both always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hjertekom_core.contract.model import Condition, Field, Form, Ref
from hjertekom_core.plan_cache import PlanCache

#: Looks up a field's current value; returns None when not answered.
Lookup = Callable[[Ref], Any]


def make_lookup(form: str, data: Mapping[str, Any], context: Mapping[str, Mapping[str, Any]] | None = None) -> Lookup:
    """Values of ``form`` come from ``data``; refs to other forms come from ``context`` (form -> data)."""
    context = context or {}

    def lookup(ref: Ref) -> Any:
        source = data if ref.form in (None, form) else context.get(ref.form, {})
        return source.get(ref.field)

    return lookup


def _answered(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _selected(value: Any) -> tuple[Any, ...]:
    """A multi-choice answer is a list; a single answer is a one-element tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) if _answered(value) else ()


def _equals(cond: Condition, value: Any) -> bool:
    return cond.value in _selected(value)


def _in(cond: Condition, value: Any) -> bool:
    return any(v in cond.value for v in _selected(value))


def _not_in(cond: Condition, value: Any) -> bool:
    # Unanswered is not "not in": the question that depends on it waits for an answer.
    chosen = _selected(value)
    return bool(chosen) and not any(v in cond.value for v in chosen)


def _is_true(cond: Condition, value: Any) -> bool:
    # Only a yes or a no decides: a missing reason (UNK, NA, DECL) is neither.
    return (value is True) == bool(cond.value) if isinstance(value, bool) else False


def _answered_op(cond: Condition, value: Any) -> bool:
    return _answered(value) == bool(cond.value)


_LEAF_TESTS: dict[str, Callable[[Condition, Any], bool]] = {
    "equals": _equals,
    "in": _in,
    "not_in": _not_in,
    "is_true": _is_true,
    "answered": _answered_op,
}


def holds(cond: Condition, lookup: Lookup) -> bool:
    if cond.op == "all":
        return all(holds(c, lookup) for c in cond.children)
    if cond.op == "any":
        return any(holds(c, lookup) for c in cond.children)
    assert cond.ref is not None
    return _LEAF_TESTS[cond.op](cond, lookup(cond.ref))


def visible_fields(form: Form, lookup: Lookup) -> dict[str, bool]:
    """Field name -> shown. A field is hidden when its condition fails or any field it depends on
    (in this form) is hidden, so a chain of questions collapses together.

    The rules as written, one field after the other: the reference that ``visible_fields_of``
    (what the store, the reports and the demo use) is tested against (test_validation_plan.py)."""
    shown: dict[str, bool] = {}
    for f in form.fields.values():
        shown[f.name] = _is_shown(f, form, lookup, shown)
    return shown


def _is_shown(f: Field, form: Form, lookup: Lookup, shown: Mapping[str, bool]) -> bool:
    if f.show_if is None:
        return True
    for ref in f.show_if.refs():
        if ref.form in (None, form.name) and not shown.get(ref.field, True):
            return False
    return holds(f.show_if, lookup)


# --- the same, compiled once per form -----------------------------------------------------------
# What a save validates at every call: each field's show-if as a closure over the form's data and
# the course's other forms, and the fields of this form it depends on. Forms are immutable, so
# this is built once per form object; the result is exactly ``visible_fields(form, make_lookup(
# form.name, data, context))`` (tests/test_validation_plan.py compares the two).

Test = Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]]], bool]
_EMPTY: Mapping[str, Any] = {}


def _compile(cond: Condition, form: str) -> Test:
    if cond.op == "all":
        parts = tuple(_compile(c, form) for c in cond.children)
        return lambda data, context: all(p(data, context) for p in parts)
    if cond.op == "any":
        parts = tuple(_compile(c, form) for c in cond.children)
        return lambda data, context: any(p(data, context) for p in parts)
    leaf = _LEAF_TESTS.get(cond.op)
    ref = cond.ref
    if leaf is None or ref is None:  # what ``holds`` would fail on, it fails on at the same moment
        return lambda data, context: holds(cond, make_lookup(form, data, context))
    name = ref.field
    if ref.form in (None, form):
        if leaf is _equals and not isinstance(cond.value, (list, tuple)):
            # _equals inlined: ``cond.value in _selected(value)``, the same comparisons in the same order
            wanted = cond.value

            def equals(data: Mapping[str, Any], context: Mapping[str, Mapping[str, Any]]) -> bool:
                value = data.get(name)
                if isinstance(value, (list, tuple)):
                    return wanted in tuple(value)
                return _answered(value) and (value is wanted or value == wanted)

            return equals
        return lambda data, context: leaf(cond, data.get(name))
    other = ref.form
    return lambda data, context: leaf(cond, context.get(other, _EMPTY).get(name))


#: Every field of a form shown (in form order); the fields with a show-if in order as (names, the
#: fields of this form it names, the index of its test), a run of fields in a row that ask the same
#: show-if of the same fields (a questionnaire's items after its status) as one; the distinct tests.
_Plan = tuple[dict[str, bool], tuple[tuple[tuple[str, ...], tuple[str, ...], int], ...], tuple[Test, ...]]
_PLANS: PlanCache[_Plan] = PlanCache()


def _visibility_plan(form: Form) -> _Plan:
    return _PLANS.get((form,), lambda: _make_visibility_plan(form))


def _make_visibility_plan(form: Form) -> _Plan:
    # Fields asking the same show-if (the items of a questionnaire after its status) share one test:
    # a test only reads the data, so it is run once per call, when the first of them needs it.
    index: dict[Any, int] = {}
    tests: list[Test] = []
    fields = []
    for f in form.fields.values():
        if f.show_if is None:
            continue
        try:
            key: Any = f.show_if
            hash(key)
        except TypeError:  # a value the contract gave as a list: not shared
            key = object()
        if key not in index:
            index[key] = len(tests)
            tests.append(_compile(f.show_if, form.name))
        # (a name that is no field of the form is never hidden: left out)
        deps = tuple(r.field for r in f.show_if.refs() if r.form in (None, form.name) and r.field in form.fields)
        if fields and fields[-1][1:] == (deps, index[key]) and not {*fields[-1][0], f.name} & set(deps):
            # the field after one that asks the same of the same fields, none of them among those:
            # shown exactly when that one is (what it reads is decided by then, and the same)
            fields[-1] = ((*fields[-1][0], f.name), deps, index[key])
        else:
            fields.append(((f.name,), deps, index[key]))
    return dict.fromkeys(form.fields, True), tuple(fields), tuple(tests)


_UNSET: Any = object()


def visible_fields_of(
    form: Form, data: Mapping[str, Any], context: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, bool]:
    """``visible_fields(form, make_lookup(form.name, data, context))``, from the form's compiled plan."""
    context = context or {}
    every, fields, tests = _visibility_plan(form)
    results = [_UNSET] * len(tests)
    # Every field shown, in form order, then the show-ifs in form order. A show-if naming a field
    # further down finds it shown, as ``visible_fields`` finds it (not yet decided: shown).
    shown = dict(every)
    for names, deps, test in fields:
        for dep in deps:
            if not shown[dep]:
                result = False
                break
        else:
            result = results[test]
            if result is _UNSET:
                result = results[test] = tests[test](data, context)
        if result is not True:  # True: shown, as every field is to begin with
            for name in names:
                shown[name] = result
    return shown
