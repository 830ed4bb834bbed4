"""The DHRD transfer: its export contract, the row checks, the files, the log and who may make it."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from sqlalchemy import insert, select

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import CPR_PATTERN, generate_cpr
from hjertekom_core.errors import AccessDenied
from hjertekom_core.export.contract import (
    ExportContract,
    ExportContractError,
    clean_row,
    export_contract_path,
    format_row,
    load_export_contract,
    validate_row,
)
from hjertekom_core.export.dhrd import (
    Month,
    PeriodError,
    SnapshotUnsuitable,
    build_transfer,
    export_dhrd,
    transfer_files,
)
from hjertekom_core.indicators.facts import COURSE_FACTS_SQL
from hjertekom_core.service import dump_data
from hjertekom_core.snapshot import create_snapshot, read_info
from hjertekom_core.store import Store
from hjertekom_core.store.schema import registrations, transfer_log

from indicator_fixtures import OTHER, Made, add_course, service
from paths import CONTRACTS_DIR

MAY = "2025-05"


@pytest.fixture(scope="module")
def dhrd(contracts: ContractRegistry) -> ExportContract:
    return load_export_contract(export_contract_path(CONTRACTS_DIR, "dhrd"), contracts)


def good_row(**changes: Any) -> dict[str, Any]:
    """A complete, valid row as the exporter reads it from a snapshot (Python values, UNK for uoplyst)."""
    row: dict[str, Any] = {
        "cpr": generate_cpr(random.Random(7)), "municipality_code": 740, "course_id": 12,
        "export_contract_version": "1.0.0", "programme_contract_version": "1.0.0",
        "referral_date": dt.date(2025, 1, 20), "diagnosis_groups": ["pci", "acute_myocardial_infarction"],
        "start_date": dt.date(2025, 2, 3), "end_date": dt.date(2025, 5, 12), "course_status": "completed",
        "dropout_reason": None, "training_sessions_planned": 24, "training_sessions_attended": 21,
        "training_offered": "yes", "start_fitness_test_type": "six_minute_walk", "start_walk_6min_m": 420,
        "start_ergometer_watt": None, "end_fitness_test_type": "six_minute_walk", "end_walk_6min_m": 483,
        "end_ergometer_watt": None, "fitness_change_pct": 15.0, "start_smoking": "daily", "end_smoking": "former",
        "diet_dietitian_received": "yes", "start_hads_status": "completed", "start_hads_depression": 8,
        "end_hads_status": "completed", "end_hads_depression": 6,
    }
    row.update(changes)
    return row


# --- the export contract ---------------------------------------------------------------------------

def test_the_dhrd_contract_exports_every_field_the_programme_flags_for_dhrd(dhrd: ExportContract,
                                                                             contracts: ContractRegistry) -> None:
    exported = {str(c.source) for c in dhrd.columns}
    flagged = {f"{form.name}.{f.name}" for form in contracts["hjertekom"].forms.values()
               for f in form.fields.values() if f.dhrd}
    assert flagged and flagged <= exported
    # identification, dates, diagnosis and both contract versions are there too
    assert {"citizen.cpr", "course.municipality", "start.meeting_date", "end.meeting_date", "course.referral_date",
            "course.diagnosis_groups", "export.contract_version", "end.contract_version"} <= exported
    assert dhrd.period == "end_date" and dhrd.format.delimiter == ";"


def test_a_good_row_passes_and_is_written_as_the_contract_declares(dhrd: ExportContract) -> None:
    row = good_row(cpr="010203-4567", training_sessions_attended="UNK", fitness_change_pct=15.04)
    clean, issues = clean_row(dhrd, row)
    assert issues == []
    text = dict(zip(dhrd.header, format_row(dhrd, clean)))
    assert text["cpr"] == "0102034567"  # 10 digits, no hyphen
    assert text["referral_date"] == "2025-01-20"
    assert text["diagnosis_groups"] == "acute_myocardial_infarction|pci"  # code-list order
    assert text["training_sessions_attended"] == "UNK"  # uoplyst, kept apart from blank
    assert text["dropout_reason"] == "" and text["start_ergometer_watt"] == ""
    assert text["fitness_change_pct"] == "15.0"


BAD_ROWS = [
    ("no course status", {"course_status": None}, "course_status", "required"),
    ("unknown course status", {"course_status": "finished"}, "course_status", "not_in_codelist"),
    ("dropped out without a reason", {"course_status": "dropped_out"}, "dropout_reason", "required_if"),
    ("walk test without a distance", {"start_walk_6min_m": None}, "start_walk_6min_m", "required_if"),
    ("end before start", {"end_date": dt.date(2025, 1, 31)}, "end_date", "end_not_before_start"),
    ("attended above planned", {"training_sessions_attended": 30}, "training_sessions_attended",
     "attended_not_above_planned"),
    ("walk distance above the limit", {"end_walk_6min_m": 1200}, "end_walk_6min_m", "above_max"),
    ("a diagnosis outside the code list", {"diagnosis_groups": ["pci", "flu"]}, "diagnosis_groups",
     "not_in_codelist"),
    ("uoplyst where it is not allowed", {"start_hads_depression": "UNK"}, "start_hads_depression",
     "unknown_not_allowed"),
    ("text in a number column", {"training_sessions_planned": "ti"}, "training_sessions_planned", "wrong_type"),
    ("an impossible date", {"referral_date": "2025-02-30"}, "referral_date", "wrong_type"),
    ("a CPR number with an impossible birth date", {"cpr": "3102501234"}, "cpr", "invalid_cpr"),
]


@pytest.mark.parametrize(("case", "changes", "column", "code"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_a_bad_row_gets_one_reason_naming_the_column(dhrd: ExportContract, case: str, changes: dict[str, Any],
                                                     column: str, code: str) -> None:
    issues = validate_row(dhrd, good_row(**changes))
    assert [(i.column, i.code) for i in issues] == [(column, code)]
    da, en = issues[0].message("da"), issues[0].message("en")
    assert da and en and da != en and "{" not in da + en
    assert not CPR_PATTERN.search(da + en)  # a reason never repeats a CPR number


def test_every_problem_of_a_row_is_reported_at_once(dhrd: ExportContract) -> None:
    issues = validate_row(dhrd, good_row(course_status="dropped_out", end_smoking=None, end_walk_6min_m=-5))
    assert {(i.column, i.code) for i in issues} == {
        ("dropout_reason", "required_if"), ("end_smoking", "required"), ("end_walk_6min_m", "below_min")}
    assert "Årsag til ophør" in next(i for i in issues if i.code == "required_if").message("da")


def _broken(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    folder = tmp_path / "exports"
    shutil.copytree(CONTRACTS_DIR / "exports", folder)
    doc = yaml.safe_load((folder / "dhrd.yaml").read_text(encoding="utf-8"))
    change(doc)
    (folder / "dhrd.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder / "dhrd.yaml"


def _column(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["columns"] if c["name"] == name)


BROKEN = [
    ("a type the schema does not know", lambda d: _column(d, "end_date").update(type="datetime"),
     "column end_date, type", "is not one of"),
    ("an unknown code list", lambda d: _column(d, "start_smoking").update(codelist="smoke"),
     "column start_smoking", "unknown code list 'smoke'"),
    ("another code list than the field's", lambda d: _column(d, "end_smoking").update(codelist="yes_no_unknown"),
     "column end_smoking, source end.smoking", "uses code list 'smoking'"),
    ("a source field that does not exist", lambda d: _column(d, "course_status").update(source="end.status_code"),
     "column course_status, source end.status_code", "has no field 'status_code'"),
    ("a type that does not fit the source", lambda d: _column(d, "programme_contract_version").update(type="date"),
     "column programme_contract_version, source end.contract_version", "a date column cannot take a text value"),
    ("a required_if naming no column", lambda d: _column(d, "dropout_reason")["required_if"].update(column="status"),
     "column dropout_reason, required_if", "no other column named 'status'"),
    ("a rule naming no column", lambda d: d["rules"][0].update(columns=["end_date", "begin_date"]),
     "rule end_not_before_start", "no column named 'begin_date'"),
    ("a DHRD field left out", lambda d: d["columns"].remove(_column(d, "diet_dietitian_received")),
     "columns", "end.diet_dietitian_received is flagged dhrd"),
    ("a decimal column without decimals", lambda d: _column(d, "fitness_change_pct").pop("decimals"),
     "column fitness_change_pct", "needs decimals"),
]


@pytest.mark.parametrize(("case", "change", "where", "reason"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_export_contract_fails_at_load_naming_file_column_and_reason(
        tmp_path: Path, contracts: ContractRegistry, case: str, change: Callable[[dict[str, Any]], None],
        where: str, reason: str) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(ExportContractError) as failed:
        load_export_contract(path, contracts)
    assert failed.value.file == str(path)
    assert failed.value.where == where
    assert reason in failed.value.reason
    assert str(path) in str(failed.value)


# --- reading the month from the demo snapshot ----------------------------------------------------------

def _busiest_ended_month(con: duckdb.DuckDBPyConnection, made: dt.date) -> Month:
    """The month before the snapshot with the most ended courses, preferring one with a draft."""
    text = con.execute("""
        SELECT strftime(meeting_date, '%Y-%m') AS m FROM hjertekom_end
        WHERE meeting_date < date_trunc('month', ?::DATE)
        GROUP BY m ORDER BY bool_or(status <> 'complete') DESC, count(*) DESC, m DESC LIMIT 1""", [made]).fetchone()
    assert text is not None
    return Month.parse(text[0])


def _read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=";"))


def test_the_demo_month_holds_exactly_its_finished_courses_with_the_indicator_facts(
        demo_snapshot: Path, demo_workspace, dhrd: ExportContract) -> None:
    contracts = demo_workspace.contracts
    made = dt.date.fromisoformat(read_info(demo_snapshot).created_at[:10])
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        month = _busiest_ended_month(con, made)
        transfer = build_transfer(con, dhrd, contracts, month)
        courses = con.execute("""
            SELECT k.course_id, p.cpr, coalesce(c.status = 'complete' AND s.status = 'complete'
                                                AND e.status = 'complete', false)
            FROM courses k JOIN citizens p USING (citizen_id) JOIN hjertekom_end e USING (course_id)
            LEFT JOIN hjertekom_start s USING (course_id) LEFT JOIN hjertekom_course c USING (course_id)
            WHERE e.meeting_date >= ? AND e.meeting_date < ?""", [month.first, month.next_first]).fetchall()
        facts = {r[0]: r for r in con.execute(
            f"SELECT course_id, course_status, start_smoking, end_smoking, diet_dietitian, sessions_planned "
            f"FROM ({COURSE_FACTS_SQL})").fetchall()}
    files = transfer_files(transfer)
    rows = _read(files["data"])
    finished = {cid: cpr for cid, cpr, done in courses if done}
    assert finished, "the chosen month has finished courses"
    assert {int(r["course_id"]): r["cpr"] for r in rows} == finished
    rejected = {int(r["course_id"]) for r in _read(files["rejects"])}
    assert rejected == {cid for cid, _, done in courses if not done}
    assert {r["code"] for r in _read(files["rejects"])} <= {"registration_draft", "registration_missing"}
    for r in rows:  # the same facts the indicators count
        _, status, start_smoking, end_smoking, diet, planned = facts[int(r["course_id"])]
        assert (r["course_status"], r["start_smoking"], r["end_smoking"], r["diet_dietitian_received"]) == (
            status, start_smoking, end_smoking, diet)
        assert r["training_sessions_planned"] == ("UNK" if planned is None else str(planned))
    assert [(int(r["municipality_code"]), int(r["course_id"])) for r in rows] == sorted(
        (int(r["municipality_code"]), int(r["course_id"])) for r in rows)


def test_a_pseudonymised_snapshot_is_refused(demo_research_snapshot: Path, tmp_path: Path,
                                             contracts: ContractRegistry, sqlite_store: Store) -> None:
    with pytest.raises(SnapshotUnsuitable, match="pseudonymiseret"):
        export_dhrd(sqlite_store, contracts, SYSTEM, "2020-01", tmp_path / "out", snapshot=demo_research_snapshot)
    assert not (tmp_path / "out").exists()


# --- the whole transfer against a store (SQLite and PostgreSQL) ------------------------------------------

def _courses(store: Store, contracts: ContractRegistry) -> dict[str, Made]:
    """Courses ending in May 2025 (good, bad and incomplete), and two that do not belong to May."""
    svc = service(store, contracts)
    made = {
        "good": add_course(svc, 1),  # ends 2025-05-19
        "good_other_municipality": add_course(svc, 2, municipality=OTHER, end="2025-05-05"),
        "dropped_out": add_course(svc, 3, end="2025-05-02", end_changes={
            "course_status": "dropped_out", "dropout_reason": "illness", "training_sessions_attended": 5,
            "fitness_test_type": "not_done", "smoking": "UNK", "hads_status": "not_done"}),
        "end_draft": add_course(svc, 4, end="2025-05-20", end_complete=False),
        "no_start": add_course(svc, 5, start=None, end="2025-05-21"),
        "legacy_value": add_course(svc, 6, end="2025-05-22"),
        "ends_in_june": add_course(svc, 7, end="2025-06-02"),
        "not_ended": add_course(svc, 8, end=None),
    }
    # An end registration saved before the rule 'attended <= planned' existed (older contract).
    with store.write() as conn:
        course_id = made["legacy_value"].course_id
        latest = conn.execute(select(registrations).where(registrations.c.course_id == course_id,
                                                          registrations.c.form == "end")).one()
        data = {**json.loads(latest.data), "training_sessions_attended": 30}
        conn.execute(insert(registrations).values(
            course_id=course_id, form="end", revision=latest.revision + 1, status="complete",
            data=dump_data(data), contract_version="0.9.0", user_id=None, saved_at=audit.now()))
    return made


@pytest.fixture
def may(store: Store, contracts: ContractRegistry, tmp_path: Path) -> tuple[dict[str, Made], Path]:
    made = _courses(store, contracts)
    return made, create_snapshot(store, contracts, tmp_path / "snapshots").path


def _clock(hour: int) -> Callable[[], dt.datetime]:
    return lambda: dt.datetime(2026, 7, 1, hour, tzinfo=dt.timezone.utc)


def test_rejects_name_each_bad_course_and_its_reason_and_the_good_ones_are_transferred(
        store: Store, contracts: ContractRegistry, may: tuple[dict[str, Made], Path], tmp_path: Path) -> None:
    made, snapshot = may
    done = export_dhrd(store, contracts, SYSTEM, MAY, tmp_path / "out", snapshot=snapshot)
    rows = _read(done.files["data"].read_bytes())
    assert {r["cpr"] for r in rows} == {made[k].cpr for k in ("good", "good_other_municipality", "dropped_out")}
    dropped = next(r for r in rows if int(r["course_id"]) == made["dropped_out"].course_id)
    assert (dropped["course_status"], dropped["dropout_reason"], dropped["end_smoking"]) == (
        "dropped_out", "illness", "UNK")
    rejects = _read(done.files["rejects"].read_bytes())
    assert {(int(r["course_id"]), r["column"], r["code"]) for r in rejects} == {
        (made["end_draft"].course_id, "end_date", "registration_draft"),
        (made["no_start"].course_id, "start_date", "registration_missing"),
        (made["legacy_value"].course_id, "training_sessions_attended", "attended_not_above_planned"),
    }
    legacy = next(r for r in rejects if r["code"] == "attended_not_above_planned")
    assert legacy["reason_da"].startswith("Antal gennemførte træningsgange")
    assert legacy["reason_en"].startswith("Training sessions attended exceed")
    assert next(r for r in rejects if r["code"] == "registration_missing")["reason_da"] == (
        "Afklarende samtale er ikke registreret for forløbet.")
    assert not CPR_PATTERN.search(done.files["rejects"].read_text(encoding="utf-8"))  # course ids, never CPR
    assert (done.rows, done.rejected_courses) == (3, 3)


def test_the_same_month_from_the_same_snapshot_gives_byte_identical_files(
        store: Store, contracts: ContractRegistry, may: tuple[dict[str, Made], Path], tmp_path: Path) -> None:
    _, snapshot = may
    first = export_dhrd(store, contracts, SYSTEM, MAY, tmp_path / "a", snapshot=snapshot, now=_clock(9))
    second = export_dhrd(store, contracts, SYSTEM, MAY, tmp_path / "b", snapshot=snapshot, now=_clock(17))
    for kind in ("data", "rejects"):
        assert first.files[kind].read_bytes() == second.files[kind].read_bytes()
    one, two = (json.loads(d.files["manifest"].read_text(encoding="utf-8")) for d in (first, second))
    assert one.pop("created_at") != two.pop("created_at")  # the one difference, outside the checksums
    assert one == two


def test_the_manifest_checksums_match_the_files_and_name_the_source(
        store: Store, contracts: ContractRegistry, may: tuple[dict[str, Made], Path], tmp_path: Path) -> None:
    _, snapshot = may
    done = export_dhrd(store, contracts, SYSTEM, MAY, tmp_path / "out", snapshot=snapshot)
    manifest = json.loads(done.files["manifest"].read_text(encoding="utf-8"))
    assert sorted(p.name for p in done.directory.iterdir()) == sorted(p.name for p in done.files.values())
    for entry in manifest["files"]:
        data = (done.directory / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    data_entry = next(f for f in manifest["files"] if f["kind"] == "data")
    assert data_entry["rows"] == manifest["row_count"] == len(_read(done.files["data"].read_bytes())) == 3
    info = read_info(snapshot)
    assert manifest["source_snapshot"]["name"] == snapshot.name
    assert manifest["source_snapshot"]["content_hash"] == info.content_hash
    assert manifest["source_snapshot"]["made_for_this_export"] is False
    assert (manifest["period"], manifest["period_start"], manifest["period_end"]) == (MAY, "2025-05-01", "2025-05-31")
    assert manifest["export_contract_version"] == "1.0.0"
    assert manifest["programme_contract_version"] == contracts["hjertekom"].version
    assert manifest["created_by"] == {"username": "system", "role": "administrator"}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_the_transfer_log_and_the_audit_name_the_administrator(
        store: Store, contracts: ContractRegistry, may: tuple[dict[str, Made], Path], tmp_path: Path,
        make_user: Callable[..., User]) -> None:
    _, snapshot = may
    admin = make_user("ada", "administrator", ())
    done = export_dhrd(store, contracts, admin, MAY, tmp_path / "out", snapshot=snapshot)
    manifest = json.loads(done.files["manifest"].read_text(encoding="utf-8"))
    with store.read() as conn:
        logged = [dict(r._mapping) for r in conn.execute(select(transfer_log))]
        entries = audit.entries(conn, action="dhrd.export")
    assert len(logged) == 1
    row = logged[0]
    assert (row["id"], row["target"], row["period"], row["user_id"], row["username"]) == (
        done.transfer_id, "dhrd", MAY, admin.id, "ada")
    assert (row["row_count"], row["reject_count"]) == (3, 3)
    assert row["data_sha256"] == next(f["sha256"] for f in manifest["files"] if f["kind"] == "data")
    assert (row["snapshot_name"], row["snapshot_hash"]) == (snapshot.name, read_info(snapshot).content_hash)
    assert row["location"] == str(done.directory)
    assert [(e["username"], e["entity"], e["entity_id"]) for e in entries] == [("ada", "transfer", str(done.transfer_id))]
    assert json.loads(entries[0]["detail"])["period"] == MAY


@pytest.mark.parametrize("role", ["coordinator", "clinician"])
def test_only_an_administrator_may_transfer_and_a_refusal_writes_nothing(
        store: Store, contracts: ContractRegistry, tmp_path: Path, make_user: Callable[..., User], role: str) -> None:
    add_course(service(store, contracts), 1)
    user = make_user(f"user_{role}", role, (740,))
    with pytest.raises(AccessDenied, match="Kun administratorer"):
        export_dhrd(store, contracts, user, MAY, tmp_path / "out", snapshot_dir=tmp_path / "snapshots")
    assert not (tmp_path / "out").exists() and not (tmp_path / "snapshots").exists()
    with store.read() as conn:
        assert conn.execute(select(transfer_log)).all() == []
        assert audit.entries(conn, action="dhrd.export") == []
        assert audit.entries(conn, action="snapshot.create") == []


def test_without_a_snapshot_a_fresh_one_is_made_kept_and_named(
        sqlite_store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    made = _courses(sqlite_store, contracts)
    done = export_dhrd(sqlite_store, contracts, SYSTEM, MAY, tmp_path / "out", snapshot_dir=tmp_path / "snapshots")
    kept = list((tmp_path / "snapshots").glob("*.duckdb"))
    assert [done.snapshot] == kept and done.snapshot_made
    manifest = json.loads(done.files["manifest"].read_text(encoding="utf-8"))
    assert manifest["source_snapshot"]["name"] == kept[0].name
    assert manifest["source_snapshot"]["made_for_this_export"] is True
    assert made["good"].cpr in done.files["data"].read_text(encoding="utf-8")
    with sqlite_store.read() as conn:
        assert [e["entity_id"] for e in audit.entries(conn, action="snapshot.create")] == [kept[0].name]


def test_unsuitable_months_and_snapshots_are_refused_and_nothing_is_written(
        sqlite_store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    _courses(sqlite_store, contracts)
    snapshot = create_snapshot(sqlite_store, contracts, tmp_path / "snapshots").path
    out = tmp_path / "out"
    with pytest.raises(PeriodError, match="ÅÅÅÅ-MM"):
        export_dhrd(sqlite_store, contracts, SYSTEM, "2025-13", out, snapshot=snapshot)
    this_month = str(Month.parse(read_info(snapshot).created_at[:7]))
    with pytest.raises(SnapshotUnsuitable, match="før .* var slut"):  # the month was not over when it was made
        export_dhrd(sqlite_store, contracts, SYSTEM, this_month, out, snapshot=snapshot)
    with pytest.raises(PeriodError, match="ikke slut"):  # nor can a fresh snapshot know the whole month
        export_dhrd(sqlite_store, contracts, SYSTEM, this_month, out, snapshot_dir=tmp_path / "fresh")
    altered = tmp_path / "altered.duckdb"
    shutil.copy(snapshot, altered)
    with duckdb.connect(str(altered)) as con:
        con.execute("UPDATE hjertekom_end SET course_status = 'completed'")
    with pytest.raises(SnapshotUnsuitable, match="no longer matches"):
        export_dhrd(sqlite_store, contracts, SYSTEM, MAY, out, snapshot=altered)
    assert not out.exists() and not (tmp_path / "fresh").exists()
    with sqlite_store.read() as conn:
        assert conn.execute(select(transfer_log)).all() == []


# --- the command line ---------------------------------------------------------------------------------------

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items()
                 if k not in ("HJERTEKOM_DATABASE_URL", "HJERTEKOM_USER", "HJERTEKOM_PASSWORD")}
    environ = {**inherited, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **env}
    return subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_the_command_refuses_a_coordinator_and_transfers_for_an_administrator(tmp_path: Path) -> None:
    assert _run(tmp_path, "init").returncode == 0
    for name, role in (("kirsten", "coordinator"), ("anders", "administrator")):
        added = _run(tmp_path, "users", "add", name, "--role", role, "-m", "740",
                     HJERTEKOM_NEW_PASSWORD="Lyngbakke-testkode-2026")  # noqa: S106 - a synthetic test account
        assert added.returncode == 0, added.stderr
    last_month = str(Month.parse((dt.date.today().replace(day=1) - dt.timedelta(days=1)).isoformat()[:7]))
    out = tmp_path / "transfer"
    refused = _run(tmp_path, "export", "dhrd", "--month", last_month, "--out", str(out), "--user", "kirsten",
                   HJERTEKOM_PASSWORD="Lyngbakke-testkode-2026")  # noqa: S106 - a synthetic test account
    assert refused.returncode == 1
    assert "Kun administratorer må lave DHRD-overførslen" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists() and not (tmp_path / "var" / "snapshots").exists()

    done = _run(tmp_path, "export", "dhrd", "--month", last_month, "--out", str(out), "--user", "anders",
                HJERTEKOM_PASSWORD="Lyngbakke-testkode-2026")  # noqa: S106 - a synthetic test account
    assert done.returncode == 0, done.stderr
    assert f"DHRD-overførsel {last_month}: 0 forløb" in done.stdout
    folder = out / f"dhrd-{last_month}"
    manifest = json.loads((folder / f"dhrd_{last_month}_manifest.json").read_text(encoding="utf-8"))
    assert manifest["created_by"]["username"] == "anders" and manifest["row_count"] == 0
    header = (folder / f"dhrd_{last_month}.csv").read_bytes()
    assert header.startswith(b"cpr;municipality_code;course_id;") and header.endswith(b"\r\n")
