"""A snapshot as Parquet files, for researchers who work in R or Stata.

Beside ``<stem>.duckdb`` comes the folder ``<stem>_parquet/``: one ``<table>.parquet`` per table
(written by DuckDB itself), the codebook as ``codebook.csv`` and a readable ``codebook.md``. The
folder is written under a temporary name and renamed into place when complete; an existing
folder is never replaced, as the snapshot itself never is. The Parquet files of a pseudonymised
snapshot are scanned for anything CPR-shaped before the folder gets its name. The folder is 0700
and its files 0600, whatever the umask.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hjertekom_core import duck
from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.private_files import open_private, private_temp_dir, restrict_tree
from hjertekom_core.snapshot.writer import (
    CprLeak,
    SnapshotError,
    info_dates,
    read_info,
    remove_unfinished,
    scan_for_cpr,
    user_tables,
)

log = logging.getLogger(__name__)

CODEBOOK_CSV = "codebook.csv"
CODEBOOK_MD = "codebook.md"
#: What the codebook says of each date mode (snapshot/dates.py, docs/research.md).
DATES_TEXT = {
    "exact": "som registreret / as registered",
    "month": "hver dato er sat til den 1. i sin måned; intervaller kendes kun på omkring en måned nær / every date "
             "is set to the 1st of its month; intervals are known to about a month",
    "shifted": "hver borgers datoer er flyttet det samme tilfældige antal dage (1-182 frem eller tilbage), som ikke "
               "er gemt nogen steder; intervaller er nøjagtige, kalendertid ikke / each citizen's dates are moved by "
               "the same random number of days (1-182 either way), kept nowhere; intervals are exact, calendar "
               "time is not",
}


@dataclass(frozen=True)
class ParquetExport:
    folder: Path
    row_counts: dict[str, int]
    pseudonymised: bool

    def describe(self) -> str:
        kind = "pseudonymiseret" if self.pseudonymised else "identificeret: CPR-numre og navne"
        files = f"{len(self.row_counts)} tabeller + {CODEBOOK_CSV}, {CODEBOOK_MD}"
        return f"Parquet ({kind}) skrevet: {self.folder} [{files}]"


def parquet_folder(snapshot: Path) -> Path:
    """``.../snapshot-20250101T120000-pseudo.duckdb`` -> ``.../snapshot-20250101T120000-pseudo_parquet``."""
    return snapshot.with_name(f"{snapshot.stem}_parquet")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path_sql(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _md(value: object) -> str:
    """A value for a Markdown table cell."""
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def codebook_markdown(con: duckdb.DuckDBPyConnection, snapshot: Path, counts: dict[str, int]) -> str:
    """The codebook as a document: what the snapshot is, every table's columns, every code list."""
    info = con.execute("SELECT created_at, hjertekom_version, contract_versions, pseudonymised, content_hash "
                       "FROM snapshot_info").fetchone()
    assert info is not None
    created, version, contracts, pseudonymised, digest = info
    key = "citizen_key" if pseudonymised else "citizen_id"
    course = "course_key" if con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'courses' "
                                         "AND column_name = 'course_key'").fetchall()[0][0] else "course_id"
    dates = info_dates(con)
    lines = [
        f"# Kodebog / codebook: {snapshot.stem}", "",
        f"- Snapshot: `{snapshot.name}`, lavet / created {created:%Y-%m-%d %H:%M:%S %Z}",
        f"- Pseudonymiseret / pseudonymised: {'ja / yes' if pseudonymised else 'NEJ / NO (CPR-numre og navne)'}",
        f"- Datoer / dates: `{dates}`: {DATES_TEXT[dates]}",
        f"- HjerteKom {version}; kontrakter / contracts: "
        + ", ".join(f"{k} {v}" for k, v in json.loads(contracts).items()),
        f"- Indholdshash / content hash: `{digest}`",
        "- Filer / files: én Parquet-fil pr. tabel / one Parquet file per table (`<tabel>.parquet`); "
        f"`{CODEBOOK_CSV}` er denne kodebog som tabel / is this codebook as a table.",
        "- R: `arrow::read_parquet(\"courses.parquet\")` eller / or `nanoparquet::read_parquet()`; Stata: via "
        "Statas Python-integration (fx DuckDB eller pandas) eller en Parquet-udvidelse / via Stata's Python "
        "integration (e.g. DuckDB or pandas) or a Parquet extension.",
        f"- Tabellerne hænger sammen på `{course}` (og `{key}`); en tom celle er »ikke besvaret«, "
        f"`<felt>_unknown` = true er en angivet årsag til et manglende svar (uoplyst, ikke relevant, borgeren "
        f"ønskede ikke; koden står i `<felt>_missing`). / Tables join on `{course}` (and `{key}`); an empty "
        "cell is 'not answered', `<field>_unknown` = true is a declared reason for a missing answer (unknown, "
        "not relevant, declined; the code is in `<field>_missing`).",
        "",
        "## Tabeller / tables", "",
    ]
    rows = con.execute("SELECT table_name, column_name, type, label_da, label_en, unit, codelist "
                       "FROM codebook").fetchall()
    by_table: dict[str, list[tuple[object, ...]]] = {}
    for row in rows:
        by_table.setdefault(str(row[0]), []).append(row[1:])
    for table in sorted(counts):
        lines += [f"### {table} ({counts[table]} rækker / rows)", ""]
        if table not in by_table:
            lines += ["(ikke i kodebogen / not in the codebook)", ""]
            continue
        lines += ["| kolonne / column | type | tekst (dansk) | label (English) | enhed / unit "
                  "| kodeliste / code list |", "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in by_table[table]]
        lines.append("")
    lines += ["## Kodelister / code lists", ""]
    codes = con.execute("SELECT codelist, code, label_da, label_en FROM codelists").fetchall()
    current = None
    for codelist, code, da, en in codes:
        if codelist != current:
            lines += ["", f"### {codelist}", "", "| kode / code | tekst (dansk) | label (English) |", "|---|---|---|"]
            current = codelist
        lines.append(f"| {_md(code)} | {_md(da)} | {_md(en)} |")
    return "\n".join(lines) + "\n"


def scan_folder(folder: Path) -> list[str]:
    """file.column of every CPR-shaped value in the folder's Parquet files, and file of the text files."""
    hits = []
    with duck.connect() as con:
        for path in sorted(folder.glob("*.parquet")):
            con.execute(f"CREATE VIEW {_q(path.stem)} AS SELECT * FROM read_parquet({_path_sql(path)})")
        hits += [f"{place.split('.', 1)[0]}.parquet:{place.split('.', 1)[1]}" for place in scan_for_cpr(con)]
    for path in (folder / CODEBOOK_CSV, folder / CODEBOOK_MD):
        if CPR_PATTERN.search(path.read_text(encoding="utf-8")):
            hits.append(path.name)
    return hits


def write_parquet(snapshot: Path) -> ParquetExport:
    """Write ``<stem>_parquet/`` beside ``snapshot``; SnapshotError if it exists already."""
    final = parquet_folder(snapshot)
    if final.exists():
        raise SnapshotError(f"{final} findes allerede; den erstattes aldrig / exists already and is never replaced")
    pseudonymised = read_info(snapshot).pseudonymised
    remove_unfinished(snapshot.parent)
    # A private (0700) temporary folder, removed if anything fails: DuckDB's COPY creates its files
    # through the umask, so they are made 0600 before the folder gets its name.
    with private_temp_dir(snapshot.parent, final.name) as tmp:
        with duck.connect(snapshot, read_only=True) as con:
            tables = user_tables(con)
            counts = {}
            for table in tables:
                con.execute(f"COPY {_q(table)} TO {_path_sql(tmp / f'{table}.parquet')} (FORMAT parquet)")
                counts[table] = con.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()[0]  # type: ignore[index]
            con.execute(f"COPY codebook TO {_path_sql(tmp / CODEBOOK_CSV)} (HEADER, DELIMITER ',')")
            with open_private(tmp / CODEBOOK_MD, "x", encoding="utf-8") as fh:
                fh.write(codebook_markdown(con, snapshot, counts))
        restrict_tree(tmp)
        if pseudonymised:
            leaks = scan_folder(tmp)
            if leaks:
                raise CprLeak(leaks)
        for path in tmp.iterdir():  # on disk before the folder gets its name
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(tmp, final)  # refuses a non-empty folder that appeared meanwhile
    log.info("parquet written: %s (%d tables, pseudonymised=%s)", final.name, len(counts), pseudonymised)
    return ParquetExport(final, counts, pseudonymised)
