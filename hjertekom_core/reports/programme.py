"""Any programme's report for one municipality and period, from its declarations alone.

HjerteKom's management report (``municipality.py``, ``html_parts.py``) is written for cardiac
rehabilitation: key figures by diagnosis, drop-out reasons, change in its measures. This report is
what every programme gets from its contract and ``indicators.yaml`` (docs/programmes.md), built
from the management report's own parts, not copies of them:

- the courses of the programme in the period: with the course form's date, started (a complete
  start form dated in the period) and ended (a complete end form dated in the period), the
  municipality's own exact counts;
- per declared indicator its name, what it counts (``definitions.Indicator``: the texts composed
  from the declared conditions), its result in the period and the two before it with the nation's
  share (``municipality.history_table``), the municipality's result with CI, standard and status,
  its cluster, region and the nation beside it, and the guidance of ``indicator_texts.yaml``;
- funnel plots of every municipality against the national share and run charts over the last
  ``RUN_CHART_QUARTERS`` quarters with Anhøj's rules (``html_parts.funnel_body`` /
  ``run_chart_body`` over ``municipality.funnel_data`` / ``run_chart_data``);
- the data completeness of the programme's forms (``municipality.form_completeness``).

Everything the page shows of other units goes through ``municipality.shown_to``, the management
report's one protected table (``disclosure.protect``): the own numbers exact, other units' counts
1-4 as "< 5", a count that would give a hidden one away as "..", and a funnel point only where
both its counts are shown.

The page is HTML without script; ``render_files`` runs it as the management report is run, through
the papermill notebook ``notebooks/reports/programme.ipynb``, and prints the PDF with chromium.
"""
from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from hjertekom_core import disclosure
from hjertekom_core.config import Config
from hjertekom_core.contract import Contract, ContractRegistry, Text
from hjertekom_core.errors import ReportError
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.indicators.counting import reference_date
from hjertekom_core.indicators.declarations import declarations_for
from hjertekom_core.indicators.definitions import Indicator, fill, indicators_of
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.private_files import write_private_text
from hjertekom_core.reports.guidance import TEXTS_FILE, Guidance, load_guidance
from hjertekom_core.reports.html_parts import (
    TZ,
    Cell,
    _status,
    completeness_body,
    esc,
    fmt_ci,
    fmt_count,
    fmt_pct,
    fmt_standard,
    funnel_body,
    history_list,
    num,
    para,
    period_label,
    quarter_label,
    run_chart_body,
    section,
    t,
    table,
)
from hjertekom_core.reports.municipality import (
    FunnelData,
    RunChartData,
    HISTORY_PERIODS,
    SnapshotMeta,
    cached,
    form_completeness,
    funnel_data,
    history_table,
    own_completeness,
    own_open_courses,
    quarters_ending,
    run_chart_data,
    run_chart_marks,
    shown_to,
    snapshot_meta,
)
from hjertekom_core.reports.periods import PeriodError, ReportPeriod, parse_period
from hjertekom_core.snapshot import open_snapshot

log = logging.getLogger("hjertekom.reports")

