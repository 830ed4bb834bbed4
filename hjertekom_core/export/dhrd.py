"""The monthly transfer to the national Danish Cardiac Rehabilitation Database (DHRD).

A transfer holds the HjerteKom courses whose end registration is dated in the month (the end
meeting, or the day the citizen dropped out: the end form's ``meeting_date``), one row per course,
identified by CPR, with the columns of ``data_contracts/exports/dhrd.yaml``. It is read from an
identified snapshot (given, or made fresh from the store and kept beside the other snapshots), so
the same month of the same snapshot always gives the same bytes.

Steps: check the user (administrators only) -> pick the snapshot and check it -> read the month's
courses -> check every row against the export contract; a course with any problem goes to the
rejects report with every reason (never dropped silently) -> write the data file, the rejects
report and the manifest into a temporary folder -> rename the folder into place and record the
transfer (transfer log + audit "dhrd.export") in one store transaction.
"""
from __future__ import annotations

import csv
import datetime as dt
import glob
import hashlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import insert

from hjertekom_core import __version__, audit, duck
from hjertekom_core.access import User
from hjertekom_core.contract import UNKNOWN, Contract, ContractRegistry, Text
from hjertekom_core.errors import AccessDenied, ExportError
from hjertekom_core.export.contract import (
    ExportContract,
    ExportContractError,
    RowIssue,
    clean_row,
    format_row,
    issue,
    load_named,
)
from hjertekom_core.private_files import open_private, private_dir, private_temp_dir, remove_stale_temporaries
from hjertekom_core.snapshot import SnapshotError, SnapshotInfo, create_audited_snapshot, open_snapshot
from hjertekom_core.snapshot.layout import field_columns, table_name
from hjertekom_core.snapshot.writer import content_hash, user_tables
from hjertekom_core.store import Store
from hjertekom_core.store.schema import transfer_log

log = logging.getLogger(__name__)

EXPORT_NAME = "dhrd"
PERMISSION = "dhrd.export"
AUDIT_ACTION = "dhrd.export"
REJECTS_HEADER = ("course_id", "municipality_code", "column", "code", "reason_da", "reason_en")

_REFUSED = Text("Kun administratorer må lave DHRD-overførslen.", "Only administrators may make the DHRD transfer.")


class PeriodError(ExportError):
    """The month is not of the form YYYY-MM, or has not ended yet."""


class SnapshotUnsuitable(ExportError):
    """The snapshot cannot be the source of a transfer (pseudonymised, too old, or altered)."""


# --- the month ----------------------------------------------------------------------------------------

_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        found = _MONTH_RE.fullmatch(text.strip())
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise PeriodError(f"måneden skal skrives ÅÅÅÅ-MM, fx 2025-10 (fik {text!r}) / "
                              f"the month must be YYYY-MM, e.g. 2025-10")
        return cls(int(found.group(1)), int(found.group(2)))

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def next_first(self) -> dt.date:
        return dt.date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last(self) -> dt.date:
        return self.next_first - dt.timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# --- reading and checking the month's courses -------------------------------------------------------

@dataclass(frozen=True)
class Reject:
    course_id: int
    municipality_code: int | None
    issue: RowIssue


@dataclass(frozen=True)
class Transfer:
    """The checked content of one transfer: the file's rows (as text, sorted) and the rejects."""

    contract: ExportContract
    month: Month
    rows: list[list[str]]
    rejects: list[Reject]

    @property
    def rejected_courses(self) -> int:
        return len({r.course_id for r in self.rejects})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_TABLE_ALIASES = {"courses": "k", "citizen": "p"}


