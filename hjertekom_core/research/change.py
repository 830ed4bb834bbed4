"""Change from the start to the end of the course in measures taken at both meetings.

Who counts: a course with complete start and end registrations and a value at both (paired),
whether the citizen completed the course or dropped out. For each measure and group: n, the means
at start and end, the mean change (end - start) with a 95 % confidence interval from the
t distribution, the standard deviation of the change and Cohen's dz (mean change / SD of change).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from hjertekom_core.contract import Text
from hjertekom_core.research.cohort import DiagnosisGroups, course_frame, group_order
from hjertekom_core.research.plots import figure_html
from hjertekom_core.research.tables import Labeller, fmt, fmt_ci, fmt_percent, heading, html_table, paragraph


@dataclass(frozen=True)
class Outcome:
    column: str      # a column of both the start and the end table; its label comes from the codebook
    decimals: int = 1
    better: str = "higher"  # which way of change is an improvement: "higher" or "lower"


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("walk_6min_m", 1),
    Outcome("hads_anxiety", 2, "lower"),
    Outcome("hads_depression", 2, "lower"),
    Outcome("eq5d_index", 3),
    Outcome("weight_kg", 1, "lower"),
    Outcome("bp_systolic", 1, "lower"),
    Outcome("bp_diastolic", 1, "lower"),
)
#: Percentiles of the distribution of change: the box (25-75), the median and the whiskers (5, 95).
PERCENTILES = (5, 25, 50, 75, 95)
#: Fewest courses behind a distribution shown: its 5th and 95th percentiles lie close to single values.
MIN_DISTRIBUTION = 20
DISTRIBUTION_COLUMNS = ["outcome", "n", *(f"p{q}" for q in PERCENTILES), "better", "same", "worse"]
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


def paired_differences(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                       outcomes: Sequence[Outcome] = OUTCOMES) -> pd.DataFrame:
    """Every paired course's change (end - start), one row per outcome and course: outcome, change."""
    frame = course_frame(con, groups, [o.column for o in outcomes])
    frame = frame[frame["start_complete"] & frame["end_complete"]]
    parts = []
    for outcome in outcomes:
        start, end = frame[f"start_{outcome.column}"], frame[f"end_{outcome.column}"]
        both = start.notna() & end.notna()
        parts.append(pd.DataFrame({"outcome": outcome.column,
                                   "change": end[both].astype(float) - start[both].astype(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["outcome", "change"])


def change_distribution(differences: pd.DataFrame, outcomes: Sequence[Outcome] = OUTCOMES) -> pd.DataFrame:
    """Per outcome: n, the percentiles of change (PERCENTILES) and the shares better, unchanged and
    worse (by the outcome's direction): what a mean alone hides (a few large changes, or many small)."""
    rows = []
    for outcome in outcomes:
        change = differences.loc[differences["outcome"] == outcome.column, "change"].to_numpy(dtype=float)
        n = len(change)
        row: dict[str, object] = {"outcome": outcome.column, "n": n}
        for q in PERCENTILES:
            row[f"p{q}"] = float(np.percentile(change, q)) if n else np.nan
        improved = change > 0 if outcome.better == "higher" else change < 0
        row["better"] = float(improved.mean()) if n else np.nan
        row["same"] = float((change == 0).mean()) if n else np.nan
        row["worse"] = 1 - row["better"] - row["same"] if n else np.nan  # type: ignore[operator]
        rows.append(row)
    return pd.DataFrame(rows, columns=DISTRIBUTION_COLUMNS)


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
    "distribution": Text("Fordelingen af ændringen", "The distribution of change"),
    "distribution_text": Text(
        "Boksen går fra 25. til 75. percentil, stregen i den er medianen, ◆ er gennemsnittet, og "
        "stregerne ud fra boksen når 5. og 95. percentil (enkeltværdier vises ikke). Den stiplede linje er "
        "ingen ændring. Bedre: ændring i den gode retning (højere gangdistance og EQ-5D; lavere HADS, vægt "
        "og blodtryk). Mål med færre end {threshold} forløb vises ikke.",
        "The box runs from the 25th to the 75th percentile, the line in it is the median, ◆ the mean, and "
        "the whiskers reach the 5th and 95th percentiles (single values are not shown). The dashed line is no "
        "change. Better: change in the good direction (longer walk, higher EQ-5D; lower HADS, weight and blood "
        "pressure). Outcomes with fewer than {threshold} courses are not shown."),
    "distribution_alt": Text("Boksplot af ændringen fra start til slut for {outcomes}.",
                             "Box plots of the change from start to end for {outcomes}."),
    "change_ci": Text("Gns. ændring (95 % KI)", "Mean change (95 % CI)"),
    "better": Text("Bedre", "Better"), "same": Text("Uændret", "Unchanged"), "worse": Text("Dårligere", "Worse"),
    "percentile": Text("P{q}", "P{q}"), "median": Text("Median", "Median"),
    "no_change": Text("ingen ændring", "no change"), "mean": Text("gennemsnit", "mean"),
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
    lang = names.lang
    change_ci = _TEXTS["change_ci"].get(lang)
    # The change and its interval in one column, so that the table fits an A4 page.
    numeric = [names.column(k) for k in ("n", "mean_start", "mean_end")] + [change_ci] + \
        [names.column(k) for k in ("sd_change", "cohens_dz")]
    for variable, part in result.groupby("by", sort=False):
        shown = pd.DataFrame({
            names.column("outcome"): [names.field(o) for o in part["outcome"]],
            names.column("group"): [names.value(str(variable), g) if variable != "all" else names.factor("all")
                                    for g in part["group"]],
            names.column("n"): part["n"],
            names.column("mean_start"): [fmt(v, decimals[o], lang) for v, o in zip(part["mean_start"], part["outcome"])],
            names.column("mean_end"): [fmt(v, decimals[o], lang) for v, o in zip(part["mean_end"], part["outcome"])],
            change_ci: [f"{fmt(v, decimals[o], lang)} {fmt_ci(lo, hi, decimals[o], lang)}".strip()
                        for v, lo, hi, o in zip(part["mean_change"], part["ci_low"], part["ci_high"], part["outcome"])],
            names.column("sd_change"): [fmt(v, decimals[o], lang) for v, o in zip(part["sd_change"], part["outcome"])],
            names.column("cohens_dz"): [fmt(v, 2, lang) for v in part["cohens_dz"]],
        })
        title = names.factor("all") if variable == "all" else \
            _TEXTS["by"].get(names.lang).format(factor=names.factor(str(variable)).lower())
        parts.append(heading(title, 2))
        parts.append(html_table(shown, numeric))
    return "\n".join(parts)


def tick_formatter(axis: Any, lang: str) -> matplotlib.ticker.FuncFormatter:  # noqa: ANN401 - a matplotlib Axis
    """Tick labels with as many decimals as the tick step needs, in the page's language."""
    def label(value: float, _pos: int) -> str:
        ticks = axis.get_majorticklocs()
        step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
        decimals = next((d for d in range(4) if abs(step * 10 ** d - round(step * 10 ** d)) < 1e-6), 3)
        return fmt(value, decimals, lang)
    return matplotlib.ticker.FuncFormatter(label)


def distribution_figure(differences: pd.DataFrame, names: Labeller, outcomes: Sequence[Outcome] = OUTCOMES,
                        threshold: int = 5) -> Figure:
    """One horizontal box per outcome (its own scale): box 25-75, median, whiskers 5-95, mean as a
    diamond, a dashed line at no change; no single values (they could be one citizen's)."""
    shown = [o for o in outcomes if (differences["outcome"] == o.column).sum() >= threshold]
    lang = names.lang
    fig = Figure(figsize=(8.0, 0.95 * max(len(shown), 1) + 0.4))
    axes = fig.subplots(max(len(shown), 1), 1, squeeze=False)[:, 0]
    for ax, outcome in zip(axes, shown):
        change = differences.loc[differences["outcome"] == outcome.column, "change"].to_numpy(dtype=float)
        ax.bxp([{"med": np.percentile(change, 50), "q1": np.percentile(change, 25), "q3": np.percentile(change, 75),
                 "whislo": np.percentile(change, 5), "whishi": np.percentile(change, 95), "mean": change.mean(),
                 "fliers": []}], vert=False, showmeans=True, widths=0.6, patch_artist=True,
                boxprops={"facecolor": "white", "edgecolor": "black", "hatch": "///"},
                medianprops={"color": "black", "linewidth": 2}, whiskerprops={"color": "black"},
                capprops={"color": "black"},
                meanprops={"marker": "D", "markerfacecolor": "black", "markeredgecolor": "black", "markersize": 5})
        ax.axvline(0, color="black", linestyle="--", linewidth=0.9)
        ax.set_yticks([1], [f"{names.field(outcome.column)}\nn = {len(change)}"], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_formatter(tick_formatter(ax.xaxis, lang))
        ax.spines[["top", "right"]].set_visible(False)
    if not shown:
        axes[0].set_visible(False)
    fig.tight_layout(h_pad=0.6)
    return fig


def distribution_html(differences: pd.DataFrame, names: Labeller, outcomes: Sequence[Outcome] = OUTCOMES,
                      threshold: int = 5) -> str:
    """Heading, how to read it, the box plots and a table of percentiles and shares better/worse;
    outcomes of fewer than MIN_DISTRIBUTION (or ``threshold``) courses are left out."""
    lang = names.lang
    threshold = max(threshold, MIN_DISTRIBUTION)
    table = change_distribution(differences, outcomes)
    table = table[table["n"] >= threshold]
    decimals = {o.column: o.decimals for o in outcomes}
    heads = {f"p{q}": (_TEXTS["median"].get(lang) if q == 50 else _TEXTS["percentile"].get(lang).format(q=q))
             for q in PERCENTILES}
    shown = pd.DataFrame({
        names.column("outcome"): [names.field(o) for o in table["outcome"]],
        names.column("n"): table["n"].astype(int).astype(str),
        **{heads[f"p{q}"]: [fmt(v, decimals[o], lang) for v, o in zip(table[f"p{q}"], table["outcome"])]
           for q in PERCENTILES},
        **{_TEXTS[k].get(lang): [fmt_percent(v, 0, lang) for v in table[k]] for k in ("better", "same", "worse")},
    })
    labels = ", ".join(names.field(o, with_unit=False) for o in table["outcome"])
    figure = figure_html(distribution_figure(differences, names, outcomes, threshold),
                         _TEXTS["distribution_alt"].get(lang).format(outcomes=labels))
    return "\n".join([heading(_TEXTS["distribution"].get(lang), 2),
                      paragraph(_TEXTS["distribution_text"].get(lang).format(threshold=threshold)), figure,
                      html_table(shown, [c for c in shown.columns if c != names.column("outcome")])])
