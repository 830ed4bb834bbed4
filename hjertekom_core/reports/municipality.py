"""Everything the municipality report (ledelsesinformation) shows, computed from one snapshot.

``build_municipality_report`` opens the snapshot read-only, computes every section as small data
frames and closes it again; ``html_parts`` turns the result into HTML and ``charts`` draws it.
Nothing here is language-specific except labels the snapshot already holds in both languages
(``label_da`` / ``label_en``).

Period membership (a year; documented for readers in the report's "how to read" section):

- referred: the course registration's referral date is in the period;
- started: a complete start registration whose meeting date is in the period;
- completed: a complete end registration with course status *completed* whose meeting date is in
  the period;
- K1-K6, drop-out reasons and the start-to-end changes: the end meeting's period (as in
  ``hjertekom_core.indicators``), complete start and end registrations only.

The own municipality is shown with exact numbers. Every other unit (other municipalities, the
cluster, the region, the nation) goes through ``indicators.suppress`` with the configured
threshold, and the funnel plot is drawn only from what that suppressed table shows. On top of
that, ``shown_to`` hides an aggregate's figure where the aggregate minus the own exact figure
(the other municipalities in a cluster, say) would be a small count.

Results that do not depend on the municipality (the indicators of every unit, completeness of
every municipality) are kept per snapshot content hash in a small cache: a batch of 98 reports in
one kernel computes them once. Snapshots are immutable, so a hash names one set of numbers.
"""
from __future__ import annotations

import re
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
from hjertekom_core.indicators import INDICATORS, IndicatorSettings, compute, settings_from_config, suppress
from hjertekom_core.indicators.completeness import field_completeness, open_courses
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.indicators.key_figures import AGE_BANDS, SEXES, course_events_sql
from hjertekom_core.indicators.stats import control_limits
from hjertekom_core.snapshot.reader import open_snapshot


class ReportInputError(ReportError):
    """A report parameter is unusable (period, language, snapshot path)."""


class UnknownMunicipality(ReportInputError):
    """The municipality code is not in the snapshot's municipality list."""

    def __init__(self, code: object) -> None:
        self.code = code
        super().__init__(f"unknown municipality code {code!r}: not in the snapshot's list of municipalities")


PERIOD = re.compile(r"^(?P<year>\d{4})$")
LANGUAGES = ("da", "en")
#: Quarters in a run chart, ending with the period's last quarter.
RUN_CHART_QUARTERS = 12
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
    """One indicator per quarter: the own municipality exact, the nation as shown to anyone."""

    indicator: str
    quarters: list[str]
    own: pd.DataFrame        # period, numerator, denominator, proportion (NaN where 0/0)
    national: pd.DataFrame   # period, proportion (NaN where suppressed or no data)
    standard: float | None

    @property
    def median(self) -> float | None:
        values = self.own["proportion"].dropna()
        return float(values.median()) if len(values) else None


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

    @property
    def completion_limit_days(self) -> int:
        return self.settings.completion_limit_days


# --- parameters ----------------------------------------------------------------------------------

def check_period(period: str) -> int:
    """'2025' -> 2025; anything else is a ReportInputError."""
    match = PERIOD.match(str(period))
    if not match:
        raise ReportInputError(f"period must be a year such as 2025, not {period!r}")
    return int(match["year"])


def quarters_ending(year: int, count: int = RUN_CHART_QUARTERS) -> list[str]:
    """The ``count`` quarters ending with Q4 of ``year``, in the engine's 'YYYY-Qn' form."""
    last = year * 4 + 3
    return [f"{i // 4}-Q{i % 4 + 1}" for i in range(last - count + 1, last + 1)]


# --- caches (per kernel; snapshots are immutable) -----------------------------------------------