LANGUAGES = ("da", "en")
FORMATS = ("html", "pdf")
LEVEL_ORDER = ("municipality", "cluster", "region", "national")
#: The papermill notebook that makes the report (runner.notebook_path).
NOTEBOOK = "reports/programme"
WORDS: dict[str, Text] = {
    "title": Text("{programme}: {name} {period}", "{programme}: {name} {period}"),
    "subtitle": Text("Kommunens rapport for programmet {programme}, {region}.",
                     "The municipality's report of the programme {programme}, {region}."),
    "intro": Text("Kommunens egne tal er nøjagtige. Tal fra 1 til {below} for andre enheder vises som «< {limit}», "
                  "og et tal, der ville afsløre et skjult tal, vises som «{withheld}».",
                  "The municipality's own numbers are exact. Counts from 1 to {below} for other units show as "
                  "«< {limit}», and a count that would give a hidden one away shows as «{withheld}»."),
    "numerator": Text("Tæller", "Numerator"), "denominator": Text("Nævner", "Denominator"),
    "unit": Text("Enhed", "Unit"), "share": Text("Andel", "Proportion"), "ci": Text("95 %-KI", "95 % CI"),
    "standard": Text("Standard", "Standard"), "status": Text("Status", "Status"),
    "unknown": Text("heraf uoplyst", "of which unknown"),
    "counts": Text("Tæller: {numerator}. Nævner: {denominator}.", "Numerator: {numerator}. Denominator: {denominator}."),
    "why": Text("Hvorfor", "Why"), "how_to_read": Text("Sådan læses tallet", "How to read it"),
    "what_to_do": Text("Det kan kommunen gøre", "What the municipality can do"),
    "no_own": Text("{name} har ingen forløb i programmet i {period}.", "{name} has no courses of the programme in {period}."),
    "national": Text("Hele landet", "The whole country"), "cluster": Text("Klynge {unit}", "Cluster {unit}"),
    "indicators": Text("Indikatorerne", "The indicators"),
    "history": Text("Kommunens resultat fra {first} til {last} (perioder uden forløb er udeladt):",
                    "The municipality's result from {first} to {last} (periods without courses left out):"),
    "courses": Text("Forløb i perioden", "Courses in the period"),
    "courses_intro": Text("Kommunens forløb i programmet i {period}, efter skemaernes datoer (kommunens egne tal).",
                          "The municipality's courses of the programme in {period}, by the forms' dates (the "
                          "municipality's own numbers)."),
    "courses_with": Text("Forløb med {field} i perioden", "Courses with {field} in the period"),
    "started": Text("Startede: «{form}» færdig og dateret i perioden",
                    "Started: «{form}» complete and dated in the period"),
    "ended": Text("Afsluttede: «{form}» færdig og dateret i perioden",
                  "Ended: «{form}» complete and dated in the period"),
    "count": Text("Antal", "Number"), "what": Text("Forløb", "Courses"),
    "run_intro": Text("Andelen pr. kvartal i de seneste {count} kvartaler ({first} til {last}), efter den dato, "
                      "indikatoren tælles på. Den prikkede linje er kommunens median i perioden. Et kvartal uden "
                      "forløb i nævneren er et hul i kurven.",
                      "The share per quarter over the last {count} quarters ({first} to {last}), by the date the "
                      "indicator is counted on. The dotted line is the municipality's median over the period. A "
                      "quarter without courses in the denominator is a gap."),
    "completeness_intro": Text("Obligatoriske felter i registreringerne (også kladder) på kommunens forløb med en "
                               "dato i perioden i et af programmets skemaer. Et felt tælles kun, hvor det vises i "
                               "skemaet.",
                               "Required fields in the registrations (drafts included) of the municipality's courses "
                               "with a date in the period in one of the programme's forms. A field counts only where "
                               "the form shows it."),
}


class ProgrammeReportError(ReportError):
    """A programme report cannot be made from what was asked (programme, municipality, period)."""


@dataclass(frozen=True)
class ProgrammeReport:
    programme: str
    programme_label: Text
    municipality: int
    name: str
    period: str
    lang: str
    indicators: tuple[Indicator, ...]
    rows: pd.DataFrame          # protected rows of the four units in the period (RESULT_COLUMNS)
    settings: IndicatorSettings
    suppress_below: int
    guidance: Guidance | None
    region: str = ""
    cluster: str | None = None
    snapshot: SnapshotMeta | None = None
    funnels: dict[str, FunnelData] = field(default_factory=dict)
    run_charts: dict[str, RunChartData] = field(default_factory=dict)
    quarters: list[str] = field(default_factory=list)
    courses: pd.DataFrame | None = None         # key, label_da, label_en, count: the own courses in the period
    completeness: pd.DataFrame | None = None    # the own fields (municipality.own_completeness)
    open_courses: dict[str, float] = field(default_factory=dict)
    history: pd.DataFrame | None = None         # municipality.history_table: own and nation per period
    history_periods: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return report_title(self.programme_label, self.name, self.period, self.lang)


