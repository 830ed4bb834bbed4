"""Everything the municipality report (ledelsesinformation) shows, computed from one snapshot.

``build_municipality_report`` opens the snapshot read-only, computes every section as small data
frames and closes it again; ``html_parts`` turns the result into HTML and ``charts`` draws it.
Nothing here is language-specific except labels the snapshot already holds in both languages
(``label_da`` / ``label_en``).

Period membership (a year, or a quarter for the quarterly edition; documented for readers in the
report's "how to read" section):

- referred: the course registration's referral date is in the period;
- started: a complete start registration whose meeting date is in the period;
- completed: a complete end registration with course status *completed* whose meeting date is in
  the period;
- K1-K6, drop-out reasons and the start-to-end changes: the end meeting's period (as in
  ``hjertekom_core.indicators``), complete start and end registrations only.

The own municipality is shown with exact numbers. Everything the page shows of other units (the
cluster, region and nation in the comparison, every municipality's point in the funnel plots, the
nation per quarter in the run charts) goes through ``disclosure.protect`` as one table per
period type (``shown_to``): counts 1-4 as "< 5", and a count that would give a hidden one away
(the region minus the own exact figure and the shown municipalities, say) withheld as "..".

``publish=True`` makes the edition for publication: the own municipality is protected like every
other unit (no exact count below 5, no proportion or status of fewer than 5 courses), key figures
and drop-out reasons are protected as tables with their totals, and a start-to-end change is
shown only for at least 5 courses (a mean of one or two people is their values).

Page 1 shows K1-K6 for the period and the two before it (the year's edition: three years; the
quarterly: three quarters), the nation beside each, each period protected as its own table, and the
key messages drawn from them (``key_messages``). The run charts carry Anhøj's runs analysis
(``runs.py``) over the quarters that are neither unfinished on the snapshot's reference date nor
among the municipality's first (start-up) quarters.

Results that do not depend on the municipality (the indicators of every unit, completeness of
every municipality) are kept per snapshot content hash in a small cache: a batch of 98 reports in
one kernel computes them once. Snapshots are immutable, so a hash names one set of numbers.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from hjertekom_core.config import Config, load_config
from hjertekom_core.contract import UNKNOWN, ContractRegistry, Text
from hjertekom_core.errors import ReportError
from hjertekom_core import disclosure
from hjertekom_core.indicators import INDICATORS, IndicatorSettings, compute, settings_from_config
from hjertekom_core.indicators import data_quality
from hjertekom_core.indicators.completeness import field_completeness, open_courses
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.indicators.key_figures import AGE_BANDS, SEXES, course_events_sql
from hjertekom_core.indicators.counting import reference_date
from hjertekom_core.indicators.stats import control_limits
from hjertekom_core.reports import runs
from hjertekom_core.reports.guidance import Guidance, load_comments, load_guidance
from hjertekom_core.reports.periods import PeriodError, ReportPeriod, parse_period, quarter_end
from hjertekom_core.reports.periods import quarters_ending as _quarters_ending
from hjertekom_core.snapshot.reader import open_snapshot


class ReportInputError(ReportError):
    """A report parameter is unusable (period, language, snapshot path)."""


class UnknownMunicipality(ReportInputError):
    """The municipality code is not in the snapshot's municipality list."""

    def __init__(self, code: object) -> None:
        self.code = code
        super().__init__(f"unknown municipality code {code!r}: not in the snapshot's list of municipalities")


LANGUAGES = ("da", "en")
#: Quarters in a run chart, ending with the period's last quarter. Five years: with the median of
#: the series as centre line, at most half the points lie on one side, and Anhøj's limit for the
#: longest run (round(log2(n) + 3): 7 at 12-23 points) could never be passed by 12 quarters.
RUN_CHART_QUARTERS = 20
#: A municipality's first quarters with courses are start-up quarters (registration being taken
#: into use): marked on the run chart and left out of its median and runs analysis.
STARTUP_QUARTERS = 2
#: Periods on page 1: the report's and the ones before it.
HISTORY_PERIODS = 3
#: Key messages on page 1, at most.
KEY_MESSAGES = 4
#: The funnel plot's control limits (two and three standard errors, as in the national guidance).
FUNNEL_LEVELS = (0.95, 0.998)

#: Start-to-end measures (columns of both hjertekom_start and hjertekom_end) and their display
#: decimals; labels and units come from the snapshot's codebook.
CHANGE_MEASURES: tuple[tuple[str, int], ...] = (
    ("walk_6min_m", 0), ("hads_anxiety", 1), ("hads_depression", 1), ("eq5d_index", 3),
    ("weight_kg", 1), ("bp_systolic", 0), ("bp_diastolic", 0),
)



# --- what the report holds ----------------------------------------------------------------------

@dataclass(frozen=True)
class SnapshotMeta:
    file_name: str
    created_at: pd.Timestamp | None
    content_hash: str
    pseudonymised: bool

    @property
    def short_hash(self) -> str:
        return self.content_hash[:9]