def _query(contract: ExportContract, programme: Contract) -> str:
    """SQL over an identified snapshot: one row per course of the programme whose period date is in [?, ?)."""
    forms = sorted({c.source.relation for c in contract.columns if c.source.relation in programme.forms}
                   | set(contract.complete_forms))
    selects = ["k.course_id AS _course_id", "k.municipality_code AS _municipality"]
    for form in contract.complete_forms:
        selects += [f"f_{form}.status AS {_q('s_' + form)}", f"f_{form}.course_id IS NOT NULL AS {_q('e_' + form)}"]
    for c in contract.columns:
        rel, col = c.source.relation, c.source.column
        if rel == "export":
            continue
        alias = _TABLE_ALIASES.get(rel, f"f_{rel}")
        selects.append(f"{alias}.{_q(col)} AS {_q('v_' + c.name)}")
        field = programme.forms[rel].fields.get(col) if rel in programme.forms else None
        # "uoplyst" of a number or date is NULL beside a true <field>_unknown column in the snapshot.
        if field is not None and any(k.kind == "unknown" for k in field_columns(programme.programme, field, False)):
            selects.append(f"{alias}.{_q(col + '_unknown')} AS {_q('u_' + c.name)}")
    joins = "".join(f" LEFT JOIN {_q(table_name(programme, form))} f_{form} ON f_{form}.course_id = k.course_id"
                    for form in forms)
    period = contract.column(contract.period)  # type: ignore[arg-type]
    if period.source.relation not in programme.forms and period.source.relation not in _TABLE_ALIASES:
        raise ExportContractError(str(contract.source), f"column {period.name}",
                                  "the period column must come from a form or a snapshot table")
    placed = f"{_TABLE_ALIASES.get(period.source.relation, 'f_' + period.source.relation)}.{_q(period.source.column)}"
    return (f"SELECT {', '.join(selects)} FROM courses k JOIN citizens p ON p.citizen_id = k.citizen_id{joins} "
            f"WHERE k.programme = ? AND {placed} >= ? AND {placed} < ? ORDER BY k.course_id")


def _form_column(contract: ExportContract, programme: Contract, form: str) -> str:
    """The column a missing or draft registration is reported under: its date, else its first column."""
    date_field = programme.forms[form].date_field
    columns = contract.columns_from(form)
    for c in columns:
        if c.source.column == date_field:
            return c.name
    return columns[0].name if columns else form


def build_transfer(con: duckdb.DuckDBPyConnection, contract: ExportContract, contracts: ContractRegistry,
                   month: Month) -> Transfer:
    """Read the month's courses from an identified snapshot and check each against the contract."""
    if contract.period is None:
        raise ExportContractError(str(contract.source), "period", "a monthly transfer needs a period column")
    programme = contracts[contract.programme]
    result = con.execute(_query(contract, programme), [programme.programme, month.first, month.next_first])
    names = [d[0] for d in result.description]
    exported = {"contract_version": contract.version, "period": str(month)}
    good: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for record in result.fetchall():
        values = dict(zip(names, record))
        row = {}
        for c in contract.columns:
            if c.source.relation == "export":
                row[c.name] = exported[c.source.column]
            else:
                row[c.name] = UNKNOWN if values.get("u_" + c.name) else values["v_" + c.name]
        problems: list[RowIssue] = []
        skip: set[str] = set()
        for form in contract.complete_forms:
            code = ("registration_missing" if not values["e_" + form]
                    else "registration_draft" if values["s_" + form] != "complete" else None)
            if code:
                problems.append(issue(contract, _form_column(contract, programme, form), code,
                                      form=programme.forms[form].label))
                skip |= {c.name for c in contract.columns_from(form)}
        clean, found = clean_row(contract, row, skip)
        problems += found
        if problems:
            rejects += [Reject(values["_course_id"], values["_municipality"], p) for p in problems]
        else:
            good.append(clean)
    good.sort(key=lambda r: tuple((r[s] is None, r[s]) for s in contract.sort))
    order = {name: i for i, name in enumerate(contract.header)}
    rejects.sort(key=lambda r: (r.course_id, order.get(r.issue.column, len(order)), r.issue.code))
    return Transfer(contract, month, [format_row(contract, r) for r in good], rejects)


# --- files ------------------------------------------------------------------------------------------------

