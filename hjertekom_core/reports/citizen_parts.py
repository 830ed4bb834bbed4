"""HTML fragments and charts of the citizen sheet and the course summary.

Each function takes the dict of ``citizen.course_report_data`` (as the notebooks receive it) and
returns an HTML string; the notebooks only display them. Charts are matplotlib figures saved as
SVG and placed inline, drawn for black and white: open circle = start, filled square = end, the
instrument's attention zones hatched. Nothing here reads the store.
"""
from __future__ import annotations

import html
import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
from matplotlib.figure import Figure

from hjertekom_core.contract import Text
from hjertekom_core.formatting import format_number
from hjertekom_core.reports.citizen import format_date

Course = Mapping[str, Any]

TEXTS: dict[str, Text] = {
    "sheet_title": Text("Dine resultater fra hjerterehabiliteringen", "Your results from cardiac rehabilitation"),
    "sheet_title_programme": Text("Dine resultater – {programme}", "Your results – {programme}"),
    "other_programme": Text("Dit forløb i {programme}", "Your course in {programme}"),
    "other_dates": Text("{start}: {start_date} · {end}: {end_date}", "{start}: {start_date} · {end}: {end_date}"),
    "not_yet": Text("ikke registreret endnu", "not registered yet"),
    "sheet_intro": Text(
        "Her kan du se dine målinger og svar fra starten og slutningen af forløbet, hvor meget de har ændret "
        "sig, og hvad de betyder. Gennemgå arket sammen med din behandler.",
        "Here you can see your measurements and answers from the start and the end of the course, how much "
        "they changed and what they mean. Go through the sheet with your clinician."),
    "summary_title": Text("Forløbsopsummering", "Course summary"),
    "summary_to": Text("Kommunal hjerterehabilitering (fase II) – til sygehus og egen læge",
                       "Municipal cardiac rehabilitation (phase II) – for hospital and general practitioner"),
    "name": Text("Navn", "Name"),
    "cpr": Text("CPR-nummer", "CPR number"),
    "measure": Text("Måling", "Measure"),
    "start": Text("Start", "Start"),
    "end": Text("Slut", "End"),
    "change": Text("Ændring", "Change"),
    "meaning": Text("Hvad betyder det?", "What does it mean?"),
    "from_to": Text("fra {start} til {end}", "from {start} to {end}"),
    "charts": Text("Start og slut i grafer", "Start and end in charts"),
    "chart_body": Text("Krop, kredsløb og kondition", "Body, circulation and fitness"),
    "chart_legend": Text("Hver graf starter ved 0 eller viser hele skalaen. Så ser du, hvor stor en ændring "
                         "er. Det skraverede felt er et område, vi taler med dig om.",
                         "Every chart starts at 0 or shows the whole scale, so you see how big a change is. "
                         "The hatched area is a range we talk with you about."),
    "zone_1": Text("på grænsen", "borderline"),
    "zone_2": Text("tal med os om det", "worth talking about"),
    "reading": Text("Sådan læses tallene", "How to read the numbers"),
    "reading_states": Text(
        "»ikke besvaret«: feltet er ikke udfyldt. »uoplyst«: spurgt, men ikke kendt. "
        "»kan ikke beregnes«: for få svar til at beregne en score.",
        "'not answered': the field was left blank. 'unknown': asked, but not known. "
        "'cannot be calculated': too few answers to calculate a score."),
    "printed": Text("Udskrevet {date} af {who}, {municipality}.", "Printed {date} by {who}, {municipality}."),
    "citizen": Text("Borger", "Citizen"),
    "referral": Text("Henvisning", "Referral"),
    "course": Text("Forløb", "Course"),
    "duration": Text("Varighed", "Duration"),
    "days": Text("{n} dage", "{n} days"),
    "interventions": Text("Indsatser", "Interventions"),
    "intervention": Text("Indsats", "Intervention"),
    "offered": Text("Tilbudt", "Offered"),
    "received": Text("Modtaget", "Received"),
    "results": Text("Resultater ved start og afslutning", "Results at start and end"),
    "work": Text("Arbejde", "Work"),
    "contact": Text("Kontakt", "Contact"),
    "contact_text": Text(
        "Spørgsmål om forløbet rettes til hjerterehabiliteringen i {municipality} (kommunekode {code}).",
        "Questions about the course: the cardiac rehabilitation team of {municipality} (municipality code {code})."),
    "prepared": Text("Udarbejdet {date}.", "Prepared {date}."),
    "conclusion": Text("Konklusion og opfølgning", "Conclusion and follow-up"),
    "finding": Text("Fund ved seneste måling", "Finding at the latest measurement"),
    "gp_asked": Text("Egen læge bedes", "The GP is asked to"),
    "responsible": Text("Ansvarlig behandler", "Responsible clinician"),
    "phone": Text("Tlf.", "Phone"),
    "email": Text("E-mail", "E-mail"),
    "regards": Text("Med venlig hilsen", "Kind regards"),
    "no_contact": Text("Telefon og e-mail mangler: tilføj dem i brugerprofilen eller kommunens kontaktoplysninger.",
                       "Phone and e-mail missing: add them to the user profile or the municipality's contact setting."),
    "status_line": Text("Forløbsstatus: {status}.", "Course status: {status}."),
    "no_course": Text("Intet forløb valgt.", "No course selected."),
    "no_values": Text("Ingen målinger at vise endnu.", "No measurements to show yet."),
}


