"""Dates in pseudonymised snapshots: ``exact``, ``month`` (the default) or ``shifted``.

A pseudonymised snapshot is built in two steps. ``writer.build_tables`` and the indicator facts
(``indicators/facts.py``) make its tables as TEMP tables with the exact dates, so that each course's
indicators are worked out on them; ``publish`` then writes every TEMP table into the file with each
DATE column in the chosen mode and drops it. TEMP tables live in memory (or in spill files in the
writer's private folder): the exact dates never reach the snapshot file, not even in blocks an
update would have freed.

* ``exact``: the dates as registered.
* ``month``: every date set to the first of its month. Calendar trends by month, quarter and year
  work; an interval between two dates is known to about a month only.
* ``shifted``: every date of a citizen moved by one random number of days (1 to ``SHIFT_DAYS``,
  earlier or later), the same for all of that citizen's dates, so intervals stay exact and calendar
  time does not. The offsets come from ``secrets``, live in memory while the file is written and
  are kept nowhere: not in the snapshot, not in the log, not in the audit log.

docs/research.md says which to choose and why ``month`` is the default.
"""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Sequence

import duckdb
import pandas as pd

from hjertekom_core.contract import Text
from hjertekom_core.snapshot.layout import COURSE_KEY, Column
from hjertekom_core.snapshot.writer import SnapshotError

DATE_MODES = ("exact", "month", "shifted")
#: Month: calendar trends (the research notebooks, K1-K6 by period) keep working and no date is
#: more exact than its month (docs/research.md).
DEFAULT_DATES = "month"
#: The largest shift in days, either way (about half a year: seasons are hidden, and so is the year
#: for dates near new year).
SHIFT_DAYS = 182

#: What the codebook adds to the label of every date column, per mode.
LABEL_SUFFIX = {
    "exact": Text(" [dato som registreret]", " [date as registered]"),
    "month": Text(" [måned: dagen er sat til den 1.]", " [month: the day is set to the 1st]"),
    "shifted": Text(f" [forskudt: 1-{SHIFT_DAYS} dage frem eller tilbage, ens for alle borgerens datoer]",
                    f" [shifted: 1-{SHIFT_DAYS} days earlier or later, the same for all of the citizen's dates]"),
}


def check_mode(dates: str) -> str:
    """``dates`` if it is a mode, else SnapshotError naming the modes."""
    if dates not in DATE_MODES:
        raise SnapshotError(f"ukendt datotilstand {dates!r}: vælg {', '.join(DATE_MODES)} / unknown date mode "
                            f"{dates!r}: choose {', '.join(DATE_MODES)}")
    return dates


def random_shifts(citizens: Iterable[str]) -> dict[str, int]:
    """One offset in days per citizen: uniform over -SHIFT_DAYS..-1 and 1..SHIFT_DAYS (never 0,
    so every citizen's dates move), from the operating system's random source."""
    out = {}
    for citizen in citizens:
        n = secrets.randbelow(2 * SHIFT_DAYS) - SHIFT_DAYS  # -SHIFT_DAYS .. SHIFT_DAYS - 1
        out[citizen] = n + 1 if n >= 0 else n
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _temporary(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """TEMP table -> its comment."""
    return dict(con.execute("SELECT table_name, comment FROM duckdb_tables() WHERE temporary").fetchall())


def _value(column: str, type_: str, mode: str) -> str:
    if type_ != "DATE":
        return f"t.{_q(column)}"
    if mode == "month":
        return f"CAST(date_trunc('month', t.{_q(column)}) AS DATE) AS {_q(column)}"
    if mode == "shifted":
        return f"CAST(t.{_q(column)} + s.shift_days AS DATE) AS {_q(column)}"
    return f"t.{_q(column)}"


def publish(con: duckdb.DuckDBPyConnection, documented: Sequence[tuple[str, Sequence[Column]]],
            mode: str) -> list[tuple[str, Sequence[Column]]]:
    """Write every TEMP table of ``documented`` into the file with its dates in ``mode``, drop it,
    and return the codebook entries with each date column's label saying how it was changed.

    Refuses (SnapshotError, nothing published) a time of day in any of them, a date in a table
    without ``course_key`` (its citizen's shift would be unknown) and a TEMP table the codebook
    does not describe: a new column or table cannot slip into a research file unchanged.
    """
    check_mode(mode)
    staged = _temporary(con)
    names = {table for table, _ in documented}
    strays = sorted(set(staged) - names)
    if strays:
        raise SnapshotError(f"TEMP table(s) {', '.join(strays)} not in the codebook")
    types = {(t, c): ty for t, c, ty in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = 'temp' "
        "ORDER BY table_name, column_index").fetchall()}
    for (table, column), type_ in types.items():
        if type_.startswith("TIME"):  # TIME, TIMESTAMP, TIMESTAMP WITH TIME ZONE
            raise SnapshotError(f"{table}.{column} holds a time of day; a pseudonymised snapshot holds none")
        if type_ == "DATE" and (table, COURSE_KEY.name) not in types:
            raise SnapshotError(f"{table}.{column} is a date in a table without {COURSE_KEY.name}")
    shifts = pd.DataFrame({"course_key": pd.Series(dtype=str), "shift_days": pd.Series(dtype="int32")})
    if mode == "shifted":
        courses = con.execute("SELECT course_key, citizen_key FROM temp.courses").fetchall()
        by_citizen = random_shifts(sorted({citizen for _, citizen in courses}))
        shifts = pd.DataFrame({"course_key": [course for course, _ in courses],
                               "shift_days": pd.Series([by_citizen[c] for _, c in courses], dtype="int32")})
        del by_citizen
    # The file's own catalog by name: "main.<table>" may also name the TEMP table (its schema is main too).
    target = _q(str(con.execute("SELECT current_database()").fetchall()[0][0])) + ".main."
    con.register("date_shifts_df", shifts)
    try:
        out: list[tuple[str, Sequence[Column]]] = []
        for table, columns in documented:
            if table not in staged:
                out.append((table, columns))
                continue
            order = [c for (t, c) in types if t == table]
            keyed = COURSE_KEY.name in order
            selects = ", ".join(_value(c, types[(table, c)], mode) for c in order)
            join = " LEFT JOIN date_shifts_df s ON s.course_key = t.course_key" if keyed and mode == "shifted" else ""
            first = _q(COURSE_KEY.name if keyed else order[0])
            # Only catalog names (quoted by _q) and this module's expressions go into the SQL.
            con.execute(f"CREATE TABLE {target}{_q(table)} AS SELECT {selects} "  # noqa: S608
                        f"FROM temp.{_q(table)} t{join} ORDER BY t.{first}")
            comment = staged[table]
            if comment:
                con.execute(f"COMMENT ON TABLE {target}{_q(table)} IS '" + comment.replace("'", "''") + "'")
            con.execute(f"DROP TABLE temp.{_q(table)}")
            suffix = LABEL_SUFFIX[mode]
            out.append((table, [dataclasses.replace(c, label=Text(c.label.da + suffix.da, c.label.en + suffix.en))
                                if types.get((table, c.name)) == "DATE" else c for c in columns]))
    finally:
        con.unregister("date_shifts_df")
        del shifts
    return out