def report_title(label: Text, name: str, period: str, lang: str) -> str:
    return _w("title", lang, programme=label.get(lang), name=name, period=period_label(period, lang))


def _w(key: str, lang: str, **values: object) -> str:
    text = WORDS[key].get(lang)
    return text.format(**values) if values else text


def _check(programme: str, period: str, lang: str, contracts: ContractRegistry) -> ReportPeriod:
    if lang not in LANGUAGES:
        raise ProgrammeReportError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    try:
        chosen = parse_period(period)
    except PeriodError as exc:
        raise ProgrammeReportError(str(exc)) from None
    if programme not in contracts:
        raise ProgrammeReportError(f"no programme {programme!r} in this service; it runs: {', '.join(contracts.programmes)} "
                                   "(setting programmes, HJERTEKOM_PROGRAMMES)")
    return chosen


def build_programme_report(snapshot: str | Path, programme: str, municipality: int, period: str, *,
                           config: Config, lang: str = "da") -> ProgrammeReport:
    """Everything the report of ``programme`` shows for one municipality and period (a year, or a
    quarter: ``2025-Q3``), from one read-only pass over the snapshot."""
    contracts = ContractRegistry(config.contracts_dir, programmes=config.programmes)
    chosen = _check(programme, period, lang, contracts)
    period = chosen.text
    settings = settings_from_config(config, programme=programme)
    decl = settings.declarations or declarations_for(programme)
    indicators = indicators_of(decl)
    code = int(municipality)
    path = Path(snapshot)
    with open_snapshot(path)[0] as con:
        unit = con.execute("SELECT name, region_code, region FROM municipalities WHERE code = ?", [code]).fetchone()
        if unit is None:
            raise ProgrammeReportError(f"no municipality {code}")
        meta = snapshot_meta(con, path)
        # Every unit's results do not depend on the municipality: a batch computes them once per
        # snapshot (immutable, named by its content hash), as the management report does.
        identity = (programme, meta.content_hash or f"{path.resolve()}:{path.stat().st_mtime_ns}", repr(settings))
        by_period, quarterly, hierarchy, reference = cached(("programme", chosen.kind, *identity), lambda: (
            compute(con, settings, period=chosen.kind),
            compute(con, settings, period="quarter", levels=("municipality", "national")),
            disclosure.Hierarchy.from_snapshot(con, settings.clusters), reference_date(con)))
        fields, still_open = cached(("programme-completeness", period, str(config.contracts_dir), *identity),
                                     lambda: form_completeness(con, contracts, chosen, programme))
        courses = course_counts(con, contracts[programme], code, chosen)
    name, region_code, region = str(unit[0]), str(unit[1]), str(unit[2])
    cluster = next((c for c, codes in settings.clusters.items() if code in codes), None)
    quarters = quarters_ending(chosen)
    shown, shown_quarterly = shown_to(by_period, quarterly, hierarchy, code, period, quarters, cluster, region_code,
                                      config.suppress_below, kind=chosen.kind)
    units = {("municipality", str(code)), ("region", region_code), ("national", "DK")}
    if cluster is not None:
        units.add(("cluster", cluster))
    keep = [(lvl, str(u)) in units for lvl, u in zip(shown["level"], shown["unit"])]
    rows = shown[pd.Series(keep, index=shown.index) & (shown["period"].astype(str) == period)]
    marks = run_chart_marks(quarterly, code, quarters, reference)
    history_periods = [chosen.shifted(k - HISTORY_PERIODS + 1).text for k in range(HISTORY_PERIODS)]
    history = history_table(by_period, shown, hierarchy, code, name, history_periods, cluster, region_code,
                            config.suppress_below, settings, publish=False, kind=chosen.kind,
                            indicators=[i.id for i in indicators])
    texts = Path(config.contracts_dir) / programme / TEXTS_FILE
    return ProgrammeReport(
        programme, contracts[programme].label, code, name, period, lang, indicators, rows.reset_index(drop=True),
        settings, config.suppress_below, load_guidance(config.contracts_dir, programme) if texts.exists() else None,
        region=region, cluster=cluster, snapshot=meta,
        funnels={i.id: funnel_data(shown, by_period, code, period, i.id) for i in indicators},
        run_charts={i.id: run_chart_data(quarterly, shown_quarterly, code, quarters, i.id, settings, marks)
                    for i in indicators},
        quarters=quarters, courses=courses,
        completeness=own_completeness(fields, code, contracts, programme),
        open_courses=own_open_courses(still_open, code), history=history, history_periods=history_periods)


