"""Turning analysis frames into what a reader sees: labels, small-number suppression, HTML tables.

The analysis functions return codes and numbers; this module names them (codebook, code lists,
``labels``) in Danish or English and formats them. Danish pages write numbers as the reports do
(decimal comma, a real minus sign: ``formatting.format_number``); English pages, and the
DataFrames themselves, keep the decimal point the statistics programs read.
"""
from __future__ import annotations

import html
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from hjertekom_core.contract import Text
from hjertekom_core.disclosure import Cell, protect_breakdown
from hjertekom_core.formatting import format_number, is_missing
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.research.cohort import DiagnosisGroups
from hjertekom_core.research.labels import COLUMN_LABELS, FACTOR_LABELS, MISSING_TEXT, VALUE_LABELS, text

#: Which code list names the values of a grouping variable.
FACTOR_CODELISTS = {"start_smoking": "smoking", "dropout_reason": "dropout_reason"}
#: Grouping variables that share the value labels of another (labels.VALUE_LABELS).
FACTOR_VALUES = {"start_hads_anxiety_band": "hads_band", "start_hads_depression_band": "hads_band"}


@dataclass(frozen=True)
class Labeller:
    """Names for fields, grouping variables and their values in one language."""

    lang: str
    groups: DiagnosisGroups
    fields: Mapping[str, Text]
    units: Mapping[str, str]
    codes: Mapping[tuple[str, str], Text]
    municipalities: Mapping[int, str]

    def field(self, column: str, with_unit: bool = True) -> str:
        label = self.fields[column].get(self.lang) if column in self.fields else column
        unit = self.units.get(column, "")
        return f"{label} ({unit})" if with_unit and unit else label

    def factor(self, factor: str) -> str:
        return text(factor, self.lang, FACTOR_LABELS)

    def column(self, key: str) -> str:
        return text(key, self.lang, COLUMN_LABELS)

    def value(self, factor: str, value: object) -> str:
        if is_missing(value):
            return MISSING_TEXT.get(self.lang)
        if factor == "diagnosis_group":
            return self.groups.label(str(value), self.lang)
        if factor == "municipality":
            return self.municipalities.get(int(value), str(value))  # type: ignore[call-overload]
        own = VALUE_LABELS.get(FACTOR_VALUES.get(factor, factor), {})
        if str(value) in own:
            return own[str(value)].get(self.lang)
        codelist = FACTOR_CODELISTS.get(factor)
        if codelist and (codelist, str(value)) in self.codes:
            return self.codes[(codelist, str(value))].get(self.lang)
        return str(value)


def labeller(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups, lang: str = "da") -> Labeller:
    """A Labeller from the snapshot's own codebook and code lists (the contract it was made with)."""
    fields = {}
    units = {}
    for column, da, en, unit in con.execute(
            "SELECT column_name, label_da, label_en, unit FROM codebook WHERE table_name = ?",
            [f"{PROGRAMME}_start"]).fetchall():
        fields[column] = Text(da, en)
        units[column] = unit or ""
    codes = {(cl, code): Text(da, en) for cl, code, da, en in
             con.execute("SELECT codelist, code, label_da, label_en FROM codelists").fetchall()}
    municipalities = dict(con.execute("SELECT code, name FROM municipalities").fetchall())
    return Labeller("en" if lang == "en" else "da", groups, fields, units, codes, municipalities)


# --- small numbers --------------------------------------------------------------------------------

def protect_counts(frame: pd.DataFrame, atoms: Mapping[str, Sequence[frozenset[Hashable]]], *,
                   denominator: str, shares: Iterable[str] = (), threshold: int = 5) -> pd.DataFrame:
    """The rows of ``frame`` as anyone may see them (``disclosure.protect_breakdown``).

    ``atoms[column]``: per row, the courses that count in that row's ``column``. Counts from 1 to
    ``threshold - 1`` show as '< threshold', and further counts as '..' wherever a hidden count
    could be worked out from the shown ones (a total minus its groups, or one grouping against
    another: the courses tell). A share is hidden where a count of its row is, and where its
    ``denominator`` is fewer than ``threshold`` courses.
    """
    out = frame.copy()
    hidden = frame[denominator].map(lambda v: int(v) < threshold)
    for column, members in atoms.items():
        cells = [Cell(i, frozenset(m)) for i, m in enumerate(members)]
        shown = protect_breakdown(cells, [int(v) for v in frame[column]], threshold)
        out[column] = pd.Series(shown, index=out.index, dtype=object)
        hidden |= out[column].map(lambda v: isinstance(v, str))
    for column in shares:
        out[column] = out[column].astype(float).where(~hidden)
    return out


# --- formatting -----------------------------------------------------------------------------------

def fmt(value: object, decimals: int = 1, lang: str = "en") -> str:
    """Danish: decimal comma and a minus sign, as in the reports; English: a decimal point and a plain
    minus, as the statistics programs read them; missing -> ''."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return ""
    danish = lang == "da"
    return format_number(float(value), decimals, "da" if danish else "en",  # type: ignore[arg-type]
                         typographic=danish)


def fmt_ci(low: object, high: object, decimals: int = 1, lang: str = "en") -> str:
    if is_missing(low) or is_missing(high):
        return ""
    return f"({fmt(low, decimals, lang)}; {fmt(high, decimals, lang)})"


def fmt_percent(value: object, decimals: int = 1, lang: str = "en") -> str:
    if is_missing(value) or isinstance(value, str):
        return "" if is_missing(value) else str(value)
    return f"{fmt(100 * float(value), decimals, lang)} %"  # type: ignore[arg-type]


def html_table(rows: pd.DataFrame, numeric: Sequence[str] = (), caption: str = "") -> str:
    """A plain HTML table (no index), numeric columns right-aligned by page.css's ``num`` class."""
    num = set(numeric)

    def cell(tag: str, column: str, value: object) -> str:
        cls = ' class="num"' if column in num else ""
        return f"<{tag}{cls}>{html.escape('' if is_missing(value) else str(value))}</{tag}>"

    head = "".join(cell("th", c, c) for c in rows.columns)
    body = "\n".join("<tr>" + "".join(cell("td", c, v) for c, v in zip(rows.columns, r)) + "</tr>"
                     for r in rows.itertuples(index=False, name=None))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="hk-research">{cap}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def heading(text_: str, level: int = 2) -> str:
    return f"<h{level}>{html.escape(text_)}</h{level}>"


def paragraph(text_: str) -> str:
    return f"<p>{html.escape(text_)}</p>"
