"""Indicator trends over time, nationally and by municipality (K1-K6 from ``indicators.compute``).

Every view is protected as for anyone outside a municipality (``disclosure.protect`` with no own
municipality: primary and complementary suppression, so that no hidden count can be worked out
from the others): a research result may be shown anywhere. The national run charts
carry their median, the national recommendation for following an indicator over time.
"""
from __future__ import annotations

from collections.abc import Sequence

import datetime as dt
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hjertekom_core.contract import Text
from hjertekom_core.disclosure import Hierarchy, protect
from hjertekom_core.indicators import BY_ID, INDICATORS, IndicatorSettings, compute
from hjertekom_core.research.plots import STYLES, figure_html, thin_ticks
from hjertekom_core.research.tables import fmt_percent, heading, html_table, paragraph
from hjertekom_core.snapshot import SnapshotInfo

LEVELS = ("municipality", "national")
DANISH_ZONE = ZoneInfo("Europe/Copenhagen")
#: A leading period with fewer courses than this share of the median of the later finished periods
#: is a start-up period (municipalities still joining): drawn open and left out of the median.
STARTUP_SHARE = 0.5
#: Periods shown in a table (the latest): more would not fit an A4 page.
TABLE_PERIODS = 6
UNFINISHED, STARTUP = "unfinished", "startup"


def reference_date(info: SnapshotInfo) -> dt.date:
    """The day the snapshot was made, in Danish time: the period holding it is not over."""
    return dt.datetime.fromisoformat(info.created_at).astimezone(DANISH_ZONE).date()


def period_of(day: dt.date, period: str) -> str:
    """The label ``indicators.compute`` gives the period holding ``day`` (2025, 2025-Q3, 2025-07)."""
    if period == "year":
        return f"{day.year}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def period_marks(trends: pd.DataFrame, period: str, reference: dt.date | None) -> dict[str, str]:
    """Which periods are not like the others: the one holding ``reference`` (not over: ``unfinished``)
    and the leading ones with few courses nationally (``startup``)."""
    marks: dict[str, str] = {}
    if reference is not None:
        marks[period_of(reference, period)] = UNFINISHED
    national = trends[trends["level"] == "national"]
    size = national.assign(d=_count(national["denominator"])).groupby("period")["d"].sum().sort_index()
    finished = size[[p not in marks for p in size.index]]
    if len(finished):
        typical = float(finished.median())
        for label, value in finished.items():
            if value >= STARTUP_SHARE * typical:
                break
            marks[str(label)] = STARTUP
    return marks


def indicator_trends(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings, period: str = "quarter",
                     levels: Sequence[str] = LEVELS, threshold: int = 5) -> pd.DataFrame:
    """Every indicator per unit and period, protected for a viewer outside every municipality."""
    result = compute(con, settings, period=period, levels=levels)
    return protect(result, Hierarchy.from_snapshot(con, settings.clusters), threshold=threshold, complete=levels)


def _percent(values: pd.Series) -> np.ndarray:
    return 100 * pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _count(values: pd.Series) -> pd.Series:
    """Suppressed counts ('< 5') as 0, for ranking only."""
    return pd.to_numeric(values, errors="coerce").fillna(0)


_TEXTS = {
    "title": Text("Indikatorer over tid", "Indicators over time"),
    "intro": Text("Seriediagrammer pr. {period}, kommuner pr. år; et forløb hører til perioden for den afsluttende "
                  "samtale. Alle tal er diskretioneret: "
                  "antal 1-{t1} vises som »< {threshold}«, andele med nævner under {threshold} er skjult, og »..« er et "
                  "tal, der er holdt tilbage, så et lille tal ikke kan regnes ud af de andre.",
                  "Run charts per {period}, municipalities per year; a course belongs to the period of its end "
                  "meeting. Every number is "
                  "suppressed: counts 1-{t1} show as '< {threshold}', proportions with a denominator below "
                  "{threshold} are hidden, and '..' is a count withheld so that a small one cannot be worked out "
                  "from the others."),
    "national": Text("Hele landet (seriediagrammer med median)", "Nationally (run charts with median)"),
    "by_municipality": Text("Efter kommune", "By municipality"),
    "national_alt": Text("Seriediagrammer: andel pr. {period} for {indicators}, hele landet, med median og standard.",
                         "Run charts: proportion per {period} for {indicators}, nationally, with median and "
                         "standard."),
    "municipal_alt": Text("Linjediagram: {indicator} pr. {period} i {units}; skjulte tal er huller.",
                          "Line chart: {indicator} per {period} in {units}; suppressed numbers are gaps."),
    "municipal": Text("{indicator} efter kommune", "{indicator} by municipality"),
    "median": Text("Median", "Median"),
    "marked": Text("Opstart eller ikke afsluttet (åben, ikke i medianen)", "Start-up or not over (open, not in the median)"),
    "marks_text": Text(
        "Åbne punkter er ikke med i medianen: {unfinished} er ikke afsluttet (snapshottet er fra {day}), og "
        "{startup} er opstartsperioder, hvor kommunerne stadig kom med (under halvdelen af det typiske antal "
        "forløb).",
        "Open points are not in the median: {unfinished} is not over (the snapshot is of {day}), and {startup} "
        "are start-up periods while municipalities were still joining (fewer than half the typical number of "
        "courses)."),
    "none": Text("ingen", "none"),
    "table_note": Text("* ikke afsluttet. Tabellen viser de seneste {n} perioder.",
                       "* not over yet. The table shows the latest {n} periods."),
    "standard": Text("Standard", "Standard"),
    "national_unit": Text("Hele landet", "Nationally"),
    "share": Text("Andel (%)", "Proportion (%)"),
    "year": Text("år", "year"), "quarter": Text("kvartal", "quarter"), "month": Text("måned", "month"),
}


