"""``hjertekom report``: municipality reports (one or all), citizen sheets and course summaries."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, snapshot_file, user_option, workspace

_SNAPSHOT = click.option("--snapshot", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         default=None, help="Snapshot to report from (default: the newest, or a new one).")
def _period(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from hjertekom_core.reports.periods import PeriodError, parse_period

    try:
        return parse_period(value).text
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from None


_PERIOD = click.option("--period", required=True, callback=_period,
                       help="A year (2025: the yearly edition) or a quarter (2025-Q3: the quarterly edition).")
_LANG = click.option("--lang", type=click.Choice(["da", "en"]), default=None,
                     help="Language of the report (default: the configured language).")


def _formats(value: str) -> tuple[str, ...]:
    from hjertekom_core.reports.batch import check_formats

    try:
        return check_formats([v.strip() for v in value.split(",") if v.strip()])
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_FORMAT = click.option("--format", "formats", default="html,pdf", show_default=True,
                       help="html, pdf or both (comma-separated).")
_PUBLISH = click.option("--publish", is_flag=True,
                        help="The edition for publication: the municipality's own figures follow the small-number "
                             "rules too (no exact count below 5, no status or change of fewer than 5 courses); "
                             "written as <code>-<name>-offentlig.html|pdf beside the municipality's own edition.")


@click.group()
def report() -> None:
    """Make reports: municipality management reports, citizen sheets, course summaries."""


@report.command("municipality")
@click.option("--municipality", "code", type=int, required=True, help="Municipality code, e.g. 740.")
@_PERIOD
@_SNAPSHOT
@_FORMAT
@_LANG
@_PUBLISH
@click.option("--comments", "comments", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The municipality's comments (YAML: samlet, K1 ... K6; docs/reports.md). Default: "
                   "<reports_dir>/<period>/kommentarer/<code>.yaml when it exists.")
@click.pass_context
@friendly_errors
def municipality_report(ctx: click.Context, code: int, period: str, snapshot: Path | None, formats: str,
                        lang: str | None, publish: bool, comments: Path | None) -> None:
    """One municipality's management report (ledelsesinformation), yearly or quarterly."""
    from hjertekom_core.reports.batch import render_one

    ws = workspace(ctx)
    outcome = render_one(snapshot_file(ws, snapshot), code, period, ws.config.reports_dir,
                         formats=_formats(formats), chromium=ws.config.chromium, lang=lang or ws.config.language,
                         config_file=ctx.obj.get("config_file") or "", publish=publish, comments_file=comments)
    for path in outcome.files:
        click.echo(path)


@report.command("all")
@_PERIOD
@_SNAPSHOT
@_FORMAT
@_LANG
@click.option("--workers", type=click.IntRange(1, 16), default=None,
              help="Worker processes (default: the report_workers setting).")
@_PUBLISH
@click.pass_context
@friendly_errors
def all_reports(ctx: click.Context, period: str, snapshot: Path | None, formats: str, lang: str | None,
                workers: int | None, publish: bool) -> None:
    """Every municipality with data in the period; failures are listed at the end."""
    from hjertekom_core.reports.batch import municipalities_with_data, render_all
    from hjertekom_core.reports.library import check_period

    ws = workspace(ctx)
    source = snapshot_file(ws, snapshot)
    total = len(municipalities_with_data(source, check_period(period)))
    with click.progressbar(length=total, label=f"Rapporter {period}", file=sys.stderr,
                           item_show_func=lambda o: f"{o.code} {o.name}" if o else "") as bar:
        result = render_all(source, period, ws.config.reports_dir, formats=_formats(formats),
                            workers=workers or ws.config.report_workers, chromium=ws.config.chromium,
                            lang=lang or ws.config.language, config_file=ctx.obj.get("config_file") or "",
                            progress=lambda o: bar.update(1, o), publish=publish)
    click.echo(f"{len(result.made)} rapporter i {ws.config.reports_dir / period}; oversigt: {result.index}")
    if result.failed:
        click.echo(f"{len(result.failed)} rapporter kunne ikke laves:", err=True)
        for o in result.failed:
            click.echo(f"  {o.code} {o.name}: {o.error}", err=True)
        raise SystemExit(1)


def _course_report(ctx: click.Context, kind: str, course_id: int, out: Path | None, fmt: str,
                   lang: str | None, username: str | None) -> None:
    from hjertekom_core.reports.citizen import render_course_report, rendered_title
    from hjertekom_core.reports.pdf import PdfPrinter
    from hjertekom_core.reports.runner import write_atomically
    from hjertekom_core.service import Service

    ws = workspace(ctx)
    user = acting_user(ws, username)
    lang = lang or ws.config.language
    page = render_course_report(Service(ws.store, ws.contracts, user), course_id, kind, lang, config=ws.config)
    target = out or Path(f"{kind}-{course_id}.{fmt}")
    if fmt == "pdf":
        with PdfPrinter(ws.config.chromium) as printer:
            write_atomically(target, printer.pdf(page, rendered_title(page, kind, lang), lang))
    else:
        write_atomically(target, page)
    click.echo(target)