_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 16


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
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
                              config: Config | None = None) -> MunicipalityReport:
    """Every section of one municipality's report, from one read-only pass over the snapshot."""
    year = check_period(period)
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
    with open_snapshot(path)[0] as con:  # checked: a HjerteKom snapshot of a known version
        unit = con.execute("SELECT name, region_code, region FROM municipalities WHERE code = ?", [code]).fetchone()
        if unit is None:
            raise UnknownMunicipality(code)
        name, region_code, region = unit
        meta = _snapshot_meta(con, path)
        identity = meta.content_hash or f"{path.resolve()}:{path.stat().st_mtime_ns}"
        yearly, quarterly = _cached(("indicators", identity, repr(settings)), lambda: (
            compute(con, settings, period="year"),
            compute(con, settings, period="quarter", levels=("municipality", "national"))))
        completeness, still_open = _cached(("completeness", identity, year, str(config.contracts_dir)),
                                           lambda: _completeness(con, _contracts(config.contracts_dir), year))
        key_figures = _key_figures(con, code, year)
        changes = _changes(con, code, year)
        dropouts = _dropouts(con, code, year)
        has_data = _has_data(con, code, year)
    cluster = next((c for c, codes in settings.clusters.items() if code in codes), None)
    aggregates = (("cluster", cluster), ("region", str(region_code)), ("national", "DK"))
    shown = shown_to(yearly, code, threshold, aggregates)
    shown_quarterly = shown_to(quarterly, code, threshold, aggregates)
    own_rows = _own_indicators(yearly, code, name, period, settings)
    quarters = quarters_ending(year)
    return MunicipalityReport(
        municipality=code, name=name, region_code=int(region_code), region=region, cluster=cluster,
        period=period, lang=lang, snapshot=meta, settings=settings, suppress_below=threshold,
        has_data=has_data, key_figures=key_figures, indicators=own_rows,
        comparison=_comparison(own_rows, shown, period, cluster, int(region_code), region),
        funnels={i.id: funnel_data(yearly, code, period, i.id, threshold) for i in INDICATORS},
        run_charts={i.id: _run_chart(quarterly, shown_quarterly, code, quarters, i.id, settings) for i in INDICATORS},
        changes=changes,
        completeness=_own_completeness(completeness, code, _contracts(config.contracts_dir)),
        open_courses=_own_open(still_open, code),
        dropouts=dropouts, quarters=quarters,
    )


def _snapshot_meta(con: duckdb.DuckDBPyConnection, path: Path) -> SnapshotMeta:
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


def _key_figures(con: duckdb.DuckDBPyConnection, code: int, year: int) -> KeyFigures:
    """The shared key figures (indicators/key_figures.py) of one municipality and year."""
    identified = bool(con.execute("SELECT count(*) FROM information_schema.columns "
                                  "WHERE table_name = 'citizens' AND column_name = 'birth_date'").fetchone()[0])
    rows = con.execute(f"""
        SELECT course_id, any_value(diagnoses) AS diagnosis_groups, any_value(sex) AS sex,
               any_value(age_band) AS age_band,
               bool_or(event = 'referred') AS referred, bool_or(event = 'started') AS started,
               bool_or(event = 'completed') AS completed
        FROM ({course_events_sql(birth_date=identified)})
        WHERE municipality_code = $code AND year(on_date) = $year
        GROUP BY course_id""", {"year": year, "code": code}).df()
    total = {k: int(rows[k].sum()) for k in ("referred", "started", "completed")}

    diagnosis_codes = _codelist(con, "hjertekom_course", "diagnosis_groups")
    # A course without diagnosis groups (NULL, or an empty list) counts under "unknown".
    diagnoses = rows.assign(key=rows["diagnosis_groups"].map(
        lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray)) and len(v) else [UNKNOWN])).explode("key")
    return KeyFigures(
        total=total,
        by_diagnosis=_breakdown(diagnoses, diagnosis_codes),
        by_sex=_breakdown(rows.assign(key=rows["sex"].where(rows["sex"].isin([k for k, _ in SEXES]), UNKNOWN)),
                          _labels(SEXES)),
        by_age=_breakdown(rows.assign(key=rows["age_band"]), _labels([(k, t) for k, _, t in AGE_BANDS])),
    )


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


def _has_data(con: duckdb.DuckDBPyConnection, code: int, year: int) -> bool:
    """A course of the municipality with a referral, start or end date in the period (any status)."""
    found = con.execute("""
        SELECT count(*) FROM courses c
        LEFT JOIN hjertekom_course k ON k.course_id = c.course_id
        LEFT JOIN hjertekom_start s ON s.course_id = c.course_id
        LEFT JOIN hjertekom_end e ON e.course_id = c.course_id
        WHERE c.municipality_code = $code AND c.programme = 'hjertekom'
          AND (year(k.referral_date) = $year OR year(s.meeting_date) = $year OR year(e.meeting_date) = $year)""",
                        {"code": code, "year": year}).fetchone()
    return bool(found and found[0])


# --- indicators ----------------------------------------------------------------------------------

