"""The ``hjertekom`` command line. Thin: parse options, call the core, print."""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from hjertekom_core import __version__
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import initialise
from hjertekom_core.cli.common import friendly_errors, workspace
from hjertekom_core.errors import ImportFailed
from hjertekom_core.service import Service


class LazyGroup(click.Group):
    """A group whose commands in ``lazy_commands`` ("name" -> "module:attribute") are imported when
    first asked for (click's documented lazy-loading pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hjertekom")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Configuration file (default: $HJERTEKOM_CONFIG or ./hjertekom.toml).")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """HjerteKom workbench: registration and quality data for municipal cardiac rehabilitation."""
    ctx.ensure_object(dict)["config_file"] = config_file


@main.command()
@click.pass_context
@friendly_errors
def init(ctx: click.Context) -> None:
    """Create the store, or migrate it to the newest schema."""
    ws = workspace(ctx)
    revision = initialise(ws)
    click.echo(f"Store ready at {ws.store.describe()} (schema {revision}); "
               f"programmes: {', '.join(ws.contracts.programmes)}")


@main.command()
@click.option("--citizens", "n_citizens", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--users/--no-users", "with_users", default=True, show_default=True,
              help="Also create one demo user per role (password: demo-<role>; the administrator: demo-systemansvarlig).")
@click.option("--if-empty", is_flag=True, help="Do nothing if the store already holds citizens.")
@click.option("--programme", default="hjertekom", show_default=True,
              help="Whose courses: hjertekom's are modelled clinically; any other programme's are drawn from its "
                   "contract alone.")
@click.pass_context
@friendly_errors
def demo(ctx: click.Context, n_citizens: int, seed: int, with_users: bool, if_empty: bool, programme: str) -> None:
    """Fill the store with synthetic, realistic citizens and courses (deterministic per seed)."""
    from hjertekom_core.demo import create_demo_users, generate_demo, store_is_empty

    ws = workspace(ctx)
    initialise(ws)
    if if_empty and not store_is_empty(ws.store):
        click.echo("The store holds data already; no demo data added.")
        return
    if with_users:
        for line in create_demo_users(ws.store):
            click.echo(line)
    with click.progressbar(length=n_citizens, label="Demo data", file=sys.stderr) as bar:
        summary = generate_demo(ws, n_citizens, seed, progress=bar.update, programme=programme)
    click.echo(summary.describe())


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--programme", default="hjertekom", show_default=True)
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the row-by-row error report (CSV) here.")
@click.pass_context
@friendly_errors
def import_(ctx: click.Context, file: Path, programme: str, report_file: Path | None) -> None:
    """Import registrations from CSV or XLSX: every row valid, or nothing imported."""
    from hjertekom_core.importer import import_file, write_error_report

    ws = workspace(ctx)
    service = Service(ws.store, ws.contracts, SYSTEM)
    try:
        with click.progressbar(length=0, label="Import", file=sys.stderr) as bar:
            result = import_file(service, file, programme=programme, progress=bar.update,
                                 max_mb=ws.config.import_max_mb)
    except ImportFailed as exc:
        if report_file:
            write_error_report(exc.errors, report_file)
        for err in exc.errors[:50]:  # row 0: the file as a whole (size, type, encoding)
            where = ", ".join(filter(None, (f"række {err.row}" if err.row else "filen", err.column)))
            click.echo(f"{where}: {err.message}", err=True)
        if len(exc.errors) > 50:
            click.echo(f"... og {len(exc.errors) - 50} fejl mere", err=True)
        raise click.ClickException(f"{len(exc.errors)} fejl; intet er importeret") from None
    if report_file and result.shared:   # shared questions filled in or differing, row by row
        write_error_report(result.shared, report_file)
    click.echo(result.describe())


@main.command()
@click.option("--pseudonymise", is_flag=True, help="No CPR, names or free text; keyed citizen pseudonyms.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the new file (default: <data_dir>/snapshots; pseudonymised: the research "
                   "workspace's snapshots/ folder, <research_workspace>/snapshots).")
@click.option("--parquet", is_flag=True,
              help="Also write <snapshot>_parquet/ beside it: one Parquet file per table, codebook.csv and "
                   "codebook.md (for R and Stata). Without --pseudonymise it holds CPR numbers and names.")
@click.option("--dates", type=click.Choice(["exact", "month", "shifted"]), default=None,
              help="Pseudonymised snapshots only: the dates as registered (exact), set to the 1st of their month "
                   "(month, the default) or moved by one random number of days per citizen, kept nowhere "
                   "(shifted: intervals exact, calendar not). Indicators K1-K6 are worked out on the exact dates "
                   "in every mode. See docs/research.md.")
@click.pass_context
@friendly_errors
def snapshot(ctx: click.Context, pseudonymise: bool, out_dir: Path | None, parquet: bool, dates: str | None) -> None:
    """Write a new, immutable DuckDB snapshot of the store."""
    from hjertekom_core.indicators import settings_from_config
    from hjertekom_core.research.cohort import research_dir
    from hjertekom_core.snapshot import create_audited_snapshot
    from hjertekom_core.snapshot.parquet import write_parquet

    if dates is not None and not pseudonymise:
        raise click.UsageError("--dates gælder kun pseudonymiserede snapshots (brug --pseudonymise); et identificeret "
                               "snapshot har altid de nøjagtige datoer / --dates applies to pseudonymised snapshots "
                               "only (add --pseudonymise); an identified snapshot always keeps the exact dates")
    ws = workspace(ctx)
    # Pseudonymised snapshots go where researchers work (`hjertekom lab`), never into the data folder.
    default = research_dir(ws.config) if pseudonymise else ws.config.data_dir / "snapshots"
    if out_dir is None and pseudonymise:  # still personal data: folders of their owner only, whatever the umask
        default.parent.parent.mkdir(parents=True, exist_ok=True)
        for folder in (default.parent, default):  # the workspace and its snapshots/ (`hjertekom lab` hands them on)
            folder.mkdir(mode=0o700, exist_ok=True)
    info = create_audited_snapshot(ws.store, ws.contracts, out_dir or default, SYSTEM, pseudonymise=pseudonymise,
                                   key_file=ws.config.pseudonym_key_file, parquet=parquet, dates=dates,
                                   indicator_settings=settings_from_config(ws.config))
    click.echo(info.describe())
    if parquet:  # the snapshot stands on its own; a failure here leaves it and writes no folder
        click.echo(write_parquet(info.path).describe())


@main.command()
@click.option("--snapshot", "snapshot_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The DuckDB snapshot to compute from.")
@click.option("--by", type=click.Choice(["municipality", "cluster", "region", "national"]), multiple=True,
              help="Unit level(s); repeat for several. Default: all.")
@click.option("--period", type=click.Choice(["year", "quarter", "month"]), default="year", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--ci", "ci_method", type=click.Choice(["wilson", "clopper-pearson"]), default="wilson",
              show_default=True)
@click.option("--for-municipality", "own", type=int, multiple=True,
              help="Show these municipalities' exact numbers; every other unit is small-number suppressed "
                   "(< 5), and counts that would give a hidden one away are withheld (..). Default: all units "
                   "suppressed.")
@click.option("--programme", default="hjertekom", show_default=True,
              help="Whose indicators: those declared in <contracts_dir>/<programme>/indicators.yaml.")
@click.pass_context
@friendly_errors
def indicators(ctx: click.Context, snapshot_file: Path, by: tuple[str, ...], period: str, fmt: str,
               ci_method: str, own: tuple[int, ...], programme: str) -> None:
    """A programme's quality indicators (hjertekom: K1-K6) from a snapshot, with 95 % CIs and standards."""
    from hjertekom_core.disclosure import Hierarchy, protect
    from hjertekom_core.indicators import LEVELS, compute, settings_from_config
    from hjertekom_core.snapshot import open_snapshot

    ws = workspace(ctx)
    settings = settings_from_config(ws.config, ci_method, programme)
    levels = by or LEVELS
    con, _info = open_snapshot(snapshot_file)  # anything but a snapshot of a known version: one clear line
    with con:
        result = compute(con, settings, period=period, levels=levels)
        hierarchy = Hierarchy.from_snapshot(con, settings.clusters)
    # One table: every level it lists is complete (a unit without a row has nothing), and no hidden
    # count may be worked out from the others (docs/indicators.md, "Disclosure control").
    shown = protect(result, hierarchy, own=own, threshold=ws.config.suppress_below,
                    complete=levels).drop(columns=["unit_name", "level"])
    if fmt == "csv":
        click.echo(shown.to_csv(index=False, float_format="%.4f"), nl=False)
    elif fmt == "json":
        click.echo(shown.to_json(orient="records", force_ascii=False, double_precision=4))
    else:
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8866, show_default=True)
@click.option("--ip", default="127.0.0.1", show_default=True,
              help="Address to listen on. Another address than 127.0.0.1 only behind a TLS-terminating proxy "
                   "(docs/security.md); with --trusted-header, list the proxy in trusted_proxies.")