def course_counts(con: duckdb.DuckDBPyConnection, contract: Contract, code: int, period: ReportPeriod) -> pd.DataFrame:
    """The municipality's courses of the programme in the period: with the course form's date in it
    (any status), started (a complete start form dated in it) and ended (a complete end form dated
    in it); start and end are the contract's (``Contract.start_and_end``), each date its form's
    ``date_field``. A form without a date field gives no row. Exact counts: the own municipality's."""
    wanted: list[tuple[str, str, bool, Text]] = []
    course = contract.form(contract.course_form)
    if course.date_field:
        label = course.field(course.date_field).label
        wanted.append(("with_date", contract.course_form, False,
                       Text(WORDS["courses_with"].da.format(field=label.da.lower()),
                            WORDS["courses_with"].en.format(field=label.en.lower()))))
    stages = contract.start_and_end()
    if stages is not None:
        for key, form in zip(("started", "ended"), stages, strict=True):
            name = contract.form(form).label
            wanted.append((key, form, True, Text(WORDS[key].da.format(form=name.da), WORDS[key].en.format(form=name.en))))
    rows = []
    for key, form, complete, label in wanted:
        column = contract.form(form).date_field
        if column is None:
            continue
        status = " AND f.status = 'complete'" if complete else ""
        found = con.execute(f"""
            SELECT count(DISTINCT c.course_id) FROM courses c
            JOIN {_quoted(f'{contract.programme}_{form}')} f ON f.course_id = c.course_id{status}
            WHERE c.programme = $programme AND c.municipality_code = $code
              AND {period.contains_sql('f.' + _quoted(column))}""",
                            {"programme": contract.programme, "code": code}).fetchone()
        rows.append({"key": key, "label_da": label.da, "label_en": label.en, "count": int(found[0] if found else 0)})
    return pd.DataFrame(rows, columns=["key", "label_da", "label_en", "count"])


# --- the page ----------------------------------------------------------------------------------------

def _unit_name(row: pd.Series, lang: str) -> str:
    if row["level"] == "national":
        return _w("national", lang)
    if row["level"] == "cluster":
        return _w("cluster", lang, unit=row["unit"])
    return str(row["unit_name"])


def _title_of(ind: Indicator, lang: str) -> str:
    return f"{ind.id} {ind.name.get(lang)}"


def header(report: ProgrammeReport) -> str:
    lang = report.lang
    cluster = t("cluster_of", lang, cluster=report.cluster) if report.cluster else t("no_cluster", lang)
    parts = [para(_w("subtitle", lang, programme=report.programme_label.get(lang), region=report.region) + " "
                  + cluster)]
    meta = report.snapshot
    if meta is not None:
        created = (meta.created_at.tz_convert(TZ).strftime("%d.%m.%Y %H:%M")
                   if meta.created_at is not None and meta.created_at.tzinfo is not None
                   else (str(meta.created_at) if meta.created_at is not None else "–"))
        source = t("source", lang, file=meta.file_name, created=created, hash=meta.short_hash or "–")
        parts.append(para(source + (t("pseudonymised", lang) if meta.pseudonymised else ""), "hk-muted hk-source"))
    parts.append(para(_w("intro", lang, below=report.suppress_below - 1, limit=report.suppress_below,
                         withheld=disclosure.WITHHELD)))
    return (f'<header class="hk-report-header" data-programme="{esc(report.programme)}" '
            f'data-municipality="{report.municipality}" data-period="{esc(report.period)}">'
            f"<h1>{esc(report.title)}</h1>{''.join(parts)}</header>")


