"""``scoring.ITEM_SCORES`` says how each scale derivation scores a list of items, so that the
validation checks the items of several scales once (the HADS subscales; HeartQoL's three scales).
Here every described derivation is compared with what its description computes, on any list."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hjertekom_core.scoring import DERIVATIONS, ITEM_SCORES, _items

item = st.one_of(
    st.integers(-1, 4),
    st.integers(0, 3),
    st.none(),
    st.just("UNK"),
    st.just("NA"),
    st.just(math.nan),
    st.booleans(),
    st.sampled_from([1.0, 2.5, 3.0, -0.0]),
)
params = st.one_of(st.just({}), st.builds(lambda x: {"min_answered_fraction": x}, st.sampled_from([0, 0.25, 0.5, 1, 1.5])))


def outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("score", repr(fn(*args, **kwargs)))
    except (ValueError, TypeError) as exc:
        return type(exc).__name__


def described(name: str, values: list[Any], **extra: Any) -> Any:
    how = ITEM_SCORES[name]
    if len(values) != how.count:
        return "ValueError"
    try:
        checked = _items(values, how.lo, how.hi, "item")
    except ValueError:
        return "ValueError"
    return outcome(how.score, checked, **extra)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(sorted(ITEM_SCORES)), st.integers(0, 3), st.data())
def test_each_described_derivation_computes_what_its_description_says(name: str, off: int, data: Any) -> None:
    count = ITEM_SCORES[name].count
    size = count if off else data.draw(st.integers(0, count + 2))
    values = data.draw(st.lists(item, min_size=size, max_size=size))
    extra = data.draw(params) if name.startswith("heartqol") else {}
    assert outcome(DERIVATIONS[name], items=values, **extra) == described(name, values, **extra)