@dataclass(frozen=True)
class FunnelData:
    """What one funnel plot may show: only points whose proportion survives suppression.

    ``points``: unit, unit_name, numerator, denominator, proportion, own (bool); the own
    municipality exact, other municipalities only where ``suppress`` left the proportion visible.
    ``hidden``: other municipalities with data in the period that are not drawn.
    """

    indicator: str
    points: pd.DataFrame
    hidden: int
    centre: float | None
    standard: float | None

    def limits(self, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        if self.centre is None:
            nan = np.full(np.shape(n), np.nan)
            return nan, nan
        return control_limits(self.centre, n, level)


@dataclass(frozen=True)
class RunChartData:
    """One indicator per quarter: the own municipality exact (as published when the report is), the
    nation as shown to the municipality.

    ``marks`` per quarter: "unfinished" (not over on the reference date), "startup" (among the
    municipality's first STARTUP_QUARTERS quarters with courses) or "". The median and the runs
    analysis use only the unmarked quarters with a share."""

    indicator: str
    quarters: list[str]
    own: pd.DataFrame        # period, numerator, denominator, proportion (NaN where 0/0 or hidden)
    national: pd.DataFrame   # period, proportion (NaN where suppressed or no data)
    standard: float | None
    marks: tuple[str, ...] = ()

    @property
    def analysed(self) -> np.ndarray:
        """The shares the median and the runs analysis use (NaN elsewhere)."""
        values = self.own["proportion"].to_numpy(dtype=float).copy()
        if self.marks:
            values[np.array([m != "" for m in self.marks])] = np.nan
        return values

    @property
    def median(self) -> float | None:
        values = self.analysed
        values = values[~np.isnan(values)]
        return float(np.median(values)) if len(values) else None

    @property
    def runs(self) -> runs.RunsResult | None:
        return runs.analyse(list(self.analysed), self.median)


@dataclass(frozen=True)
class KeyMessage:
    """One key message of page 1: ``kind`` (below, improved, worsened, below_national, run_signal,
    all_met), the indicator it is about and the numbers the sentence needs; html_parts words it."""

    kind: str
    indicator: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyFigures:
    """Referred, started and completed in the period: totals and by diagnosis, sex and age band.

    Each breakdown has columns key, label_da, label_en, referred, started, completed. A course
    with several diagnoses counts once under each.
    """

    total: dict[str, int]
    by_diagnosis: pd.DataFrame
    by_sex: pd.DataFrame
    by_age: pd.DataFrame


@dataclass(frozen=True)
class MunicipalityReport:
    municipality: int
    name: str
    region_code: int
    region: str
    cluster: str | None
    period: str
    lang: str
    snapshot: SnapshotMeta
    settings: IndicatorSettings
    suppress_below: int
    has_data: bool
    key_figures: KeyFigures
    indicators: pd.DataFrame      # own municipality, exact: one row per indicator (RESULT_COLUMNS)
    comparison: pd.DataFrame      # own (exact), cluster, region, nation (suppressed); + "own" column
    funnels: dict[str, FunnelData]
    run_charts: dict[str, RunChartData]
    changes: pd.DataFrame         # measure, label_da, label_en, unit, decimals, n, mean_start, ...
    completeness: pd.DataFrame    # field completeness of this municipality, with form/field labels
    open_courses: dict[str, float]
    dropouts: pd.DataFrame        # code, label_da, label_en, count
    quarters: list[str] = field(default_factory=list)
    publish: bool = False         # the edition for publication: the own municipality protected too
    dropouts_total: object = None  # published: the total as shown (int, "< 5" or ".."); else the sum
    completeness_totals: dict[str, object] | None = None  # published: shown, answered, unknown as shown
    # Data quality beside the indicators (not in the edition for publication: course ids, small counts):
    exclusions: pd.DataFrame | None = None  # indicator, excluded, reason_da, reason_en: left out of a denominator
    impossible: pd.DataFrame | None = None  # course_id, rule, label_da, label_en: counted in no indicator
    notes: pd.DataFrame | None = None       # indicator, note, label_da, label_en, courses (e.g. K3's other test)
    # Page 1 and the indicator pages:
    history: pd.DataFrame | None = None     # indicator, period, own_* and national_* (as shown), oldest first
    history_periods: list[str] = field(default_factory=list)
    messages: list[KeyMessage] = field(default_factory=list)
    guidance: Guidance | None = None        # per indicator: why, how to read, what to do (data_contracts)
    comments: dict[str, str] = field(default_factory=dict)  # the coordinator's texts: indicator id or "samlet"
    reference: Any = None                   # the date the data describe (datetime.date)

    @property
    def kind(self) -> str:
        """'year' or 'quarter'."""
        return parse_period(self.period).kind

    @property
    def completion_limit_days(self) -> int:
        return self.settings.completion_limit_days


# --- parameters ----------------------------------------------------------------------------------

def check_period(period: str) -> ReportPeriod:
    """'2025' -> the year, '2025-Q3' -> the quarter; anything else is a ReportInputError."""
    try:
        return parse_period(period)
    except PeriodError as exc:
        raise ReportInputError(str(exc)) from None


def quarters_ending(period: int | ReportPeriod, count: int = RUN_CHART_QUARTERS) -> list[str]:
    """The ``count`` quarters ending with the period's last quarter (Q4 of a year), as 'YYYY-Qn'."""
    last = ReportPeriod(period).last_quarter if isinstance(period, int) else period.last_quarter
    return _quarters_ending(last, count)


# --- caches (per kernel; snapshots are immutable) -----------------------------------------------

_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 16


def cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``make()``'s value, kept under ``key`` (naming an immutable snapshot) for the next report in
    this kernel: the management report's and any programme report's every-unit results."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = make()
    _CACHE[key] = value
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


@lru_cache(maxsize=4)
def _contracts(contracts_dir: Path) -> ContractRegistry:
    return ContractRegistry(contracts_dir)


# --- the build -----------------------------------------------------------------------------------

def build_municipality_report(snapshot: str | Path, municipality: int, period: str, *, lang: str = "da",
                              config: Config | None = None, publish: bool = False,
                              comments_file: str | Path | None = None) -> MunicipalityReport:
    """Every section of one municipality's report, from one read-only pass over the snapshot.

    ``period``: a year ('2025') or a quarter ('2025-Q3'). ``publish``: the edition for publication,
    where the municipality's own figures follow the small-number rules too. ``comments_file``: the
    coordinator's comments (guidance.load_comments)."""
    chosen = check_period(period)
    period = chosen.text
    if lang not in LANGUAGES:
        raise ReportInputError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    path = Path(snapshot)
    if not path.is_file():
        raise ReportInputError(f"snapshot file not found: {path}")
    try:
        code = int(municipality)
    except (TypeError, ValueError):
        raise UnknownMunicipality(municipality) from None
    config = config or load_config()
    settings = settings_from_config(config)
    threshold = config.suppress_below
    comments = load_comments(comments_file, municipality=code, period=period) if comments_file else {}
    with open_snapshot(path)[0] as con:  # checked: a HjerteKom snapshot of a known version
        unit = con.execute("SELECT name, region_code, region FROM municipalities WHERE code = ?", [code]).fetchone()
        if unit is None:
            raise UnknownMunicipality(code)
        name, region_code, region = unit
        meta = snapshot_meta(con, path)
        if meta.pseudonymised:  # no course ids (the impossible-data list names them) and coarse dates
            raise ReportInputError(
                f"{path.name} er pseudonymiseret; ledelsesinformation laves af et identificeret snapshot (forløbs-id "
                f"og nøjagtige datoer) / {path.name} is pseudonymised; a management report needs an identified "
                "snapshot (course ids and exact dates)")
        identity = meta.content_hash or f"{path.resolve()}:{path.stat().st_mtime_ns}"
        yearly, quarterly, hierarchy, reference = cached(("indicators", identity, repr(settings)), lambda: (
            compute(con, settings, period="year"),
            compute(con, settings, period="quarter", levels=("municipality", "national")),
            disclosure.Hierarchy.from_snapshot(con, settings.clusters), reference_date(con)))
        if chosen.kind == "quarter":  # every level per quarter: the quarterly edition's "year"
            yearly = cached(("quarters", identity, repr(settings)),
                             lambda: compute(con, settings, period="quarter"))
        completeness, still_open = cached(("completeness", identity, period, str(config.contracts_dir), PROGRAMME),
                                           lambda: form_completeness(con, _contracts(config.contracts_dir), chosen))
        key_figures = _key_figures(con, code, chosen, threshold if publish else None)
        changes = _changes(con, code, chosen)
        dropouts = _dropouts(con, code, chosen)
        has_data = _has_data(con, code, chosen)
        quality = None if publish else _data_quality(con, settings, code, period, chosen.kind)
    cluster = next((c for c, codes in settings.clusters.items() if code in codes), None)
    quarters = quarters_ending(chosen)
    shown, shown_quarterly = shown_to(yearly, quarterly, hierarchy, code, period, quarters, cluster, str(region_code),
                                      threshold, publish=publish, kind=chosen.kind)
    own_rows = _own_indicators(shown if publish else yearly, code, name, period, settings)
    history_periods = [chosen.shifted(k - HISTORY_PERIODS + 1).text for k in range(HISTORY_PERIODS)]
    history = history_table(yearly, shown, hierarchy, code, name, history_periods, cluster, str(region_code), threshold,
                       settings, publish=publish, kind=chosen.kind)
    marks = run_chart_marks(quarterly, code, quarters, reference)  # from the exact quarters: published ones start late
    run_charts = {i.id: run_chart_data(shown_quarterly if publish else quarterly, shown_quarterly, code, quarters,
                                   i.id, settings, marks) for i in INDICATORS}
    if publish:  # the quarters page 1 shows, as it shows them; n only where no count of its year is hidden
        hidden = history["own_numerator"].map(_is_mark) | history["own_denominator"].map(_is_mark)
        run_charts = {k: published_run_counts(_aligned(v, history) if chosen.kind == "quarter" else v,
                                              set(history.loc[hidden & (history["indicator"] == k), "period"]))
                      for k, v in run_charts.items()}
    dropouts_total = completeness_totals = None
    own_fields = own_completeness(completeness, code, _contracts(config.contracts_dir))
    own_open = own_open_courses(still_open, code)
    if publish:
        changes = _published_changes(changes, threshold)
        dropouts, dropouts_total = _published_dropouts(dropouts, threshold)
        own_fields, completeness_totals, own_open = _published_completeness(own_fields, own_open, threshold)
    return MunicipalityReport(
        municipality=code, name=name, region_code=int(region_code), region=region, cluster=cluster,
        period=period, lang=lang, snapshot=meta, settings=settings, suppress_below=threshold,
        has_data=has_data, key_figures=key_figures, indicators=own_rows,
        comparison=_comparison(own_rows, shown, period, cluster, int(region_code), region),
        funnels={i.id: funnel_data(shown, yearly, code, period, i.id) for i in INDICATORS},
        run_charts=run_charts,
        changes=changes,
        completeness=own_fields, open_courses=own_open,
        dropouts=dropouts, quarters=quarters, publish=publish, dropouts_total=dropouts_total,
        completeness_totals=completeness_totals,
        **(_exclusions(own_rows, settings) | quality if quality is not None else {}),
        history=history, history_periods=history_periods,
        messages=key_messages(history, history_periods, run_charts) if has_data else [],  # type: ignore[arg-type]
        guidance=load_guidance(config.contracts_dir), comments=comments, reference=reference,
    )


def _data_quality(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings, code: int,
                  period: str, kind: str = "year") -> dict[str, pd.DataFrame]:
    """The own municipality's impossible data (by course id) and the indicators' notes in the period."""
    impossible = data_quality.impossible_courses(con, settings)
    notes = data_quality.indicator_notes(con, settings, period=kind)
    return {"impossible": impossible[impossible["municipality_code"] == code].reset_index(drop=True),
            "notes": notes[(notes["municipality_code"] == code) & (notes["period"].astype(str) == period)]
            .reset_index(drop=True)}


def _exclusions(own_rows: pd.DataFrame, settings: IndicatorSettings) -> dict[str, pd.DataFrame]:
    """Per indicator, the own courses left out of its denominator because a deciding value is unknown."""
    reasons = data_quality.exclusion_reasons(settings)
    rows = [{"indicator": r["indicator"], "excluded": int(r["excluded"]),
             "reason_da": reasons[r["indicator"]].da, "reason_en": reasons[r["indicator"]].en}
            for _, r in own_rows.iterrows() if int(r.get("excluded", 0) or 0) > 0]
    return {"exclusions": pd.DataFrame(rows, columns=["indicator", "excluded", "reason_da", "reason_en"])}


def snapshot_meta(con: duckdb.DuckDBPyConnection, path: Path) -> SnapshotMeta:
    try:
        row = con.execute("SELECT created_at, content_hash, pseudonymised FROM snapshot_info").fetchone()
    except duckdb.CatalogException:
        row = None  # a snapshot without metadata (an in-memory test layout written to a file)
    if row is None:
        return SnapshotMeta(path.name, None, "", False)
    return SnapshotMeta(path.name, pd.Timestamp(row[0]) if row[0] is not None else None, str(row[1] or ""),
                        bool(row[2]))


# --- key figures ---------------------------------------------------------------------------------

def _labels(pairs: Sequence[tuple[str, Text]]) -> pd.DataFrame:
    return pd.DataFrame({"key": [k for k, _ in pairs], "label_da": [t.da for _, t in pairs],
                         "label_en": [t.en for _, t in pairs]})


def _key_figures(con: duckdb.DuckDBPyConnection, code: int, period: ReportPeriod,
                 threshold: int | None = None) -> KeyFigures:
    """The shared key figures (indicators/key_figures.py) of one municipality and period; with a
    ``threshold`` as published (``_published_key_figures``)."""
    identified = bool(con.execute("SELECT count(*) FROM information_schema.columns "
                                  "WHERE table_name = 'citizens' AND column_name = 'birth_date'").fetchone()[0])
    rows = con.execute(f"""
        SELECT course_id, any_value(diagnoses) AS diagnosis_groups, any_value(sex) AS sex,
               any_value(age_band) AS age_band,
               bool_or(event = 'referred') AS referred, bool_or(event = 'started') AS started,
               bool_or(event = 'completed') AS completed
        FROM ({course_events_sql(birth_date=identified)})
        WHERE municipality_code = $code AND {period.contains_sql("on_date")}
        GROUP BY course_id""", {"code": code}).df()
    total = {k: int(rows[k].sum()) for k in ("referred", "started", "completed")}

    diagnosis_codes = _codelist(con, "hjertekom_course", "diagnosis_groups")
    # A course without diagnosis groups (NULL, or an empty list) counts under "unknown".
    diagnoses = rows.assign(key=rows["diagnosis_groups"].map(
        lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray)) and len(v) else [UNKNOWN])).explode("key")
    sexes = rows.assign(key=rows["sex"].where(rows["sex"].isin([k for k, _ in SEXES]), UNKNOWN))
    ages = rows.assign(key=rows["age_band"])
    figures = KeyFigures(
        total=total,
        by_diagnosis=_breakdown(diagnoses, diagnosis_codes),
        by_sex=_breakdown(sexes, _labels(SEXES)),
        by_age=_breakdown(ages, _labels([(k, t) for k, _, t in AGE_BANDS])),
    )
    if threshold is None:
        return figures
    return _published_key_figures(figures, {"diagnosis": diagnoses, "sex": sexes, "age": ages}, rows, threshold)