def _csv(contract: ExportContract, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    fmt = contract.format
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=fmt.delimiter, lineterminator=fmt.line_terminator,
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(fmt.encoding)


def file_names(contract: ExportContract, month: Month) -> dict[str, str]:
    stem = f"{contract.name}_{month}"
    return {"data": f"{stem}.csv", "rejects": f"{stem}_rejects.csv", "manifest": f"{stem}_manifest.json"}


def transfer_files(transfer: Transfer) -> dict[str, bytes]:
    """The data file and the rejects report, by kind; no timestamps inside, so re-runs give the same bytes."""
    rejects = [(r.course_id, "" if r.municipality_code is None else r.municipality_code, r.issue.column,
                r.issue.code, r.issue.text.da, r.issue.text.en) for r in transfer.rejects]
    return {"data": _csv(transfer.contract, transfer.contract.header, transfer.rows),
            "rejects": _csv(transfer.contract, REJECTS_HEADER, rejects)}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SnapshotSource:
    """The snapshot a transfer was read from."""

    info: SnapshotInfo
    made_for_this_export: bool

    def describe(self) -> dict[str, Any]:
        return {"name": self.info.path.name, "content_hash": self.info.content_hash,
                "created_at": self.info.created_at, "contract_versions": self.info.contract_versions,
                "made_for_this_export": self.made_for_this_export}


def manifest(transfer: Transfer, files: Mapping[str, bytes], names: Mapping[str, str], source: SnapshotSource,
             contracts: ContractRegistry, user: User, created_at: dt.datetime) -> dict[str, Any]:
    """What the transfer holds and where it came from. ``created_at`` is the one value that differs
    between two runs on the same snapshot; the checksums cover the data files, not the manifest."""
    contract = transfer.contract
    return {
        "export": contract.name,
        "recipient": contract.recipient.da if contract.recipient else "",
        "period": str(transfer.month),
        "period_start": transfer.month.first.isoformat(),
        "period_end": transfer.month.last.isoformat(),
        "period_rule": f"column {contract.period} in the month (end of course: end meeting or drop-out date)",
        "export_contract_version": contract.version,
        "programme": contract.programme,
        "programme_contract_version": contracts[contract.programme].version,
        "row_count": len(transfer.rows),
        "rejected_courses": transfer.rejected_courses,
        "files": [
            {"kind": kind, "name": names[kind], "rows": len(transfer.rows) if kind == "data" else len(transfer.rejects),
             "bytes": len(data), "sha256": sha256(data)}
            for kind, data in files.items()
        ],
        "format": contract.format.describe(),
        "source_snapshot": source.describe(),
        "created_by": {"username": user.username, "role": user.role},
        "created_at": created_at.isoformat(timespec="seconds"),
        "hjertekom_version": __version__,
    }


def _write_synced(path: Path, data: bytes) -> None:
    with open_private(path, "xb") as fh:  # 0600, whatever the umask
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _place(tmp: Path, out_dir: Path, stem: str) -> Path:
    """Rename the finished folder to ``stem`` (or ``stem-2``, ...); an existing folder is never replaced."""
    for n in range(1, 1000):
        final = out_dir / (stem if n == 1 else f"{stem}-{n}")
        if final.exists():
            continue
        try:
            os.rename(tmp, final)  # refuses a non-empty target; the exists() check covers an empty one
            return final
        except OSError:
            if final.exists():
                continue
            raise
    raise ExportError(f"no free folder name for {stem} in {out_dir}")


# --- the whole transfer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DhrdExport:
    """A written transfer: where its files are and what they hold."""

    directory: Path
    files: dict[str, Path]
    month: Month
    rows: int
    rejected_courses: int
    reject_lines: int
    snapshot: Path
    snapshot_made: bool
    transfer_id: int

    def describe(self, lang: str = "da") -> str:
        if lang == "en":
            text = (f"DHRD transfer {self.month}: {self.rows} courses in {self.files['data'].name}, "
                    f"{self.rejected_courses} rejected (see {self.files['rejects'].name}). "
                    f"Source: {self.snapshot.name}. Folder: {self.directory}")
        else:
            text = (f"DHRD-overførsel {self.month}: {self.rows} forløb i {self.files['data'].name}, "
                    f"{self.rejected_courses} afvist (se {self.files['rejects'].name}). "
                    f"Kilde: {self.snapshot.name}. Mappe: {self.directory}")
        return text


def require_permission(user: User, lang: str = "da", *, store: Store | None = None) -> None:
    """Only administrators transfer; with ``store``, a refusal is audited (access.denied)."""
    if not user.can(PERMISSION):
        if store is not None:
            audit.deny(store, user, PERMISSION, "transfer", reason=f"role {user.role} lacks it")
        raise AccessDenied(PERMISSION, _REFUSED.get(lang))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _check_snapshot(path: Path, month: Month, lang: str) -> SnapshotInfo:
    try:  # a HjerteKom snapshot of a version this code reads, or nothing is computed
        con, info = open_snapshot(path)
    except SnapshotError as exc:
        raise SnapshotUnsuitable(str(exc)) from None
    con.close()
    if info.pseudonymised:
        raise SnapshotUnsuitable(Text(f"{path.name} er pseudonymiseret; DHRD-overførslen kræver et identificeret "
                                      f"snapshot", f"{path.name} is pseudonymised; the DHRD transfer needs an "
                                      f"identified snapshot").get(lang))
    made = dt.datetime.fromisoformat(info.created_at)
    if made.date() <= month.last:
        raise SnapshotUnsuitable(Text(f"{path.name} er lavet {made.date()}, før {month} var slut; brug et nyere "
                                      f"snapshot", f"{path.name} was made on {made.date()}, before {month} ended; "
                                      f"use a newer snapshot").get(lang))
    with duck.connect(path, read_only=True) as con:
        tables = [t for t in user_tables(con) if t != "snapshot_info"]
        if content_hash(con, tables) != info.content_hash:
            raise SnapshotUnsuitable(f"{path.name}: the content no longer matches its recorded hash")
    return info


def export_dhrd(store: Store, contracts: ContractRegistry, user: User, month: str | Month, out_dir: Path, *,
                snapshot: Path | None = None, snapshot_dir: Path | None = None,
                now: Callable[[], dt.datetime] | None = None, lang: str = "da") -> DhrdExport:
    """Write the DHRD transfer of ``month`` into a new folder under ``out_dir`` and record it.

    ``snapshot``: the identified snapshot to read; without it a fresh one is made from ``store``
    into ``snapshot_dir`` (kept there, so that the transfer can be reproduced from it).
    """
    require_permission(user, lang, store=store)  # before anything is read, made or written
    period = month if isinstance(month, Month) else Month.parse(month)
    clock = now or _now
    contract = load_named(contracts, EXPORT_NAME)
    made_fresh = snapshot is None
    if snapshot is None:
        if clock().date() <= period.last:
            raise PeriodError(Text(f"{period} er ikke slut endnu", f"{period} has not ended yet").get(lang))
        if snapshot_dir is None:
            raise ExportError("no snapshot given and no folder to make one in")
        made = create_audited_snapshot(store, contracts, snapshot_dir, user, now=clock, purpose=AUDIT_ACTION)
        snapshot = made.path
    source = SnapshotSource(_check_snapshot(snapshot, period, lang), made_fresh)
    with duck.connect(snapshot, read_only=True) as con:
        transfer = build_transfer(con, contract, contracts, period)

    created_at = clock()
    files = transfer_files(transfer)
    names = file_names(contract, period)
    content = manifest(transfer, files, names, source, contracts, user, created_at)
    # The outbox keeps its mode if it exists (a transfer agent may need it); the transfer folder is
    # 0700 and its files 0600, whatever the umask. Folders of exports killed half-way go first.
    private_dir(out_dir, tighten=False)
    stem = f"{contract.name}-{period}"
    remove_stale_temporaries(out_dir, f".{glob.escape(stem)}.*.tmp")
    final: Path | None = None
    # Unique (two exports may run at once), private, and removed if anything below fails.
    with private_temp_dir(out_dir, stem) as tmp:
        try:
            for kind, data in files.items():
                _write_synced(tmp / names[kind], data)
            _write_synced(tmp / names["manifest"],
                          (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
            row = {"target": contract.name, "period": str(period), "created_at": created_at, "user_id": user.id,
                   "username": user.username, "export_contract_version": contract.version,
                   "programme_contract_version": content["programme_contract_version"],
                   "snapshot_name": snapshot.name, "snapshot_hash": source.info.content_hash,
                   "row_count": len(transfer.rows), "reject_count": transfer.rejected_courses,
                   "data_sha256": sha256(files["data"])}
            detail = {"period": str(period), "rows": len(transfer.rows), "rejected_courses": transfer.rejected_courses,
                      "snapshot": snapshot.name, "export_contract_version": contract.version}
            with store.write() as conn:
                # The rename happens inside the transaction: if it fails nothing is logged, and if the
                # commit fails the folder is taken away again (below).
                final = _place(tmp, out_dir, stem)
                transfer_id = conn.execute(insert(transfer_log).values(location=str(final), **row)
                                           .returning(transfer_log.c.id)).scalar_one()
                audit.record(conn, user, AUDIT_ACTION, "transfer", transfer_id, None, detail)
        except BaseException:
            if final is not None:
                shutil.rmtree(final, ignore_errors=True)
            raise
    log.info("DHRD transfer %s written to %s: %d rows, %d courses rejected", period, final.name,
             len(transfer.rows), transfer.rejected_courses)
    return DhrdExport(final, {kind: final / name for kind, name in names.items()}, period, len(transfer.rows),
                      transfer.rejected_courses, len(transfer.rejects), snapshot, source.made_for_this_export,
                      transfer_id)