def courses_section(report: ProgrammeReport) -> str:
    if report.courses is None or not len(report.courses):
        return ""
    lang = report.lang
    intro = para(_w("courses_intro", lang, period=period_label(report.period, lang, long=True)))
    rows = [([str(r.label_en if lang == "en" else r.label_da),
              num(fmt_count(r.count), dimension="courses", key=str(r.key), field="count")], "")
            for r in report.courses.itertuples()]
    body = intro + table([_w("what", lang), Cell(_w("count", lang), True)], rows)
    return section(_w("courses", lang), body, name="courses")


def indicator_section(report: ProgrammeReport, ind: Indicator) -> str:
    lang, unit = report.lang, str(report.municipality)
    rows = report.rows[report.rows["indicator"] == ind.id]
    rows = rows.assign(order=rows["level"].map(LEVEL_ORDER.index)).sort_values("order")
    body = para(fill(_w("counts", lang, numerator=ind.numerator_text.get(lang),
                        denominator=ind.denominator_text.get(lang)), report.settings))
    if not (rows["level"] == "municipality").any():  # not a participating municipality (docs/indicators.md)
        body += para(_w("no_own", lang, name=report.name, period=period_label(report.period, lang)))
    if report.history is not None and len(report.history):
        body += para(_w("history", lang, first=period_label(report.history_periods[0], lang),
                        last=period_label(report.history_periods[-1], lang)))
        body += history_list(report.history.set_index(["indicator", "period"]), ind.id, report.history_periods, lang)
    headers: list[str | Cell] = [_w("unit", lang), num(_w("numerator", lang)), num(_w("denominator", lang)),
                                 num(_w("unknown", lang)), num(_w("share", lang)), num(_w("ci", lang)),
                                 num(_w("standard", lang)), _w("status", lang)]

    def cells(r: pd.Series) -> list[str | Cell]:
        where = {"indicator": ind.id, "unit": str(r["unit"])}
        return [Cell(_unit_name(r, lang), attrs={"data-level": str(r["level"])}),
                num(fmt_count(r["numerator"]), field="numerator", **where),
                num(fmt_count(r["denominator"]), field="denominator", **where),
                num(fmt_count(r["unknown"]), field="unknown", **where),
                num(fmt_pct(r["proportion"]), field="proportion", **where),
                num(fmt_ci(r["ci_low"], r["ci_high"]), field="ci", **where),
                num(fmt_standard(r["standard"]), field="standard", **where),
                Cell(_status(r["status"], lang), attrs={"data-indicator": ind.id, "data-unit": str(r["unit"]),
                                                        "data-field": "status"})]

    body += table(headers, [(cells(r), "hk-own" if r["unit"] == unit and r["level"] == "municipality" else "")
                            for _, r in rows.iterrows()])
    if report.guidance is not None:
        for part in ("why", "how_to_read", "what_to_do"):
            body += f"<h3>{esc(_w(part, lang))}</h3>" + para(report.guidance.get(ind.id, part, lang))
    return section(_title_of(ind, lang), body, name=ind.id)


def indicators_section(report: ProgrammeReport) -> str:
    return "".join(indicator_section(report, ind) for ind in report.indicators)


def _names(report: ProgrammeReport) -> list[tuple[str, str]]:
    return [(ind.id, _title_of(ind, report.lang)) for ind in report.indicators]


def funnel_section(report: ProgrammeReport) -> str:
    if not report.funnels:
        return ""
    body = funnel_body(report.funnels, _names(report), report.name, report.lang, report.suppress_below)
    return section(t("funnels", report.lang, period=period_label(report.period, report.lang)), body,
                   page_break=True, name="funnels")