def t(key: str, lang: str) -> str:
    return TEXTS[key].get(lang)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nodata(lang: str) -> str:
    return f'<div class="hk-nodata">{_e(t("no_course", lang))}</div>'


def _cell_html(cell: Mapping[str, Any], tag: str = "td", extra: str = "") -> str:
    classes = " ".join(filter(None, [extra, "" if cell["state"] == "value" else f"hk-state hk-state-{cell['state']}"]))
    cls = f' class="{classes}"' if classes else ""
    return f"<{tag}{cls}>{_e(cell['text'])}</{tag}>"


def _meaning(row: Mapping[str, Any], has_end: bool, lang: str) -> str:
    start, end = row["meaning"]["start"], row["meaning"]["end"] if has_end else None
    if start and end and start != end:
        return t("from_to", lang).format(start=start, end=end)
    return end or start or ""


def _change(row: Mapping[str, Any]) -> str:
    change = row.get("change")
    if not change:
        return ""
    if change.get("note"):
        return f'<span class="hk-state">{_e(change["note"])}</span>'
    text = f'<span class="hk-nowrap">{_e(change["text"])}</span>'
    if change.get("verdict_text"):
        text += f' <span class="hk-muted hk-nowrap">({_e(change["verdict_text"])})</span>'
    return text


def _kv_table(rows: Sequence[tuple[str, str]], css: str = "hk-kv hk-compact") -> str:
    """Label/value rows; values are HTML already."""
    body = "".join(f'<tr><th scope="row">{_e(label)}</th>{value}</tr>' for label, value in rows)
    return f'<table class="{css}"><tbody>{body}</tbody></table>'


def _facts(facts: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(f["label"], _cell_html(f)) for f in facts]


# ------------------------------------------------------------------------------------------------
# The citizen sheet
# ------------------------------------------------------------------------------------------------
def sheet_header(course: Course, lang: str = "da") -> str:
    if not course:
        return _nodata(lang)
    c = course["citizen"]
    notices = "".join(f'<p class="hk-notice">{_e(n)}</p>' for n in course["notices"])
    programme = course.get("programme") or {}
    title = t("sheet_title", lang) if programme.get("code", "hjertekom") == "hjertekom" \
        else t("sheet_title_programme", lang).format(programme=programme.get("label", ""))
    return (f'<header class="hk-sheet-head"><h1>{_e(title)}</h1>'
            f'<p class="hk-who"><span>{_e(t("name", lang))}: <strong>{_e(c["name"])}</strong></span> '
            f'<span>{_e(t("cpr", lang))}: <strong>{_e(c["cpr"])}</strong></span></p>'
            f'<p>{_e(t("sheet_intro", lang))}</p>{notices}</header>')


