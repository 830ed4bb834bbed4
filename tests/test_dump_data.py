"""``service.dump_data`` writes orjson's text only where it is byte for byte the standard library's
``json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``, the one form of
registration data in the store; anything else (floats Python writes with an exponent, NaN, ints
beyond 64 bits, lone surrogates, subclasses, non-str keys, nested mappings) goes to the standard
library. Compared here on generated registration-like data and on the known differences."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hjertekom_core import service
from hjertekom_core.service import dump_data


def stdlib(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def expected(data: Any) -> str | type[BaseException]:
    try:
        return stdlib(data)
    except (TypeError, ValueError) as exc:
        return type(exc)


def got(data: Any) -> str | type[BaseException]:
    try:
        return dump_data(data)
    except (TypeError, ValueError) as exc:
        return type(exc)


texts = st.text()  # any code point, lone surrogates and control characters included
codes = st.one_of(st.text(max_size=12), st.integers(-(10**4), 10**4))
numbers = st.one_of(
    st.integers(-(10**12), 10**12),
    st.integers(),  # beyond 64 bits too
    st.floats(),  # NaN, infinities, subnormals, 1e-05, 1e+16 ...
    st.floats(min_value=-(10**12), max_value=10**12).map(lambda x: round(x, 2)),
    st.decimals(places=2, min_value=-(10**6), max_value=10**6, allow_nan=False).map(float),
)
values = st.one_of(
    st.none(),
    st.booleans(),
    texts,
    numbers,
    st.lists(codes, max_size=5),
    st.lists(st.one_of(st.none(), st.booleans(), numbers, st.lists(codes, max_size=2)), max_size=4),
)
keys = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), texts)
registrations = st.dictionaries(keys, values, max_size=40)


@settings(max_examples=1000, deadline=None)
@given(registrations)
def test_the_same_text_as_the_standard_library(data: dict[str, Any]) -> None:
    assert got(data) == expected(data)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.integers(-5, 5), st.booleans(), st.none(), st.floats()), values, max_size=4))
def test_keys_that_are_not_str(data: dict[Any, Any]) -> None:
    assert got(data) == expected(data)


class Level(enum.IntEnum):
    ONE = 1


class Code(str, enum.Enum):
    DAILY = "daily"


class Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        1e-05, -1e-05, 0.00009999999999999999, 1e-4, 1e16, 1e+22, 9999999999999998.0, 0.0, -0.0,
        math.nan, math.inf, -math.inf, 2**63, 2**64, -(2**63) - 1, 10**30,
        "\ud800", "a\udfffb", "\x00\x1f\x7f\u2028\u2029\"\\/é😀\t\n\r\b\f",
        Level.ONE, Code.DAILY, Text("x"), [Level.ONE], [1.5], [[1]], {"a": 1}, (1, 2),
    ],
    ids=repr,
)
def test_the_known_differences(value: Any) -> None:
    data = {"b": value, "a": 1}
    assert got(data) == expected(data)


def test_a_full_start_registration_is_written_by_orjson() -> None:
    """The fast path is the usual one (else nothing was gained)."""
    data = {"meeting_date": "2025-02-17", "weight_kg": 88.4, "bmi": 27.9, "eq5d_index": -0.074, "hads_01": 2,
            "smoking": "daily", "diagnosis_groups": ["pci", "cabg"], "note": "ærø", "ok": True}
    assert service._plain(data)
    assert dump_data(data) == stdlib(data)


def test_mappings_other_than_dict() -> None:
    class Data(dict):  # type: ignore[type-arg]
        pass

    assert dump_data(Data(b=1e-05, a="x")) == stdlib(Data(b=1e-05, a="x"))
    # a save's own form's stored data, decoded on first use, written again as it was stored
    assert dump_data(service._StoredData('{"b":1,"a":[2,"æ"]}')) == '{"a":[2,"æ"],"b":1}'