def run_chart_section(report: ProgrammeReport) -> str:
    if not report.run_charts or not report.quarters:
        return ""
    lang = report.lang
    labels = [quarter_label(q, lang) for q in report.quarters]
    intro = _w("run_intro", lang, count=len(report.quarters), first=labels[0], last=labels[-1])
    body = run_chart_body(report.run_charts, _names(report), report.quarters, report.name, str(report.municipality),
                          lang, intro)
    return section(t("run_charts", lang), body, page_break=True, name="run_charts")


def completeness_section(report: ProgrammeReport) -> str:
    if report.completeness is None:
        return ""
    lang = report.lang
    body = para(_w("completeness_intro", lang)) + completeness_body(report.completeness, None, report.open_courses,
                                                                     lang)
    return section(t("completeness", lang), body, page_break=True, name="completeness")


#: The sections in reading order (the notebook shows them one per cell).
SECTIONS = (header, courses_section, indicators_section, funnel_section, run_chart_section, completeness_section)


def render_sections(report: ProgrammeReport) -> list[str]:
    """Every non-empty section, in order (the notebook displays them one by one)."""
    return [part for part in (s(report) for s in SECTIONS) if part]


def render_programme_report(report: ProgrammeReport) -> str:
    """The report as one HTML page (no external resources, no script), made in this process."""
    css = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")
    return (f'<!DOCTYPE html>\n<html lang="{report.lang}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(report.title)}</title>\n<style>\n{css}</style>\n</head>\n"
            f'<body>\n<main class="report" data-programme="{esc(report.programme)}">\n'
            f"{''.join(render_sections(report))}\n</main>\n</body>\n</html>\n")


def write_programme_report(report: ProgrammeReport, path: Path) -> Path:
    """Write the page owner-only (it shows the municipality's exact numbers)."""
    write_private_text(path, render_programme_report(report))
    return path


# --- through the notebook, HTML and PDF ----------------------------------------------------------------

def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ProgrammeReportError(f"formats must be among {', '.join(FORMATS)}, not {', '.join(unknown) or 'none'}")
    return tuple(f for f in FORMATS if f in formats)


def output_paths(out: Path, formats: Sequence[str]) -> dict[str, Path]:
    """One format: ``out`` itself; both: ``out`` with the suffixes .html and .pdf."""
    formats = check_formats(formats)
    if len(formats) == 1:
        return {formats[0]: out}
    return {fmt: out.with_suffix(f".{fmt}") for fmt in formats}


def _title(contracts: ContractRegistry, programme: str, snapshot: Path, code: int, period: str, lang: str) -> str:
    with open_snapshot(Path(snapshot))[0] as con:
        unit = con.execute("SELECT name FROM municipalities WHERE code = ?", [int(code)]).fetchone()
    if unit is None:
        raise ProgrammeReportError(f"no municipality {code}")
    return report_title(contracts[programme].label, str(unit[0]), period, lang)


def _render(session: Any, printer: Any, snapshot: Path, programme: str, code: int, period: str,
            paths: dict[str, Path], title: str, lang: str, config_file: str) -> list[Path]:
    """One report through the notebook in ``session``'s kernel; the PDF by ``printer`` (a PdfPrinter)."""
    from hjertekom_core.reports.runner import execute, to_html, write_atomically

    nb = execute(NOTEBOOK, {"snapshot": str(Path(snapshot).resolve()), "programme": programme,
                            "municipality": int(code), "period": period, "lang": lang, "config_file": config_file},
                 session=session)
    page = to_html(nb, title, lang)
    made = []
    if "html" in paths:
        write_atomically(paths["html"], page)
        made.append(paths["html"])
    if "pdf" in paths:
        write_atomically(paths["pdf"], printer.pdf(page, title, lang))
        made.append(paths["pdf"])
    return made


@contextmanager
def _renderer(pdf: bool, chromium: Path) -> Iterator[tuple[Any, Any]]:
    """A kernel (and a chromium when PDFs are wanted) for one report or a batch."""
    from hjertekom_core.reports.pdf import PdfPrinter
    from hjertekom_core.reports.runner import KernelSession

    with ExitStack() as stack:
        session = stack.enter_context(KernelSession())
        printer = stack.enter_context(PdfPrinter(chromium)) if pdf else None
        yield session, printer


