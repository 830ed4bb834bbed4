"""Text that a spreadsheet must not take for a formula (CSV formula injection, OWASP).

Excel and LibreOffice read a CSV cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, after a
tab or carriage return, the same) as a formula: a name or a note typed as
``=HYPERLINK("http://…","Klik")`` would become a live link in a coordinator's extract, and
``=cmd|…`` has run programs. OWASP's advice is followed: such a text cell gets a single quote in
front, which the spreadsheet shows as text and does not evaluate.

Only *text* is neutralised. A number is not text: -1.5 written from a number column stays -1.5
and stays a number; the same characters in a text column (a note reading "-1.5") get the quote.
"""
from __future__ import annotations

from typing import Any

#: A cell beginning with one of these is a formula to a spreadsheet (OWASP: CSV Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise_formula(text: str) -> str:
    """``text`` with a leading single quote if a spreadsheet would read it as a formula."""
    return QUOTE + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Any) -> Any:
    """A value for a CSV a person may open in a spreadsheet: strings neutralised, anything else
    (numbers, dates, None) as it is."""
    return neutralise_formula(value) if isinstance(value, str) else value
