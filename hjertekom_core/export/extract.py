"""Municipal extracts from a snapshot: aggregate tables, or one identified row per course.

* ``aggregate``: the programme's declared indicators (hjertekom: K1-K6) of the municipality, its
  cluster, its region and the nation (small numbers suppressed everywhere but in the municipality's
  own rows, and no hidden count recoverable from the others: ``disclosure.protect``) and, for
  hjertekom only, key figures (courses referred, started and completed, in all and by diagnosis,
  sex and age band: they read hjertekom's referral, diagnosis and course-status fields).
* ``individual``: one row per course of the municipality: CPR number, name, every course and form
  field, codes and their labels. Only for a user with ``extract.individual`` acting in that
  municipality.

Both are of one programme (``ExtractRequest.programme``, default hjertekom), read from its contract
and its ``indicators.yaml``.

Every extract is written under a temporary name and published only together with its audit
entry (``extract.aggregate`` / ``extract.individual``; the detail never holds a CPR number or a
name). Bad input, a missing right or an empty municipality raise before anything is written.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.contract import UNKNOWN, Code, CodeList, Contract, Text
from hjertekom_core.errors import AccessDenied, ExportError
from hjertekom_core.export.tables import (
    FORMATS,
    scalar as _scalar,
    ExtractColumn,
    ExtractTable,
    codebook_table,
    count_rows,
    frame_table,
    lit,
    publish,
    q,
    remove,
)
from hjertekom_core import disclosure
from hjertekom_core.indicators import PERIODS, STATUS_LABELS, compute, settings_from_config
from hjertekom_core.indicators.declarations import Declarations, declarations_for
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.indicators.key_figures import AGE_BANDS, DIAGNOSIS_FIELD, EVENTS as _EVENTS, course_events_sql
from hjertekom_core.private_files import (
    private_dir,
    private_temp_dir,
    private_temp_file,
    remove_stale_temporaries,
    restrict_tree,
)
from hjertekom_core.snapshot import SnapshotError, newest_snapshot, open_snapshot
from hjertekom_core.snapshot.layout import Column, citizen_columns, course_columns, form_tables

LANGUAGES = ("da", "en")

# --- messages -------------------------------------------------------------------------------------------

MESSAGES: dict[str, Text] = {
    "bad_level": Text("Ukendt udtræksniveau «{value}». Vælg {choices}.",
                      "Unknown extract level «{value}». Choose {choices}."),
    "bad_format": Text("Ukendt format «{value}». Vælg {choices}.", "Unknown format «{value}». Choose {choices}."),
    "bad_lang": Text("Ukendt sprog «{value}». Vælg da eller en.", "Unknown language «{value}». Choose da or en."),
    "bad_period": Text("Perioden «{value}» forstås ikke. Skriv et år (2025), et kvartal (2025-Q1) eller en "
                       "måned (2025-03).",
                       "The period «{value}» is not understood. Give a year (2025), a quarter (2025-Q1) or a "
                       "month (2025-03)."),
    "unknown_municipality": Text("Kommunekoden {code} findes ikke. Brug den officielle kode, fx 740 for Silkeborg.",
                                 "There is no municipality with code {code}. Use the official code, e.g. 740 "
                                 "for Silkeborg."),
    "no_snapshot": Text("Der er intet snapshot i {folder}. Lav et med `hjertekom snapshot`, eller angiv --snapshot.",
                        "There is no snapshot in {folder}. Make one with `hjertekom snapshot`, or give --snapshot."),
    "snapshot_stale": Text("Det nyeste snapshot, {name}, er lavet før en borger blev begrænset, ophævet eller slettet, "
                           "og kan vise borgeren. Lav et nyt med `hjertekom snapshot`, eller angiv --snapshot.",
                           "The newest snapshot, {name}, was made before a citizen was restricted, lifted or erased, "
                           "and may show them. Make a new one with `hjertekom snapshot`, or give --snapshot."),
    "snapshot_missing": Text("Snapshottet {path} findes ikke.", "The snapshot {path} does not exist."),
    "not_a_snapshot": Text("{path} er ikke et HjerteKom-snapshot.", "{path} is not a HjerteKom snapshot."),
    "not_identified": Text("Snapshottet {name} er pseudonymiseret. Et udtræk kræver et identificeret snapshot.",
                           "The snapshot {name} is pseudonymised. An extract needs an identified snapshot."),
    "empty": Text("Kommune {code} {name} har ingen forløb{where}. Der er ikke skrevet noget udtræk.",
                  "Municipality {code} {name} has no courses{where}. No extract was written."),
    "unknown_programme": Text("Programmet «{value}» findes ikke. Vælg {choices}.",
                              "There is no programme «{value}». Choose {choices}."),
    "denied": Text("{user} må ikke lave udtræk ({level}) for kommune {code}.",
                   "{user} may not make extracts ({level}) for municipality {code}."),
    "denied_programme": Text("{user} må ikke lave udtræk ({level}) af programmet {programme} for kommune {code}.",
                             "{user} may not make extracts ({level}) of the programme {programme} for "
                             "municipality {code}."),
}


class ExtractError(ExportError):
    """An extract was refused for bad input or missing data; nothing was written.

    ``reason`` is a key of ``MESSAGES``; ``text`` holds the message in both languages.
    """

    def __init__(self, reason: str, lang: str = "da", /, **values: object) -> None:
        self.reason = reason
        self.values = values
        template = MESSAGES[reason]
        self.text = Text(template.da.format(**values), template.en.format(**values))
        super().__init__(self.text.get(lang))


class ExtractDenied(AccessDenied):
    """The user's role or municipalities do not allow this extract; nothing was written."""

    def __init__(self, permission: str, reason: str, text: Text, lang: str = "da") -> None:
        super().__init__(permission, reason)
        self.text = text
        self.args = (text.get(lang),)