def render_files(snapshot: Path, programme: str, municipality: int, period: str, out: Path, *,
                 config: Config, formats: Sequence[str] = ("html",), lang: str = "da", config_file: str = "",
                 chromium: Path = Path("/usr/bin/chromium")) -> list[Path]:
    """Run the report notebook with papermill (as the management report is run), keep its outputs
    as one HTML page and print it to A4 PDF with chromium; write the files owner-only.

    The request is checked here first (programme, period, municipality), so a wrong one is a clear
    message before a kernel starts. ``config_file``: what the kernel reads its configuration from
    (empty: the default file or the environment, which the kernel inherits)."""
    paths = output_paths(out, formats)
    contracts = ContractRegistry(config.contracts_dir, programmes=config.programmes)
    chosen = _check(programme, period, lang, contracts)
    title = _title(contracts, programme, snapshot, municipality, chosen.text, lang)
    with _renderer("pdf" in paths, chromium) as (session, printer):
        return _render(session, printer, snapshot, programme, municipality, chosen.text, paths, title, lang,
                       config_file)


def municipalities_with_courses(snapshot: Path, contract: Contract, period: ReportPeriod) -> list[tuple[int, str]]:
    """The municipalities with a course of the programme that has a form dated in the period."""
    queries = [f"SELECT course_id FROM {_quoted(f'{contract.programme}_{name}')} "
               f"WHERE {period.contains_sql(_quoted(form.date_field))}"
               for name, form in contract.forms.items() if form.date_field]
    if not queries:
        return []
    with open_snapshot(Path(snapshot))[0] as con:
        return [(int(c), str(n)) for c, n in con.execute(f"""
            SELECT DISTINCT m.code, m.name FROM courses c JOIN municipalities m ON m.code = c.municipality_code
            WHERE c.programme = $programme AND c.course_id IN ({' UNION '.join(queries)})
            ORDER BY m.code""", {"programme": contract.programme}).fetchall()]


@dataclass(frozen=True)
class BatchOutcome:
    code: int
    name: str
    files: tuple[Path, ...] = ()
    error: str | None = None


def render_batch(snapshot: Path, programme: str, period: str, out_dir: Path, *, config: Config,
                 formats: Sequence[str] = FORMATS, lang: str = "da", config_file: str = "",
                 chromium: Path = Path("/usr/bin/chromium"), codes: Sequence[int] | None = None,
                 progress: Callable[[BatchOutcome], None] | None = None) -> list[BatchOutcome]:
    """The report of every municipality with courses of the programme in the period (or ``codes``)
    as ``out_dir/<code>-<name>.html|pdf``, one after the other in one kernel and one chromium. A
    report that fails is an outcome with its cause, and the batch goes on."""
    from hjertekom_core.reports.library import report_stem

    formats = check_formats(formats)
    contracts = ContractRegistry(config.contracts_dir, programmes=config.programmes)
    chosen = _check(programme, period, lang, contracts)
    found = municipalities_with_courses(snapshot, contracts[programme], chosen)
    if codes is not None:
        found = [(c, n) for c, n in found if c in set(codes)]
    outcomes = []
    with _renderer("pdf" in formats, chromium) as (session, printer):
        for code, name in found:
            paths = {fmt: out_dir / f"{report_stem(code, name)}.{fmt}" for fmt in formats}
            title = report_title(contracts[programme].label, name, chosen.text, lang)
            try:
                files = _render(session, printer, snapshot, programme, code, chosen.text, paths, title, lang,
                                config_file)
                outcome = BatchOutcome(code, name, tuple(files))
            except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the batch
                log.warning("programme report %s %s %s failed: %s", programme, code, chosen.text, exc)
                outcome = BatchOutcome(code, name, error=f"{type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    return outcomes


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
