"""The municipality report as HTML fragments: one function per section, Danish or English.

Numbers are written the Danish way (``83,2 %``, ``1.234``, ``72,1-90,3 %`` with an en dash) in
both languages, as the report is a Danish document; a suppressed count shows as ``< 5``, one
withheld to protect another as ``..``. Every
number cell carries ``data-indicator`` / ``data-unit`` / ``data-field`` (or ``data-dimension`` /
``data-key``) attributes so that tests and other tools can read the figures back without
guessing at the layout. A section without anything to show returns "".
"""
from __future__ import annotations

import html
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from hjertekom_core import disclosure
from hjertekom_core.contract import Text
from hjertekom_core.formatting import format_number, format_percent, is_missing
from hjertekom_core.indicators import BY_ID, INDICATORS, STATUS_LABELS
from hjertekom_core.reports import charts
from hjertekom_core.reports.guidance import GENERAL, PARTS
from hjertekom_core.reports.library import STATUS_SYMBOLS  # shape, not colour: reads in black and white
from hjertekom_core.reports.municipality import FUNNEL_LEVELS, FunnelData, MunicipalityReport, RunChartData
from hjertekom_core.reports.periods import parse_period
from hjertekom_core.reports.runs import MIN_POINTS

TZ = zoneinfo.ZoneInfo("Europe/Copenhagen")
#: Fields listed in the completeness table (those least often answered first).
COMPLETENESS_ROWS = 15