# --- the request ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A year, quarter or month; ``text`` is spelt as the indicator engine spells periods."""

    text: str
    granularity: str
    start: dt.date
    end: dt.date  # exclusive

    def contains_sql(self, column: str) -> str:
        return f"({column} >= DATE {lit(self.start)} AND {column} < DATE {lit(self.end)})"


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


_PERIOD_FORMS: tuple[tuple[re.Pattern[str], str, Callable[[re.Match[str]], tuple[dt.date, int, str]]], ...] = (
    (re.compile(r"^(\d{4})$"), "year", lambda m: (dt.date(int(m[1]), 1, 1), 12, m[1])),
    (re.compile(r"^(\d{4})-[qQ]([1-4])$"), "quarter",
     lambda m: (dt.date(int(m[1]), 3 * int(m[2]) - 2, 1), 3, f"{m[1]}-Q{m[2]}")),
    (re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"), "month", lambda m: (dt.date(int(m[1]), int(m[2]), 1), 1, m[0])),
)


def parse_period(text: str, lang: str = "da") -> Period:
    """'2025', '2025-Q1' or '2025-03'."""
    for pattern, granularity, parts in _PERIOD_FORMS:
        match = pattern.match(text.strip())
        if match and 1900 <= int(match[1]) <= 2999:
            start, months, spelt = parts(match)
            return Period(spelt, granularity, start, _add_months(start, months))
    raise ExtractError("bad_period", lang, value=text)


@dataclass(frozen=True)
class ExtractRequest:
    municipality: int
    level: str = "aggregate"
    fmt: str = "xlsx"
    period: str | None = None
    lang: str = "da"
    snapshot: Path | None = None   # default: the newest snapshot in <data_dir>/snapshots
    out_dir: Path | None = None    # default: <data_dir>/extracts
    programme: str = PROGRAMME     # whose courses and indicators


@dataclass(frozen=True)
class ExtractResult:
    path: Path
    level: str
    fmt: str
    municipality: int
    municipality_name: str
    rows: int       # individual: courses; aggregate: rows of the indicator and key-figure tables
    courses: int
    snapshot: Path
    tables: tuple[str, ...]

    def describe(self, lang: str = "da") -> str:
        level = LEVELS[self.level].label.get(lang)
        if lang == "en":
            return (f"Extract ({level}) for {self.municipality} {self.municipality_name} written: {self.path} "
                    f"({self.courses} courses, {self.rows} rows; snapshot {self.snapshot.name})")
        return (f"Udtræk ({level}) for {self.municipality} {self.municipality_name} skrevet: {self.path} "
                f"({self.courses} forløb, {self.rows} rækker; snapshot {self.snapshot.name})")


@dataclass(frozen=True)
class Municipality:
    code: int
    name: str
    region_code: int
    region: str


@dataclass
class _Job:
    """Everything one extract is built from."""

    ws: Workspace
    user: User
    request: ExtractRequest
    period: Period | None
    con: duckdb.DuckDBPyConnection
    municipality: Municipality
    contract: Contract

    @property
    def lang(self) -> str:
        return self.request.lang


# --- code lists the extract adds (sex, age band, indicator vocabulary) -------------------------------------

_UNKNOWN_CODE = Code(UNKNOWN, Text("Uoplyst", "Unknown"))


def _codes(name: str, label: Text, pairs: Sequence[tuple[str, Text]]) -> CodeList:
    return CodeList(name, label, tuple(Code(code, text) for code, text in pairs))


SEX = _codes("sex", Text("Køn", "Sex"), [("M", Text("Mand", "Male")), ("F", Text("Kvinde", "Female")),
                                         (UNKNOWN, _UNKNOWN_CODE.label)])
AGE_BAND = _codes("age_band", Text("Aldersgruppe", "Age band"),
                  [(code, label) for code, _, label in AGE_BANDS] + [(UNKNOWN, _UNKNOWN_CODE.label)])
UNIT_LEVELS = _codes("unit_level", Text("Niveau", "Level"), [
    ("municipality", Text("Kommune", "Municipality")), ("cluster", Text("Klynge", "Cluster")),
    ("region", Text("Region", "Region")), ("national", Text("Hele landet", "National"))])
INDICATOR_STATUS = _codes("indicator_status", Text("Status", "Status"),
                          list(STATUS_LABELS.items()) + list(disclosure.STATUS_LABELS.items()))


def indicator_ids(decl: Declarations) -> CodeList:
    """The vocabulary of a programme's indicators: id and name, as its indicators.yaml declares them."""
    return _codes("indicator", Text("Indikator", "Indicator"), [(ind.id, ind.name) for ind in decl.indicators])



def _case(expr: str, codelist: CodeList, lang: str, *, order: bool = False) -> str:
    """SQL giving the label (or, with ``order``, the position) of the code in ``expr``; other codes
    keep their code as label and sort last."""
    whens = " ".join(f"WHEN {lit(c.code)} THEN {i if order else lit(c.label.get(lang))}"
                     for i, c in enumerate(codelist.codes))
    other = len(codelist.codes) if order else f"CAST({expr} AS VARCHAR)"
    return f"CASE CAST({expr} AS VARCHAR) {whens} ELSE {other} END"


# --- aggregate: indicators -----------------------------------------------------------------------------------

#: The indicator counts an extract shows, with their headers.
COUNTS = {"numerator": Text("Tæller", "Numerator"), "denominator": Text("Nævner", "Denominator"),
          "unknown": Text("Heraf uoplyst", "Of which unknown")}


def _indicator_table(job: _Job) -> ExtractTable:
    config = job.ws.config
    settings = settings_from_config(config, programme=job.contract.programme)
    ids = indicator_ids(settings.declarations or declarations_for(PROGRAMME))
    threshold = config.suppress_below
    m = job.municipality
    result = compute(job.con, settings, period=job.period.granularity if job.period else "year")
    cluster = next((name for name, codes in settings.clusters.items() if m.code in codes), None)
    units = {("municipality", str(m.code)), ("region", str(m.region_code)), ("national", "DK")}
    if cluster is not None:
        units.add(("cluster", cluster))
    keep = pd.Series([(lvl, unit) in units for lvl, unit in zip(result["level"], result["unit"])], index=result.index)
    if job.period is not None:
        keep &= result["period"] == job.period.text
    # The other municipalities are not listed, but they are in the equations (the region minus the
    # own municipality is the rest of the region): protect() hides what would give a small count away.
    published = pd.DataFrame({c: keep for c in COUNTS})
    shown = disclosure.protect(result, disclosure.Hierarchy.from_snapshot(job.con, settings.clusters), own=[m.code],
                               threshold=threshold, published=published).reset_index(drop=True)

    lang = job.lang
    hidden = f"< {threshold}"
    note = Text(f"«{hidden}» (tom i Parquet): 1-{threshold - 1} forløb, skjult uden for egen kommune; "
                f"«{disclosure.WITHHELD}» (tom i Parquet): tilbageholdt, fordi tallet ville afsløre et skjult tal. "
                f"Kolonnen <navn>_mark siger hvilket",
                f"«{hidden}» (empty in Parquet): 1-{threshold - 1} courses, hidden outside the own municipality; "
                f"«{disclosure.WITHHELD}» (empty in Parquet): withheld, as it would give a hidden count away. "
                f"The column <name>_mark says which")
    mark_note = Text(f"«{hidden}» eller «{disclosure.WITHHELD}» hvor tallet er skjult, ellers tom",
                     f"«{hidden}» or «{disclosure.WITHHELD}» where the count is hidden, else empty")
    level = f"{settings.level:.0%}".replace("%", " %")
    columns = (
        ExtractColumn("indicator", Text("Indikator", "Indicator"), codelist=ids),
        ExtractColumn("indicator_name", Text("Indikatornavn", "Indicator name"), codelist=ids),
        ExtractColumn("level", Text("Niveau (kode)", "Level (code)"), codelist=UNIT_LEVELS),
        ExtractColumn("level_label", Text("Niveau", "Level"), codelist=UNIT_LEVELS),
        ExtractColumn("unit", Text("Enhedens kode", "Unit code"),
                      note=Text("Kommune- eller regionskode, klyngens navn, DK for hele landet",
                                "Municipality or region code, the cluster's name, DK for the nation")),
        ExtractColumn("unit_name", Text("Enhed", "Unit")),
        ExtractColumn("period", Text("Periode", "Period")),
        *(ExtractColumn(name, label, "BIGINT", hidden_as=hidden, note=note, hidden_from=f"{name}_mark")
          for name, label in COUNTS.items()),
        ExtractColumn("proportion", Text("Andel", "Proportion"), "DOUBLE", "0-1"),
        ExtractColumn("ci_low", Text(f"{level}-konfidensinterval, nedre", f"{level} CI, lower"), "DOUBLE", "0-1"),
        ExtractColumn("ci_high", Text(f"{level}-konfidensinterval, øvre", f"{level} CI, upper"), "DOUBLE", "0-1"),
        ExtractColumn("standard", Text("Standard", "Standard"), "DOUBLE", "0-1"),
        ExtractColumn("status", Text("Status (kode)", "Status (code)"), codelist=INDICATOR_STATUS),
        ExtractColumn("status_label", Text("Status", "Status"), codelist=INDICATOR_STATUS),
        *(ExtractColumn(f"{name}_mark", Text(f"{label.da}: skjult som", f"{label.en}: hidden as"), note=mark_note)
          for name, label in COUNTS.items()),
    )
    frame = shown.assign(
        indicator_name=shown["indicator"].map(lambda i: ids.label_of(i, lang)),
        level_label=shown["level"].map(lambda v: UNIT_LEVELS.label_of(v, lang)),
        status_label=shown["status"].map(lambda v: INDICATOR_STATUS.label_of(v, lang)),
    )
    for name in COUNTS:  # "< 5" and ".." become NULL, their mark beside: see ExtractColumn.hidden_from
        frame[f"{name}_mark"] = frame[name].map(lambda v: v if isinstance(v, str) else None)
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
    frame = frame[[c.name for c in columns]]
    sql = frame_table(job.con, "extract_indicators", columns, frame)
    return ExtractTable("indicators", Text("Indikatorer", "Indicators"), columns, sql)


# --- aggregate: key figures ----------------------------------------------------------------------------------

def _key_figure_events(job: _Job) -> int:
    """Temporary table ``extract_events``: key_figures.course_events_sql for the municipality, each
    event with its period. Returns the number of courses in it."""
    granularity = job.period.granularity if job.period else "year"
    within = f"AND {job.period.contains_sql('on_date')}" if job.period else ""
    job.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE extract_events AS
        SELECT course_id, sex, diagnoses, age_band, event, {PERIODS[granularity].format(d='on_date')} AS period
        FROM ({course_events_sql()}) WHERE municipality_code = {int(job.municipality.code)} {within}""")
    return _scalar(job.con, "SELECT count(DISTINCT course_id) FROM extract_events")


def _key_figure_tables(job: _Job) -> list[ExtractTable]:
    lang = job.lang
    course_form = job.contract.form(job.contract.course_form)
    diagnosis_codes = course_form.fields[DIAGNOSIS_FIELD].codelist
    assert diagnosis_codes is not None
    diagnoses = CodeList(diagnosis_codes.name, diagnosis_codes.label, diagnosis_codes.codes + (
        () if UNKNOWN in diagnosis_codes else (_UNKNOWN_CODE,)))
    counts = [ExtractColumn(name, label, "BIGINT", note=note) for name, label, note in _EVENTS]
    count_sql = ", ".join(f"count(DISTINCT course_id) FILTER (WHERE event = {lit(name)}) AS {q(name)}"
                          for name, _, _ in _EVENTS)
    period = ExtractColumn("period", Text("Periode", "Period"))
    tables = [ExtractTable(
        "key_figures", Text("Nøgletal", "Key figures"), (period, *counts),
        f"SELECT period, {count_sql} FROM extract_events GROUP BY period ORDER BY period")]
    # A course with several diagnoses counts once under each of them.
    unnested = (f"SELECT *, unnest(CASE WHEN diagnoses IS NULL OR len(diagnoses) = 0 THEN [{lit(UNKNOWN)}] "
                "ELSE diagnoses END) AS code FROM extract_events")
    dimensions = (
        ("diagnosis", Text("Nøgletal efter diagnose", "Key figures by diagnosis"), diagnoses, unnested,
         Text("Et forløb med flere diagnoser tælles under hver af dem",
              "A course with several diagnoses counts under each of them")),
        ("sex", Text("Nøgletal efter køn", "Key figures by sex"), SEX,
         f"SELECT *, coalesce(sex, {lit(UNKNOWN)}) AS code FROM extract_events", None),
        ("age_band", Text("Nøgletal efter alder", "Key figures by age"), AGE_BAND,
         "SELECT *, age_band AS code FROM extract_events",
         Text("Alder ved henvisningen", "Age at referral")),
    )
    for name, title, codelist, source, note in dimensions:
        columns = (period, ExtractColumn(name, Text(f"{codelist.label.da} (kode)", f"{codelist.label.en} (code)"),
                                         codelist=codelist, note=note),
                   ExtractColumn(f"{name}_label", codelist.label, codelist=codelist, note=note), *counts)
        sql = (f"SELECT period, code AS {q(name)}, {_case('code', codelist, lang)} AS {q(name + '_label')}, "
               f"{', '.join(q(n) for n, _, _ in _EVENTS)} FROM (SELECT period, code, {count_sql} FROM ({source}) "
               f"GROUP BY period, code) ORDER BY period, {_case('code', codelist, lang, order=True)}, code")
        tables.append(ExtractTable(f"key_figures_{name}", title, columns, sql))
    return tables


def _course_count(job: _Job) -> int:
    """The programme's courses in the municipality (in the period: those with a form dated in it)."""
    where = [f"c.programme = {lit(job.contract.programme)}", f"c.municipality_code = {int(job.municipality.code)}"]
    joins, in_period = [], []
    if job.period is not None:
        present = {r[0] for r in job.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        for i, table in enumerate(form_tables(job.ws.contracts, False)):
            if table.programme == job.contract.programme and table.form.date_field and table.name in present:
                joins.append(f"LEFT JOIN {q(table.name)} t{i} ON t{i}.course_id = c.course_id")
                in_period.append(job.period.contains_sql(f"t{i}.{q(table.form.date_field)}"))
    if in_period:
        where.append("(" + " OR ".join(in_period) + ")")
    return _scalar(job.con, f"SELECT count(DISTINCT c.course_id) FROM courses c {' '.join(joins)} "
                            f"WHERE {' AND '.join(where)}")


def _aggregate_tables(job: _Job) -> tuple[list[ExtractTable], int]:
    if job.contract.programme != PROGRAMME:  # key figures are hjertekom's own (module docstring)
        return [_indicator_table(job)], _course_count(job)
    courses = _key_figure_events(job)
    return [_indicator_table(job), *_key_figure_tables(job)], courses


# --- individual: one row per course ----------------------------------------------------------------------------

def _column(job: _Job, col: Column, name: str | None = None, label: Text | None = None) -> ExtractColumn:
    codelist = job.ws.contracts.codelists.get(col.codelist) if col.codelist else None
    return ExtractColumn(name or col.name, label or col.label, col.type, col.unit, codelist)


def _individual_tables(job: _Job) -> tuple[list[ExtractTable], int]:
    lang = job.lang
    present = {(t, c) for t, c in job.con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'").fetchall()}
    citizen = {c.name: c for c in citizen_columns(False)}
    course = {c.name: c for c in course_columns(False)}
    selects: list[tuple[str, ExtractColumn]] = [
        ("c.course_id", _column(job, course["course_id"])),
        ("c.citizen_id", _column(job, course["citizen_id"])),
        ("p.cpr", _column(job, citizen["cpr"])),
        ("p.name", _column(job, citizen["name"])),
        ("p.birth_date", _column(job, citizen["birth_date"])),
        ("p.sex", ExtractColumn("sex", citizen["sex"].label, codelist=SEX)),
        (_case("p.sex", SEX, lang), ExtractColumn("sex_label", SEX.label, codelist=SEX)),
        ("c.municipality_code", _column(job, course["municipality_code"])),
        ("mu.name", ExtractColumn("municipality_name", Text("Kommune", "Municipality"))),
        ("c.created_at", _column(job, course["created_at"])),
        ("c.age_at_start", _column(job, course["age_at_start"])),
    ]
    joins, in_period = [], []
    tables = [t for t in form_tables(job.ws.contracts, False) if t.programme == job.contract.programme]
    for i, table in enumerate(tables):
        if (table.name, "course_id") not in present:
            continue
        alias, form = f"t{i}", table.form
        joins.append(f"LEFT JOIN {q(table.name)} {alias} ON {alias}.course_id = c.course_id")
        if job.period is not None and form.date_field and (table.name, form.date_field) in present:
            in_period.append(job.period.contains_sql(f"{alias}.{q(form.date_field)}"))
        for col in table.columns:
            if col.kind == "meta" and col.name not in ("status", "saved_at"):
                continue
            source = col.field.name if col.field is not None and col.kind == "label" else col.name
            if (table.name, source) not in present:
                continue  # a snapshot of an older contract version
            name, label = f"{form.name}__{col.name}", Text(f"{form.label.da} – {col.label.da}",
                                                            f"{form.label.en} – {col.label.en}")
            value = f"{alias}.{q(source)}"
            if col.kind == "label":  # labels in the extract's language, from the contract's code list
                assert col.field is not None and col.field.codelist is not None
                selects.append((_case(value, col.field.codelist, lang), _column(job, col, name, label)))
                continue
            selects.append((value, _column(job, col, name, label)))
            if col.field is not None and col.field.type == "multi_choice" and col.field.codelist is not None:
                codelist = col.field.codelist
                labels = (f"nullif(array_to_string([{_case('v', codelist, lang)} FOR v IN {value}], "
                          f"{lit('; ')}), '')")
                selects.append((labels, ExtractColumn(
                    f"{name}_label", Text(f"{label.da} (tekst)", f"{label.en} (label)"), "VARCHAR", "", codelist)))
    where = [f"c.programme = {lit(job.contract.programme)}", f"c.municipality_code = {int(job.municipality.code)}"]
    if in_period:
        where.append("(" + " OR ".join(in_period) + ")")
    sql = (f"SELECT {', '.join(f'{expr} AS {q(col.name)}' for expr, col in selects)} "
           f"FROM courses c JOIN citizens p ON p.citizen_id = c.citizen_id "
           f"LEFT JOIN municipalities mu ON mu.code = c.municipality_code {' '.join(joins)} "
           f"WHERE {' AND '.join(where)} ORDER BY c.course_id")
    table = ExtractTable("courses", Text("Forløb", "Courses"), tuple(col for _, col in selects), sql)
    return [table], count_rows(job.con, table)


# --- levels: who may do what, and how it is built --------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    name: str
    label: Text
    permission: str
    audit_action: str
    build: Callable[[_Job], tuple[list[ExtractTable], int]]  # the tables and the number of courses


LEVELS: dict[str, Level] = {
    "aggregate": Level("aggregate", Text("aggregeret", "aggregate"), "indicator.read", "extract.aggregate",
                       _aggregate_tables),
    "individual": Level("individual", Text("personniveau", "individual level"), "extract.individual",
                        "extract.individual", _individual_tables),
}


# --- running one extract ---------------------------------------------------------------------------------------

def _checked(request: ExtractRequest, programmes: Sequence[str]) -> tuple[Level, Period | None]:
    if request.lang not in LANGUAGES:
        raise ExtractError("bad_lang", "da", value=request.lang)
    if request.level not in LEVELS:
        raise ExtractError("bad_level", request.lang, value=request.level, choices=", ".join(LEVELS))
    if request.programme not in programmes:
        raise ExtractError("unknown_programme", request.lang, value=request.programme, choices=", ".join(programmes))
    if request.fmt not in FORMATS:
        raise ExtractError("bad_format", request.lang, value=request.fmt, choices=", ".join(FORMATS))
    period = parse_period(request.period, request.lang) if request.period else None
    return LEVELS[request.level], period


def _authorise(user: User, level: Level, request: ExtractRequest) -> None:
    try:
        user.require(level.permission, request.municipality, programme=request.programme)
    except AccessDenied as exc:
        # In the municipality, but not in this programme there: the message says which programme.
        other_programme = user.can(level.permission) and user.acts_in(request.municipality)
        text = MESSAGES["denied_programme" if other_programme else "denied"]
        values = {"user": user.username, "code": request.municipality, "programme": request.programme}
        raise ExtractDenied(level.permission, exc.reason, Text(
            text.da.format(level=level.label.da, **values), text.en.format(level=level.label.en, **values)),
            request.lang) from None


def find_snapshot(ws: Workspace, request: ExtractRequest) -> Path:
    """The requested snapshot, or the newest identified one in <data_dir>/snapshots."""
    if request.snapshot is not None:
        if not request.snapshot.is_file():
            raise ExtractError("snapshot_missing", request.lang, path=request.snapshot)
        return request.snapshot
    folder = ws.config.data_dir / "snapshots"
    found = newest_snapshot(folder, pseudonymised=False)
    if found is None:
        raise ExtractError("no_snapshot", request.lang, folder=folder)
    from hjertekom_core.citizen_erasure import predates_rights_change

    if predates_rights_change(ws.store, found):  # GDPR art. 17/18: it may list a restricted or erased citizen
        raise ExtractError("snapshot_stale", request.lang, name=found.name)
    return found


def _open(path: Path, lang: str) -> tuple[duckdb.DuckDBPyConnection, dict[str, object]]:
    """An identified snapshot of a version this code reads (snapshot.open_snapshot), and its record."""
    try:
        con, found = open_snapshot(path)
    except SnapshotError:
        raise ExtractError("not_a_snapshot", lang, path=path) from None
    if found.pseudonymised:
        con.close()
        raise ExtractError("not_identified", lang, name=path.name)
    info: dict[str, object] = {"created_at": found.created_at, "pseudonymised": found.pseudonymised,
                               "contract_versions": found.contract_versions, "content_hash": found.content_hash}
    return con, info


def _municipality(con: duckdb.DuckDBPyConnection, request: ExtractRequest) -> Municipality:
    rows = con.execute("SELECT code, name, region_code, region FROM municipalities WHERE code = ?",
                       [request.municipality]).fetchall()
    if not rows:
        raise ExtractError("unknown_municipality", request.lang, code=request.municipality)
    code, name, region_code, region = rows[0]
    return Municipality(int(code), str(name), int(region_code), str(region))


ABOUT_COLUMNS = (
    ExtractColumn("item", Text("Emne (kode)", "Item (code)")),
    ExtractColumn("label", Text("Emne", "Item")),
    ExtractColumn("value", Text("Værdi", "Value")),
)


def _about_table(job: _Job, level: Level, snapshot: Path, info: dict[str, object], now: dt.datetime) -> ExtractTable:
    """What the extract is, and what it was made from (so it can be made again the same way)."""
    m, lang = job.municipality, job.lang
    items: list[tuple[str, Text, str]] = [
        ("municipality", Text("Kommune", "Municipality"), f"{m.code} {m.name}"),
        ("level", Text("Niveau", "Level"), level.label.get(lang)),
        ("period", Text("Periode", "Period"), job.period.text if job.period else Text("alle", "all").get(lang)),
        ("snapshot", Text("Snapshot", "Snapshot"), snapshot.name),
        ("snapshot_created_at", Text("Snapshot lavet", "Snapshot created at"), str(info["created_at"])),
        ("snapshot_content_hash", Text("Snapshottets indholdshash", "Snapshot content hash"),
         str(info["content_hash"])),
        ("contract_versions", Text("Kontraktversioner", "Contract versions"), str(info["contract_versions"])),
        ("created_at", Text("Udtræk lavet", "Extract created at"), now.isoformat(timespec="seconds")),
        ("created_by", Text("Lavet af", "Created by"), job.user.username),
    ]
    if level.name == "aggregate":
        threshold = job.ws.config.suppress_below
        items.append(("suppress_below", Text("Små tal", "Small numbers"), Text(
            f"Antal 1-{threshold - 1} uden for kommune {m.code} vises som «< {threshold}»; et tal, der ville "
            f"afsløre et skjult tal (fx regionen minus kommunens egne tal), vises som «{disclosure.WITHHELD}»",
            f"Counts 1-{threshold - 1} outside municipality {m.code} show as «< {threshold}»; a count that would "
            f"give a hidden one away (the region minus the municipality's own, say) shows as "
            f"«{disclosure.WITHHELD}»").get(lang)))
    frame = pd.DataFrame([(key, label.get(lang), value) for key, label, value in items],
                         columns=[c.name for c in ABOUT_COLUMNS])
    sql = frame_table(job.con, "extract_about", ABOUT_COLUMNS, frame)
    return ExtractTable("about", Text("Om udtrækket", "About"), ABOUT_COLUMNS, sql)


def create_extract(ws: Workspace, user: User, request: ExtractRequest, *,
                   now: Callable[[], dt.datetime] | None = None) -> ExtractResult:
    """Check, build, write and publish one extract, audited; see the module docstring."""
    level, period = _checked(request, ws.contracts.programmes)
    try:
        _authorise(user, level, request)
    except ExtractDenied as exc:  # refusals are audited too: who asked for what, for which municipality
        audit.deny(ws.store, user, level.permission, "extract", None, request.municipality, exc.reason,
                   {"level": level.name})
        raise
    snapshot = find_snapshot(ws, request)
    created = (now or (lambda: dt.datetime.now(dt.timezone.utc)))()
    fmt = FORMATS[request.fmt]
    out_dir = request.out_dir or ws.config.data_dir / "extracts"
    con, info = _open(snapshot, request.lang)
    try:
        municipality = _municipality(con, request)
        job = _Job(ws, user, request, period, con, municipality, ws.contracts[request.programme])
        data, courses = level.build(job)
        if courses == 0:
            where = Text(f" i perioden {period.text}", f" in the period {period.text}") if period else Text("", "")
            raise ExtractError("empty", request.lang, code=municipality.code, name=municipality.name,
                               where=where.get(request.lang))
        rows = sum(count_rows(con, t) for t in data)
        tables = [*data, _about_table(job, level, snapshot, info, created)]
        tables.append(codebook_table(con, tables, request.lang))
        stem = (f"extract-{municipality.code}-{level.name}-{period.text if period else 'all'}-"
                f"{created:%Y%m%dT%H%M%S}{'-' + fmt.name if fmt.is_folder else ''}")
        # Checked before anything is written: the detail holds no CPR number and no name.
        entry = audit.entry(user, level.audit_action, "extract", stem, municipality.code, {
            "level": level.name, "format": fmt.name, "rows": rows, "courses": courses,
            "period": period.text if period else None, "snapshot": snapshot.name, "lang": request.lang})
        private_dir(out_dir, tighten=False)  # made 0700 if missing; a folder the user named keeps its mode
        remove_stale_temporaries(out_dir, ".extract-*.tmp")  # what extracts killed half-way left
        final: Path | None = None
        # Owner-only whatever the umask: a 0700 folder or a 0600 file (the writer truncates it and
        # keeps the mode), locked while this extract lives and removed unless published.
        with private_temp_dir(out_dir, stem) if fmt.is_folder else private_temp_file(out_dir / stem) as tmp:
            try:
                fmt.write(con, tables, tmp, request.lang)
                restrict_tree(tmp)  # files a format made through the umask (DuckDB's Parquet)
                with ws.store.write() as conn:  # the extract exists only if its audit entry does
                    final = publish(tmp, out_dir, stem, fmt.suffix)
                    audit.insert_entry(conn, {**entry, "entity_id": final.name})
            except BaseException:
                if final is not None:
                    remove(final)
                raise
    finally:
        con.close()
    return ExtractResult(final, level.name, fmt.name, municipality.code, municipality.name, rows, courses, snapshot,
                         tuple(t.name for t in tables))