_EVENTS = ("referred", "started", "completed")


def _published_key_figures(figures: KeyFigures, members: dict[str, pd.DataFrame], rows: pd.DataFrame,
                           threshold: int) -> KeyFigures:
    """Key figures for publication: per event, the total and every breakdown are one table over
    the courses (a course with several diagnoses is in each of them), protected together: no
    count of 1-4, and none that the total minus the other cells of a breakdown would give back."""
    frames = {"diagnosis": figures.by_diagnosis, "sex": figures.by_sex, "age": figures.by_age}
    out = {name: frame.copy() for name, frame in frames.items()}
    total: dict[str, object] = {}
    for event in _EVENTS:
        courses = frozenset(rows.loc[rows[event].astype(bool), "course_id"])
        cells = [disclosure.Cell(("total",), courses, rank=(1,))]
        values = [int(figures.total[event])]
        for name, frame in frames.items():
            chosen = members[name][members[name][event].astype(bool)]
            for key in frame["key"]:
                cells.append(disclosure.Cell((name, key), frozenset(chosen.loc[chosen["key"] == key, "course_id"]),
                                             rank=(0,)))
                values.append(int(frame.loc[frame["key"] == key, event].iloc[0]))
        shown = iter(disclosure.protect_breakdown(cells, values, threshold))
        total[event] = next(shown)
        for name, frame in frames.items():
            out[name][event] = pd.Series([next(shown) for _ in range(len(frame))], index=frame.index, dtype=object)
    return KeyFigures(total=total, by_diagnosis=out["diagnosis"], by_sex=out["sex"],  # type: ignore[arg-type]
                      by_age=out["age"])