TEXT: dict[str, Text] = {
    "title": Text("Ledelsesinformation: {name} {period}", "Management report: {name} {period}"),
    "quarter_long": Text("{q}. kvartal {year}", "Q{q} {year}"),
    # page 1
    "overview": Text("Overblik: K1-K6 i {first} til {last}", "Overview: K1-K6 from {first} to {last}"),
    "overview_intro": Text(
        "Kommunens andel pr. {unit} med landets andel under. Symbolerne: ✓ opfyldt, ! ikke opfyldt, "
        "✗ statistisk under standarden (hele 95 % KI under), – ingen data, .. ikke vist (for få forløb).",
        "The municipality's share per {unit} with the national share below it. Symbols: ✓ met, ! not met, "
        "✗ statistically below the standard (the whole 95 % CI below), – no data, .. not shown (too few courses)."),
    "unit_year": Text("år", "year"),
    "unit_quarter": Text("kvartal", "quarter"),
    "national_short": Text("landet", "nation"),
    "key_messages": Text("Hovedbudskaber", "Key messages"),
    "msg_below": Text("{indicator} ligger statistisk under standarden: {share} (95 % KI op til {high}) mod "
                      "standarden {standard}.",
                      "{indicator} is statistically below its standard: {share} (95 % CI up to {high}) against "
                      "the standard {standard}."),
    "msg_improved": Text("Største fremgang siden {previous}: {indicator} steg fra {before} til {now} "
                         "({change} procentpoint).",
                         "Largest improvement since {previous}: {indicator} rose from {before} to {now} "
                         "({change} percentage points)."),
    "msg_worsened": Text("Største tilbagegang siden {previous}: {indicator} faldt fra {before} til {now} "
                         "({change} procentpoint).",
                         "Largest decline since {previous}: {indicator} fell from {before} to {now} "
                         "({change} percentage points)."),
    "msg_below_national": Text("{indicator} ligger statistisk under landsgennemsnittet: {share} mod {national}.",
                               "{indicator} is statistically below the national share: {share} against "
                               "{national}."),
    "msg_run_signal": Text("{indicator}: seriediagrammet viser ikke-tilfældig variation ({which}).",
                           "{indicator}: the run chart shows non-random variation ({which})."),
    "msg_all_met": Text("Ingen indikator ligger statistisk under sin standard; {met} af {count} indikatorer med "
                        "standard er opfyldt.",
                        "No indicator is statistically below its standard; {met} of {count} indicators with a "
                        "standard are met."),
    "no_messages": Text("For få forløb til at drage konklusioner.", "Too few courses to draw conclusions."),
    "comment_general": Text("Kommunens kommentar", "The municipality's comment"),
    # per indicator
    "part_why": Text("Hvorfor er det vigtigt?", "Why does it matter?"),
    "part_how_to_read": Text("Sådan læser du indikatoren", "How to read it"),
    "part_what_to_do": Text("Hvad kan kommunen gøre?", "What can the municipality do?"),
    "comment": Text("Kommunens kommentar", "The municipality's comment"),
    "no_comment": Text("Kommunen har ikke kommenteret indikatoren.", "The municipality has not commented on this "
                       "indicator."),
    "indicator_result": Text("{period}: {share} (95 % KI {ci}), {numerator} af {denominator} forløb; landet {national}.",
                             "{period}: {share} (95 % CI {ci}), {numerator} of {denominator} courses; nation "
                             "{national}."),
    "indicator_hidden": Text("{period}: ikke vist (for få forløb).", "{period}: not shown (too few courses)."),
    # run chart additions
    "unfinished": Text("Uafsluttet kvartal", "Unfinished quarter"),
    "startup": Text("Opstartskvartal", "Start-up quarter"),
    "shift": Text("Signal: usædvanligt lang serie", "Signal: unusually long run"),
    "crossings": Text("Signal: for få krydsninger", "Signal: too few crossings"),
    "runs_heading": Text("Seriediagramanalyse (Anhøjs regler)", "Runs analysis (Anhøj's rules)"),
    "runs_points": Text("Punkter", "Points"),
    "runs_longest": Text("Længste serie (grænse)", "Longest run (limit)"),
    "runs_crossings": Text("Krydsninger (mindst)", "Crossings (at least)"),
    "runs_signal": Text("Signal", "Signal"),
    "runs_none": Text("ingen", "none"),
    "runs_too_few": Text("for få punkter (under {n})", "too few points (below {n})"),
    "runs_shift": Text("lang serie", "long run"),
    "runs_few": Text("få krydsninger", "few crossings"),
    "subtitle": Text("Kommunal hjerterehabilitering (HjerteKom), {region}", "Municipal cardiac rehabilitation "
                     "(HjerteKom), {region}"),
    "cluster_of": Text("Klynge: {cluster}", "Cluster: {cluster}"),
    "no_cluster": Text("Kommunen indgår ikke i en klynge.", "The municipality is not in a cluster."),
    "source": Text("Datagrundlag: {file}, dannet {created}, indholds-hash {hash}.",
                   "Data: {file}, created {created}, content hash {hash}."),
    "pseudonymised": Text(" Pseudonymiseret snapshot.", " Pseudonymised snapshot."),
    "published": Text("Udgave til offentliggørelse: også kommunens egne tal vises med diskretion.",
                      "Edition for publication: the municipality's own numbers are protected too."),
    "no_data": Text("Ingen data for {name} i {period}", "No data for {name} in {period}"),
    "no_data_text": Text(
        "Snapshottet har ingen forløb fra kommunen med henvisning, afklarende samtale eller afslutning i "
        "perioden. Klynge, region og hele landet vises til sammenligning.",
        "The snapshot holds no course of the municipality with a referral, start meeting or end of course in "
        "the period. Cluster, region and the whole country are shown for comparison."),
    # key figures
    "key_figures": Text("Nøgletal", "Key figures"),
    "referred": Text("Henviste", "Referred"),
    "started": Text("Startede", "Started"),
    "completed": Text("Gennemførte", "Completed"),
    "courses": Text("Forløb", "Courses"),
    "by_diagnosis": Text("Efter diagnose", "By diagnosis"),
    "by_sex": Text("Efter køn", "By sex"),
    "by_age": Text("Efter alder ved henvisning", "By age at referral"),
    "diagnosis": Text("Diagnose og indgreb", "Diagnosis and procedures"),
    "sex": Text("Køn", "Sex"),
    "age": Text("Alder", "Age"),
    "diagnosis_note": Text("Et forløb med flere diagnoser tælles under hver af dem.",
                           "A course with several diagnoses counts under each of them."),
    # indicators
    "indicators": Text("Kvalitetsindikatorer K1-K6", "Quality indicators K1-K6"),
    "indicator": Text("Indikator", "Indicator"),
    "numerator": Text("Tæller", "Numerator"),
    "denominator": Text("Nævner", "Denominator"),
    "unknown": Text("Uoplyst", "Unknown"),
    "proportion": Text("Andel", "Share"),
    "ci": Text("95 % KI", "95 % CI"),
    "standard": Text("Standard", "Standard"),
    "status": Text("Status", "Status"),
    "unit": Text("Enhed", "Unit"),
    "own_exact": Text("Kommunens egne tal vises præcist.", "The municipality's own numbers are shown exactly."),
    "own_published": Text(
        "Udgave til offentliggørelse: også kommunens egne tal vises med diskretion, og en ændring fra start til "
        "afslutning vises kun for mindst {n} forløb.",
        "Edition for publication: the municipality's own numbers are protected too, and a change from start "
        "to end is shown only for at least {n} courses."),
    "comparison": Text("Sammenligning: kommune, klynge, region og hele landet",
                       "Comparison: municipality, cluster, region and the whole country"),
    "level_municipality": Text("Kommune", "Municipality"),
    "level_cluster": Text("Klynge", "Cluster"),
    "level_region": Text("Region", "Region"),
    "level_national": Text("Hele landet", "Whole country"),
    "suppressed_note": Text(
        "Andre enheder end kommunen selv vises med diskretion: antal fra 1 til {last} vises som \"< {n}\", og "
        "andel, KI og status skjules, når nævneren er under {n}, eller tælleren er skjult. Et tal, der sammen "
        "med de andre tal på siden ville afsløre et skjult tal (fx regionen minus kommunens eget tal), vises "
        "som \"..\".",
        "Units other than the municipality itself are shown with small numbers suppressed: counts from 1 to "
        "{last} show as \"< {n}\", and share, CI and status are hidden where the denominator is below {n} or "
        "the numerator is hidden. A count that, with the other numbers on the page, would give a hidden one "
        "away (the region minus the municipality's own, say) shows as \"..\"."),
    # funnel
    "funnels": Text("Tragtplot: kommunerne i {period}", "Funnel plots: the municipalities in {period}"),
    "funnel_intro": Text(
        "Hver kommune er et punkt: andel mod antal forløb i nævneren. Den vandrette linje er landsgennemsnittet, "
        "de stiplede og prikkede kurver er {inner}- og {outer}-kontrolgrænser. En kommune uden for grænserne "
        "afviger mere, end tilfældig variation forklarer. {name} er den sorte ruder.",
        "Each municipality is a point: share against the number of courses in the denominator. The horizontal "
        "line is the national share, the dashed and dotted curves are the {inner} and {outer} control limits. A "
        "municipality outside the limits differs more than chance explains. {name} is the black diamond."),
    "funnel_hidden": Text("Kommuner med for få forløb (under {n} i nævneren eller 1-{last} i tælleren) er ikke "
                          "vist, og heller ikke en kommune, hvis punkt ville afsløre et skjult tal. Antal ikke "
                          "viste kommuner: {counts}.",
                          "Municipalities with too few courses (below {n} in the denominator or 1-{last} in the "
                          "numerator) are not shown, nor one whose point would give a hidden count away. "
                          "Municipalities not shown: {counts}."),
    "funnel_no_centre": Text("{indicators}: landstallet kan ikke vises (for få forløb); derfor ingen "
                             "kontrolgrænser.",
                             "{indicators}: the national figure cannot be shown (too few courses), so there are no "
                             "control limits."),
    "x_denominator": Text("Forløb i nævneren (logaritmisk akse)", "Courses in the denominator (logarithmic axis)"),
    "y_share": Text("Andel", "Share"),
    "others": Text("Andre kommuner", "Other municipalities"),
    "national_share": Text("Landsgennemsnit", "National share"),
    "limit": Text("{level}-grænse", "{level} limit"),
    # run charts
    "run_charts": Text("Udvikling over tid: seriediagrammer", "Over time: run charts"),
    "run_intro": Text(
        "Andelen pr. kvartal i de seneste {count} kvartaler ({first} til {last}), efter afslutningsdato. Den "
        "prikkede linje er kommunens median i perioden. Et kvartal uden forløb i nævneren er et hul i kurven.",
        "The share per quarter over the last {count} quarters ({first} to {last}), by end date. The dotted line "
        "is the municipality's median over the period. A quarter without courses in the denominator is a gap."),
    "median": Text("Median (kommunen)", "Median (municipality)"),
    "run_marks": Text(
        "Tallet ved hvert punkt er antal forløb i nævneren (n). Skraverede kvartaler er ikke afsluttet på "
        "datagrundlagets dato; prikkede er kommunens første kvartaler med forløb (opstart). De indgår ikke i "
        "medianen og seriediagramanalysen. Analysen bruger Anhøjs regler: en serie af punkter på samme side af "
        "medianen, der er længere end round(log2(n) + 3), eller færre krydsninger af medianen end "
        "qbinom(0,05; n - 1; 0,5) er et signal om ikke-tilfældig variation (n = punkter uden for medianen). "
        "Punkterne i en usædvanligt lang serie er ringet ind.",
        "The number at each point is the courses in the denominator (n). Hatched quarters had not ended on the "
        "data's date; dotted ones are the municipality's first quarters with courses (start-up). They are left "
        "out of the median and the runs analysis. The analysis uses Anhøj's rules: a run of points on the same "
        "side of the median longer than round(log2(n) + 3), or fewer crossings of the median than "
        "qbinom(0.05, n - 1, 0.5), signals non-random variation (n = points not on the median). The points of "
        "an unusually long run are ringed."),
    "quarter": Text("{year} K{q}", "{year} Q{q}"),
    # change
    "changes": Text("Målt forbedring fra start til afslutning", "Measured change from start to end"),
    "changes_intro": Text(
        "Forløb afsluttet i perioden med både start- og slutmåling (parrede målinger). Ændring = afslutning "
        "minus start; 95 % KI efter t-fordelingen.",
        "Courses ended in the period with both a start and an end value (paired measurements). Change = end "
        "minus start; 95 % CI from the t distribution."),
    "measure": Text("Måling", "Measurement"),
    "n": Text("Antal (n)", "Number (n)"),
    "mean_start": Text("Gns. start", "Mean at start"),
    "mean_end": Text("Gns. afslutning", "Mean at end"),
    "mean_change": Text("Gns. ændring", "Mean change"),
    "ci_change": Text("95 % KI for ændringen", "95 % CI of the change"),
    "change_chart": Text("Gennemsnitlig ændring med 95 % KI i procent af startværdien (samme skala for alle "
                         "rækker)", "Mean change with 95 % CI in per cent of the start value (one scale for all "
                         "rows)"),
    "change_axis": Text("Ændring i % af gennemsnittet ved start", "Change in % of the mean at start"),
    "to": Text("til", "to"),
    "no_changes": Text("Ingen forløb med parrede målinger i perioden.", "No course with paired measurements in "
                       "the period."),
    # completeness
    "completeness": Text("Datakomplethed", "Data completeness"),
    "completeness_intro": Text(
        "Obligatoriske felter i registreringer (også kladder) på kommunens forløb med henvisning, afklarende "
        "samtale eller afslutning i perioden. Et felt tælles kun, hvor det vises i skemaet.",
        "Required fields in the registrations (drafts included) of the municipality's courses with a referral, "
        "start meeting or end of course in the period. A field counts only where the form shows it."),
    "completeness_summary": Text("{answered} af {shown} obligatoriske feltudfyldninger er besvaret ({share}); "
                                 "{unknown} er besvaret med \"uoplyst\".",
                                 "{answered} of {shown} required field entries are answered ({share}); "
                                 "{unknown} are answered \"unknown\"."),
    "open_courses": Text("Af {started} forløb startet i perioden mangler {without} en færdig afslutning ({share}).",
                         "Of {started} courses started in the period, {without} lack a complete end registration "
                         "({share})."),
    "least_answered": Text("Felter, der ikke altid er udfyldt", "Fields not always answered"),
    "excluded_heading": Text("Forløb uden for en indikators nævner", "Courses outside an indicator's denominator"),
    "excluded_intro": Text("Et forløb tæller ikke med i nævneren, når en værdi, der afgør om det hører til, er "
                           "uoplyst. Udfyld værdien, så tæller forløbet med.",
                           "A course is left out of the denominator when a value that decides whether it belongs "
                           "there is unknown. Fill in the value and the course counts."),
    "excluded_count": Text("Forløb udeladt", "Courses left out"),
    "excluded_reason": Text("Fordi", "Because"),
    "impossible_heading": Text("Data, der ikke kan passe", "Data that cannot be right"),
    "impossible_intro": Text("Disse forløb tæller i ingen indikator, før registreringen er rettet.",
                             "These courses count in no indicator until the registration is corrected."),
    "impossible_course": Text("Forløb", "Course"),
    "impossible_rule": Text("Problem", "Problem"),
    "notes_heading": Text("Bemærkninger til indikatorerne", "Notes on the indicators"),
    "all_answered": Text("Alle obligatoriske felter er udfyldt i alle registreringer.",
                         "Every required field is answered in every registration."),
    "more_fields": Text("... og {count} felter mere under 100 %.", "... and {count} more fields below 100 %."),
    "form": Text("Skema", "Form"),
    "field": Text("Felt", "Field"),
    "shown": Text("Vist", "Shown"),
    "answered": Text("Besvaret", "Answered"),
    "share_answered": Text("Andel besvaret", "Share answered"),
    "share_unknown": Text("Andel uoplyst", "Share unknown"),
    # drop-outs
    "dropouts": Text("Årsager til ophør", "Reasons for dropping out"),
    "dropouts_intro": Text("Forløb afsluttet i perioden med status \"ophørt før tid\", efter hovedårsag.",
                           "Courses ended in the period as dropped out, by main reason."),
    "reason": Text("Årsag", "Reason"),
    "count": Text("Antal", "Number"),
    "total": Text("I alt", "Total"),
    "no_dropouts": Text("Ingen forløb er ophørt før tid i perioden.", "No course was dropped out in the period."),
    # how to read
    "how_to_read": Text("Sådan læser du rapporten", "How to read this report"),
    "period_rules": Text(
        "Perioden er {period}. Henviste: forløb med henvisningsdato i perioden. Startede: færdig "
        "registrering af den afklarende samtale med samtaledato i perioden. Gennemførte: færdig "
        "afslutningsregistrering med forløbsstatus \"gennemført\" og afslutningsdato i perioden. Indikatorerne, "
        "ophørsårsagerne og ændringerne fra start til afslutning hører til perioden for afslutningen og omfatter "
        "forløb, hvor både start- og afslutningsregistreringen er færdige. Aldersgruppe: alder på "
        "henvisningsdatoen.",
        "The period is {period}. Referred: courses with a referral date in the period. "
        "Started: a complete start-meeting registration dated in the period. Completed: a complete end "
        "registration with course status \"completed\" dated in the period. The indicators, the reasons for "
        "dropping out and the changes from start to end belong to the period of the end of the course and "
        "include courses whose start and end registrations are both complete. Age band: age at the referral "
        "date."),
    "calendar_year": Text("kalenderåret {year}", "the calendar year {year}"),
    "indicator_rules": Text("Indikatorerne (tæller / nævner):", "The indicators (numerator / denominator):"),
    "standard_of": Text("standard: {standard}", "standard: {standard}"),
    "no_standard": Text("ingen standard", "no standard"),
    "limit_rule": Text(
        "Et forløb med {limit} dage eller mere mellem afklarende samtale og afslutning tæller ikke som "
        "gennemført (K1).",
        "A course with {limit} days or more between start meeting and end does not count as completed (K1)."),
    "unknown_rule": Text(
        "Et forløb, hvor kriteriet ikke kan afgøres (uoplyst, forskellig test ved start og afslutning, "
        "startværdi 0), bliver i nævneren og tæller som ikke opfyldt; antallet står i kolonnen \"Uoplyst\".",
        "A course whose criterion cannot be decided (unknown, a different test at start and end, a start value "
        "of 0) stays in the denominator and counts as not met; the number is in the column \"Unknown\"."),
    "ci_rule": Text(
        "Andel = tæller / nævner. 95 % konfidensintervallet (KI) er beregnet med {method}. 0/0 er \"ingen "
        "data\", ikke 0 %.",
        "Share = numerator / denominator. The 95 % confidence interval (CI) is computed with {method}. 0/0 is "
        "\"no data\", not 0 %."),
    "wilson": Text("Wilsons metode", "Wilson's score method"),
    "clopper-pearson": Text("den eksakte Clopper-Pearson-metode", "the exact Clopper-Pearson method"),
    "status_rule": Text(
        "Status: \"opfyldt\", når andelen er mindst standarden; \"statistisk under standarden\", når hele "
        "konfidensintervallet ligger under standarden; ellers \"ikke opfyldt\".",
        "Status: \"met\" when the share is at least the standard; \"statistically below the standard\" when "
        "the whole confidence interval lies below it; otherwise \"not met\"."),
    "figures_rule": Text(
        "Tragtplottet viser alle kommuner, der må vises, med {inner}- og {outer}-kontrolgrænser om landsgennemsnittet "
        "(normalapproksimation), antal forløb på en logaritmisk akse og andelen på en akse, der er zoomet ind på "
        "punkterne. Seriediagrammerne viser kommunen pr. kvartal med medianen som midterlinje og landstallet til "
        "sammenligning; signaler efter Anhøjs regler (se seriediagrammerne). Ændringerne fra start til afslutning "
        "vises i procent af gennemsnittet ved start, så alle målinger står på samme skala.",
        "The funnel plot shows every municipality that may be shown, with {inner} and {outer} control limits around "
        "the national share (normal approximation), the number of courses on a logarithmic axis and the share on an "
        "axis zoomed to the points. The run charts show the municipality per quarter with the median as the centre "
        "line and the national figure for comparison; signals by Anhøj's rules (see the run charts). The changes "
        "from start to end are shown in per cent of the mean at start, so every measure is on one scale."),
}