def _own_indicators(yearly: pd.DataFrame, code: int, name: str, period: str,
                    settings: IndicatorSettings) -> pd.DataFrame:
    """The own municipality's exact row per indicator; an indicator without a row is 0/0 (no data)."""
    mine = yearly[(yearly["level"] == "municipality") & (yearly["unit"] == str(code)) & (yearly["period"] == period)]
    rows = []
    for ind in INDICATORS:
        found = mine[mine["indicator"] == ind.id]
        if len(found):
            rows.append(found.iloc[0].to_dict())
        else:
            standard = settings.standards.get(ind.id)
            rows.append({"indicator": ind.id, "level": "municipality", "unit": str(code), "unit_name": name,
                         "period": period, "numerator": 0, "denominator": 0, "unknown": 0,
                         "proportion": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "standard": np.nan if standard is None else float(standard), "status": "no_data"})
    return pd.DataFrame(rows, columns=list(yearly.columns))


def shown_to(result: pd.DataFrame, code: int, threshold: int,
             aggregates: Sequence[tuple[str, str | None]] = (("national", "DK"),)) -> pd.DataFrame:
    """The results as municipality ``code`` may see them: ``suppress`` with its own rows exact, and
    a guard against differencing.

    An aggregate that holds the own municipality (its cluster, region, the nation: ``aggregates``
    as (level, unit)) minus the own exact numbers is the sum of the other municipalities in it;
    where that remainder is a small count (1 to threshold - 1), the aggregate's figure that would
    give it away is hidden (None) too, and a hidden numerator or denominator takes the proportion,
    CI and status (``hidden``) with it.
    """
    out = suppress(result, own=[code], threshold=threshold)
    mine = result[(result["level"] == "municipality") & (result["unit"] == str(code))]
    own = mine.set_index(["indicator", "period"])[["numerator", "denominator", "unknown"]]
    wanted = {(level, unit) for level, unit in aggregates if unit is not None}
    in_unit = pd.Series([(lv, un) in wanted for lv, un in zip(result["level"], result["unit"], strict=True)],
                        index=result.index, dtype=bool)
    if not in_unit.any():
        return out
    rows = result[in_unit]
    keys = pd.MultiIndex.from_arrays([rows["indicator"], rows["period"]])
    mine_aligned = own.reindex(keys).fillna(0).to_numpy(dtype=float)
    remainder = rows[["numerator", "denominator", "unknown"]].to_numpy(dtype=float) - mine_aligned

    def small(values: np.ndarray) -> np.ndarray:
        return (values > 0) & (values < threshold)

    hide_all = small(remainder[:, 1])
    hide_numerator = hide_all | small(remainder[:, 0])
    hide_unknown = hide_all | small(remainder[:, 2])
    index = rows.index
    for column, hide in (("numerator", hide_numerator), ("denominator", hide_all), ("unknown", hide_unknown)):
        values = out[column].astype(object)
        values.loc[index[hide]] = None
        out[column] = values
    for column in ("proportion", "ci_low", "ci_high"):
        out.loc[index[hide_numerator], column] = np.nan
    status = out["status"].astype(object)
    status.loc[index[hide_numerator]] = "hidden"
    out["status"] = status
    return out


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


def funnel_data(yearly: pd.DataFrame, code: int, period: str, indicator: str, threshold: int) -> FunnelData:
    """The points of one funnel plot, from the unsuppressed results: suppression is applied here.

    Another municipality is drawn only where ``suppress`` leaves its proportion visible (its
    denominator is at least ``threshold`` and its numerator is 0 or at least ``threshold``): a
    point gives away both numbers. The centre line is the nation's proportion as this
    municipality may see it (``shown_to``).
    """
    rows = yearly[(yearly["indicator"] == indicator) & (yearly["period"] == period)]
    shown = shown_to(rows, code, threshold)
    municipalities = shown[shown["level"] == "municipality"]
    own = municipalities["unit"] == str(code)
    visible = municipalities["proportion"].notna()
    points = municipalities[visible].assign(own=own[visible])
    points = points[["unit", "unit_name", "numerator", "denominator", "proportion", "own"]].copy()
    points["numerator"] = points["numerator"].astype("int64")
    points["denominator"] = points["denominator"].astype("int64")
    hidden = int((~own & ~visible & (rows.loc[municipalities.index, "denominator"] > 0)).sum())
    national = shown[shown["level"] == "national"]["proportion"]
    centre = float(national.iloc[0]) if len(national) and pd.notna(national.iloc[0]) else None
    standards = rows["standard"].dropna()
    return FunnelData(indicator, points.reset_index(drop=True), hidden, centre,
                      float(standards.iloc[0]) if len(standards) else None)


