"""Change from the start to the end of the course in measures taken at both meetings.

Who counts: a course with complete start and end registrations and a value at both (paired),
whether the citizen completed the course or dropped out. For each measure and group: n, the means
at start and end, the mean change (end - start) with a 95 % confidence interval from the
t distribution, the standard deviation of the change and Cohen's dz (mean change / SD of change).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from hjertekom_core.contract import Text
from hjertekom_core.research.cohort import DiagnosisGroups, course_frame, group_order
from hjertekom_core.research.tables import Labeller, fmt, fmt_ci, heading, html_table, paragraph


@dataclass(frozen=True)
class Outcome:
    column: str      # a column of both the start and the end table; its label comes from the codebook
    decimals: int = 1


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("walk_6min_m", 1),
    Outcome("hads_anxiety", 2),
    Outcome("hads_depression", 2),
    Outcome("eq5d_index", 3),
    Outcome("weight_kg", 1),
    Outcome("bp_systolic", 1),
    Outcome("bp_diastolic", 1),
)
#: The groupings of the tables: everyone, then one grouping variable at a time.
BY: tuple[str, ...] = ("all", "diagnosis_group", "sex", "age_band")
RESULT_COLUMNS = ["outcome", "by", "group", "n", "mean_start", "mean_end", "mean_change", "ci_low", "ci_high",
                  "sd_change", "cohens_dz"]


def change_summary(start: np.ndarray, end: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Paired summary of ``end - start`` (both arrays without missing values)."""
    diff = np.asarray(end, dtype=float) - np.asarray(start, dtype=float)
    n = len(diff)
    mean = float(diff.mean()) if n else np.nan
    sd = float(diff.std(ddof=1)) if n >= 2 else np.nan
    if n >= 2:
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
        low, high = mean - half, mean + half
    else:
        low = high = np.nan
    dz = mean / sd if n >= 2 and sd > 0 else np.nan
    return {"n": n, "mean_start": float(np.mean(start)) if n else np.nan,
            "mean_end": float(np.mean(end)) if n else np.nan, "mean_change": mean, "ci_low": low, "ci_high": high,
            "sd_change": sd, "cohens_dz": dz}


def paired_change(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                  outcomes: Sequence[Outcome] = OUTCOMES, by: Sequence[str] = BY) -> pd.DataFrame:
    """One row per outcome, grouping variable and group, in RESULT_COLUMNS."""
    frame = course_frame(con, groups, [o.column for o in outcomes])
    frame = frame[frame["start_complete"] & frame["end_complete"]].assign(all="all")
    rows = []
    for outcome in outcomes:
        start, end = frame[f"start_{outcome.column}"], frame[f"end_{outcome.column}"]
        paired = frame[start.notna() & end.notna()]
        for variable in by:
            for group in group_order(paired[variable], variable, groups):
                part = paired[paired[variable].isna()] if group is None else paired[paired[variable] == group]
                summary = change_summary(part[f"start_{outcome.column}"].to_numpy(dtype=float),
                                         part[f"end_{outcome.column}"].to_numpy(dtype=float))
                rows.append({"outcome": outcome.column, "by": variable, "group": group, **summary})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


_TEXTS = {
    "title": Text("Ændring fra start til slut af forløbet", "Change from the start to the end of the course"),
    "who": Text("Forløb med færdige registreringer ved både afklarende og afsluttende samtale og en værdi ved "
                "begge (parrede målinger), uanset om borgeren gennemførte. Ændring = slut - start; 95 % "
                "konfidensinterval fra t-fordelingen; effektstørrelse dz = gennemsnitlig ændring / SD af ændringen. "
                "Grupper med færre end {threshold} forløb vises uden tal.",
                "Courses with complete start and end registrations and a value at both (paired measurements), "
                "whether or not the citizen completed. Change = end - start; 95 % confidence interval from the "
                "t distribution; effect size dz = mean change / SD of the change. Groups of fewer than "
                "{threshold} show no statistics."),
    "by": Text("Efter {factor}", "By {factor}"),
}


def change_html(result: pd.DataFrame, names: Labeller, outcomes: Sequence[Outcome] = OUTCOMES,
                threshold: int = 5) -> str:
    """The result as one table per grouping variable, with a heading and what was counted.

    A group of fewer than ``threshold`` courses shows n as '< threshold' and no statistics: a mean
    of two values all but gives them away.
    """
    decimals = {o.column: o.decimals for o in outcomes}
    result = result.copy()
    small = result["n"] < threshold
    result.loc[small, RESULT_COLUMNS[4:]] = np.nan
    result["n"] = result["n"].astype(int).astype(str).where(~small | (result["n"] == 0), f"< {threshold}")
    parts = [heading(_TEXTS["title"].get(names.lang), 1),
             paragraph(_TEXTS["who"].get(names.lang).format(threshold=threshold))]
    numeric = [names.column(k) for k in ("n", "mean_start", "mean_end", "mean_change", "ci", "sd_change",
                                          "cohens_dz")]
    for variable, part in result.groupby("by", sort=False):
        shown = pd.DataFrame({
            names.column("outcome"): [names.field(o) for o in part["outcome"]],
            names.column("group"): [names.value(str(variable), g) if variable != "all" else names.factor("all")
                                    for g in part["group"]],
            names.column("n"): part["n"],
            names.column("mean_start"): [fmt(v, decimals[o]) for v, o in zip(part["mean_start"], part["outcome"])],
            names.column("mean_end"): [fmt(v, decimals[o]) for v, o in zip(part["mean_end"], part["outcome"])],
            names.column("mean_change"): [fmt(v, decimals[o]) for v, o in zip(part["mean_change"], part["outcome"])],
            names.column("ci"): [fmt_ci(lo, hi, decimals[o])
                                 for lo, hi, o in zip(part["ci_low"], part["ci_high"], part["outcome"])],
            names.column("sd_change"): [fmt(v, decimals[o]) for v, o in zip(part["sd_change"], part["outcome"])],
            names.column("cohens_dz"): [fmt(v, 2) for v in part["cohens_dz"]],
        })
        title = names.factor("all") if variable == "all" else \
            _TEXTS["by"].get(names.lang).format(factor=names.factor(str(variable)).lower())
        parts.append(heading(title, 2))
        parts.append(html_table(shown, numeric))
    return "\n".join(parts)
