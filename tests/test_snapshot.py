"""DuckDB snapshots of the operational store: what was entered is what the snapshot holds; a
snapshot is never changed; pseudonymised snapshots hold no CPR, no names and no free text and give a
citizen the same key every time; the CPR scanner; many read-only readers at once; the CLI.

The content and pseudonymisation tests run on SQLite and PostgreSQL (fixture ``store``).
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import select, update

from hjertekom_core import audit, duck
from hjertekom_core.bootstrap import ensure_secret
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.contract.model import UNKNOWN
from hjertekom_core.cpr import CPR_PATTERN, parse_cpr
from hjertekom_core.service import Service
from hjertekom_core.snapshot import (
    CprLeak,
    SnapshotError,
    course_pseudonym,
    create_snapshot,
    pseudonym,
    read_info,
    scan_for_cpr,
)
from hjertekom_core.snapshot.writer import content_hash
from hjertekom_core.store import Store
from hjertekom_core.store.schema import registrations

from factories import end_data, start_data
from indicator_fixtures import OWN, Made, add_course, service, sqlite_store_at
from snapshot_reader import read_together

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
NAME = "Jens Testesen"
NOTE = "Ring til datteren 120356-1234 efter kl. 16"  # free text holding a CPR-shaped number
FIXED = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def enter_course(svc: Service) -> Made:
    """One course as a clinician enters it: a revised start, an end left as a draft."""
    made = add_course(svc, 7, start=None, end=None, birth_date=dt.date(1956, 3, 14), name=NAME,
                      course_changes={"diagnosis_groups": ["heart_failure", "pci"], "nyha_class": "II",
                                      "note": NOTE, "index_event_date": UNKNOWN})
    cid = made.course_id
    svc.save_draft(cid, "start", start_data(meeting_date="2025-02-17", weight_kg="90,0", smoking="daily"), 0,
                   confirm=True)
    svc.mark_complete(cid, "start", start_data(meeting_date="2025-02-17", ldl=UNKNOWN, smoking="occasional",
                                               alcohol_units_week=UNKNOWN), 1, confirm=True)
    svc.save_draft(cid, "end", end_data(meeting_date="2025-05-19", hads_status="declined"), 0, confirm=True)
    return made


def other_citizens(svc: Service) -> dict[str, Made]:
    """For age at start: birthday on the start day, birthday the day after, no start at all."""
    return {
        "birthday_today": add_course(svc, 21, birth_date=dt.date(1960, 2, 17), end=None),      # 65
        "birthday_tomorrow": add_course(svc, 22, birth_date=dt.date(1960, 2, 18), end=None),   # 64
        "no_start": add_course(svc, 23, birth_date=dt.date(1970, 1, 1), start=None, end=None),
    }


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'main' ORDER BY table_name").fetchall()]


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                      "ORDER BY ordinal_position", [table]).fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0]))


def containing(con: duckdb.DuckDBPyConnection, *needles: str) -> dict[str, list[str]]:
    """For each needle: the tables in which some column (any type, as text) contains it."""
    found: dict[str, list[str]] = {n: [] for n in needles}
    for table in tables(con):
        row_text = "concat_ws(chr(31), " + ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns(con, table)) + ")"
        tests = ", ".join("count(*) FILTER (WHERE contains(t, ?))" for _ in needles)
        counts = con.execute(f'SELECT {tests} FROM (SELECT {row_text} AS t FROM "{table}")', list(needles)).fetchone()
        for needle, n in zip(needles, counts or ()):
            if n:
                found[needle].append(table)
    return found


def scan_data(con: duckdb.DuckDBPyConnection) -> list[str]:
    """scan_for_cpr over the data tables. snapshot_info is left out here on purpose: its hex content
    hash is CPR-shaped in some snapshots, which ``test_a_content_hash_never_looks_like_a_cpr`` covers
    deterministically; keeping it here would make these tests fail at random."""
    return [hit for hit in scan_for_cpr(con) if not hit.startswith("snapshot_info.")]


def key_file(path: Path) -> Path:
    ensure_secret(path)
    return path


# --- what was entered is what the snapshot holds -------------------------------------------------------

def test_the_snapshot_holds_what_was_entered(store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    svc = service(store, contracts)
    made = enter_course(svc)
    others = other_citizens(svc)
    info = create_snapshot(store, contracts, tmp_path / "snap", now=lambda: FIXED)
    assert info.path == tmp_path / "snap" / "snapshot-20250601T120000.duckdb" and not info.pseudonymised
    course = svc.get_course(made.course_id)
    contract = contracts["hjertekom"]

    # Through the helper: read_info below opens the file too, and DuckDB wants one configuration per file.
    with duck.connect(info.path, read_only=True) as con:
        assert {"citizens", "courses", "hjertekom_course", "hjertekom_start", "hjertekom_end", "codelists",
                "municipalities", "codebook", "snapshot_info"} <= set(tables(con))
        start = one(con, "SELECT * FROM hjertekom_start WHERE course_id = ?", [made.course_id])
        end = one(con, "SELECT * FROM hjertekom_end WHERE course_id = ?", [made.course_id])
        crs = one(con, "SELECT * FROM hjertekom_course WHERE course_id = ?", [made.course_id])

        # Latest revision only, with its status.
        assert con.execute("SELECT count(*) FROM hjertekom_start WHERE course_id = ?",
                           [made.course_id]).fetchone()[0] == 1  # type: ignore[index]
        assert (start["revision"], start["status"], start["contract_version"]) == (2, "complete", contract.version)
        assert (end["revision"], end["status"]) == (1, "draft")
        # The moment of saving, in UTC without a zone, to the microsecond, on either backend.
        saved = course.forms["start"].saved_at
        saved_utc = (saved.astimezone(dt.timezone.utc) if saved.tzinfo else saved).replace(tzinfo=None)
        assert start["saved_at"] == saved_utc
        # Typed values, by hand.
        assert start["meeting_date"] == dt.date(2025, 2, 17)
        assert start["weight_kg"] == 88.4 and start["weight_kg_unknown"] is False  # revision 2, not 90.0
        assert start["height_cm"] == 178
        assert (start["smoking"], start["smoking_label"]) == ("occasional", "Lejlighedsvis ryger")
        assert start["smoking_cessation_offered"] == "yes"
        # "uoplyst": NULL value with the unknown flag, distinct from not answered (NULL and False).
        assert (start["ldl"], start["ldl_unknown"]) == (None, True)
        assert (start["alcohol_units_week"], start["alcohol_units_week_unknown"]) == (None, True)
        assert start["height_cm"] == 178 and "height_cm_unknown" not in start  # no missing reason for height
        assert (start["waist_cm"], start["waist_cm_unknown"], start["waist_cm_missing"]) == (104.0, False, None)
        assert (crs["index_event_date"], crs["index_event_date_unknown"]) == (None, True)
        assert (crs["nyha_class"], crs["nyha_class_label"]) == ("II", "NYHA II")
        assert crs["diagnosis_groups"] == ["heart_failure", "pci"]
        assert crs["referral_date"] == dt.date(2025, 2, 3) and crs["municipality"] == OWN
        assert crs["note"] == NOTE  # identified snapshot: free text kept
        # (and the search used on pseudonymised snapshots below does find things)
        assert containing(con, NOTE, made.cpr, NAME) == {NOTE: ["hjertekom_course"], made.cpr: ["citizens"],
                                                         NAME: ["citizens"]}
        # Derived scores.
        assert (start["hads_anxiety"], start["hads_depression"]) == (9, 8)
        assert start["bmi"] == 27.9 and start["who5_score"] == 52
        assert start["eq5d_index"] == pytest.approx(-0.074)
        assert (start["heartqol_global"], start["heartqol_physical"], start["heartqol_emotional"]) == (1.86, 2.0, 1.5)
        assert end["fitness_change_pct"] == 15.0 and end["bmi"] == 26.8
        assert (end["course_status"], end["course_status_label"]) == ("completed", "Gennemført")
        assert (end["hads_status"], end["hads_01"], end["hads_anxiety"]) == ("declined", None, None)

        # Every field of every form equals what the service stored (typed).
        for form, row in (("course", crs), ("start", start), ("end", end)):
            stored = course.data_of(form)
            for f in contract.form(form).fields.values():
                value = stored.get(f.name)
                if value == UNKNOWN and f.type != "choice":
                    assert row[f.name] is None and row[f.name + "_unknown"] is True, (form, f.name)
                    continue
                if f.type == "date" and value is not None:
                    value = dt.date.fromisoformat(value)
                if f.type == "decimal" and value is not None:
                    value = float(value)
                assert row[f.name] == value, (form, f.name, row[f.name], value)
                if f.type == "choice":
                    assert f.codelist is not None
                    code = f.codelist.get(value)
                    assert row[f.name + "_label"] == (code.label.da if code else None), (form, f.name)

        # Citizens and courses.
        citizen = one(con, "SELECT * FROM citizens WHERE citizen_id = ?", [made.citizen_id])
        assert citizen == {"citizen_id": made.citizen_id, "cpr": made.cpr, "name": NAME,
                           "birth_date": dt.date(1956, 3, 14), "birth_year": 1956,
                           "sex": parse_cpr(made.cpr).sex, "municipality_code": OWN}
        ages = dict(con.execute("SELECT course_id, age_at_start FROM courses").fetchall())
        assert ages[made.course_id] == 68  # 17 Feb 2025, born 14 Mar 1956
        assert ages[others["birthday_today"].course_id] == 65
        assert ages[others["birthday_tomorrow"].course_id] == 64
        assert ages[others["no_start"].course_id] is None
        assert one(con, "SELECT programme, municipality_code FROM courses WHERE course_id = ?",
                   [made.course_id]) == {"programme": "hjertekom", "municipality_code": OWN}

        # Code lists and municipalities.
        assert one(con, "SELECT label_da, label_en FROM codelists WHERE codelist = 'smoking' AND code = 'daily'") \
            == {"label_da": "Dagligryger", "label_en": "Daily smoker"}
        assert con.execute("SELECT count(*) FROM municipalities").fetchone()[0] == 98  # type: ignore[index]
        assert one(con, "SELECT name, region_code, region FROM municipalities WHERE code = 740") == \
            {"name": "Silkeborg", "region_code": 1082, "region": "Midtjylland"}

        # The metadata: creation time, contract versions, source, row counts, content hash.
        meta = read_info(info.path)
        assert dt.datetime.fromisoformat(meta.created_at) == FIXED
        assert meta.pseudonymised is False and meta.source == store.describe() == info.source
        assert meta.contract_versions == {"hjertekom": contract.version}
        data_tables = [t for t in tables(con) if t != "snapshot_info"]
        assert meta.row_counts == {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
                                   for t in data_tables}
        assert meta.row_counts["courses"] == 4 and meta.row_counts["hjertekom_end"] == 1
        assert meta.content_hash == info.content_hash == content_hash(con, data_tables)
        assert str(info.path) in info.describe()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, contracts: ContractRegistry) -> Iterator[Path]:
    """One identified SQLite snapshot (enter_course + other_citizens) for the tests that only read."""
    folder = tmp_path_factory.mktemp("shared")
    store = sqlite_store_at(folder / "store.sqlite", contracts)
    svc = service(store, contracts)
    enter_course(svc)
    other_citizens(svc)
    yield create_snapshot(store, contracts, folder / "snapshots").path
    store.dispose()


def test_the_codebook_describes_every_column(shared: Path) -> None:
    with duckdb.connect(str(shared), read_only=True) as con:
        documented = {(t, c) for t, c in con.execute("SELECT table_name, column_name FROM codebook").fetchall()}
        assert ("hjertekom_start", "smoking_label") in documented
        assert ("hjertekom_start", "ldl_unknown") in documented
        label = one(con, "SELECT label_da, unit, codelist, source FROM codebook WHERE table_name = 'hjertekom_start' "
                         "AND column_name = 'weight_kg'")
        assert label == {"label_da": "Vægt", "unit": "kg", "codelist": "", "source": "hjertekom.start.weight_kg"}
        actual = {(t, c) for t in tables(con) for c in columns(con, t)}
        assert actual - documented == set(), "columns without a codebook entry"
        assert documented - actual == set(), "codebook entries without a column"


def test_the_codebook_types_are_the_column_types(shared: Path) -> None:
    """A coded column's codebook type names its ENUM type (code_<code list>), which DuckDB spells
    out as ENUM('code', ...) in information_schema; every other type is written as DuckDB writes it."""
    with duckdb.connect(str(shared), read_only=True) as con:
        enums = {name: "ENUM(" + ", ".join(f"'{v}'" for v in con.execute(f"SELECT enum_range(NULL::{name})")
                                            .fetchone()[0]) + ")"  # type: ignore[index]
                 for (name,) in con.execute("SELECT type_name FROM duckdb_types() WHERE logical_type = 'ENUM' "
                                            "AND NOT internal").fetchall()}
        rows = con.execute("""
            SELECT b.table_name, b.column_name, b.type, c.data_type FROM codebook b
            JOIN information_schema.columns c ON c.table_name = b.table_name AND c.column_name = b.column_name
            ORDER BY 1, 2""").fetchall()
        smoking = con.execute("SELECT enum_range(NULL::code_smoking)").fetchone()[0]  # type: ignore[index]
    wrong = [f"{t}.{c}: codebook {d}, column {a}" for t, c, d, a in rows if enums.get(d, d) != a]
    assert wrong == []
    coded = {(t, c): d for t, c, d, _ in rows if d in enums}
    assert coded[("hjertekom_start", "smoking")] == "code_smoking"
    assert coded[("hjertekom_end", "status")] == "registration_status"
    assert smoking == ["daily", "occasional", "former", "never", "UNK"]  # the code list's order


# --- an existing snapshot is never changed ---------------------------------------------------------------

def test_an_existing_snapshot_is_never_changed(sqlite_store: Store, contracts: ContractRegistry,
                                               tmp_path: Path) -> None:
    svc = service(sqlite_store, contracts)
    add_course(svc, 1)
    out = tmp_path / "snapshots"
    first = create_snapshot(sqlite_store, contracts, out, now=lambda: FIXED)
    before, mtime = first.path.read_bytes(), first.path.stat().st_mtime_ns
    add_course(svc, 2)
    second = create_snapshot(sqlite_store, contracts, out, now=lambda: FIXED)  # the same second
    assert first.path.name == "snapshot-20250601T120000.duckdb"
    assert second.path.name == "snapshot-20250601T120000-2.duckdb"
    assert first.path.read_bytes() == before and first.path.stat().st_mtime_ns == mtime
    assert read_info(first.path).row_counts["courses"] == 1
    assert (second.row_counts["courses"], read_info(second.path).row_counts["courses"]) == (2, 2)
    assert second.content_hash != first.content_hash
    # Nothing else is left in the folder (no temporary or WAL files).
    assert {p.name for p in out.iterdir()} == {first.path.name, second.path.name}


def test_two_snapshots_in_the_same_second_from_one_process(sqlite_store: Store, contracts: ContractRegistry,
                                                           tmp_path: Path) -> None:
    """Two threads of one process (e.g. two users of the entry app) asking for a snapshot at once."""
    add_course(service(sqlite_store, contracts), 1)
    out = tmp_path / "snapshots"
    results: list[str] = []

    def make() -> None:
        try:
            results.append(create_snapshot(sqlite_store, contracts, out, now=lambda: FIXED).path.name)
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(f"failed: {exc!r}")

    threads = [threading.Thread(target=make) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == ["snapshot-20250601T120000-2.duckdb", "snapshot-20250601T120000.duckdb"]
    assert sorted(p.name for p in out.iterdir()) == sorted(results)


# --- pseudonymised snapshots ---------------------------------------------------------------------------

def test_a_pseudonymised_snapshot_holds_no_cpr_names_or_free_text(store: Store, contracts: ContractRegistry,
                                                                   tmp_path: Path) -> None:
    svc = service(store, contracts)
    made = enter_course(svc)
    others = other_citizens(svc)
    everyone = [made, *others.values()]
    key = key_file(tmp_path / "secret" / "pseudonym.key")
    info = create_snapshot(store, contracts, tmp_path / "research", pseudonymise=True, key_file=key,
                           now=lambda: FIXED)
    assert info.path.name == "snapshot-20250601T120000-pseudo.duckdb" and info.pseudonymised
    assert read_info(info.path).pseudonymised is True
    secret = key.read_text(encoding="ascii").strip()

    with duckdb.connect(str(info.path), read_only=True) as con:
        person_columns = {c for t in tables(con) if t not in ("municipalities", "codelists", "codebook")
                          for c in columns(con, t)}
        assert not {"cpr", "name", "birth_date", "note", "citizen_id"} & person_columns
        assert columns(con, "citizens") == ["citizen_key", "birth_year", "sex", "municipality_code"]
        assert "note" not in columns(con, "hjertekom_course")
        assert con.execute("SELECT count(*) FROM codebook WHERE column_name IN ('cpr', 'name', 'note', "
                           "'birth_date') AND table_name NOT IN ('municipalities', 'codelists', 'codebook')"
                           ).fetchone()[0] == 0  # type: ignore[index]
        # Not a trace of any CPR number, name, the note or the key anywhere, in any column.
        needles = [x for m in everyone for x in (m.cpr, f"{m.cpr[:6]}-{m.cpr[6:]}", m.name)]
        needles += [NOTE, "120356-1234", "1203561234", "datteren", "Testesen", secret]
        assert {n: t for n, t in containing(con, *needles).items() if t} == {}
        assert scan_data(con) == []
        # The keys: HMACs of the CPR and of the course id with the secret; no operational id is left.
        course_key = {m.course_id: course_pseudonym(bytes.fromhex(secret), m.course_id) for m in everyone}
        keys = dict(con.execute("SELECT course_key, citizen_key FROM courses").fetchall())
        assert set(keys) == set(course_key.values())
        for m in everyone:
            assert keys[course_key[m.course_id]] == pseudonym(bytes.fromhex(secret), m.cpr)
            for value in (course_key[m.course_id], keys[course_key[m.course_id]]):
                assert CPR_PATTERN.search(value) is None and re.fullmatch(r"[A-Za-z]{32}", value)
        citizens = {r[0]: r[1:] for r in con.execute("SELECT citizen_key, birth_year, sex FROM citizens").fetchall()}
        assert citizens[keys[course_key[made.course_id]]] == (1956, parse_cpr(made.cpr).sex)
        assert len(citizens) == len(everyone)
        ages = dict(con.execute("SELECT course_key, age_at_start FROM courses").fetchall())
        assert ages == {course_key[made.course_id]: 68, course_key[others["birthday_today"].course_id]: 65,
                        course_key[others["birthday_tomorrow"].course_id]: 64,
                        course_key[others["no_start"].course_id]: None}
        # The data itself is still there.
        start = one(con, "SELECT weight_kg, smoking, ldl_unknown FROM hjertekom_start WHERE course_key = ?",
                    [course_key[made.course_id]])
        assert start == {"weight_kg": 88.4, "smoking": "occasional", "ldl_unknown": True}

    # The same citizen and course get the same keys in the next snapshot (same second: a new file beside it).
    again = create_snapshot(store, contracts, tmp_path / "research", pseudonymise=True, key_file=key,
                            now=lambda: FIXED)
    assert again.path.name == "snapshot-20250601T120000-pseudo-2.duckdb"
    with duckdb.connect(str(again.path), read_only=True) as con:
        assert dict(con.execute("SELECT course_key, citizen_key FROM courses").fetchall()) == keys
    # Another secret would give other keys.
    assert all(pseudonym(bytes(32), m.cpr) != keys[course_key[m.course_id]] for m in everyone)
    assert all(course_pseudonym(bytes(32), m.course_id) != course_key[m.course_id] for m in everyone)


def test_pseudonym_is_stable_keyed_and_never_cpr_shaped() -> None:
    key = bytes(range(32))
    cprs = [f"{d:02d}0356{s:04d}" for d in range(1, 29) for s in (1234, 4321, 9999)]
    keys = [pseudonym(key, c) for c in cprs]
    assert keys == [pseudonym(key, c) for c in cprs]                 # deterministic
    assert len(set(keys)) == len(cprs)                               # distinct citizens, distinct keys
    assert all(re.fullmatch(r"[a-zA-F]{32}", k) for k in keys)       # letters only: never CPR-shaped
    assert pseudonym(b"another key", cprs[0]) != keys[0]


def test_a_pseudonymised_snapshot_needs_the_key_file(sqlite_store: Store, contracts: ContractRegistry,
                                                     tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="hjertekom init"):
        create_snapshot(sqlite_store, contracts, tmp_path / "out", pseudonymise=True, key_file=tmp_path / "none.key")
    with pytest.raises(SnapshotError):
        create_snapshot(sqlite_store, contracts, tmp_path / "out", pseudonymise=True, key_file=None)


# --- the CPR scanner ----------------------------------------------------------------------------------

def test_the_scanner_finds_cpr_shaped_values_and_nothing_else() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE TABLE notes (id BIGINT, txt VARCHAR, tags VARCHAR[])")
        con.execute("INSERT INTO notes VALUES (1, 'Ring til 120356-1234 i morgen', ['a']), (2, 'ok', ['b'])")
        con.execute("CREATE TABLE plain (txt VARCHAR)")
        con.execute("INSERT INTO plain VALUES ('1203561234')")
        con.execute("CREATE TABLE listed (tags VARCHAR[])")
        con.execute("INSERT INTO listed VALUES (['x', '120356-1234'])")
        con.execute("CREATE TABLE big (n BIGINT)")
        con.execute("INSERT INTO big VALUES (3112991234)")
        con.execute("CREATE TABLE harmless (txt VARCHAR, n BIGINT, d DATE)")
        con.execute("INSERT INTO harmless VALUES ('12035612345', 12345678901, DATE '2025-02-17'), "
                    "('2025-02-17 12:00', 42, NULL), ('tlf. 12 34 56 78', 0, NULL), (?, 7, NULL)",
                    [pseudonym(b"k", "1203561234")])
        assert sorted(scan_for_cpr(con)) == ["big.n", "listed.tags", "notes.txt", "plain.txt"]


def test_the_scanner_also_looks_in_integer_and_decimal_columns() -> None:
    """1203561234 (born 12 March 1956) fits a 32-bit INTEGER; as a DOUBLE it prints 1203561234.0."""
    with duckdb.connect() as con:
        con.execute("CREATE TABLE i (n INTEGER)")
        con.execute("INSERT INTO i VALUES (1203561234)")
        con.execute("CREATE TABLE f (x DOUBLE)")
        con.execute("INSERT INTO f VALUES (1203561234)")
        assert sorted(scan_for_cpr(con)) == ["f.x", "i.n"]


def test_a_content_hash_never_looks_like_a_cpr() -> None:
    """The content hash is written into every pseudonymised snapshot (snapshot_info), so it must never
    be CPR-shaped: as 64 hex characters it holds a run of exactly ten digits in about 7 % of snapshots,
    and any scan of the finished file then reports a CPR number."""
    shaped = []
    with duckdb.connect() as con:
        for i in range(200):
            con.execute("CREATE OR REPLACE TABLE t AS SELECT ? AS n", [i])
            digest = content_hash(con, ["t"])
            if CPR_PATTERN.search(digest):
                shaped.append(digest)
    assert shaped == []


def test_the_cpr_scan_covers_the_finished_file(sqlite_store: Store, contracts: ContractRegistry, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """'The command scans the finished file': snapshot_info (source, content hash ...) included."""
    import hjertekom_core.snapshot.writer as writer

    add_course(service(sqlite_store, contracts), 4)
    seen: list[list[str]] = []
    original = writer.scan_for_cpr

    def spy(con: duckdb.DuckDBPyConnection) -> list[str]:
        seen.append(tables(con))
        return original(con)

    monkeypatch.setattr(writer, "scan_for_cpr", spy)
    info = create_snapshot(sqlite_store, contracts, tmp_path, pseudonymise=True, key_file=key_file(tmp_path / "k"))
    with duckdb.connect(str(info.path), read_only=True) as con:
        finished = tables(con)
    assert seen, "the pseudonymised snapshot was not scanned"
    assert seen[-1] == finished


def test_a_planted_cpr_fails_the_pseudonymised_snapshot_and_leaves_no_file(
        sqlite_store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    made = add_course(service(sqlite_store, contracts), 3)
    # Plant a CPR number in a coded field behind the validator's back (as a broken import might).
    with sqlite_store.write() as conn:
        reg_id = conn.execute(select(registrations.c.id).where(registrations.c.course_id == made.course_id,
                                                               registrations.c.form == "start")).scalar_one()
        data = conn.execute(select(registrations.c.data).where(registrations.c.id == reg_id)).scalar_one()
        conn.execute(update(registrations).where(registrations.c.id == reg_id)
                     .values(data=data.replace('"nurse"', '"120356-1234"')))
    out = tmp_path / "research"
    with pytest.raises(CprLeak) as caught:
        create_snapshot(sqlite_store, contracts, out, pseudonymise=True, key_file=key_file(tmp_path / "k"))
    assert caught.value.places == ["hjertekom_start.clinician_profession"]
    assert "120356" not in str(caught.value)
    assert list(out.iterdir()) == []  # no snapshot, no temporary file


def test_a_code_outside_the_code_list_is_kept_not_lost(sqlite_store: Store, contracts: ContractRegistry,
                                                      tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A coded column is an ENUM of its code list; a value the list no longer holds (a code retired
    in a later contract version) still arrives, at the end of the type, with a warning."""
    made = add_course(service(sqlite_store, contracts), 4)
    with sqlite_store.write() as conn:  # behind the validator's back, as an older contract version allowed
        reg_id = conn.execute(select(registrations.c.id).where(registrations.c.course_id == made.course_id,
                                                               registrations.c.form == "start")).scalar_one()
        data = json.loads(conn.execute(select(registrations.c.data).where(registrations.c.id == reg_id)).scalar_one())
        conn.execute(update(registrations).where(registrations.c.id == reg_id)
                     .values(data=json.dumps({**data, "smoking": "snus"})))
    with caplog.at_level("WARNING", logger="hjertekom_core.snapshot.writer"):
        info = create_snapshot(sqlite_store, contracts, tmp_path / "snap")
    with duckdb.connect(str(info.path), read_only=True) as con:
        assert con.execute("SELECT smoking::VARCHAR FROM hjertekom_start WHERE course_id = ?",
                           [made.course_id]).fetchone() == ("snus",)
        assert con.execute("SELECT enum_range(NULL::code_smoking)").fetchone() == (
            ["daily", "occasional", "former", "never", "UNK", "snus"],)
        # the ENUM compares with code strings as VARCHAR did, and filters as the indicators filter
        assert con.execute("SELECT count(*) FROM hjertekom_start WHERE smoking IN ('daily', 'occasional')"
                           ).fetchone() == (0,)
    assert "outside the code list kept in code_smoking" in caplog.text
    assert "snus" not in caplog.text  # values could be anything: the log names the type only