def _run_chart(quarterly: pd.DataFrame, shown: pd.DataFrame, code: int, quarters: Sequence[str], indicator: str,
               settings: IndicatorSettings) -> RunChartData:
    window = pd.DataFrame({"period": list(quarters)})
    own = quarterly[(quarterly["indicator"] == indicator) & (quarterly["level"] == "municipality")
                    & (quarterly["unit"] == str(code))][["period", "numerator", "denominator", "proportion"]]
    own = window.merge(own, on="period", how="left")
    own[["numerator", "denominator"]] = own[["numerator", "denominator"]].fillna(0).astype("int64")
    national = shown[(shown["indicator"] == indicator) & (shown["level"] == "national")][["period", "proportion"]]
    national = window.merge(national, on="period", how="left")
    national["proportion"] = national["proportion"].astype(float)
    standard = settings.standards.get(indicator)
    return RunChartData(indicator, list(quarters), own, national, None if standard is None else float(standard))


# --- start-to-end change ---------------------------------------------------------------------------

def _changes(con: duckdb.DuckDBPyConnection, code: int, year: int) -> pd.DataFrame:
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
        WHERE c.programme = '{PROGRAMME}' AND c.municipality_code = $code AND year(e.meeting_date) = $year""",
                      {"code": code, "year": year}).df().iloc[0]
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


def _completeness(con: duckdb.DuckDBPyConnection, contracts: ContractRegistry,
                  year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Field completeness of every municipality's courses with a date in the period, and per
    municipality the courses started in the period without a complete end registration."""
    def dated(table: str, column: str) -> str:
        return f"SELECT course_id FROM {table} WHERE year({column}) = {int(year)}"

    active = (f"c.course_id IN ({dated('hjertekom_course', 'referral_date')} UNION "
              f"{dated('hjertekom_start', 'meeting_date')} UNION {dated('hjertekom_end', 'meeting_date')})")
    with _only_courses(con, active):
        fields = field_completeness(con, contracts, PROGRAMME)
    with _only_courses(con, f"c.course_id IN ({dated('hjertekom_start', 'meeting_date')})"):
        still_open = open_courses(con)
    return fields, still_open


def _own_completeness(fields: pd.DataFrame, code: int, contracts: ContractRegistry) -> pd.DataFrame:
    mine = fields[(fields["municipality_code"] == code) & (fields["shown"] > 0)].copy()
    contract = contracts[PROGRAMME]

    def label(row: pd.Series, lang: str) -> str:
        return contract.form(row["form"]).field(row["field"]).label.get(lang)

    mine["form_label_da"] = mine["form"].map(lambda f: contract.form(f).label.da)
    mine["form_label_en"] = mine["form"].map(lambda f: contract.form(f).label.en)
    mine["label_da"] = mine.apply(label, axis=1, args=("da",)) if len(mine) else []
    mine["label_en"] = mine.apply(label, axis=1, args=("en",)) if len(mine) else []
    order = {name: i for i, name in enumerate(contract.forms)}
    mine = mine.assign(_o=mine["form"].map(order)).sort_values(["share_answered", "_o", "field"], kind="stable")
    return mine.drop(columns="_o").reset_index(drop=True)


def _own_open(still_open: pd.DataFrame, code: int) -> dict[str, float]:
    row = still_open[still_open["municipality_code"] == code]
    if not len(row):
        return {"started": 0, "without_end": 0, "share_without_end": float("nan")}
    first = row.iloc[0]
    return {"started": int(first["started"]), "without_end": int(first["without_end"]),
            "share_without_end": float(first["share_without_end"])}


# --- drop-outs ------------------------------------------------------------------------------------

def _dropouts(con: duckdb.DuckDBPyConnection, code: int, year: int) -> pd.DataFrame:
    """Courses ended in the period as dropped out, per reason (every reason of the code list)."""
    counts = con.execute(f"""
        SELECT coalesce(e.dropout_reason, '{UNKNOWN}') AS code, count(*) AS count
        FROM courses c JOIN hjertekom_end e ON e.course_id = c.course_id AND e.status = 'complete'
        WHERE c.programme = '{PROGRAMME}' AND c.municipality_code = $code AND year(e.meeting_date) = $year
          AND e.course_status = 'dropped_out'
        GROUP BY 1""", {"code": code, "year": year}).df()
    labels = _codelist(con, "hjertekom_end", "dropout_reason").rename(columns={"key": "code"})
    # The code list's order, then any code the list does not know (none in a valid snapshot).
    extra = counts.loc[~counts["code"].isin(labels["code"]), ["code"]]
    out = pd.concat([labels, extra], ignore_index=True).merge(counts, on="code", how="left")
    out["label_da"] = out["label_da"].fillna(out["code"])
    out["label_en"] = out["label_en"].fillna(out["code"])
    out["count"] = out["count"].fillna(0).astype("int64")
    return out[["code", "label_da", "label_en", "count"]]
