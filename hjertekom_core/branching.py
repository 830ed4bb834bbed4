"""show-if branching: is a field shown, given what has been entered so far?

Used by validation (a hidden field is neither required nor kept) and by the entry forms (which
show and hide widgets live), so both always agree.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hjertekom_core.contract.model import Condition, Field, Form, Ref

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
    (in this form) is hidden, so a chain of questions collapses together."""
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
