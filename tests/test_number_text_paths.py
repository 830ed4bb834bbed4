"""The usual number text ("88,4", "142") takes a shorter path through the validation (one match,
and a decimal field's float straight from the text, without a Decimal). It must decide exactly
what the general path decided: the same value, the same refusal, for any text. The reference is
the earlier ``_number_text`` and ``_to_decimal``, kept verbatim in substance."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hjertekom_core.contract.model import Field, Text
from hjertekom_core.validation import (
    _EXPONENT,
    _GROUPED,
    _NUMBER,
    MAX_MAGNITUDE,
    MAX_NUMBER_LENGTH,
    _check_decimals,
    _Invalid,
    _not_number,
    _number_text,
    _to_decimal,
    _to_int,
    parse_date,
)


def reference_number_text(value: str, f: Field) -> Decimal:
    text = value.strip()
    bad = _not_number(f)
    if len(text) > MAX_NUMBER_LENGTH:
        raise _Invalid(bad)
    if any(ch.isspace() for ch in text):
        raise _Invalid("number_space")
    if _EXPONENT.fullmatch(text):
        raise _Invalid("number_exponent")
    m = _NUMBER.fullmatch(text)
    if m is None:
        if _GROUPED.fullmatch(text):
            raise _Invalid("number_grouped")
        raise _Invalid(bad)
    sign, whole, mark, fraction = m.groups()
    if not whole and not fraction:
        raise _Invalid(bad)
    allowed = 0 if f.type == "int" else f.decimals
    if (
        mark
        and len(fraction) == 3
        and 1 <= len(whole) <= 3
        and not whole.startswith("0")
        and (allowed is None or allowed < 3)
    ):
        grouped = Decimal(whole + fraction)
        decimal = Decimal(f"{whole}.{fraction}")
        raise _Invalid("number_ambiguous", as_thousands=int(grouped), as_decimal=float(decimal))
    if mark and f.type == "int":
        raise _Invalid("int_decimals")
    negative = sign in ("-", "\u2212")
    number = Decimal(f"{'-' if negative else ''}{whole or '0'}.{fraction or '0'}")
    _check_decimals(len((fraction or "").rstrip("0")), f)
    return number


def reference_to_decimal(value: str, f: Field) -> float:
    number = reference_number_text(value, f)
    if abs(number) >= MAX_MAGNITUDE:
        raise _Invalid("number_too_large")
    return float(number) + 0.0


def outcome(fn: Any, *args: Any) -> Any:
    try:
        got = fn(*args)
    except _Invalid as bad:
        return ("invalid", bad.code, bad.template, bad.extra)
    return (type(got).__name__, repr(got))  # repr: -0.0 and 0.0, 1 and 1.0 differ


FIELDS = [
    Field("x", "decimal", Text("X", "X"), "start", "m", decimals=decimals) for decimals in (None, 0, 1, 2, 3, 5)
] + [Field("n", "int", Text("N", "N"), "start", "m")]

digits = st.text(alphabet="0123456789", max_size=16)
number_like = st.one_of(
    st.builds(
        lambda sign, whole, mark, fraction, pad: pad + sign + whole + mark + fraction + pad,
        st.sampled_from(["", "", "-", "+", "\u2212"]),
        digits,
        st.sampled_from(["", ",", ".", ",", "."]),
        digits,
        st.sampled_from(["", "", " ", "\t"]),
    ),
    st.text(alphabet="0123456789.,-+eE \u2212\u0663", max_size=34),  # \u0663: a non-ASCII digit
    st.text(max_size=12),
)


@settings(max_examples=3000, deadline=None)
@given(number_like, st.sampled_from(FIELDS))
def test_the_same_number_or_refusal_as_before(text: str, f: Field) -> None:
    assert outcome(_number_text, text, f) == outcome(reference_number_text, text, f)
    if f.type == "decimal":
        assert outcome(_to_decimal, text, f) == outcome(reference_to_decimal, text, f)
    else:
        assert outcome(_to_int, text, f) == outcome(reference_to_int, text, f)


def reference_to_int(value: str, f: Field) -> int:
    return int(reference_to_decimal_int(value, f))


def reference_to_decimal_int(value: str, f: Field) -> Decimal:
    number = reference_number_text(value, f)
    if abs(number) >= MAX_MAGNITUDE:
        raise _Invalid("number_too_large")
    return number


def test_the_usual_numbers_and_their_edges() -> None:
    decimal1, free = FIELDS[2], FIELDS[0]
    for text in ["88,4", "88.4", "2,1", "0,0", "-0,0", "0", "007,5", "1.250", "0.250", "1,2500", "85,55",
                 "999999999999,9", "1000000000000", "0999999999999", "88,", ",5", "8 8", " 88,4 ", "1e2",
                 "9" * 30 + ",5", "9" * 31, "0,1", "0,30000000000000004"]:
        for f in (decimal1, free):
            assert outcome(_to_decimal, text, f) == outcome(reference_to_decimal, text, f), (text, f.decimals)
    assert _to_decimal("88,4", decimal1) == 88.4 and _to_decimal("-0,0", free) == 0.0
    assert not math.copysign(1, _to_decimal("-0,0", free)) < 0


@settings(max_examples=500, deadline=None)
@given(st.dates(), st.sampled_from(["{d:02d}-{m:02d}-{y}", "{d}.{m}.{y}", "{y}-{m:02d}-{d:02d}", " {d}/{m}/{y} "]))
def test_dates_as_before(day: Any, pattern: str) -> None:
    text = pattern.format(d=day.day, m=day.month, y=f"{day.year:04d}")
    assert parse_date(text) == day