def _breakdown(rows: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Counts per key in the order of ``labels``, every listed key shown (0 too); unknown last."""
    counts = rows.groupby("key")[["referred", "started", "completed"]].sum()
    keys = list(labels["key"])
    if UNKNOWN in counts.index and UNKNOWN not in keys:
        labels = pd.concat([labels, pd.DataFrame({"key": [UNKNOWN], "label_da": ["Uoplyst"],
                                                  "label_en": ["Unknown"]})], ignore_index=True)
    out = labels.merge(counts, left_on="key", right_index=True, how="left")
    for column in ("referred", "started", "completed"):
        out[column] = out[column].fillna(0).astype("int64")
    return out.reset_index(drop=True)


def _codelist(con: duckdb.DuckDBPyConnection, table: str, column: str) -> pd.DataFrame:
    """The code list behind a snapshot column (named in the codebook): key, label_da, label_en."""
    return con.execute("""
        SELECT l.code AS key, l.label_da, l.label_en
        FROM codebook b JOIN codelists l ON l.codelist = b.codelist
        WHERE b.table_name = ? AND b.column_name = ?""", [table, column]).df()


def _has_data(con: duckdb.DuckDBPyConnection, code: int, period: ReportPeriod) -> bool:
    """A course of the municipality with a referral, start or end date in the period (any status)."""
    found = con.execute(f"""
        SELECT count(*) FROM courses c
        LEFT JOIN hjertekom_course k ON k.course_id = c.course_id
        LEFT JOIN hjertekom_start s ON s.course_id = c.course_id
        LEFT JOIN hjertekom_end e ON e.course_id = c.course_id
        WHERE c.municipality_code = $code AND c.programme = 'hjertekom'
          AND ({period.contains_sql("k.referral_date")} OR {period.contains_sql("s.meeting_date")}
               OR {period.contains_sql("e.meeting_date")})""", {"code": code}).fetchone()
    return bool(found and found[0])


# --- indicators ----------------------------------------------------------------------------------

def _own_indicators(yearly: pd.DataFrame, code: int, name: str, period: str,
                    settings: IndicatorSettings, indicators: Sequence[str] | None = None) -> pd.DataFrame:
    """The own municipality's exact row per indicator (``indicators``, default K1-K6); an indicator
    without a row is 0/0 (no data)."""
    mine = yearly[(yearly["level"] == "municipality") & (yearly["unit"] == str(code)) & (yearly["period"] == period)]
    rows = []
    for ind in indicators if indicators is not None else [i.id for i in INDICATORS]:
        found = mine[mine["indicator"] == ind]
        if len(found):
            rows.append(found.iloc[0].to_dict())
        else:
            standard = settings.standards.get(ind)
            rows.append({"indicator": ind, "level": "municipality", "unit": str(code), "unit_name": name,
                         "period": period, "numerator": 0, "denominator": 0, "unknown": 0, "excluded": 0,
                         "proportion": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "standard": np.nan if standard is None else float(standard), "status": "no_data"})
    return pd.DataFrame(rows, columns=list(yearly.columns))


def shown_to(yearly: pd.DataFrame, quarterly: pd.DataFrame, hierarchy: disclosure.Hierarchy, code: int,
             period: str, quarters: Sequence[str], cluster: str | None, region: str, threshold: int, *,
             publish: bool = False, kind: str = "year") -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the page shows of the indicators, as ``disclosure.protect`` lets municipality ``code``
    see it: (the year's rows, the run charts' quarters).

    The year is one table: the own municipality (exact unless ``publish``), every other
    municipality's numerator and denominator (the funnel plots draw them, both or neither), and
    the counts of the own cluster, region and the nation. The quarters are another: the own
    municipality and the nation (the run charts draw their shares; modelled as if their counts
    were shown). The run charts show shares, not counts, so no year-minus-quarters equation is
    shown and the two tables are protected apart.
    """
    own = () if publish else (code,)
    counts = ["numerator", "denominator", "unknown"]
    in_year = yearly["period"].astype(str) == period
    level, unit = yearly["level"], yearly["unit"].astype(str)
    is_own = (level == "municipality") & (unit == str(code))
    aggregate = (((level == "cluster") & (unit == str(cluster))) | ((level == "region") & (unit == region))
                 | (level == "national"))
    published = pd.DataFrame({c: in_year & (is_own | aggregate | ((level == "municipality") & (c != "unknown")))
                              for c in counts})
    year = disclosure.protect(yearly, hierarchy, own=own, threshold=threshold, published=published,
                              complete=[("municipality", kind)], linked=(level == "municipality") & ~is_own)
    in_window = quarterly["period"].astype(str).isin(list(quarters))
    q_level, q_unit = quarterly["level"], quarterly["unit"].astype(str)
    q_rows = in_window & (((q_level == "municipality") & (q_unit == str(code))) | (q_level == "national"))
    by_quarter = disclosure.protect(quarterly, hierarchy, own=own, threshold=threshold,
                                    published=pd.DataFrame({c: q_rows for c in counts[:2]}))
    return year, by_quarter


def _comparison(own_rows: pd.DataFrame, shown: pd.DataFrame, period: str, cluster: str | None,
                region_code: int, region: str) -> pd.DataFrame:
    """Per indicator: the own municipality (exact), then its cluster, region and the nation (suppressed).

    A unit without a row in the period is shown as 0/0 (no data).
    """
    units = [("cluster", cluster, cluster)] if cluster is not None else []
    units += [("region", str(region_code), region), ("national", "DK", "Hele landet")]
    in_period = shown[shown["period"] == period]
    frames = []
    for ind in INDICATORS:
        frames.append(own_rows[own_rows["indicator"] == ind.id].assign(own=True))
        for level, unit, unit_name in units:
            found = in_period[(in_period["indicator"] == ind.id) & (in_period["level"] == level)
                              & (in_period["unit"] == unit)]
            if not len(found):
                found = pd.DataFrame([{"indicator": ind.id, "level": level, "unit": unit, "unit_name": unit_name,
                                       "period": period, "numerator": 0, "denominator": 0, "unknown": 0,
                                       "proportion": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                       "standard": own_rows.loc[own_rows["indicator"] == ind.id, "standard"].iloc[0],
                                       "status": "no_data"}])
            frames.append(found.assign(own=False))
    return pd.concat(frames, ignore_index=True)


def funnel_data(shown: pd.DataFrame, yearly: pd.DataFrame, code: int, period: str, indicator: str) -> FunnelData:
    """The points of one funnel plot: the municipalities whose numerator and denominator the
    protected year (``shown``, from ``shown_to``) shows, both of them (a point gives both away).
    ``yearly``, the exact results, only says how many municipalities with data are left out. The
    centre line is the nation's proportion as shown.
    """
    rows = shown[(shown["indicator"] == indicator) & (shown["period"].astype(str) == period)]
    municipalities = rows[rows["level"] == "municipality"]
    own = municipalities["unit"].astype(str) == str(code)
    visible = municipalities["proportion"].notna()
    points = municipalities[visible].assign(own=own[visible])
    points = points[["unit", "unit_name", "numerator", "denominator", "proportion", "ci_low", "ci_high", "own"]].copy()
    points["numerator"] = points["numerator"].astype("int64")
    points["denominator"] = points["denominator"].astype("int64")
    exact = yearly[(yearly["indicator"] == indicator) & (yearly["period"].astype(str) == period)
                   & (yearly["level"] == "municipality") & (yearly["unit"].astype(str) != str(code))]
    with_data = set(exact.loc[exact["denominator"] > 0, "unit"].astype(str))
    hidden = len(with_data - set(points.loc[~points["own"], "unit"].astype(str)))
    national = rows[rows["level"] == "national"]["proportion"]
    centre = float(national.iloc[0]) if len(national) and pd.notna(national.iloc[0]) else None
    standards = rows["standard"].dropna()
    return FunnelData(indicator, points.reset_index(drop=True), hidden, centre,
                      float(standards.iloc[0]) if len(standards) else None)


def run_chart_data(quarterly: pd.DataFrame, shown: pd.DataFrame, code: int, quarters: Sequence[str], indicator: str,
               settings: IndicatorSettings, marks: tuple[str, ...] = ()) -> RunChartData:
    window = pd.DataFrame({"period": list(quarters)})
    mine = quarterly[(quarterly["indicator"] == indicator) & (quarterly["level"] == "municipality")
                     & (quarterly["unit"] == str(code))]
    own = window.merge(mine[["period", "numerator", "denominator", "proportion"]], on="period", how="left")
    for column in ("numerator", "denominator"):  # exact counts, or as published ("< 5", "..")
        values = own[column].astype(object).where(own[column].notna(), 0)
        own[column] = values.astype("int64") if values.map(lambda v: not isinstance(v, str)).all() else values
    own["proportion"] = own["proportion"].astype(float)
    national = shown[(shown["indicator"] == indicator) & (shown["level"] == "national")][["period", "proportion"]]
    national = window.merge(national, on="period", how="left")
    national["proportion"] = national["proportion"].astype(float)
    standard = settings.standards.get(indicator)
    return RunChartData(indicator, list(quarters), own, national, None if standard is None else float(standard),
                        marks)


def run_chart_marks(quarterly: pd.DataFrame, code: int, quarters: Sequence[str], reference: Any) -> tuple[str, ...]:
    """Per quarter: "unfinished" when it had not ended on the reference date, "startup" for the
    municipality's first STARTUP_QUARTERS quarters with a course in any indicator, else ""."""
    mine = quarterly[(quarterly["level"] == "municipality") & (quarterly["unit"] == str(code))]
    with_courses = mine[pd.to_numeric(mine["denominator"], errors="coerce").fillna(1) > 0]
    first = sorted(set(with_courses["period"].astype(str)))[:1]
    startup = set(_quarters_from(first[0], STARTUP_QUARTERS)) if first else set()
    marks = []
    for quarter in quarters:
        if reference is not None and quarter_end(quarter) > reference:
            marks.append("unfinished")
        elif quarter in startup:
            marks.append("startup")
        else:
            marks.append("")
    return tuple(marks)


def _quarters_from(first: str, count: int) -> list[str]:
    year, quarter = int(first[:4]), int(first[-1])
    return [f"{i // 4}-Q{i % 4 + 1}" for i in range(year * 4 + quarter - 1, year * 4 + quarter - 1 + count)]


def _is_mark(value: object) -> bool:
    return isinstance(value, str)


def published_run_counts(chart: RunChartData, hidden_years: set[str] | frozenset[str] = frozenset()) -> RunChartData:
    """The edition for publication prints n beside a quarter only when no quarter of the same year
    has a hidden count (a year's total on page 1 minus its shown quarters would give it back) and
    the year's own counts on page 1 (``hidden_years``) are not hidden (its quarters' n times their
    shares would add up to them)."""
    own = chart.own.copy()
    years = own["period"].str[:4]
    hidden = own["numerator"].map(_is_mark) | own["denominator"].map(_is_mark)
    blind = years.isin(set(years[hidden]) | set(hidden_years))
    own["denominator"] = own["denominator"].astype(object).where(~blind, disclosure.WITHHELD)
    return RunChartData(chart.indicator, chart.quarters, own, chart.national, chart.standard, chart.marks)


def _aligned(chart: RunChartData, history: pd.DataFrame) -> RunChartData:
    """A quarterly edition's run chart showing the quarters of page 1 exactly as page 1 shows them
    (each protected there as its own table): never more than that."""
    own, national = chart.own.copy(), chart.national.copy()
    mine = history[history["indicator"] == chart.indicator].set_index("period")
    for i, quarter in enumerate(own["period"]):
        if quarter in mine.index:
            row = mine.loc[quarter]
            own.loc[i, "proportion"] = row["own_proportion"]
            own["denominator"] = own["denominator"].astype(object)
            own["numerator"] = own["numerator"].astype(object)
            own.loc[i, "denominator"] = row["own_denominator"]
            own.loc[i, "numerator"] = row["own_numerator"]
            national.loc[i, "proportion"] = row["national_proportion"]
    return RunChartData(chart.indicator, chart.quarters, own, national, chart.standard, chart.marks)


# --- page 1: three periods and the key messages -----------------------------------------------------

_HISTORY_COLUMNS = ("numerator", "denominator", "proportion", "ci_low", "ci_high", "status")


def history_table(table: pd.DataFrame, shown: pd.DataFrame, hierarchy: disclosure.Hierarchy, code: int, name: str,
                  periods: Sequence[str], cluster: str | None, region: str, threshold: int,
                  settings: IndicatorSettings, *, publish: bool, kind: str,
                  indicators: Sequence[str] | None = None) -> pd.DataFrame:
    """Per indicator (``indicators``, default K1-K6) and period (oldest first): the own municipality
    (exact, or as published) and the nation as shown. Each earlier period is protected as its own
    table (``_own_and_nation``); the report's period is the ``shown`` table of the other sections,
    so the figures agree."""
    frames = []
    for period in periods:
        protected = shown if period == periods[-1] else _own_and_nation(table, hierarchy, code, period, threshold,
                                                                          publish=publish)
        own = _own_indicators(protected if publish else table, code, name, period, settings, indicators)
        national = protected[(protected["level"] == "national") & (protected["period"].astype(str) == period)]
        national = national.set_index("indicator")
        for _, row in own.iterrows():
            ind = str(row["indicator"])
            entry: dict[str, Any] = {"indicator": ind, "period": period, "standard": row["standard"]}
            entry |= {f"own_{c}": row[c] for c in _HISTORY_COLUMNS}
            there = ind in national.index
            entry |= {f"national_{c}": (national.loc[ind, c] if there else np.nan) for c in _HISTORY_COLUMNS}
            frames.append(entry)
    out = pd.DataFrame(frames)
    for column in ("own_proportion", "own_ci_low", "own_ci_high", "national_proportion"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def _own_and_nation(table: pd.DataFrame, hierarchy: disclosure.Hierarchy, code: int, period: str, threshold: int,
                    *, publish: bool) -> pd.DataFrame:
    """An earlier period of page 1 as one protected table of what the page shows of it: the own
    municipality (exact unless ``publish``) and the nation. The nation minus the own municipality is
    the rest of the country, a group of unlisted municipalities that protect() keeps from being 1-4.
    (The whole year with every funnel point, as in that year's own report, cost a second a report.)"""
    level, unit = table["level"], table["unit"].astype(str)
    rows = (table["period"].astype(str) == period) & (((level == "municipality") & (unit == str(code)))
                                                      | (level == "national"))
    counts = ["numerator", "denominator", "unknown"]
    return disclosure.protect(table, hierarchy, own=() if publish else (code,), threshold=threshold,
                              published=pd.DataFrame({c: rows for c in counts}))


def key_messages(history: pd.DataFrame, periods: Sequence[str], run_charts: dict[str, RunChartData],
                 limit: int = KEY_MESSAGES) -> list[KeyMessage]:
    """Up to ``limit`` messages, most important first, from what page 1 shows: indicators statistically
    below their standard (the whole CI below it), the largest improvement and decline since the
    period before, indicators whose CI lies wholly below the national share, run-chart signals;
    "all met" when no indicator is below its standard. Hidden figures give no message."""
    now = history[history["period"] == periods[-1]].set_index("indicator")
    before = history[history["period"] == periods[-2]].set_index("indicator") if len(periods) > 1 else None
    below = [KeyMessage("below", ind, {"share": r.own_proportion, "ci_high": r.own_ci_high, "standard": r.standard})
             for ind, r in now.iterrows() if r.own_status == "below"]
    messages = below[:2]
    if before is not None:
        change = (now["own_proportion"] - before["own_proportion"].reindex(now.index)).dropna()
        if len(change) and change.max() > 0:
            ind = str(change.idxmax())
            messages.append(KeyMessage("improved", ind, {"before": before.loc[ind, "own_proportion"],
                                                          "now": now.loc[ind, "own_proportion"],
                                                          "previous": periods[-2]}))
        if len(change) and change.min() < 0:
            ind = str(change.idxmin())
            messages.append(KeyMessage("worsened", ind, {"before": before.loc[ind, "own_proportion"],
                                                          "now": now.loc[ind, "own_proportion"],
                                                          "previous": periods[-2]}))
    for ind, r in now.iterrows():
        if pd.notna(r.own_ci_high) and pd.notna(r.national_proportion) and r.own_ci_high < r.national_proportion:
            messages.append(KeyMessage("below_national", str(ind), {"share": r.own_proportion,
                                                                    "national": r.national_proportion}))
    for ind, chart in run_charts.items():
        result = chart.runs
        if result is not None and result.signal:
            messages.append(KeyMessage("run_signal", ind, {"shift": result.shift,
                                                           "few_crossings": result.few_crossings}))
    with_standard = now[now["standard"].notna() & now["own_status"].isin(["met", "not_met", "below"])]
    if not below and len(with_standard):
        messages.insert(0, KeyMessage("all_met", None, {"met": int((with_standard["own_status"] == "met").sum()),
                                                        "count": len(with_standard)}))
    return messages[:limit]


# --- start-to-end change ---------------------------------------------------------------------------

def _changes(con: duckdb.DuckDBPyConnection, code: int, period: ReportPeriod) -> pd.DataFrame:
    """Paired start/end means per measure (both values present), mean change and its 95 % CI (t)."""
    parts = []
    for measure, _ in CHANGE_MEASURES:
        both = f's."{measure}" IS NOT NULL AND e."{measure}" IS NOT NULL'
        parts += [f'count(*) FILTER (WHERE {both}) AS "n_{measure}"',
                  f'avg(s."{measure}") FILTER (WHERE {both}) AS "start_{measure}"',
                  f'avg(e."{measure}") FILTER (WHERE {both}) AS "end_{measure}"',
                  f'stddev_samp(e."{measure}" - s."{measure}") FILTER (WHERE {both}) AS "sd_{measure}"']
    row = con.execute(f"""
        SELECT {', '.join(parts)}
        FROM courses c
        JOIN hjertekom_start s ON s.course_id = c.course_id AND s.status = 'complete'
        JOIN hjertekom_end e ON e.course_id = c.course_id AND e.status = 'complete'
        WHERE c.programme = '{PROGRAMME}' AND c.municipality_code = $code
          AND {period.contains_sql("e.meeting_date")}""", {"code": code}).df().iloc[0]
    labels = con.execute("SELECT column_name, label_da, label_en, unit FROM codebook WHERE table_name = "
                         "'hjertekom_start'").df().set_index("column_name")
    out = []
    for measure, decimals in CHANGE_MEASURES:
        n = int(row[f"n_{measure}"])
        start, end, sd = (float(row[f"{k}_{measure}"]) if pd.notna(row[f"{k}_{measure}"]) else np.nan
                          for k in ("start", "end", "sd"))
        change = end - start if n else np.nan
        if n >= 2 and pd.notna(sd):
            half = float(student_t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
            low, high = change - half, change + half
        else:
            low = high = np.nan
        label = labels.loc[measure] if measure in labels.index else None
        out.append({"measure": measure,
                    "label_da": label["label_da"] if label is not None else measure,
                    "label_en": label["label_en"] if label is not None else measure,
                    "unit": (label["unit"] or "") if label is not None else "", "decimals": decimals, "n": n,
                    "mean_start": start, "mean_end": end, "mean_change": change, "ci_low": low, "ci_high": high})
    return pd.DataFrame(out)


def _published_changes(changes: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Start-to-end changes for publication: n from 1 to threshold - 1 as "< 5", and no mean or CI
    of fewer than ``threshold`` courses (the mean of one course is that citizen's values)."""
    out = changes.copy()
    few = out["n"] < threshold
    for column in ("mean_start", "mean_end", "mean_change", "ci_low", "ci_high"):
        out.loc[few, column] = np.nan
    out["n"] = out["n"].astype(object).where(~(few & (out["n"] > 0)), disclosure.primary_mark(threshold))
    return out


# --- completeness ----------------------------------------------------------------------------------

@contextmanager
def _only_courses(con: duckdb.DuckDBPyConnection, where: str) -> Iterator[None]:
    """Within the block, ``courses`` means only the courses matching ``where`` (alias c).

    The completeness queries join every form to ``courses``; a temporary view of that name hides
    the snapshot's table (DuckDB looks in the temporary catalogue first), so the core's functions
    count just these courses without a period parameter of their own.
    """
    database = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    table = '"' + str(database).replace('"', '""') + '".main.courses'
    con.execute(f"CREATE OR REPLACE TEMP VIEW courses AS SELECT * FROM {table} c WHERE {where}")
    try:
        yield
    finally:
        con.execute("DROP VIEW IF EXISTS temp.main.courses")


def form_completeness(con: duckdb.DuckDBPyConnection, contracts: ContractRegistry, period: ReportPeriod,
                  programme: str = PROGRAMME) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Field completeness of every municipality's courses of ``programme`` with a date in the
    period, and per municipality the courses started in the period without a complete end
    registration. The dates are the forms' ``date_field``s and the start is the contract's
    (``Contract.start_and_end``): for hjertekom the referral date and the start and end meetings.
    Any programme's report (``programme.py``) counts its forms the same way."""
    contract = contracts[programme]

    def dated(form: str) -> str | None:
        column = contract.form(form).date_field
        if column is None:
            return None
        return f"SELECT course_id FROM {_quoted(f'{programme}_{form}')} WHERE {period.contains_sql(_quoted(column))}"

    queries = [q for q in (dated(form) for form in contract.forms) if q is not None]
    active = f"c.course_id IN ({' UNION '.join(queries)})" if queries else "false"
    with _only_courses(con, active):
        fields = field_completeness(con, contracts, programme)
    stages = contract.start_and_end()
    started = dated(stages[0]) if stages is not None else None
    with _only_courses(con, f"c.course_id IN ({started})" if started else "false"):
        still_open = open_courses(con, contract)
    return fields, still_open


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def own_completeness(fields: pd.DataFrame, code: int, contracts: ContractRegistry,
                      programme: str = PROGRAMME) -> pd.DataFrame:
    """The municipality's fields shown at least once, with their form and field labels, least
    answered first."""
    mine = fields[(fields["municipality_code"] == code) & (fields["shown"] > 0)].copy()
    contract = contracts[programme]

    def label(row: pd.Series, lang: str) -> str:
        return contract.form(row["form"]).field(row["field"]).label.get(lang)

    mine["form_label_da"] = mine["form"].map(lambda f: contract.form(f).label.da)
    mine["form_label_en"] = mine["form"].map(lambda f: contract.form(f).label.en)
    mine["label_da"] = mine.apply(label, axis=1, args=("da",)) if len(mine) else []
    mine["label_en"] = mine.apply(label, axis=1, args=("en",)) if len(mine) else []
    order = {name: i for i, name in enumerate(contract.forms)}
    mine = mine.assign(_o=mine["form"].map(order)).sort_values(["share_answered", "_o", "field"], kind="stable")
    return mine.drop(columns="_o").reset_index(drop=True)


def _published_completeness(fields: pd.DataFrame, still_open: dict[str, float], threshold: int
                            ) -> tuple[pd.DataFrame, dict[str, object], dict[str, Any]]:
    """Completeness for publication: per field, and in total, shown = answered + not answered and
    answered includes "uoplyst", protected together (a count of 1-4 registrations, or one the others
    give back, is not shown), shares only of shown counts; the same for courses without an end."""
    def protected(shown: int, answered: int, unknown: int) -> list[object]:
        cells = [disclosure.Cell("shown", frozenset("kum")), disclosure.Cell("answered", frozenset("ku")),
                 disclosure.Cell("unknown", frozenset("u"))]
        return disclosure.protect_breakdown(cells, [shown, answered, unknown], threshold)

    out = fields.copy()
    out["lacking"] = out["answered"] < out["shown"]  # listed as before: by the exact numbers
    values = [protected(int(r.shown), int(r.answered), int(r.unknown)) for r in fields.itertuples()]
    for n, column in enumerate(("shown", "answered", "unknown")):
        out[column] = pd.Series([v[n] for v in values], index=out.index, dtype=object)
    counted = out["shown"].map(_is_count) & out["answered"].map(_is_count)
    out["share_answered"] = out["share_answered"].where(counted)
    out["share_unknown"] = out["share_unknown"].where(counted & out["unknown"].map(_is_count))
    totals = dict(zip(("shown", "answered", "unknown"),
                      protected(*(int(fields[c].sum()) for c in ("shown", "answered", "unknown"))), strict=True))
    started, without = int(still_open["started"]), int(still_open["without_end"])
    cells = [disclosure.Cell("started", frozenset("ew")), disclosure.Cell("without_end", frozenset("w"))]
    open_shown = disclosure.protect_breakdown(cells, [started, without], threshold)
    share = still_open["share_without_end"] if all(map(_is_count, open_shown)) else float("nan")
    return out, totals, {"started": open_shown[0], "without_end": open_shown[1], "share_without_end": share}


def _is_count(value: object) -> bool:
    return not isinstance(value, str)


def own_open_courses(still_open: pd.DataFrame, code: int) -> dict[str, float]:
    row = still_open[still_open["municipality_code"] == code]
    if not len(row):
        return {"started": 0, "without_end": 0, "share_without_end": float("nan")}
    first = row.iloc[0]
    return {"started": int(first["started"]), "without_end": int(first["without_end"]),
            "share_without_end": float(first["share_without_end"])}


# --- drop-outs ------------------------------------------------------------------------------------

def _published_dropouts(dropouts: pd.DataFrame, threshold: int) -> tuple[pd.DataFrame, object]:
    """Drop-out reasons for publication: the reasons and their total as one protected table (a
    total minus the shown reasons would give a hidden reason back). Returns the table and the total."""
    codes = list(dropouts["code"].astype(str))
    cells = [disclosure.Cell(c, frozenset([c]), rank=(0,)) for c in codes]
    cells.append(disclosure.Cell("total", frozenset(codes), rank=(1,)))
    counts = [int(v) for v in dropouts["count"]]
    shown = disclosure.protect_breakdown(cells, counts + [sum(counts)], threshold)
    return dropouts.assign(count=pd.Series(shown[:-1], index=dropouts.index, dtype=object)), shown[-1]


def _dropouts(con: duckdb.DuckDBPyConnection, code: int, period: ReportPeriod) -> pd.DataFrame:
    """Courses ended in the period as dropped out, per reason (every reason of the code list)."""
    counts = con.execute(f"""
        SELECT coalesce(e.dropout_reason, '{UNKNOWN}') AS code, count(*) AS count
        FROM courses c JOIN hjertekom_end e ON e.course_id = c.course_id AND e.status = 'complete'
        WHERE c.programme = '{PROGRAMME}' AND c.municipality_code = $code AND {period.contains_sql("e.meeting_date")}
          AND e.course_status = 'dropped_out'
        GROUP BY 1""", {"code": code}).df()
    labels = _codelist(con, "hjertekom_end", "dropout_reason").rename(columns={"key": "code"})
    # The code list's order, then any code the list does not know (none in a valid snapshot).
    extra = counts.loc[~counts["code"].isin(labels["code"]), ["code"]]
    out = pd.concat([labels, extra], ignore_index=True).merge(counts, on="code", how="left")
    out["label_da"] = out["label_da"].fillna(out["code"])
    out["label_en"] = out["label_en"].fillna(out["code"])
    out["count"] = out["count"].fillna(0).astype("int64")
    return out[["code", "label_da", "label_en", "count"]]