def _t(key: str, lang: str, **values: object) -> str:
    return _TEXTS[key].get(lang).format(**values)


def intro_html(period: str, lang: str = "da", threshold: int = 5) -> str:
    return heading(_t("title", lang), 1) + "\n" + paragraph(
        _t("intro", lang, period=_t(period, lang), t1=threshold - 1, threshold=threshold))


def national_figure(trends: pd.DataFrame, settings: IndicatorSettings, lang: str = "da",
                    indicators: Sequence[str] | None = None, marks: dict[str, str] | None = None) -> Figure:
    """One run chart per indicator: the national proportion per period, its median and the standard.
    Marked periods (``period_marks``: start-up, not over) are drawn open and left out of the median."""
    marks = marks or {}
    chosen = list(indicators or [i.id for i in INDICATORS])
    national = trends[trends["level"] == "national"]
    periods = sorted(national["period"].unique())
    cols = 3 if len(chosen) > 2 else len(chosen)
    rows = -(-len(chosen) // cols)
    fig = Figure(figsize=(10, 3.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    for ax, ind in zip(axes.flat, chosen):
        series = national[national["indicator"] == ind].set_index("period").reindex(periods)
        y = _percent(series["proportion"])
        marked = np.array([p in marks for p in periods])
        ax.plot(range(len(periods)), y, linestyle="-", color="black", linewidth=1)
        x = np.arange(len(periods))
        ax.plot(x[~marked], y[~marked], marker="o", linestyle="none", color="black", markersize=3.5)
        if marked.any():
            ax.plot(x[marked], y[marked], marker="o", linestyle="none", markerfacecolor="white",
                    markeredgecolor="black", markersize=4.5, label=_t("marked", lang))
        kept = y[~marked]
        if np.isfinite(kept).any():
            ax.axhline(float(np.nanmedian(kept)), linestyle="--", color="#555555", linewidth=1,
                       label=_t("median", lang))
        standard = settings.standards.get(ind)
        if standard is not None:
            ax.axhline(100 * standard, linestyle=":", color="black", linewidth=1.2, label=_t("standard", lang))
        ax.set_title(f"{ind} {BY_ID[ind].name.get(lang)}", fontsize=9)
        ax.set_ylim(0, 100)
        ticks = thin_ticks(periods, 6)
        ax.set_xticks(ticks, [periods[i] for i in ticks], rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncols=len(handles), fontsize=8, frameon=False)
    fig.supylabel(_t("share", lang), fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def largest_municipalities(trends: pd.DataFrame, indicator: str, top: int = 6) -> list[str]:
    """The ``top`` municipalities with the most courses in the indicator's denominator."""
    rows = trends[(trends["level"] == "municipality") & (trends["indicator"] == indicator)]
    size = rows.assign(d=_count(rows["denominator"])).groupby("unit")["d"].sum()
    return list(size.sort_values(ascending=False, kind="stable").index[:top])


def municipal_figure(trends: pd.DataFrame, indicator: str, lang: str = "da", top: int = 6,
                     marks: dict[str, str] | None = None) -> Figure:
    """The indicator over time in the largest municipalities (suppressed points are gaps; marked
    periods, not over or start-up, drawn open)."""
    marks = marks or {}
    rows = trends[(trends["level"] == "municipality") & (trends["indicator"] == indicator)]
    periods = sorted(trends["period"].unique())
    marked = np.array([p in marks for p in periods])
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    for (marker, style, grey), unit in zip(STYLES, largest_municipalities(trends, indicator, top)):
        series = rows[rows["unit"] == unit].set_index("period").reindex(periods)
        name = rows.loc[rows["unit"] == unit, "unit_name"].iloc[0]
        y = _percent(series["proportion"])
        ax.plot(range(len(periods)), y, marker=marker, linestyle=style, color=grey, markersize=5, linewidth=1,
                label=name, markevery=list(np.flatnonzero(~marked)))
        if marked.any():
            ax.plot(np.flatnonzero(marked), y[marked], marker=marker, linestyle="none", markerfacecolor="white",
                    markeredgecolor=grey, markersize=5)
    ticks = thin_ticks(periods, 12)
    ax.set_xticks(ticks, [periods[i] for i in ticks], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel(_t("share", lang))
    ax.set_title(f"{indicator} {BY_ID[indicator].name.get(lang)}", fontsize=10)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.legend(fontsize=8, frameon=False, loc="lower left", ncols=3)
    fig.tight_layout()
    return fig


def trend_table(trends: pd.DataFrame, indicator: str, lang: str = "da", marks: dict[str, str] | None = None,
                periods: int = TABLE_PERIODS) -> pd.DataFrame:
    """Units (the nation first, then municipalities with courses) by period: 'xx,x % (n)' per cell,
    the latest ``periods`` periods (an A4 page's width), the unfinished one headed with '*'.

    A suppressed proportion shows as '–', with its suppressed denominator ('< 5') beside it.
    """
    marks = marks or {}
    latest = sorted(trends["period"].unique())[-periods:]
    trends = trends[trends["period"].isin(latest)]
    rows = trends[trends["indicator"] == indicator].copy()
    rows = rows[(rows["level"] == "national") | (_count(rows["denominator"]) > 0)
                | rows["denominator"].astype(str).str.startswith("<")]
    rows["cell"] = [f"{fmt_percent(p, 1, lang) or '–'} ({d})" if str(d) != "0" else ""
                    for p, d in zip(rows["proportion"], rows["denominator"])]
    rows["name"] = np.where(rows["level"] == "national", _t("national_unit", lang), rows["unit_name"])
    rows["order"] = np.where(rows["level"] == "national", "", rows["unit_name"])
    wide = rows.pivot_table(index=["order", "name"], columns="period", values="cell", aggfunc="first")
    wide = wide.sort_index(level="order").reset_index(level="order", drop=True).fillna("")
    wide.index.name = None
    wide.columns = [f"{c} *" if marks.get(str(c)) == UNFINISHED else str(c) for c in wide.columns]
    return wide.reset_index(names="")


def trend_tables_html(trends: pd.DataFrame, lang: str = "da", indicators: Sequence[str] | None = None,
                      marks: dict[str, str] | None = None) -> str:
    parts = []
    for ind in indicators or [i.id for i in INDICATORS]:
        table = trend_table(trends, ind, lang, marks)
        parts.append(heading(_t("municipal", lang, indicator=f"{ind} {BY_ID[ind].name.get(lang)}"), 3))
        parts.append(html_table(table, [c for c in table.columns if c]))
    parts.append(paragraph(_t("table_note", lang, n=TABLE_PERIODS)))
    return "\n".join(parts)


def marks_html(marks: dict[str, str], reference: dt.date | None, lang: str = "da") -> str:
    """Which periods are drawn open, and why."""
    if not marks:
        return ""
    unfinished = ", ".join(p for p, m in sorted(marks.items()) if m == UNFINISHED) or _t("none", lang)
    startup = ", ".join(p for p, m in sorted(marks.items()) if m == STARTUP) or _t("none", lang)
    day = reference.isoformat() if reference else ""
    return paragraph(_t("marks_text", lang, unfinished=unfinished, startup=startup, day=day))


def national_html(trends: pd.DataFrame, settings: IndicatorSettings, period: str, lang: str = "da",
                  reference: dt.date | None = None) -> str:
    """Heading and run charts of the nation; the unfinished and start-up periods open, out of the median."""
    chosen = [i.id for i in INDICATORS]
    marks = period_marks(trends, period, reference)
    figure = national_figure(trends, settings, lang, chosen, marks)
    alt = _t("national_alt", lang, period=_t(period, lang), indicators=", ".join(chosen))
    return "\n".join([heading(_t("national", lang), 2), marks_html(marks, reference, lang), figure_html(figure, alt)])


def municipal_html(trends: pd.DataFrame, indicator: str, period: str, lang: str = "da", top: int = 6,
                   reference: dt.date | None = None) -> str:
    """The chart of the largest municipalities and a table per indicator."""
    units = trends.drop_duplicates("unit").set_index("unit")["unit_name"]
    names = ", ".join(str(units[u]) for u in largest_municipalities(trends, indicator, top))
    alt = _t("municipal_alt", lang, indicator=f"{indicator} {BY_ID[indicator].name.get(lang)}",
             period=_t(period, lang), units=names)
    marks = period_marks(trends, period, reference)
    figure = figure_html(municipal_figure(trends, indicator, lang, top, marks), alt)
    return "\n".join([heading(_t("by_municipality", lang), 2), marks_html(marks, reference, lang), figure,
                      trend_tables_html(trends, lang, marks=marks)])