def t(key: str, lang: str, **values: object) -> str:
    text = TEXT[key].get(lang)
    return text.format(**values) if values else text


# --- number formatting -----------------------------------------------------------------------------

def fmt_count(value: object) -> str:
    """12345 -> '12.345'; a suppressed count ('< 5') as it is; missing -> '–'."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return "–"
    return format_number(int(value), 0, thousands=True)  # type: ignore[call-overload]


def fmt_number(value: object, decimals: int = 1, signed: bool = False) -> str:
    """Danish decimal comma and thousands dot: 1234.5 -> '1.234,5'; missing -> '–'."""
    if is_missing(value):
        return "–"
    return format_number(float(value), decimals, sign=signed, thousands=True,  # type: ignore[arg-type]
                         typographic=False)


def fmt_pct(share: object, decimals: int = 1) -> str:
    """0.832 -> '83,2 %'; missing or hidden -> '–'."""
    if is_missing(share):
        return "–"
    return format_percent(float(share), decimals, thousands=True, typographic=False)  # type: ignore[arg-type]


def fmt_ci(low: object, high: object) -> str:
    if is_missing(low) or is_missing(high):
        return "–"
    return f"{fmt_number(float(low) * 100)}–{fmt_number(float(high) * 100)} %"  # type: ignore[arg-type]


def fmt_standard(standard: object) -> str:
    return "–" if is_missing(standard) else f"≥ {fmt_pct(standard, 0)}"


# --- HTML building blocks --------------------------------------------------------------------------

def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    attrs: Mapping[str, str] = field(default_factory=dict)


def num(text: str, **attrs: str) -> Cell:
    return Cell(text, True, {f"data-{k}": v for k, v in attrs.items()})


def table(headers: Sequence[str | Cell], rows: Iterable[tuple[Sequence[str | Cell], str]],
          caption: str = "", cls: str = "hk-table") -> str:
    """A table; each row is (cells, row class)."""
    def cell(tag: str, value: str | Cell) -> str:
        c = value if isinstance(value, Cell) else Cell(value)
        attrs = ' class="num"' if c.numeric else ""
        attrs += "".join(f' {esc(k)}="{esc(v)}"' for k, v in c.attrs.items())
        return f"<{tag}{attrs}>{esc(c.text)}</{tag}>"

    def row(cells: Sequence[str | Cell], row_cls: str) -> str:
        attrs = f' class="{esc(row_cls)}"' if row_cls else ""
        return f"<tr{attrs}>{''.join(cell('td', c) for c in cells)}</tr>"

    head = "".join(cell("th", h) for h in headers)
    body = "".join(row(cells, row_cls) for cells, row_cls in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table class="{cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def section(title: str, body: str, *, page_break: bool = False, name: str = "") -> str:
    classes = "hk-section" + (" hk-page-break" if page_break else "")
    return f'<section class="{classes}" data-section="{esc(name)}"><h2>{esc(title)}</h2>{body}</section>'


def para(text: str, cls: str = "") -> str:
    attrs = f' class="{esc(cls)}"' if cls else ""
    return f"<p{attrs}>{esc(text)}</p>"


def figure(svg: str, caption: str = "", **attrs: str) -> str:
    data = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in attrs.items())
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="hk-chart"{data}>{svg}{cap}</figure>'


def _label(row: Mapping[str, object] | pd.Series, lang: str) -> str:
    return str(row["label_en"] if lang == "en" else row["label_da"])


def _indicator_name(indicator: str, lang: str) -> str:
    return f"{indicator} {BY_ID[indicator].name.get(lang)}"


#: Statuses of the report beyond the engine's: withheld to protect another count (disclosure.py).
EXTRA_STATUS = disclosure.STATUS_LABELS


def _status(status: object, lang: str) -> str:
    """The status in words, after its symbol (✓ ! ✗): readable in black and white."""
    labels = {**STATUS_LABELS, **EXTRA_STATUS}
    words = labels[str(status)].get(lang) if str(status) in labels else str(status)
    symbol = STATUS_SYMBOLS.get(str(status))
    return f"{symbol} {words}" if symbol else words


def period_label(report: MunicipalityReport | str, lang: str = "da", *, long: bool = False) -> str:
    """'2025' -> '2025' (long: 'kalenderåret 2025'); '2025-Q3' -> '3. kvartal 2025' / 'Q3 2025'."""
    period, lang = (report.period, report.lang) if isinstance(report, MunicipalityReport) else (report, lang)
    parsed = parse_period(period)
    if parsed.quarter is None:
        return t("calendar_year", lang, year=parsed.year) if long else str(parsed.year)
    return t("quarter_long", lang, q=parsed.quarter, year=parsed.year)


# --- sections --------------------------------------------------------------------------------------

def title(report: MunicipalityReport) -> str:
    return t("title", report.lang, name=report.name, period=period_label(report))


def header(report: MunicipalityReport) -> str:
    lang, meta = report.lang, report.snapshot
    created = meta.created_at.tz_convert(TZ).strftime("%d.%m.%Y %H:%M") if meta.created_at is not None \
        and meta.created_at.tzinfo is not None else (str(meta.created_at) if meta.created_at is not None else "–")
    cluster = (t("cluster_of", lang, cluster=report.cluster) if report.cluster else t("no_cluster", lang))
    source = t("source", lang, file=meta.file_name, created=created, hash=meta.short_hash or "–")
    if meta.pseudonymised:
        source += t("pseudonymised", lang)
    if report.publish:
        source += " " + t("published", lang)
    return (f'<header class="hk-report-header" data-municipality="{report.municipality}" '
            f'data-period="{esc(report.period)}"><h1>{esc(title(report))}</h1>'
            f"{para(t('subtitle', lang, region=report.region) + '. ' + cluster)}"
            f"{para(source, 'hk-muted hk-source')}</header>")


def no_data(report: MunicipalityReport) -> str:
    if report.has_data:
        return ""
    lang = report.lang
    headline = t("no_data", lang, name=report.name, period=report.period)
    return (f'<div class="hk-nodata" data-nodata="true"><strong>{esc(headline)}</strong>'
            f"{para(t('no_data_text', lang))}</div>")


def _shown_share(share: object, status: object, symbol: bool = True) -> str:
    """'✓ 83,2 %'; a hidden share '..', none '–'."""
    if is_missing(share):
        return ".." if str(status) in ("suppressed", "withheld") else "–"
    mark = STATUS_SYMBOLS.get(str(status), "") if symbol else ""
    return f"{mark} {fmt_pct(share)}".strip()


def overview(report: MunicipalityReport) -> str:
    """Page 1: K1-K6 in the period and the two before (own share with its status symbol and n, the
    nation below it), the key messages and the municipality's general comment."""
    if report.history is None or not report.has_data:
        return ""
    lang, periods = report.lang, report.history_periods
    labels = [period_label(p, lang) for p in periods]
    head = (f"<th>{esc(t('indicator', lang))}</th><th class=\"num\">{esc(t('standard', lang))}</th>"
            + "".join(f'<th class="num">{esc(label)}</th>' for label in labels)
            + f"<th>{esc(t('status', lang))} {esc(labels[-1])}</th>")
    history = report.history.set_index(["indicator", "period"])
    rows = []
    for ind in INDICATORS:
        cells = [f"<td>{esc(_indicator_name(ind.id, lang))}</td>",
                 f'<td class="num">{esc(fmt_standard(report.settings.standards.get(ind.id)))}</td>']
        for period in periods:
            row = history.loc[(ind.id, period)]
            own = _shown_share(row["own_proportion"], row["own_status"])
            n = fmt_count(row["own_denominator"])
            national = _shown_share(row["national_proportion"], row["national_status"], symbol=False)
            # data-item, not data-field: a table cell's field names the whole cell (tools read cells by it)
            where = f'data-indicator="{esc(ind.id)}" data-unit="{report.municipality}" data-period="{esc(period)}"'
            cells.append(f'<td class="num"><span {where} data-item="own_proportion">{esc(own)}</span>'
                         f' <span class="hk-n" {where} data-item="own_n">(n = {esc(n)})</span><br>'
                         f'<span class="hk-national" {where} data-item="national_proportion">'
                         f"{esc(t('national_short', lang))} {esc(national)}</span></td>")
        now = history.loc[(ind.id, periods[-1])]
        cells.append(f'<td data-indicator="{esc(ind.id)}" data-unit="{report.municipality}" '
                     f'data-period="{esc(periods[-1])}" data-field="overview_status">{esc(_status(now["own_status"], lang))}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    unit = t("unit_quarter" if report.kind == "quarter" else "unit_year", lang)
    body = (para(t("overview_intro", lang, unit=unit))
            + f'<table class="hk-table hk-overview"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    items = "".join(f'<li data-message="{esc(m.kind)}">{esc(message_text(m, lang))}</li>' for m in report.messages)
    body += f"<h3>{esc(t('key_messages', lang))}</h3>"
    body += f'<ul class="hk-messages">{items}</ul>' if items else para(t("no_messages", lang), "hk-muted")
    general = report.comments.get(GENERAL)
    if general:
        body += comment_box(t("comment_general", lang), general, GENERAL)
    return section(t("overview", lang, first=labels[0], last=labels[-1]), body, name="overview")


def message_text(message: object, lang: str) -> str:
    """One key message (municipality.KeyMessage) in words."""
    kind, ind, v = message.kind, message.indicator, message.values  # type: ignore[attr-defined]
    name = _indicator_name(ind, lang) if ind else ""
    if kind == "below":
        return t("msg_below", lang, indicator=name, share=fmt_pct(v["share"]), high=fmt_pct(v["ci_high"]),
                 standard=fmt_standard(v["standard"]))
    if kind in ("improved", "worsened"):
        change = fmt_number((v["now"] - v["before"]) * 100, 1, signed=True)
        return t(f"msg_{kind}", lang, indicator=name, before=fmt_pct(v["before"]), now=fmt_pct(v["now"]),
                 change=change, previous=period_label(v["previous"], lang))
    if kind == "below_national":
        return t("msg_below_national", lang, indicator=name, share=fmt_pct(v["share"]),
                 national=fmt_pct(v["national"]))
    if kind == "run_signal":
        which = [t("runs_shift", lang)] if v["shift"] else []
        which += [t("runs_few", lang)] if v["few_crossings"] else []
        return t("msg_run_signal", lang, indicator=name, which=", ".join(which))
    if kind == "all_met":
        return t("msg_all_met", lang, met=v["met"], count=v["count"])
    return kind


def comment_box(heading: str, text: str | None, key: str, empty: str = "") -> str:
    """The municipality's own words in a framed box; escaped, line breaks kept as paragraphs."""
    if text:
        body = "".join(para(line) for line in text.splitlines() if line.strip())
    else:
        body = para(empty, "hk-muted")
    return (f'<div class="hk-box hk-comment" data-comment="{esc(key)}"><h4>{esc(heading)}</h4>{body}</div>')


def indicator_pages(report: MunicipalityReport) -> str:
    """Per indicator: why it matters, how to read it, what the municipality can do (the programme's
    indicator_texts.yaml), the result over the periods of page 1, and the municipality's comment."""
    if not report.has_data or report.guidance is None:
        return ""
    lang, parts = report.lang, []
    history = report.history.set_index(["indicator", "period"]) if report.history is not None else None
    for ind in INDICATORS:
        body = ""
        if history is not None:
            body += history_list(history, ind.id, report.history_periods, lang)
        for part in PARTS:
            body += f"<h3>{esc(t('part_' + part, lang))}</h3>" + para(report.guidance.get(ind.id, part, lang))
        body += comment_box(t("comment", lang), report.comments.get(ind.id), ind.id, t("no_comment", lang))
        parts.append(f'<section class="hk-section hk-indicator" data-section="indicator-{ind.id}">'
                     f"<h2>{esc(_indicator_name(ind.id, lang))}</h2>{body}</section>")
    return "".join(parts)


def history_list(history: pd.DataFrame, indicator: str, periods: Sequence[str], lang: str) -> str:
    """One indicator's results over ``periods`` as a list: share with status symbol, CI, n and the
    nation, or "not shown"; ``history`` indexed by (indicator, period) (``municipality.history_table``)."""
    lines = []
    for period in periods:
        row = history.loc[(indicator, period)]
        label = period_label(period, lang)
        if is_missing(row["own_proportion"]) and str(row["own_status"]) in ("suppressed", "withheld"):
            lines.append(t("indicator_hidden", lang, period=label))
        elif not is_missing(row["own_proportion"]):
            lines.append(t("indicator_result", lang, period=label, share=_status_share(row),
                           ci=fmt_ci(row["own_ci_low"], row["own_ci_high"]),
                           numerator=fmt_count(row["own_numerator"]),
                           denominator=fmt_count(row["own_denominator"]),
                           national=fmt_pct(row["national_proportion"])))
    return "<ul class='hk-results-list'>" + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>"


def _status_share(row: pd.Series) -> str:
    symbol = STATUS_SYMBOLS.get(str(row["own_status"]), "")
    return f"{symbol} {fmt_pct(row['own_proportion'])}".strip()


def key_figures(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    lang, kf = report.lang, report.key_figures
    fields = ("referred", "started", "completed")
    headers = [t("courses", lang)] + [Cell(t(f, lang), True) for f in fields]
    total = table(headers, [([t("total", lang)] + [num(fmt_count(kf.total[f]), dimension="total", key="total",
                                                       field=f) for f in fields], "hk-total")])
    parts = [total]
    for dimension, frame, heading in (("diagnosis", kf.by_diagnosis, "by_diagnosis"), ("sex", kf.by_sex, "by_sex"),
                                      ("age", kf.by_age, "by_age")):
        rows = [([_label(r, lang)] + [num(fmt_count(r[f]), dimension=dimension, key=str(r["key"]), field=f)
                                      for f in fields], "") for _, r in frame.iterrows()]
        parts.append(f"<h3>{esc(t(heading, lang))}</h3>" + table([t(dimension, lang)] + headers[1:], rows))
        if dimension == "diagnosis":
            parts.append(para(t("diagnosis_note", lang), "hk-muted"))
    return section(t("key_figures", lang), "".join(parts), name="key_figures")


def _indicator_cells(row: Mapping[str, object] | pd.Series, unit: str, *, unknown: bool = True,
                     standard: bool = False) -> list[Cell]:
    ind = str(row["indicator"])
    cells = [num(fmt_count(row["numerator"]), indicator=ind, unit=unit, field="numerator"),
             num(fmt_count(row["denominator"]), indicator=ind, unit=unit, field="denominator")]
    if unknown:
        cells.append(num(fmt_count(row["unknown"]), indicator=ind, unit=unit, field="unknown"))
    cells += [num(fmt_pct(row["proportion"]), indicator=ind, unit=unit, field="proportion"),
              num(fmt_ci(row["ci_low"], row["ci_high"]), indicator=ind, unit=unit, field="ci")]
    if standard:
        cells.append(num(fmt_standard(row["standard"]), indicator=ind, unit=unit, field="standard"))
    return cells


def indicator_table(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    lang, unit = report.lang, str(report.municipality)
    headers = [t("indicator", lang)] + [Cell(t(k, lang), True) for k in
                                        ("numerator", "denominator", "unknown", "proportion", "ci", "standard")]
    headers.append(t("status", lang))
    rows = []
    for _, row in report.indicators.iterrows():
        status = Cell(_status(row["status"], lang), attrs={"data-indicator": str(row["indicator"]),
                                                           "data-unit": unit, "data-field": "status"})
        rows.append(([_indicator_name(str(row["indicator"]), lang)] + _indicator_cells(row, unit, standard=True)
                     + [status], ""))
    body = table(headers, rows) + para(_own_note(report), "hk-muted")
    return section(t("indicators", lang), body, name="indicators")


def _own_note(report: MunicipalityReport) -> str:
    if report.publish:
        return t("own_published", report.lang, n=report.suppress_below)
    return t("own_exact", report.lang)


def comparison_table(report: MunicipalityReport) -> str:
    lang = report.lang
    headers = [t("unit", lang)] + [Cell(t(k, lang), True) for k in
                                   ("numerator", "denominator", "unknown", "proportion", "ci")] + [t("status", lang)]
    parts = []
    for ind in INDICATORS:
        rows = []
        for _, row in report.comparison[report.comparison["indicator"] == ind.id].iterrows():
            level = str(row["level"])
            name = report.name if row["own"] else (t("level_national", lang) if level == "national"
                                                   else str(row["unit_name"]))
            label = f"{t('level_' + level, lang)}: {name}" if level != "national" else name
            unit = str(row["unit"])
            status = Cell(_status(row["status"], lang), attrs={"data-indicator": ind.id, "data-unit": unit,
                                                               "data-field": "status"})
            rows.append(([Cell(label, attrs={"data-level": level})] + _indicator_cells(row, unit) + [status],
                         "hk-own" if row["own"] else ""))
        std = report.settings.standards.get(ind.id)
        caption = _indicator_name(ind.id, lang) + (f" ({t('standard_of', lang, standard=fmt_standard(std))})"
                                                   if std is not None else "")
        parts.append(table(headers, rows, caption=caption, cls="hk-table hk-comparison"))
    last = report.suppress_below - 1
    parts.append(para(_own_note(report) + " " + t("suppressed_note", lang, n=report.suppress_below, last=last),
                      "hk-muted"))
    return section(t("comparison", lang), "".join(parts), name="comparison")


def funnel_section(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    names = [(ind.id, _indicator_name(ind.id, report.lang)) for ind in INDICATORS]
    body = funnel_body(report.funnels, names, report.name, report.lang, report.suppress_below)
    return section(t("funnels", report.lang, period=report.period), body, page_break=True, name="funnels")


def funnel_body(funnels: Mapping[str, FunnelData], names: Sequence[tuple[str, str]], own_name: str, lang: str,
                suppress_below: int) -> str:
    """The funnel plots of the indicators ``names`` ((id, title), in order) with their intro and the
    notes on municipalities not drawn: for HjerteKom's K1-K6 and for any programme's indicators
    (``programme.py``). ``funnels`` holds only what may be shown (``municipality.funnel_data``)."""
    last = suppress_below - 1
    text = {"xlabel": t("x_denominator", lang), "ylabel": t("y_share", lang), "others": t("others", lang),
            "centre": t("national_share", lang), "limit_inner": t("limit", lang, level=_level(FUNNEL_LEVELS[0])),
            "limit_outer": t("limit", lang, level=_level(FUNNEL_LEVELS[1])),
            "standard": t("standard", lang)}
    panels = [(funnels[ind], title) for ind, title in names]
    hidden = [f"{ind} {funnels[ind].hidden}" for ind, _ in names if funnels[ind].hidden]
    notes = [t("funnel_hidden", lang, counts=", ".join(hidden), n=suppress_below, last=last)] if hidden else []
    no_centre = [ind for ind, _ in names if funnels[ind].centre is None]
    if no_centre:
        notes.append(t("funnel_no_centre", lang, indicators=", ".join(no_centre)))
    counts = {f"points-{d.indicator.lower()}": str(len(d.points)) for d, _ in panels}
    counts.update({f"hidden-{d.indicator.lower()}": str(d.hidden) for d, _ in panels})
    own_labels = {}
    for ind, _ in names:
        own = funnels[ind].points
        own = own[own["own"]]
        if len(own):
            row = own.iloc[0]
            ci = fmt_ci(row.get("ci_low"), row.get("ci_high"))
            own_labels[ind] = f"{own_name} {fmt_pct(row['proportion'])}" + (f" ({ci})" if ci != "–" else "")
    return (para(t("funnel_intro", lang, name=own_name, **_levels()))
            + figure(charts.funnel_charts(panels, text, own_name, own_labels), chart="funnel", **counts)
            + "".join(para(note, "hk-muted hk-note") for note in notes))


def _level(level: float) -> str:
    """0.95 -> '95 %', 0.998 -> '99,8 %'."""
    return fmt_pct(level).replace(",0 %", " %")


def _levels() -> dict[str, str]:
    return {"inner": _level(FUNNEL_LEVELS[0]), "outer": _level(FUNNEL_LEVELS[1])}


def quarter_label(quarter: str, lang: str) -> str:
    """'2025-Q1' -> '2025 K1' (da) / '2025 Q1' (en)."""
    year, _, q = quarter.partition("-Q")
    return t("quarter", lang, year=year, q=q)


def run_chart_section(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    lang = report.lang
    names = [(ind.id, _indicator_name(ind.id, lang)) for ind in INDICATORS]
    labels = [quarter_label(q, lang) for q in report.quarters]
    intro = t("run_intro", lang, count=len(report.quarters), first=labels[0], last=labels[-1])
    body = run_chart_body(report.run_charts, names, report.quarters, report.name, str(report.municipality), lang,
                          intro)
    return section(t("run_charts", lang), body, page_break=True, name="run_charts")


def run_chart_body(run_charts: Mapping[str, RunChartData], names: Sequence[tuple[str, str]], quarters: Sequence[str],
                   own_name: str, unit: str, lang: str, intro: str) -> str:
    """The run charts of the indicators ``names`` ((id, title), in order), how to read them, and the
    table of Anhøj's rules: for HjerteKom's K1-K6 and for any programme's indicators."""
    labels = [quarter_label(q, lang) for q in quarters]
    text = {"own": own_name, "national": t("level_national", lang), "median": t("median", lang),
            "standard": t("standard", lang), "unfinished": t("unfinished", lang), "startup": t("startup", lang),
            "shift": t("shift", lang), "crossings": t("crossings", lang)}
    panels = [(run_charts[ind], title) for ind, title in names]
    n_labels = {d.indicator: [fmt_count(v) for v in d.own["denominator"]] for d, _ in panels}
    signals = {d.indicator: str(bool(d.runs is not None and d.runs.signal)).lower() for d, _ in panels}
    return (para(intro) + para(t("run_marks", lang), "hk-muted hk-note")
            + figure(charts.run_charts(panels, text, labels, n_labels), chart="run",
                     **{f"signal-{k.lower()}": v for k, v in signals.items()})
            + runs_table(run_charts, names, unit, lang))


def runs_table(run_charts: Mapping[str, RunChartData], names: Sequence[tuple[str, str]], unit: str,
               lang: str) -> str:
    """Anhøj's rules per indicator: useful points, longest run against its limit, crossings against theirs."""
    headers = [t("indicator", lang), Cell(t("runs_points", lang), True), Cell(t("runs_longest", lang), True),
               Cell(t("runs_crossings", lang), True), t("runs_signal", lang)]
    rows = []
    for ind, title in names:
        result = run_charts[ind].runs
        if result is None:
            rows.append(([title, num("–"), num("–"), num("–"),
                          Cell(t("runs_too_few", lang, n=MIN_POINTS), attrs={"data-indicator": ind, "data-unit": unit,
                                                                            "data-field": "runs_signal"})], ""))
            continue
        which = ([t("runs_shift", lang)] if result.shift else []) + ([t("runs_few", lang)] if result.few_crossings
                                                                     else [])
        rows.append(([title, num(str(result.n)),
                      num(f"{result.longest_run} ({result.longest_run_max})", indicator=ind, unit=unit,
                          field="longest_run"),
                      num(f"{result.crossings} ({result.crossings_min})", indicator=ind, unit=unit,
                          field="crossings"),
                      Cell(", ".join(which) or t("runs_none", lang),
                           attrs={"data-indicator": ind, "data-unit": unit, "data-field": "runs_signal"})], ""))
    return f"<h3>{esc(t('runs_heading', lang))}</h3>" + table(headers, rows)


def change_section(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    lang = report.lang
    headers = [t("measure", lang)] + [Cell(t(k, lang), True) for k in
                                      ("n", "mean_start", "mean_end", "mean_change", "ci_change")]
    rows = []
    for _, r in report.changes.iterrows():
        d, m = int(r["decimals"]), str(r["measure"])
        unit = f" ({r['unit']})" if r["unit"] else ""
        ci = _change_ci(r, lang)
        rows.append(([_label(r, lang) + unit, num(fmt_count(r["n"]), measure=m, field="n"),
                      num(fmt_number(r["mean_start"], d), measure=m, field="mean_start"),
                      num(fmt_number(r["mean_end"], d), measure=m, field="mean_end"),
                      num(fmt_number(r["mean_change"], d, signed=True), measure=m, field="mean_change"),
                      num(ci, measure=m, field="ci")], ""))
    body = para(t("changes_intro", lang)) + table(headers, rows)
    # n may be "< 5" in a published report, whose means are then hidden
    drawn = report.changes[(pd.to_numeric(report.changes["n"], errors="coerce") >= 2)
                           & report.changes["mean_change"].notna()]
    if len(drawn):
        labels = [_label(r, lang) + (f" ({r['unit']})" if r["unit"] else "") for _, r in drawn.iterrows()]
        notes = [f"{fmt_number(r['mean_change'], int(r['decimals']), signed=True)} ({_change_ci(r, lang)}), "
                 f"n = {int(r['n'])}" for _, r in drawn.iterrows()]
        svg = charts.change_chart(labels, list(drawn["mean_change"]), list(drawn["ci_low"]), list(drawn["ci_high"]),
                                  notes, t("change_chart", lang), starts=list(drawn["mean_start"]),
                                  xlabel=t("change_axis", lang))
        body += figure(svg, chart="change")
    else:
        body += para(t("no_changes", lang), "hk-muted")
    return section(t("changes", lang), body, name="changes")


def _change_ci(row: pd.Series, lang: str) -> str:
    if is_missing(row["ci_low"]):
        return "–"
    d = int(row["decimals"])
    return f"{fmt_number(row['ci_low'], d)} {t('to', lang)} {fmt_number(row['ci_high'], d)}"


def completeness_section(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    lang = report.lang
    body = (para(t("completeness_intro", lang))
            + completeness_body(report.completeness, report.completeness_totals, report.open_courses, lang)
            + _data_quality_parts(report))
    return section(t("completeness", lang), body, page_break=True, name="completeness")


def completeness_body(fields: pd.DataFrame, totals: Mapping[str, object] | None, still_open: Mapping[str, object],
                      lang: str) -> str:
    """Required fields answered in total, courses started without an end, and the fields not always
    answered (``municipality.own_completeness``, of any programme's forms). ``totals``: the totals
    as published (protected counts); None: the sums of ``fields``."""
    totals = totals or {c: int(fields[c].sum()) for c in ("shown", "answered", "unknown")}
    shown, answered, unknown = totals["shown"], totals["answered"], totals["unknown"]
    parts = []
    if shown != 0:
        share = answered / shown if not isinstance(shown, str) and not isinstance(answered, str) else None
        parts.append(para(t("completeness_summary", lang, answered=fmt_count(answered), shown=fmt_count(shown),
                            share=fmt_pct(share), unknown=fmt_count(unknown))))
    if still_open["started"] != 0:
        parts.append(para(t("open_courses", lang, started=fmt_count(still_open["started"]),
                            without=fmt_count(still_open["without_end"]),
                            share=fmt_pct(still_open["share_without_end"]))))
    lacking = fields[fields["lacking"]] if "lacking" in fields else fields[fields["share_answered"] < 1]
    if len(lacking):
        headers = [t("form", lang), t("field", lang)] + [Cell(t(k, lang), True) for k in
                                                         ("shown", "answered", "unknown", "share_answered")]
        rows = [([_label({"label_da": r["form_label_da"], "label_en": r["form_label_en"]}, lang), _label(r, lang),
                  num(fmt_count(r["shown"]), form=r["form"], key=r["field"], field="shown"),
                  num(fmt_count(r["answered"]), form=r["form"], key=r["field"], field="answered"),
                  num(fmt_count(r["unknown"]), form=r["form"], key=r["field"], field="unknown"),
                  num(fmt_pct(r["share_answered"]), form=r["form"], key=r["field"], field="share_answered")], "")
                for _, r in lacking.head(COMPLETENESS_ROWS).iterrows()]
        parts.append(f"<h3>{esc(t('least_answered', lang))}</h3>" + table(headers, rows))
        if len(lacking) > COMPLETENESS_ROWS:
            parts.append(para(t("more_fields", lang, count=len(lacking) - COMPLETENESS_ROWS), "hk-muted"))
    elif shown != 0:
        parts.append(para(t("all_answered", lang)))
    return "".join(parts)


def _data_quality_parts(report: MunicipalityReport) -> str:
    """Courses left out of a denominator, impossible data (by course id) and the indicators' notes."""
    lang, parts = report.lang, []
    if report.exclusions is not None and len(report.exclusions):
        rows = [([r["indicator"], num(fmt_count(r["excluded"]), indicator=r["indicator"],
                                      unit=str(report.municipality), field="excluded"),
                  str(r["reason_da"] if lang == "da" else r["reason_en"])], "")
                for _, r in report.exclusions.iterrows()]
        parts.append(f"<h3>{esc(t('excluded_heading', lang))}</h3>" + para(t("excluded_intro", lang))
                     + table([t("indicator", lang), Cell(t("excluded_count", lang), True), t("excluded_reason", lang)],
                             rows))
    if report.impossible is not None and len(report.impossible):
        rows = [([num(str(int(r["course_id"])), field="impossible_course"), _label(r, lang)], "")
                for _, r in report.impossible.iterrows()]
        parts.append(f"<h3>{esc(t('impossible_heading', lang))}</h3>" + para(t("impossible_intro", lang))
                     + table([Cell(t("impossible_course", lang), True), t("impossible_rule", lang)], rows))
    if report.notes is not None and len(report.notes):
        items = "".join(f"<li>{esc(r['indicator'])}: {esc(_label(r, lang))} ({fmt_count(int(r['courses']))})</li>"
                        for _, r in report.notes.iterrows())
        parts.append(f"<h3>{esc(t('notes_heading', lang))}</h3><ul class='hk-notes'>{items}</ul>")
    return "".join(parts)


def dropout_section(report: MunicipalityReport) -> str:
    if not report.has_data:
        return ""
    lang, drops = report.lang, report.dropouts
    # A published report's counts and total are protected ("< 5", ".."): the total is its own.
    total = report.dropouts_total if report.dropouts_total is not None else int(drops["count"].sum())
    parts = [para(t("dropouts_intro", lang))]
    if total == 0:
        parts.append(para(t("no_dropouts", lang), "hk-muted"))
        return section(t("dropouts", lang), "".join(parts), name="dropouts")
    rows = [([_label(r, lang), num(fmt_count(r["count"]), dimension="dropout", key=str(r["code"]), field="count")],
             "") for _, r in drops.iterrows()]
    rows.append(([t("total", lang), num(fmt_count(total), dimension="dropout", key="total", field="count")],
                 "hk-total"))
    parts.append(table([t("reason", lang), Cell(t("count", lang), True)], rows))
    shown = drops[drops["count"].map(lambda v: not isinstance(v, str) and v > 0)]
    svg = charts.bar_chart([_label(r, lang) for _, r in shown.iterrows()], [int(v) for v in shown["count"]],
                           t("dropouts", lang), t("count", lang), salt="dropouts")
    parts.append(figure(svg, chart="dropouts"))
    return section(t("dropouts", lang), "".join(parts), name="dropouts")


def how_to_read(report: MunicipalityReport) -> str:
    lang, settings = report.lang, report.settings
    limit = str(report.completion_limit_days)
    items = []
    for ind in INDICATORS:
        std = settings.standards.get(ind.id)
        rule = t("standard_of", lang, standard=fmt_standard(std)) if std is not None else t("no_standard", lang)
        items.append(f"<li>{esc(ind.describe(lang).replace('{limit}', limit))} ({esc(rule)})</li>")
    method = t(settings.ci_method, lang) if settings.ci_method in TEXT else settings.ci_method
    body = "".join([
        para(t("period_rules", lang, period=period_label(report, long=True))),
        para(t("indicator_rules", lang)), f"<ul>{''.join(items)}</ul>",
        para(t("limit_rule", lang, limit=limit)),
        para(t("unknown_rule", lang)),
        para(t("ci_rule", lang, method=method)),
        para(t("status_rule", lang)),
        para(t("suppressed_note", lang, n=report.suppress_below, last=report.suppress_below - 1)),
        para(t("figures_rule", lang, **_levels())),
    ])
    return section(t("how_to_read", lang), body, page_break=True, name="how_to_read")


#: The sections in reading order (the notebook shows them one per cell).
SECTIONS = (header, no_data, overview, key_figures, indicator_table, indicator_pages, comparison_table,
            funnel_section, run_chart_section, change_section, completeness_section, dropout_section, how_to_read)


def render(report: MunicipalityReport) -> list[str]:
    """Every non-empty section, in order."""
    return [part for part in (s(report) for s in SECTIONS) if part]
