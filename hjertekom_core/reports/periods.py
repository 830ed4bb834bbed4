"""The period of a municipality report: a calendar year (``2025``) or a quarter (``2025-Q3``).

One parser for the command line, the batch, the report files' folders and the notebook, with one
clear message in Danish and English for anything else. A quarter may also be written the Danish
way (``2025-K3``); it is always named ``2025-Q3`` afterwards, as the indicator engine names it.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^(?P<year>\d{4})(?:-[QqKk](?P<quarter>[1-4]))?$")
#: A folder or parameter that is a valid period, exactly as written (no Danish K, no lower case).
CANONICAL = re.compile(r"^\d{4}(-Q[1-4])?$")
_FIRST_YEAR, _LAST_YEAR = 2000, 2100


class PeriodError(ValueError):
    """A period that is neither a year nor a quarter; the message is Danish / English."""

    def __init__(self, text: object) -> None:
        super().__init__(f"Perioden skal være et år (fx 2025) eller et kvartal (fx 2025-Q3), ikke {text!r} / "
                         f"the period must be a year (e.g. 2025) or a quarter (e.g. 2025-Q3), not {text!r}")


@dataclass(frozen=True, order=True)
class ReportPeriod:
    year: int
    quarter: int | None = None  # 1-4 for a quarterly edition

    @property
    def kind(self) -> str:
        """The indicator engine's period type: 'year' or 'quarter'."""
        return "year" if self.quarter is None else "quarter"

    @property
    def text(self) -> str:
        """'2025' or '2025-Q3': the engine's period key, the folder name and the file names' period."""
        return str(self.year) if self.quarter is None else f"{self.year}-Q{self.quarter}"

    def __str__(self) -> str:
        return self.text

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1 if self.quarter is None else 3 * self.quarter - 2, 1)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        if self.quarter is None or self.quarter == 4:
            return dt.date(self.year + 1, 1, 1)
        return dt.date(self.year, 3 * self.quarter + 1, 1)

    def contains_sql(self, column: str) -> str:
        """A SQL condition: ``column`` (a date) lies in the period."""
        return f"({column} >= DATE '{self.start.isoformat()}' AND {column} < DATE '{self.end.isoformat()}')"

    def shifted(self, steps: int) -> ReportPeriod:
        """The period ``steps`` periods of the same kind later (negative: earlier)."""
        if self.quarter is None:
            return ReportPeriod(self.year + steps)
        index = self.year * 4 + self.quarter - 1 + steps
        return ReportPeriod(index // 4, index % 4 + 1)

    @property
    def last_quarter(self) -> str:
        """The engine's key of the period's last quarter ('2025-Q4' for 2025)."""
        return f"{self.year}-Q{4 if self.quarter is None else self.quarter}"

    def finished_by(self, day: dt.date) -> bool:
        """Whether the period had ended by ``day`` (the data's reference date)."""
        return day >= self.end


def parse_period(text: object) -> ReportPeriod:
    """'2025' -> the year, '2025-Q3' (or '2025-K3') -> the quarter; PeriodError for anything else."""
    match = _PATTERN.match(str(text).strip()) if isinstance(text, (str, int)) else None
    if not match or not _FIRST_YEAR <= int(match["year"]) < _LAST_YEAR:
        raise PeriodError(text)
    return ReportPeriod(int(match["year"]), int(match["quarter"]) if match["quarter"] else None)


def quarters_ending(last: str, count: int) -> list[str]:
    """The ``count`` quarters ending with ``last`` ('2025-Q4'), oldest first, as the engine names them."""
    year, quarter = int(last[:4]), int(last[-1])
    end = year * 4 + quarter - 1
    return [f"{i // 4}-Q{i % 4 + 1}" for i in range(end - count + 1, end + 1)]


def quarter_end(quarter: str) -> dt.date:
    """The first day after quarter '2025-Q3'."""
    return parse_period(quarter).end