# --- several readers at once ----------------------------------------------------------------------------

def test_several_processes_read_one_snapshot_at_once(shared: Path) -> None:
    before = shared.read_bytes()
    expected_hash = read_info(shared).content_hash
    readers = 3
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(readers + 1), ctx.Queue()
    procs = [ctx.Process(target=read_together, args=(str(shared), barrier, results), daemon=True)
             for _ in range(readers)]
    for p in procs:
        p.start()
    try:
        with duckdb.connect(str(shared), read_only=True) as con:  # the parent reads too
            barrier.wait(timeout=60)
            mine = con.execute("SELECT count(*) FROM courses").fetchone()[0]  # type: ignore[index]
            barrier.wait(timeout=60)
        got = []
        for _ in procs:
            try:
                got.append(results.get(timeout=60))
            except queue.Empty:
                pytest.fail("a reader did not answer")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    assert [g[0] for g in got] == ["ok"] * readers, got
    assert all(g[1] == {"citizens": 4, "courses": 4, "hjertekom_start": 3} for g in got)
    assert all(g[2] == expected_hash for g in got) and mine == 4
    assert shared.read_bytes() == before


# --- the command line ---------------------------------------------------------------------------------

def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var")}
    environ.pop("HJERTEKOM_DATABASE_URL", None)
    done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_cli_snapshot_identified_and_pseudonymised(tmp_path: Path, contracts: ContractRegistry) -> None:
    _cli(tmp_path, "init")
    var = tmp_path / "var"
    store = Store(f"sqlite:///{var / 'hjertekom.sqlite'}")
    try:
        made = add_course(service(store, contracts), 5, name="Karen Snapshotsen")
    finally:
        store.dispose()

    out = _cli(tmp_path, "snapshot").stdout
    [identified] = list((var / "snapshots").glob("snapshot-*.duckdb"))
    assert str(identified) in out
    meta = read_info(identified)
    assert not meta.pseudonymised and meta.row_counts["courses"] == 1
    with duckdb.connect(str(identified), read_only=True) as con:
        assert con.execute("SELECT cpr, name FROM citizens").fetchall() == [(made.cpr, "Karen Snapshotsen")]

    research = tmp_path / "research"
    _cli(tmp_path, "snapshot", "--pseudonymise", "--out", str(research))
    [pseudo] = list(research.glob("*.duckdb"))
    assert pseudo.name.endswith("-pseudo.duckdb") and read_info(pseudo).pseudonymised
    secret = bytes.fromhex((var / "pseudonym.key").read_text(encoding="ascii").strip())
    with duckdb.connect(str(pseudo), read_only=True) as con:
        assert con.execute("SELECT citizen_key FROM citizens").fetchall() == [(pseudonym(secret, made.cpr),)]
        assert containing(con, made.cpr, "Snapshotsen") == {made.cpr: [], "Snapshotsen": []}
        assert scan_data(con) == []
    assert list((var / "snapshots").glob("*.duckdb")) == [identified]  # the first one untouched, still alone
    store = Store(f"sqlite:///{var / 'hjertekom.sqlite'}")
    try:
        with store.read() as conn:
            logged = [e for e in audit.entries(conn, action="snapshot.create")]
    finally:
        store.dispose()
    assert [(e["entity_id"], json.loads(e["detail"])["pseudonymised"]) for e in reversed(logged)] == [
        (identified.name, False), (pseudo.name, True)]