def _column_head(course: Course, role: str, lang: str) -> str:
    date = course[role]["date"]
    when = f'<br><span class="hk-muted">{_e(format_date(date, lang))}</span>' if date else ""
    return f'<th class="num">{_e(t(role, lang))}{when}</th>'


def results_table(course: Course, lang: str = "da", *, summary_only: bool = False) -> str:
    """Start, end, change and meaning of each measure, in blocks (the summary: key results only)."""
    if not course:
        return _nodata(lang)
    has_end = course["end"]["registered"]
    heads = [f'<th>{_e(t("measure", lang))}</th>', _column_head(course, "start", lang)]
    if has_end:
        heads += [_column_head(course, "end", lang), f'<th class="num">{_e(t("change", lang))}</th>']
    if not summary_only:
        heads.append(f'<th class="hk-meaning">{_e(t("meaning", lang))}</th>')
    width = len(heads)
    body = []
    for group in course["groups"]:
        rows = [r for r in course["measures"] if r["group"] == group["key"] and (r["summary"] or not summary_only)]
        if not rows:
            continue
        if not summary_only:
            body.append(f'<tr class="hk-group"><th colspan="{width}">{_e(group["label"])}</th></tr>')
        for row in rows:
            align = "num" if row["numeric"] else "hk-val"  # answers from a code list may wrap
            cells = [f'<th scope="row">{_e(row["label"])}</th>', _cell_html(row["start"], extra=align)]
            if has_end:
                cells += [_cell_html(row["end"], extra=align), f'<td class="{align} hk-change">{_change(row)}</td>']
            if not summary_only:
                cells.append(f'<td class="hk-meaning">{_e(_meaning(row, has_end, lang))}</td>')
            body.append(f'<tr data-measure="{_e(row["key"])}">{"".join(cells)}</tr>')
    css = "hk-results hk-compact" if summary_only else "hk-results"
    return f'<table class="{css}"><thead><tr>{"".join(heads)}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def sheet_results(course: Course, lang: str = "da") -> str:
    return results_table(course, lang)


def sheet_other_programmes(course: Course, lang: str = "da") -> str:
    """The citizen's courses of the other programmes the user may see (``other_programmes`` of the
    course's data): per course its programme, when it started and ended, and its measures at start
    and end in the same table as the sheet's own. Empty when there are none."""
    if not course:
        return ""
    parts = []
    for other in course.get("other_programmes") or []:
        programme = other["programme"]
        dates = t("other_dates", lang).format(
            start=other["start"]["label"], end=other["end"]["label"],
            start_date=format_date(other["start"]["date"], lang) if other["start"]["date"] else t("not_yet", lang),
            end_date=format_date(other["end"]["date"], lang) if other["end"]["date"] else t("not_yet", lang))
        table = (results_table(other, lang) if other["measures"]
                 else f'<p class="hk-muted">{_e(t("no_values", lang))}</p>')
        parts.append(f'<section class="hk-other-programme" data-programme="{_e(programme["code"])}" '
                     f'data-course="{int(other["course_id"])}">'
                     f'<h2>{_e(t("other_programme", lang).format(programme=programme["label"]))}</h2>'
                     f'<p class="hk-muted">{_e(dates)}</p>{table}</section>')
    return "".join(parts)