@click.option("--preheat/--no-preheat", default=True, show_default=True,
              help="Keep kernels started and the page built before anyone asks (fast first load).")
@click.option("--pool-size", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Preheated kernels kept ready.")
@click.option("--trusted-header", envvar="HJERTEKOM_TRUSTED_HEADER", default="",
              help="Hosted set-up: take the username from this header set by an authenticating reverse proxy "
                   "(believed only from trusted_proxies, with the secret of proxy_secret_file).")
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, port: int, ip: str, preheat: bool, pool_size: int, trusted_header: str) -> None:
    """Serve the entry app (Voilà) against the configured store."""
    from hjertekom_widgets.server import serve as serve_app

    ws = workspace(ctx)
    click.echo(f"HjerteKom: http://{ip}:{port}/  (store: {ws.store.describe()}; stop with Ctrl+C)")
    if trusted_header:
        click.echo(f"Hosted set-up: user from {trusted_header}, believed only from "
                   f"{', '.join(ws.config.trusted_proxies)} with the secret in {ws.config.proxy_secret_file} "
                   "(header X-HjerteKom-Proxy-Secret)")
    serve_app(ws.config, port, ip=ip, preheat=preheat, pool_size=pool_size, trusted_header=trusted_header)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@friendly_errors
def status(ctx: click.Context, as_json: bool) -> None:
    """Courses per municipality and form status."""
    ws = workspace(ctx)
    rows = Service(ws.store, ws.contracts, SYSTEM).status_counts()
    if as_json:
        click.echo(json.dumps({"store": ws.store.describe(), "schema": ws.store.schema_revision(),
                               "counts": rows}, ensure_ascii=False))
        return
    click.echo(f"Store: {ws.store.describe()} (schema {ws.store.schema_revision()})")
    if not rows:
        click.echo("No registrations yet.")
        return
    click.echo(f"{'kommune':24} {'skema':8} {'status':9} {'antal':>7}")
    for r in rows:
        click.echo(f"{str(r['municipality_code']) + ' ' + r['name']:24.24} {r['form']:8} {r['status']:9} {r['n']:7d}")


# Commands of their own modules, one per capability; each module holds one click command or group.
# Imported when named (LazyGroup): `hjertekom users ...` need not import pandas, scipy and DuckDB
# for the extracts and reports (about 5 s of every command's start-up before; tests run hundreds).
main.lazy_commands.update({
    "audit": "hjertekom_core.cli.audit:audit",
    "backup": "hjertekom_core.cli.backup:backup",
    "citizen": "hjertekom_core.cli.citizen:citizen",
    "export": "hjertekom_core.cli.export:export",
    "extract": "hjertekom_core.cli.extract:extract",
    "lab": "hjertekom_core.cli.lab:lab",
    "report": "hjertekom_core.cli.report:report",
    "restore": "hjertekom_core.cli.backup:restore",
    "retention": "hjertekom_core.cli.retention:retention",
    "users": "hjertekom_core.cli.users:users",
})


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
