"""Opening a snapshot file someone named: checked to be a HjerteKom snapshot of a known contract
version before anything is computed from it.

``open_snapshot`` is the one way in for the indicators, the reports and research: a CSV, a SQLite
file (the operational store, say), an empty DuckDB file or a snapshot written for a contract
version this code does not know is refused with one line saying what the file is, and nothing is
computed. The file's first bytes are checked before DuckDB sees it; the connection is read-only
and never loads an extension. A file with views or macros is refused too: the writer makes
none, and in a handed-over file they would run their author's SQL whenever our queries touch
them (a macro named ``year`` replaces the built-in one; a view can read any file of this machine).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import duckdb

from hjertekom_core import duck
from hjertekom_core.snapshot.layout import LATER_INFO_COLUMNS, SNAPSHOT_INFO_COLUMNS
from hjertekom_core.snapshot.writer import SnapshotError, SnapshotInfo, info_dates

#: Contract versions, as programme -> major versions, whose snapshots this code reads. A new major
#: version (a field changed meaning or was removed) needs the indicators, reports and research
#: checked against it before it is added here; a minor version only adds optional fields. A
#: programme not listed (declared by its files alone, docs/programmes.md) is read at any version;
#: a snapshot without a listed programme is read too (a workspace of other programmes).
READABLE_CONTRACT_MAJORS: Mapping[str, frozenset[int]] = {"hjertekom": frozenset({1})}

_DUCKDB_MAGIC = (8, b"DUCK")  # offset and bytes of a DuckDB database file's header
_SQLITE_MAGIC = b"SQLite format 3\x00"


class NotASnapshot(SnapshotError):
    """The file is not a HjerteKom snapshot (another kind of file, or a DuckDB file without its record)."""

    def __init__(self, path: Path, what_da: str, what_en: str) -> None:
        self.path = path
        super().__init__(f"{path.name} er ikke et HjerteKom-snapshot: {what_da} / is not a HjerteKom snapshot: "
                         f"{what_en}")


class UnknownSnapshotVersion(SnapshotError):
    """The snapshot was written for a contract version this code does not read."""

    def __init__(self, path: Path, versions: Mapping[str, object]) -> None:
        self.path = path
        self.versions = dict(versions)
        known = ", ".join(f"{p} {'/'.join(f'{m}.x' for m in sorted(ms))}" for p, ms in READABLE_CONTRACT_MAJORS.items())
        found = ", ".join(f"{p} {v}" for p, v in self.versions.items()) or "ingen / none"
        super().__init__(f"{path.name} er skrevet til kontraktversion {found}, som denne HjerteKom ikke kan læse "
                         f"(kan: {known}) / was written for contract version {found}, which this HjerteKom "
                         f"cannot read (reads: {known})")


def _kind_of_file(path: Path) -> tuple[str, str] | None:
    """None for a DuckDB database file, else what the file is (Danish, English)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        return f"filen kan ikke læses ({exc.strerror})", f"the file cannot be read ({exc.strerror})"
    offset, magic = _DUCKDB_MAGIC
    if head[offset:offset + len(magic)] == magic:
        return None
    if not head:
        return "filen er tom", "the file is empty"
    if head.startswith(_SQLITE_MAGIC):
        return "det er en SQLite-database", "it is a SQLite database"
    if b"\x00" not in head:
        return "det er en tekstfil (CSV?)", "it is a text file (CSV?)"
    return "filtypen kendes ikke", "unknown file type"


def _check(con: duckdb.DuckDBPyConnection, path: Path) -> SnapshotInfo:
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal "
                                        "AND NOT temporary AND schema_name = 'main'").fetchall()}
    if "snapshot_info" not in tables:
        raise NotASnapshot(path, "en DuckDB-fil uden tabellen snapshot_info",
                           "a DuckDB file without the snapshot_info table")
    code = sorted({name for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary "
        "UNION ALL SELECT function_name FROM duckdb_functions() WHERE NOT internal").fetchall()})
    if code:  # the writer makes none; they would run whatever SQL their author put in
        raise NotASnapshot(path, f"den indeholder views eller makroer ({', '.join(code)})",
                           f"it holds views or macros ({', '.join(code)})")
    columns = {c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                         "'snapshot_info' AND schema_name = 'main'").fetchall()}
    missing = sorted({c.name for c in SNAPSHOT_INFO_COLUMNS} - columns - set(LATER_INFO_COLUMNS))
    if missing:
        raise NotASnapshot(path, f"snapshot_info mangler {', '.join(missing)}",
                           f"snapshot_info lacks {', '.join(missing)}")
    rows = con.execute("SELECT created_at, pseudonymised, row_counts, contract_versions, source_store, "
                       "content_hash FROM snapshot_info").fetchall()
    if len(rows) != 1:
        raise NotASnapshot(path, f"snapshot_info har {len(rows)} rækker, ikke 1",
                           f"snapshot_info has {len(rows)} rows, not 1")
    created, pseudonymised, counts, versions, source, digest = rows[0]
    dates = info_dates(con)
    try:
        versions = json.loads(versions)
        counts = json.loads(counts)
        created_at = created.isoformat()
    except (TypeError, ValueError, AttributeError):
        raise NotASnapshot(path, "snapshot_info kan ikke læses", "snapshot_info cannot be read") from None
    if not isinstance(versions, dict) or not isinstance(counts, dict):
        raise NotASnapshot(path, "snapshot_info kan ikke læses", "snapshot_info cannot be read")
    if not versions:
        raise UnknownSnapshotVersion(path, versions)
    for programme, majors in READABLE_CONTRACT_MAJORS.items():
        if programme not in versions:  # a workspace without this programme (another programme alone)
            continue
        version = str(versions.get(programme, ""))
        major = version.split(".", 1)[0]
        if not major.isdigit() or int(major) not in majors:
            raise UnknownSnapshotVersion(path, versions)
    return SnapshotInfo(path, created_at, bool(pseudonymised), counts, versions, str(source), str(digest), str(dates))


def open_snapshot(path: Path | str) -> tuple[duckdb.DuckDBPyConnection, SnapshotInfo]:
    """A read-only connection to the HjerteKom snapshot ``path``, and what its record says.

    NotASnapshot for any other file (named in the message: a SQLite database, a text file, a
    DuckDB file without the record), UnknownSnapshotVersion for a contract version this code does
    not read; a missing file is NotASnapshot too. The caller closes the connection.
    """
    path = Path(path)
    if not path.is_file():
        raise NotASnapshot(path, "filen findes ikke", "the file does not exist")
    kind = _kind_of_file(path)
    if kind is not None:
        raise NotASnapshot(path, *kind)
    try:
        con = duck.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise NotASnapshot(path, f"DuckDB kan ikke åbne den ({type(exc).__name__})",
                           f"DuckDB cannot open it ({type(exc).__name__})") from None
    try:
        return con, _check(con, path)
    except duckdb.Error as exc:
        con.close()
        raise NotASnapshot(path, f"den kan ikke læses ({type(exc).__name__})",
                           f"it cannot be read ({type(exc).__name__})") from None
    except BaseException:
        con.close()
        raise


def check_snapshot(path: Path | str) -> SnapshotInfo:
    """``open_snapshot`` for a caller that hands the path on (e.g. to a report kernel)."""
    con, info = open_snapshot(path)
    con.close()
    return info