_COURSE = click.option("--course", "course_id", type=int, required=True, help="Course id (forløbs-id).")
_OUT = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                    help="Output file (default: <kind>-<course>.<format> here).")
_ONE_FORMAT = click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True)


#: The course reports, each a command of its own: kind -> the command's help.
_COURSE_REPORTS = {
    "citizen": "The citizen's results (borgerens resultater) of one course, to go through with the citizen.",
    "summary": "The course summary (forløbsopsummering) for hospital and GP.",
}


def _course_command(kind: str, help_text: str) -> click.Command:
    def command(ctx: click.Context, course_id: int, out: Path | None, fmt: str, lang: str | None,
                username: str | None) -> None:
        _course_report(ctx, kind, course_id, out, fmt, lang, username)

    command.__name__ = f"{kind}_report"  # named in the log by friendly_errors
    decorated = friendly_errors(command)
    for option in (click.pass_context, user_option, _LANG, _ONE_FORMAT, _OUT, _COURSE):
        decorated = option(decorated)
    return click.command(kind, help=help_text)(decorated)


for _kind, _help in _COURSE_REPORTS.items():
    report.add_command(_course_command(_kind, _help))


@report.command("research")
@click.argument("analysis", type=click.Choice(["change", "dropout", "trends"]))
@click.option("--snapshot", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A pseudonymised snapshot (default: the newest research snapshot).")
@_OUT
@_LANG
@click.pass_context
@friendly_errors
def research_report(ctx: click.Context, analysis: str, snapshot: Path | None, out: Path | None,
                    lang: str | None) -> None:
    """A research notebook (change, dropout, trends) on a pseudonymised snapshot, as an HTML page."""
    from hjertekom_core.reports.runner import write_atomically
    from hjertekom_core.research import render
    from hjertekom_core.snapshot import check_snapshot

    ws = workspace(ctx)
    target = out or Path(f"research-{analysis}.html")
    if snapshot is not None:  # a wrong file is one clear line here, before a kernel starts
        check_snapshot(snapshot)
    # Absolute: the notebook's kernel runs in another folder.
    write_atomically(target, render(analysis, snapshot.resolve() if snapshot else "", lang or ws.config.language))
    click.echo(target)


@report.command("programme")
@click.option("--programme", required=True, help="A programme of the contracts folder with an indicators.yaml.")
@click.option("--municipality", "code", type=int, required=True, help="Municipality code, e.g. 740.")
@_PERIOD
@_SNAPSHOT
@click.option("--format", "formats", default="html", show_default=True,
              help="html, pdf or both (comma-separated; both: --out with the suffixes .html and .pdf).")
@_LANG
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write (owner-only: it shows the municipality's exact numbers).")
@click.pass_context
@friendly_errors
def programme_report(ctx: click.Context, programme: str, code: int, period: str, snapshot: Path | None,
                     formats: str, lang: str | None, out: Path) -> None:
    """Any programme's report for one municipality and period, from its declarations (docs/programmes.md):
    courses, indicators with guidance, funnel plots, run charts and completeness; made through the report
    notebook as the management report is, the PDF printed by chromium."""
    from hjertekom_core.reports.programme import render_files

    ws = workspace(ctx)
    chosen = [v.strip() for v in formats.split(",") if v.strip()]
    made = render_files(snapshot_file(ws, snapshot), programme, code, period, out, config=ws.config,
                        formats=chosen, lang=lang or ws.config.language,
                        config_file=ctx.obj.get("config_file") or "", chromium=ws.config.chromium)
    for path in made:
        click.echo(path)


@report.command("programme-all")
@click.option("--programme", required=True, help="A programme of the contracts folder with an indicators.yaml.")
@_PERIOD
@_SNAPSHOT
@_FORMAT
@_LANG
@click.option("--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the reports (default: <reports_dir>/<programme>/<period>).")
@click.pass_context
@friendly_errors
def programme_all_reports(ctx: click.Context, programme: str, period: str, snapshot: Path | None, formats: str,
                          lang: str | None, out_dir: Path | None) -> None:
    """The programme report of every municipality with courses of the programme in the period, as
    <code>-<name>.html|pdf; failures are listed at the end."""
    from hjertekom_core.reports.programme import render_batch

    ws = workspace(ctx)
    target = out_dir or ws.config.reports_dir / programme / period
    outcomes = render_batch(snapshot_file(ws, snapshot), programme, period, target, config=ws.config,
                            formats=[v.strip() for v in formats.split(",") if v.strip()],
                            lang=lang or ws.config.language, config_file=ctx.obj.get("config_file") or "",
                            chromium=ws.config.chromium,
                            progress=lambda o: click.echo(f"{o.code} {o.name}: {o.error or 'ok'}", err=True))
    made = [o for o in outcomes if not o.error]
    click.echo(f"{len(made)} rapporter i {target}")
    failed = [o for o in outcomes if o.error]
    if failed:
        click.echo(f"{len(failed)} rapporter kunne ikke laves:", err=True)
        for o in failed:
            click.echo(f"  {o.code} {o.name}: {o.error}", err=True)
        raise SystemExit(1)