def sheet_charts(course: Course, lang: str = "da") -> str:
    """Two figures: body, circulation and fitness; wellbeing and quality of life."""
    if not course:
        return _nodata(lang)
    groups = {g["key"]: g["label"] for g in course["groups"]}
    # (key, title, groups, panels per line): the sheet's second page holds both figures and the key.
    figures = [("body", t("chart_body", lang), ("body", "fitness"), 4), ("mind", groups.get("mind", ""), ("mind",), 6)]
    parts = []
    for key, title, members, columns in figures:
        rows = [r for r in course["measures"] if r["group"] in members and r["numeric"] and _numbers(r)
                and r.get("comparable") is not False]
        if rows:
            svg = start_end_chart(rows, lang, salt=f"{key}-{course['course_id']}", title=title, columns=columns)
            parts.append(f'<figure class="hk-chart"><figcaption>{_e(title)}</figcaption>{svg}</figure>')
    if not parts:
        return f'<p class="hk-muted">{_e(t("no_values", lang))}</p>'
    return (f'<h2 class="hk-page-break">{_e(t("charts", lang))}</h2><p class="hk-muted">{_e(t("chart_legend", lang))}</p>'
            + "".join(parts))


def sheet_reading(course: Course, lang: str = "da") -> str:
    """The key to the scales shown, and who printed the sheet."""
    if not course:
        return _nodata(lang)
    readings = []
    for row in course["measures"]:
        text = row["scale"]["reading"]
        if text and text not in readings and _numbers(row):
            readings.append(text)
    items = "".join(f"<li>{_e(r)}</li>" for r in readings)
    printed = t("printed", lang).format(date=format_date(course["generated_on"], lang), who=course["prepared_by"],
                                        municipality=course["municipality"]["name"])
    return (f'<h2>{_e(t("reading", lang))}</h2><ul class="hk-reading">{items}'
            f'<li>{_e(t("reading_states", lang))}</li></ul><p class="hk-muted hk-small">{_e(printed)}</p>')


# ------------------------------------------------------------------------------------------------
# The course summary
# ------------------------------------------------------------------------------------------------
def _summary_block(content: str) -> str:
    return f'<div class="hk-summary">{content}</div>'


def _side_by_side(*sections: tuple[str, str]) -> str:
    """Sections (title, HTML) in columns on the page."""
    return ('<div class="hk-cols">'
            + "".join(f"<section><h2>{_e(title)}</h2>{body}</section>" for title, body in sections) + "</div>")


def summary_header(course: Course, lang: str = "da") -> str:
    """Title, whom it is about and notices; the conclusion follows at once (``summary_conclusion``)."""
    if not course:
        return _nodata(lang)
    c, m = course["citizen"], course["municipality"]
    notices = "".join(f'<p class="hk-notice">{_e(n)}</p>' for n in course["notices"])
    return _summary_block(
        f'<header class="hk-summary-head"><h1>{_e(t("summary_title", lang))}</h1>'
        f'<p class="hk-muted">{_e(t("summary_to", lang))}</p>'
        f'<p class="hk-who"><span>{_e(t("name", lang))}: <strong>{_e(c["name"])}</strong></span> '
        f'<span>{_e(t("cpr", lang))}: <strong>{_e(c["cpr"])}</strong></span> '
        f'<span>{_e(m["label"])}: <strong>{_e(m["name"])} ({_e(m["code"])})</strong></span></p></header>{notices}')


def _contact_line(who: Mapping[str, Any], lang: str) -> str:
    parts = []
    if who.get("phone"):
        parts.append(f'{_e(t("phone", lang))} {_e(who["phone"])}')
    if who.get("email"):
        parts.append(f'{_e(t("email", lang))} {_e(who["email"])}')
    return " · ".join(parts) if parts else f'<span class="hk-state">{_e(t("no_contact", lang))}</span>'


def _responsible_text(who: Mapping[str, Any]) -> str:
    name = ", ".join(_e(x) for x in (who.get("name"), who.get("role")) if x)
    return f"{name}, {_e(who['team'])}" if name else _e(who["team"])


