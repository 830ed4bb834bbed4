"""Numbers as people read them (hjertekom_core.formatting), shared by forms, reports and research."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hjertekom_core.formatting import MINUS, format_number, format_percent, is_missing


@pytest.mark.parametrize(("args", "options", "expected"), [
    ((2.675, 2), {}, "2,68"),                       # half up from the decimal form, not from the binary value
    ((2.665, 2), {}, "2,67"),
    ((-0.04, 1), {}, "0,0"),                        # no minus on a rounded zero
    ((-3.4, 1), {}, f"{MINUS}3,4"),
    ((-3.4, 1), {"typographic": False}, "-3,4"),    # text that must parse again
    ((2.5, 1), {"sign": True}, "+2,5"),
    ((0.0, 1), {"sign": True}, "0,0"),
    ((1234.56, 1), {"thousands": True}, "1.234,6"),
    ((1234.56, 1, "en"), {"thousands": True}, "1,234.6"),
    ((0.959, 3, "en"), {}, "0.959"),
    ((27.25,), {}, "27,25"),                        # every significant decimal
    ((1000.0,), {}, "1000"),
    ((np.float64(2.5), 1), {}, "2,5"),
    ((np.int64(12345), 0), {"thousands": True}, "12.345"),
])
def test_format_number(args: tuple, options: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert format_number(*args, **options) == expected


def test_format_percent() -> None:
    assert format_percent(0.832) == "83,2 %"
    assert format_percent(0.5, 0, "en") == "50 %"


@pytest.mark.parametrize(("value", "missing"), [
    (None, True), (math.nan, True), (np.float64("nan"), True), (pd.NA, True), (0, False), (0.0, False), ("< 5", False)])
def test_is_missing(value: object, missing: bool) -> None:
    assert is_missing(value) is missing
