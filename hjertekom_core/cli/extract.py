"""``hjertekom extract``: a municipality's aggregate or individual-level extract from a snapshot."""
from __future__ import annotations

from pathlib import Path

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace
from hjertekom_core.export.extract import LANGUAGES, LEVELS, ExtractRequest, create_extract
from hjertekom_core.export.tables import FORMATS


@click.command("extract")
@click.option("--municipality", "-m", type=int, required=True, help="Official municipality code, e.g. 740.")
@click.option("--level", type=click.Choice(list(LEVELS)), default="aggregate", show_default=True,
              help="aggregate: indicators (others suppressed) and key figures; individual: one identified row "
                   "per course (needs the right extract.individual in that municipality; audited).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="xlsx", show_default=True,
              help="xlsx: one file, a sheet per table and a codebook sheet; csv and parquet: a folder with one "
                   "file per table and a codebook file.")
@click.option("--period", default=None, help="A year (2025), quarter (2025-Q1) or month (2025-03). Default: all.")
@click.option("--snapshot", "snapshot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Identified DuckDB snapshot (default: the newest in <data_dir>/snapshots).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the extract (default: <data_dir>/extracts).")
@click.option("--lang", type=click.Choice(list(LANGUAGES)), default=None,
              help="Language of labels, headers and messages (default: the configured language).")
@click.option("--programme", default="hjertekom", show_default=True,
              help="Whose courses and indicators (a programme of the contracts folder).")
@user_option
@click.pass_context
@friendly_errors
def extract(ctx: click.Context, municipality: int, level: str, fmt: str, period: str | None,
            snapshot_file: Path | None, out_dir: Path | None, lang: str | None, programme: str,
            username: str | None) -> None:
    """Write a municipality's extract: CSV, XLSX or Parquet, with a codebook."""
    ws = workspace(ctx)
    user = acting_user(ws, username)
    lang = lang or ws.config.language
    result = create_extract(ws, user, ExtractRequest(municipality, level, fmt, period, lang, snapshot_file, out_dir,
                                                             programme))
    click.echo(result.describe(lang))
