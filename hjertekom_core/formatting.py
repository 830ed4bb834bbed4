"""Numbers as people read them, in one place for the forms, the reports and the research pages.

Danish: decimal comma, thousands dot (when asked for), a real minus sign; English: point and
comma. Rounding is half up from the shortest decimal form of the value, so 2.675 shows as 2,68
(as a person rounds it), not as the binary neighbour 2.67499...
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from numbers import Integral, Real

MINUS = "\u2212"


def is_missing(value: object) -> bool:
    """None, NaN or pandas' NA: a value that is not there."""
    if value is None:
        return True
    if isinstance(value, Real):
        return math.isnan(float(value))
    return type(value).__name__ == "NAType"  # pandas.NA, without importing pandas here


def _decimal(value: Real) -> Decimal:
    return Decimal(int(value)) if isinstance(value, Integral) else Decimal(repr(float(value)))


def format_number(value: Real | Decimal, decimals: int | None = None, lang: str = "da", *, sign: bool = False,
                  thousands: bool = False, typographic: bool = True) -> str:
    """``value`` with ``decimals`` decimals (every significant one when None).

    ``sign``: a "+" before a value above zero; ``thousands``: group the digits (1.234,5);
    ``typographic``: the minus sign U+2212 (off for text that must parse again, e.g. an input).
    """
    exact = value if isinstance(value, Decimal) else _decimal(value)
    if decimals is None:
        text = format(exact.normalize(), f"{',' if thousands else ''}f")
    else:
        exact = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        text = format(exact, f"{',' if thousands else ''}.{decimals}f")
    if exact == 0:
        text = text.lstrip("-")  # no "-0,0" from a small negative value
    elif sign and exact > 0:
        text = "+" + text
    if lang == "da":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text.replace("-", MINUS) if typographic else text


def format_percent(share: Real, decimals: int = 1, lang: str = "da", **options: bool) -> str:
    """A share as a percentage: 0.832 -> "83,2 %"."""
    return f"{format_number(100 * float(share), decimals, lang, **options)} %"
