"""One programme's indicators for one municipality and year, for any programme: its report page
from its ``indicators.yaml`` alone.

HjerteKom's management report (``municipality.py``) is written for cardiac rehabilitation: key
figures by diagnosis, drop-out reasons, change in its measures, run charts. This page is what
every programme gets from its declarations (docs/programmes.md): per indicator its name, what it
counts (``definitions.Indicator``: the texts composed from the declared conditions), the
municipality's result with its confidence interval, standard and status, and its cluster, region
and the nation beside it, as ``disclosure.protect`` lets a viewer of that municipality see them
(the own numbers exact, the others' small counts hidden). Where the programme has
``indicator_texts.yaml``, its guidance (why, how to read, what to do) follows each indicator.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hjertekom_core import disclosure
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry, Text
from hjertekom_core.errors import ReportError
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.indicators.declarations import declarations_for
from hjertekom_core.indicators.definitions import Indicator, fill, indicators_of
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.private_files import write_private_text
from hjertekom_core.reports.guidance import TEXTS_FILE, Guidance, load_guidance
from hjertekom_core.reports.html_parts import (
    Cell,
    _status,
    esc,
    fmt_ci,
    fmt_count,
    fmt_pct,
    fmt_standard,
    num,
    para,
    section,
    table,
)
from hjertekom_core.snapshot import open_snapshot

LANGUAGES = ("da", "en")
LEVEL_ORDER = ("municipality", "cluster", "region", "national")
WORDS: dict[str, Text] = {
    "title": Text("{programme}: indikatorer for {name} {period}", "{programme}: indicators for {name} {period}"),
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
}


class ProgrammeReportError(ReportError):
    """A programme report cannot be made from what was asked (programme, municipality, year)."""


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


def _w(key: str, lang: str, **values: object) -> str:
    text = WORDS[key].get(lang)
    return text.format(**values) if values else text


def build_programme_report(snapshot: str | Path, programme: str, municipality: int, period: str, *,
                           config: Config, lang: str = "da") -> ProgrammeReport:
    """The figures of ``programme``'s declared indicators for one municipality and year."""
    if lang not in LANGUAGES:
        raise ProgrammeReportError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    if not (len(period) == 4 and period.isdigit()):
        raise ProgrammeReportError(f"the period is a year (2025), not {period!r}")
    contracts = ContractRegistry(config.contracts_dir, programmes=config.programmes)
    if programme not in contracts:
        raise ProgrammeReportError(f"no programme {programme!r} in this service; it runs: {', '.join(contracts.programmes)} "
                                   "(setting programmes, HJERTEKOM_PROGRAMMES)")
    settings = settings_from_config(config, programme=programme)
    decl = settings.declarations or declarations_for(programme)
    code = int(municipality)
    with open_snapshot(Path(snapshot))[0] as con:
        unit = con.execute("SELECT name, region_code FROM municipalities WHERE code = ?", [code]).fetchone()
        if unit is None:
            raise ProgrammeReportError(f"no municipality {code}")
        result = compute(con, settings, period="year")
        hierarchy = disclosure.Hierarchy.from_snapshot(con, settings.clusters)
    cluster = next((name for name, codes in settings.clusters.items() if code in codes), None)
    units = {("municipality", str(code)), ("region", str(unit[1])), ("national", "DK")}
    if cluster is not None:
        units.add(("cluster", cluster))
    keep = pd.Series([(lvl, u) in units for lvl, u in zip(result["level"], result["unit"])], index=result.index)
    keep &= result["period"] == period
    shown = disclosure.protect(result, hierarchy, own=[code], threshold=config.suppress_below, published=keep)
    texts = Path(config.contracts_dir) / programme / TEXTS_FILE
    return ProgrammeReport(programme, contracts[programme].label, code, str(unit[0]), period, lang,
                           indicators_of(decl), shown.reset_index(drop=True), settings, config.suppress_below,
                           load_guidance(config.contracts_dir, programme) if texts.exists() else None)


def _unit_name(row: pd.Series, lang: str) -> str:
    if row["level"] == "national":
        return _w("national", lang)
    if row["level"] == "cluster":
        return _w("cluster", lang, unit=row["unit"])
    return str(row["unit_name"])


def _indicator_section(report: ProgrammeReport, ind: Indicator) -> str:
    lang = report.lang
    rows = report.rows[report.rows["indicator"] == ind.id]
    rows = rows.assign(order=rows["level"].map(LEVEL_ORDER.index)).sort_values("order")
    body = para(fill(_w("counts", lang, numerator=ind.numerator_text.get(lang),
                        denominator=ind.denominator_text.get(lang)), report.settings))
    if not (rows["level"] == "municipality").any():  # not a participating municipality (docs/indicators.md)
        body += para(_w("no_own", lang, name=report.name, period=report.period))
    headers: list[str | Cell] = [_w("unit", lang), num(_w("numerator", lang)), num(_w("denominator", lang)),
                                 num(_w("unknown", lang)), num(_w("share", lang)), num(_w("ci", lang)),
                                 num(_w("standard", lang)), _w("status", lang)]
    body += table(headers, [([_unit_name(r, lang), num(fmt_count(r["numerator"])), num(fmt_count(r["denominator"])),
                              num(fmt_count(r["unknown"])), num(fmt_pct(r["proportion"])),
                              num(fmt_ci(r["ci_low"], r["ci_high"])), num(fmt_standard(r["standard"])),
                              _status(r["status"], lang)], "hk-own" if r["level"] == "municipality" else "")
                            for _, r in rows.iterrows()])
    if report.guidance is not None:
        for part in ("why", "how_to_read", "what_to_do"):
            body += f"<h3>{esc(_w(part, lang))}</h3>" + para(report.guidance.get(ind.id, part, lang))
    return section(f"{ind.id} {ind.name.get(lang)}", body, name=ind.id)


def render_programme_report(report: ProgrammeReport) -> str:
    """The report as one HTML page (no external resources)."""
    lang = report.lang
    title = _w("title", lang, programme=report.programme_label.get(lang), name=report.name, period=report.period)
    intro = para(_w("intro", lang, below=report.suppress_below - 1, limit=report.suppress_below,
                    withheld=disclosure.WITHHELD))
    sections = "".join(_indicator_section(report, ind) for ind in report.indicators)
    css = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{css}</style>\n</head>\n"
            f'<body>\n<main class="report" data-programme="{esc(report.programme)}">\n<h1>{esc(title)}</h1>\n'
            f"{intro}{sections}\n</main>\n</body>\n</html>\n")


def write_programme_report(report: ProgrammeReport, path: Path) -> Path:
    """Write the page owner-only (it shows the municipality's exact numbers)."""
    write_private_text(path, render_programme_report(report))
    return path