def summary_conclusion(course: Course, lang: str = "da") -> str:
    """"Konklusion og opfølgning": the course's outcome, every value outside its target with what the
    GP is asked to do, and the responsible clinician with phone or e-mail."""
    if not course:
        return _nodata(lang)
    status = next((f for f in course["course_facts"] if f["key"] == "end.course_status"), None)
    lines = []
    if status is not None and status["state"] == "value":
        reason = next((f for f in course["course_facts"] if f["key"] == "end.dropout_reason"), None)
        text = status["text"] + (f" ({reason['text']})" if reason and reason["state"] == "value" else "")
        lines.append(f'<p class="hk-status">{_e(t("status_line", lang).format(status=text))}</p>')
    follow = course["follow_up"]
    if follow["flags"]:
        body = "".join(f'<tr data-flag="{_e(f["key"])}"><td><span aria-hidden="true">⚠ </span>{_e(f["finding"])}</td>'
                       f'<td>{_e(f["advice"])}</td></tr>' for f in follow["flags"])
        lines.append(f'<table class="hk-compact hk-followup"><thead><tr><th>{_e(t("finding", lang))}</th>'
                     f'<th>{_e(t("gp_asked", lang))}</th></tr></thead><tbody>{body}</tbody></table>')
    else:
        lines.append(f'<p class="hk-followup-none">{_e(follow["none"])}</p>')
    who = course["responsible"]
    lines.append(f'<p class="hk-responsible"><strong>{_e(t("responsible", lang))}:</strong> '
                 f'{_responsible_text(who)}. {_contact_line(who, lang)}</p>')
    return _summary_block(f'<section class="hk-box hk-conclusion"><h2>{_e(t("conclusion", lang))}</h2>'
                          + "".join(lines) + "</section>")


def summary_course(course: Course, lang: str = "da") -> str:
    """Referral, dates, status and drop-out reason, work, and the interventions offered and received."""
    if not course:
        return _nodata(lang)
    referral = _kv_table(_facts(course["referral"]))
    rows = _facts(course["course_facts"])
    if course["duration_days"] is not None:
        rows.append((t("duration", lang), f'<td>{_e(t("days", lang).format(n=course["duration_days"]))}</td>'))
    facts = _kv_table(rows)
    work = _kv_table(_facts(course["work"]))
    head = (f'<tr><th>{_e(t("intervention", lang))}</th><th>{_e(t("offered", lang))}</th>'
            f'<th>{_e(t("received", lang))}</th></tr>')
    body = "".join(f'<tr data-intervention="{_e(i["key"])}"><th scope="row">{_e(i["label"])}</th>'
                   f'{_cell_html(i["offered"])}{_cell_html(i["received"])}</tr>' for i in course["interventions"])
    return _summary_block(
        _side_by_side((t("referral", lang), referral), (t("course", lang), facts), (t("work", lang), work))
        + f'<h2>{_e(t("interventions", lang))}</h2>'
        f'<table class="hk-compact hk-interventions"><thead>{head}</thead><tbody>{body}</tbody></table>')


def summary_results(course: Course, lang: str = "da") -> str:
    if not course:
        return _nodata(lang)
    return _summary_block(f'<h2>{_e(t("results", lang))}</h2>{results_table(course, lang, summary_only=True)}')


def summary_contact(course: Course, lang: str = "da") -> str:
    """Whom to contact, and the signature of the responsible clinician (never a system account)."""
    if not course:
        return _nodata(lang)
    m, who = course["municipality"], course["responsible"]
    contact = t("contact_text", lang).format(municipality=m["name"], code=m["code"])
    prepared = t("prepared", lang).format(date=format_date(course["generated_on"], lang))
    signer = _e(who["name"]) if who.get("name") else _e(who["team"])
    title = ", ".join(_e(x) for x in (who.get("role"), who["team"] if who.get("name") else None) if x)
    return _summary_block(
        f'<section class="hk-box hk-contact"><h3>{_e(t("contact", lang))}</h3><p>{_e(contact)}</p>'
        f'<p class="hk-signature">{_e(t("regards", lang))}<br><strong>{signer}</strong>'
        + (f"<br>{title}" if title else "") + f"<br>{_contact_line(who, lang)}</p>"
        f'<p class="hk-muted hk-small">{_e(prepared)}</p></section>')


# ------------------------------------------------------------------------------------------------
# Charts
# ------------------------------------------------------------------------------------------------
def _number(cell: Mapping[str, Any]) -> float | None:
    value = cell["value"]
    return float(value) if cell["state"] == "value" and isinstance(value, (int, float)) \
        and not isinstance(value, bool) else None


def _numbers(row: Mapping[str, Any]) -> list[float]:
    return [v for v in (_number(row["start"]), _number(row["end"])) if v is not None]


def axis_limits(row: Mapping[str, Any], values: Sequence[float]) -> tuple[float, float]:
    """An honest axis: the instrument's whole range, or from zero, never cut to the values (84,6 to
    84,1 kg must look as small as it is)."""
    axis = row["scale"]["axis"]
    if axis:
        low, high = axis
        return min(low, *values), max(high, *values)
    return min(0.0, *values), max(values) * 1.25 if max(values) > 0 else 1.0


#: Hatching by zone level (1 borderline, 2 worth talking about): told apart without colour.
ZONE_HATCHES = {1: "//", 2: "xx"}


def _panel(ax: Any, row: Mapping[str, Any], lang: str, columns: int) -> None:
    start, end = _number(row["start"]), _number(row["end"])
    values = [v for v in (start, end) if v is not None]
    low, high = axis_limits(row, values)
    for zone in row["scale"]["zones"]:
        ax.axhspan(zone["low"], zone["high"], facecolor="white", edgecolor="#888888",
                   hatch=ZONE_HATCHES[zone["level"]], linewidth=0, zorder=0)

    if start is not None and end is not None:
        ax.plot([0, 1], [start, end], color="black", linewidth=1.2, zorder=2)
    span = high - low
    for x, value, marker, face in ((0, start, "o", "white"), (1, end, "s", "black")):
        if value is None:
            continue
        ax.plot([x], [value], marker=marker, markersize=7, markerfacecolor=face, markeredgecolor="black",
                markeredgewidth=1.2, linestyle="none", zorder=3)
        ax.text(x, value + span * 0.07, format_number(value, row["decimals"], lang), ha="center", va="bottom",
                fontsize=8, zorder=4)
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(low, high + span * 0.15)
    ax.set_xticks([0, 1], [t("start", lang), t("end", lang)], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("\n".join(textwrap.wrap(row["label"], 18 if columns > 4 else 22)), fontsize=8, loc="left")
    if row["unit"]:
        ax.set_ylabel(row["unit"], fontsize=7.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _pos: format_number(v, 2 if span < 2 else 1 if span < 10 else 0, lang)))


def _legend_handles(rows: Sequence[Mapping[str, Any]], lang: str) -> list[Any]:
    """Start, end and the hatchings used: told apart by shape and pattern, not by colour."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="black", linestyle="none",
               label=t("start", lang)),
        Line2D([], [], marker="s", markerfacecolor="black", markeredgecolor="black", linestyle="none",
               label=t("end", lang))]
    levels = sorted({z["level"] for r in rows for z in r["scale"]["zones"]})
    for level in levels:
        handles.append(Patch(facecolor="white", edgecolor="#888888", hatch=ZONE_HATCHES[level] * 2,
                             label=t(f"zone_{level}", lang)))
    return handles


def start_end_chart(rows: Sequence[Mapping[str, Any]], lang: str = "da", *, salt: str = "",
                    title: str = "", columns: int = 4) -> str:
    """Small multiples, one panel per measure: start and end joined by a line. Inline SVG."""
    count = len(rows)
    lines = -(-count // columns)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"hk-{salt}",
                                "font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(7.0, 1.75 * lines + 0.35))
        for i, row in enumerate(rows):
            _panel(fig.add_subplot(lines, columns, i + 1), row, lang, columns)
        fig.legend(handles=_legend_handles(rows, lang), loc="lower center", ncol=4, fontsize=7.5, frameon=False)
        fig.tight_layout(w_pad=1.2, h_pad=1.0, rect=(0, 0.35 / (1.75 * lines + 0.35), 1, 1))
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML declaration or DOCTYPE inside an HTML page
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_e(title)}" ', 1)
