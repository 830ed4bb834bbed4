"""Municipal extracts (``hjertekom extract``) read back as a coordinator would: the values of the
snapshot in XLSX, CSV and Parquet, Danish headers and a codebook, who may extract what, the audit
entry, small-number suppression of other units, and no file at all when an extract is refused.

The snapshot is the session's identified demo snapshot; expectations are worked out with SQL on
it. Extracts write audit entries, so they are made in a store of this module's own.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pandas as pd
import pytest

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, sync_municipalities
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry, Text
from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.errors import AccessDenied
from hjertekom_core.export.extract import ExtractDenied, ExtractError, ExtractRequest, ExtractResult, create_extract
from hjertekom_core.export.tables import FORMATS, ExtractColumn, ExtractTable, Format
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.store import Store
from hjertekom_core.users import add_user

from paths import CONTRACTS_DIR

OWN = 740  # Silkeborg: the demo coordinator's municipality
OTHER = 101  # København
HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))


# --- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, contracts: ContractRegistry) -> Iterator[Workspace]:
    """A workspace of this module's own (its store takes the audit entries), demo settings."""
    data_dir = tmp_path_factory.mktemp("extract-ws")
    store = Store(f"sqlite:///{data_dir / 'store.sqlite'}")
    store.migrate()
    sync_municipalities(store, contracts)
    yield Workspace(Config(data_dir=data_dir, contracts_dir=CONTRACTS_DIR), contracts, store)
    store.dispose()


@pytest.fixture(scope="module")
def users(ws: Workspace) -> dict[str, User]:
    made = {name: add_user(ws.store, SYSTEM, name, name.title(), role, "Lyngbakke-testkode-2026", codes)
            for name, role, codes in (("coord740", "coordinator", (OWN,)), ("coord101", "coordinator", (OTHER,)),
                                      ("clin740", "clinician", (OWN,)), ("research", "researcher", ()),
                                      ("admin", "administrator", ()))}
    return made


def extract(ws: Workspace, user: User, snapshot: Path, out: Path, **options: Any) -> ExtractResult:
    options.setdefault("municipality", OWN)
    return create_extract(ws, user, ExtractRequest(snapshot=snapshot, out_dir=out, **options))


def query(snapshot: Path, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return con.execute(sql, params or []).df()


def own_courses(snapshot: Path, code: int = OWN) -> pd.DataFrame:
    """Each course of the municipality, straight from the snapshot, as the extract should show it."""
    return query(snapshot, """
        SELECT c.course_id, p.cpr, p.name, p.birth_date, p.sex, r.referral_date, r.referral_source_label,
               r.diagnosis_groups, s.meeting_date AS start_date, s.weight_kg, s.hads_depression, s.smoking,
               s.smoking_label, e.course_status, e.course_status_label, e.training_sessions_attended
        FROM courses c JOIN citizens p ON p.citizen_id = c.citizen_id
        LEFT JOIN hjertekom_course r ON r.course_id = c.course_id
        LEFT JOIN hjertekom_start s ON s.course_id = c.course_id
        LEFT JOIN hjertekom_end e ON e.course_id = c.course_id
        WHERE c.municipality_code = ? ORDER BY c.course_id""", [code])


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def audit_entries(ws: Workspace, action: str) -> list[dict[str, Any]]:
    with ws.store.read() as conn:
        return audit.entries(conn, action=action)


def sheet_rows(path: Path, title: str) -> list[tuple[Any, ...]]:
    wb = openpyxl.load_workbook(path)
    try:
        return list(wb[title].iter_rows(values_only=True))
    finally:
        wb.close()


def na(value: Any) -> Any:
    return None if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)) else value


def day(value: Any) -> dt.date | None:
    if na(value) is None:
        return None
    return value.date() if isinstance(value, (dt.datetime, pd.Timestamp)) else value


# --- individual level: the snapshot's values in every format --------------------------------------------

def test_individual_xlsx_has_the_snapshots_values_typed_cells_danish_headers_and_a_codebook(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="xlsx")
    expected = own_courses(demo_snapshot)
    assert result.path.suffix == ".xlsx" and result.rows == len(expected) > 0

    wb = openpyxl.load_workbook(result.path)
    assert wb.sheetnames == ["Forløb", "Om udtrækket", "Kodebog"]
    sheet = wb["Forløb"]
    header = [c.value for c in sheet[1]]
    codebook = list(wb["Kodebog"].iter_rows(values_only=True))
    assert codebook[0][:6] == ("Tabel", "Kolonne", "Tekst", "Type", "Enhed", "Koder")
    # The header row is the Danish labels of the codebook, column for column.
    course_lines = [row for row in codebook[1:] if row[0] == "courses"]
    assert header == [row[2] for row in course_lines]
    assert {"CPR-nummer", "Navn", "Fødselsdato", "Afslutning – Forløbsstatus"} <= set(header)
    by_name = {row[1]: row for row in course_lines}
    assert by_name["start__weight_kg"][3:5] == ("DOUBLE", "kg")
    assert "completed = Gennemført" in by_name["end__course_status"][5]

    index = {row[1]: i for i, row in enumerate(course_lines)}
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(expected)
    for cells, want in zip(rows, expected.itertuples(index=False)):
        value = {name: cells[i].value for name, i in index.items()}
        assert value["course_id"] == want.course_id
        assert value["cpr"] == want.cpr and cells[index["cpr"]].data_type == "s"  # leading zeros kept
        assert value["name"] == want.name
        assert cells[index["birth_date"]].is_date and day(value["birth_date"]) == day(want.birth_date)
        assert day(value["course__referral_date"]) == day(want.referral_date)
        assert value["course__referral_source_label"] == na(want.referral_source_label)
        assert value["course__diagnosis_groups"] == "; ".join(want.diagnosis_groups)
        assert day(value["start__meeting_date"]) == day(want.start_date)
        assert value["start__weight_kg"] == na(want.weight_kg)
        if na(want.weight_kg) is not None:
            assert cells[index["start__weight_kg"]].data_type == "n"
        assert value["start__hads_depression"] == na(want.hads_depression)
        assert value["start__smoking_label"] == na(want.smoking_label)
        assert value["end__course_status"] == na(want.course_status)
        assert value["end__course_status_label"] == na(want.course_status_label)
        assert value["end__training_sessions_attended"] == na(want.training_sessions_attended)
    wb.close()


def test_individual_parquet_equals_the_snapshot_column_for_column(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="parquet")
    assert result.path.is_dir() and files_in(result.path) == ["about.parquet", "codebook.parquet",
                                                              "courses.parquet"]
    extracted = str(result.path / "courses.parquet")
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{demo_snapshot}' AS snap (READ_ONLY)")
        columns = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{extracted}')").fetchall()}
        assert columns["birth_date"] == "DATE" and columns["start__weight_kg"] == "DOUBLE"
        assert columns["course__diagnosis_groups"] == "VARCHAR[]"  # lists stay lists in Parquet
        compared = 0
        for form in ("course", "start", "end"):
            snap_columns = [r[0] for r in con.execute(f"DESCRIBE snap.hjertekom_{form}").fetchall()]
            shared = [c for c in snap_columns if f"{form}__{c}" in columns]
            assert len(shared) > 10
            mine = ", ".join(f'"{form}__{c}"' for c in shared)
            theirs = ", ".join(f't."{c}"' for c in shared)
            ours_sql = f"SELECT course_id, {mine} FROM read_parquet('{extracted}')"
            snap_sql = (f"SELECT c.course_id, {theirs} FROM snap.courses c LEFT JOIN snap.hjertekom_{form} t "
                        f"ON t.course_id = c.course_id WHERE c.municipality_code = {OWN}")
            for a, b in ((ours_sql, snap_sql), (snap_sql, ours_sql)):
                assert con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall() == [(0,)], form
            compared += len(shared)
        people = con.execute(f"""SELECT count(*) FROM read_parquet('{extracted}') x
            JOIN snap.citizens p ON p.citizen_id = x.citizen_id
            WHERE x.cpr = p.cpr AND x.name = p.name AND x.birth_date = p.birth_date""").fetchall()[0][0]
        assert people == result.rows == len(own_courses(demo_snapshot))
        codebook = con.execute(f"SELECT \"column\", label FROM read_parquet('{result.path / 'codebook.parquet'}') "
                               "WHERE \"table\" = 'courses'").fetchall()
    assert len(codebook) == len(columns) and compared > 200
    assert ("cpr", "CPR-nummer") in codebook


def test_individual_csv_keeps_cpr_dates_and_lists_readable(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="csv")
    assert files_in(result.path) == ["about.csv", "codebook.csv", "courses.csv"]
    raw = (result.path / "courses.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads æ, ø and å right
    with open(result.path / "courses.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = own_courses(demo_snapshot)
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected.itertuples(index=False)):
        assert (int(row["course_id"]), row["cpr"], row["name"]) == (want.course_id, want.cpr, want.name)
        assert row["birth_date"] == want.birth_date.date().isoformat()
        assert row["course__diagnosis_groups"] == "; ".join(want.diagnosis_groups)
        weight = na(want.weight_kg)
        assert row["start__weight_kg"] == ("" if weight is None else repr(float(weight)))
        assert row["end__course_status_label"] == (na(want.course_status_label) or "")
    with open(result.path / "codebook.csv", encoding="utf-8-sig", newline="") as fh:
        codebook = list(csv.DictReader(fh))
    assert [r["column"] for r in codebook if r["table"] == "courses"] == list(rows[0])


def test_english_extract_has_english_headers_labels_and_codebook(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="xlsx", lang="en")
    wb = openpyxl.load_workbook(result.path)
    assert wb.sheetnames == ["Courses", "About", "Codebook"]
    rows = list(wb["Courses"].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    assert {"CPR number", "Name", "End of course – Course status"} <= set(header)
    labels = {row[header.index("End of course – Course status (label)")] for row in rows[1:]}
    assert labels - {None} and labels - {None} <= {"Completed", "Dropped out"}


def test_xlsx_keeps_free_text_as_text_never_a_formula(tmp_path: Path) -> None:
    """A note such as '=HYPERLINK(...)' must open as the text typed, not run as a formula."""
    columns = (ExtractColumn("note", Text("Bemærkning", "Note")), ExtractColumn("kg", Text("Vægt", "Weight"), "DOUBLE"))
    table = ExtractTable("t", Text("Noter", "Notes"), columns,
                         "SELECT * FROM (VALUES ('=HYPERLINK(\"http://x\")', 80.5), ('tab\x01here', 'nan'::DOUBLE)) v")
    with duckdb.connect() as con:
        FORMATS["xlsx"].write(con, [table], tmp_path / "notes.xlsx", "da")
    wb = openpyxl.load_workbook(tmp_path / "notes.xlsx")
    cells = [[(c.value, c.data_type) for c in row] for row in wb["Noter"].iter_rows(min_row=2)]
    wb.close()
    assert cells == [[('=HYPERLINK("http://x")', "s"), (80.5, "n")], [("tabhere", "s"), (None, "n")]]


# --- aggregate level ---------------------------------------------------------------------------------------

def test_aggregate_xlsx_shows_own_numbers_exactly_and_suppresses_every_other_unit(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="aggregate", fmt="xlsx")
    wb = openpyxl.load_workbook(result.path)
    assert wb.sheetnames == ["Indikatorer", "Nøgletal", "Nøgletal efter diagnose", "Nøgletal efter køn",
                             "Nøgletal efter alder", "Om udtrækket", "Kodebog"]
    rows = list(wb["Indikatorer"].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    assert header[:3] == ("Indikator", "Indikatornavn", "Niveau (kode)") and "Tæller" in header
    col = {name: header.index(label) for name, label in (("level", "Niveau (kode)"), ("unit", "Enhedens kode"),
                                                          ("period", "Periode"), ("indicator", "Indikator"),
                                                          ("num", "Tæller"), ("den", "Nævner"),
                                                          ("unk", "Heraf uoplyst"), ("prop", "Andel"))}
    data = rows[1:]
    assert {r[col["level"]] for r in data} == {"municipality", "cluster", "region", "national"}
    assert {r[col["unit"]] for r in data if r[col["level"]] == "municipality"} == {str(OWN)}

    others = [r for r in data if r[col["level"]] != "municipality"]
    shown = [r[col[k]] for r in others for k in ("num", "den", "unk")]
    assert not [v for v in shown if isinstance(v, int) and 1 <= v <= 4]
    assert "< 5" in shown  # the rule had something to hide in this data
    for r in others:  # a hidden count hides the proportion too
        if r[col["num"]] == "< 5" or r[col["den"]] == "< 5":
            assert r[col["prop"]] is None

    # The own municipality's rows are compute()'s exact numbers, small ones included.
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        exact = compute(con, settings_from_config(ws.config))
    exact = exact[(exact["level"] == "municipality") & (exact["unit"] == str(OWN))]
    want = {(r.indicator, r.period): (r.numerator, r.denominator, r.unknown) for r in exact.itertuples()}
    got = {(r[col["indicator"]], r[col["period"]]): (r[col["num"]], r[col["den"]], r[col["unk"]])
           for r in data if r[col["level"]] == "municipality"}
    assert got == want
    assert any(1 <= v <= 4 for counts in got.values() for v in counts)


def test_aggregate_parquet_hides_small_counts_as_null(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="aggregate", fmt="parquet")
    assert "indicators.parquet" in files_in(result.path)
    table = duckdb.sql(f"SELECT * FROM read_parquet('{result.path / 'indicators.parquet'}')").df()
    others = table[table["level"] != "municipality"]
    for name in ("numerator", "denominator", "unknown"):
        assert str(table[name].dtype) in ("Int64", "int64")
        assert not others[name].between(1, 4).fillna(False).any()
    assert others["numerator"].isna().any()  # what CSV and XLSX show as "< 5"


def test_key_figures_count_referred_started_and_completed_courses(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="aggregate", fmt="csv")

    def read(name: str) -> list[dict[str, str]]:
        with open(result.path / f"{name}.csv", encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh))

    # Worked out here from the snapshot, independently of the extract's SQL.
    expected = query(demo_snapshot, """
        WITH k AS (
            SELECT 'referred' AS what, year(r.referral_date) AS y FROM courses c
                JOIN hjertekom_course r USING (course_id) WHERE c.municipality_code = ? AND r.referral_date IS NOT NULL
            UNION ALL SELECT 'started', year(s.meeting_date) FROM courses c JOIN hjertekom_start s USING (course_id)
                WHERE c.municipality_code = ? AND s.status = 'complete'
            UNION ALL SELECT 'completed', year(e.meeting_date) FROM courses c JOIN hjertekom_end e USING (course_id)
                WHERE c.municipality_code = ? AND e.status = 'complete' AND e.course_status = 'completed')
        SELECT CAST(y AS VARCHAR) AS period, what, count(*) AS n FROM k GROUP BY ALL""", [OWN] * 3)
    want = {(r.period, r.what): r.n for r in expected.itertuples()}
    totals = read("key_figures")
    got = {(r["period"], what): int(r[what]) for r in totals for what in ("referred", "started", "completed")}
    assert {k: v for k, v in got.items() if v} == want

    for dimension in ("sex", "age_band"):  # every course in exactly one group
        rows = read(f"key_figures_{dimension}")
        for r in totals:
            group = [g for g in rows if g["period"] == r["period"]]
            assert sum(int(g["referred"]) for g in group) == int(r["referred"])
    sexes = {(r["sex"], r["sex_label"]) for r in read("key_figures_sex")}
    assert sexes <= {("M", "Mand"), ("F", "Kvinde"), ("UNK", "Uoplyst")}

    # A course with several diagnoses counts under each; labels come from the contract's code list.
    referred = query(demo_snapshot, """
        SELECT CAST(year(r.referral_date) AS VARCHAR) AS period, d.code, d.label_da, count(*) AS n
        FROM courses c JOIN hjertekom_course r USING (course_id)
        CROSS JOIN unnest(r.diagnosis_groups) AS g(code)
        JOIN codelists d ON d.codelist = 'diagnosis_group' AND d.code = g.code
        WHERE c.municipality_code = ? GROUP BY ALL""", [OWN])
    want_diagnoses = {(r.period, r.code, r.label_da): r.n for r in referred.itertuples()}
    got_diagnoses = {(r["period"], r["diagnosis"], r["diagnosis_label"]): int(r["referred"])
                     for r in read("key_figures_diagnosis") if int(r["referred"])}
    assert got_diagnoses == want_diagnoses


def test_a_period_limits_the_extract(ws: Workspace, users: dict[str, User], demo_snapshot: Path,
                                     tmp_path: Path) -> None:
    years = query(demo_snapshot, """SELECT year(r.referral_date) AS y, count(*) AS n FROM courses c
        JOIN hjertekom_course r USING (course_id) WHERE c.municipality_code = ? GROUP BY y ORDER BY n DESC""",
                  [OWN])
    year = str(int(years["y"].iloc[0]))
    aggregate = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="aggregate", fmt="parquet",
                        period=year)
    everything = f"read_parquet('{aggregate.path}/*.parquet', union_by_name = true)"
    periods = duckdb.sql(f"SELECT DISTINCT period FROM {everything} WHERE period IS NOT NULL").fetchall()
    assert periods == [(year,)]
    individual = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="parquet",
                         period=year)
    want = query(demo_snapshot, """SELECT count(*) AS n FROM courses c
        LEFT JOIN hjertekom_course r USING (course_id) LEFT JOIN hjertekom_start s USING (course_id)
        LEFT JOIN hjertekom_end e USING (course_id)
        WHERE c.municipality_code = ? AND (year(r.referral_date) = ? OR year(s.meeting_date) = ?
                                           OR year(e.meeting_date) = ?)""", [OWN, int(year), int(year), int(year)])
    assert individual.rows == int(want["n"].iloc[0]) < len(own_courses(demo_snapshot))


# --- who may extract what, and the audit ---------------------------------------------------------------------

@pytest.mark.parametrize(("username", "level", "code"), [
    ("coord740", "individual", OTHER),   # a coordinator of 740, never 101
    ("coord740", "aggregate", OTHER),
    ("clin740", "individual", OWN),      # clinicians enter data; they do not extract
    ("clin740", "aggregate", OWN),
    ("research", "individual", OWN),     # researchers: pseudonymised snapshots only
    ("research", "aggregate", OWN),
])
def test_extracts_are_refused_without_the_right(ws: Workspace, users: dict[str, User], demo_snapshot: Path,
                                                tmp_path: Path, username: str, level: str, code: int) -> None:
    before = len(audit_entries(ws, f"extract.{level}"))
    with pytest.raises(ExtractDenied) as caught:
        extract(ws, users[username], demo_snapshot, tmp_path / "out", level=level, fmt="xlsx", municipality=code)
    assert isinstance(caught.value, AccessDenied)
    level_da = {"individual": "personniveau", "aggregate": "aggregeret"}[level]
    assert str(caught.value) == f"{username} må ikke lave udtræk ({level_da}) for kommune {code}."
    assert files_in(tmp_path / "out") == []
    assert len(audit_entries(ws, f"extract.{level}")) == before


@pytest.mark.parametrize(("username", "code"), [("coord740", OWN), ("coord101", OTHER), ("admin", OTHER)])
def test_coordinators_extract_their_own_municipality_and_administrators_any(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path, username: str, code: int) -> None:
    result = extract(ws, users[username], demo_snapshot, tmp_path, level="individual", fmt="parquet",
                     municipality=code)
    assert result.rows == len(own_courses(demo_snapshot, code))


def test_an_individual_extract_is_audited_without_cpr_or_names(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="csv")
    entry = next(e for e in audit_entries(ws, "extract.individual") if e["entity_id"] == result.path.name)
    assert (entry["username"], entry["user_id"], entry["municipality_code"], entry["entity"]) == (
        "coord740", users["coord740"].id, OWN, "extract")
    detail = json.loads(entry["detail"])
    assert (detail["rows"], detail["format"], detail["level"]) == (result.rows, "csv", "individual")
    text = json.dumps(entry, default=str, ensure_ascii=False)
    people = own_courses(demo_snapshot)
    assert not CPR_PATTERN.search(text)
    assert not [n for n in set(people["name"]) if n in text]
    assert not [c for c in set(people["cpr"]) if c in text or c.replace("-", "") in text]


def test_an_aggregate_extract_is_audited_too(ws: Workspace, users: dict[str, User], demo_snapshot: Path,
                                             tmp_path: Path) -> None:
    result = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="aggregate", fmt="xlsx")
    assert [e["entity_id"] for e in audit_entries(ws, "extract.aggregate")].count(result.path.name) == 1


def test_an_identified_extract_is_readable_by_its_owner_only(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path) -> None:
    xlsx = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="xlsx")
    folder = extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="csv")
    assert xlsx.path.stat().st_mode & 0o077 == 0
    assert folder.path.stat().st_mode & 0o077 == 0


# --- refused input leaves nothing behind -------------------------------------------------------------------

def _empty_municipality(snapshot: Path) -> int:
    found = query(snapshot, "SELECT min(code) AS code FROM municipalities WHERE code NOT IN "
                            "(SELECT municipality_code FROM courses)")
    return int(found["code"].iloc[0])


@pytest.mark.parametrize("case", ["unknown code", "empty municipality", "empty period", "bad period", "bad format",
                                  "no such snapshot", "pseudonymised snapshot", "not a snapshot"])
def test_bad_input_gives_a_clear_message_and_no_file(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, demo_research_snapshot: Path, tmp_path: Path,
        case: str) -> None:
    admin, out = users["admin"], tmp_path / "out"
    not_a_snapshot = tmp_path / "notes.duckdb"
    not_a_snapshot.write_text("not a database\n")
    options: dict[str, Any] = {
        "unknown code": {"municipality": 999},
        "empty municipality": {"municipality": _empty_municipality(demo_snapshot)},
        "empty period": {"period": "1999"},
        "bad period": {"period": "2025-13"},
        "bad format": {"fmt": "docx"},
        "no such snapshot": {"snapshot": tmp_path / "missing.duckdb"},
        "pseudonymised snapshot": {"snapshot": demo_research_snapshot},
        "not a snapshot": {"snapshot": not_a_snapshot},
    }[case]
    message = {"unknown code": "Kommunekoden 999 findes ikke", "empty municipality": "har ingen forløb",
               "empty period": "har ingen forløb i perioden 1999", "bad period": "Perioden «2025-13» forstås ikke",
               "bad format": "Ukendt format «docx»", "no such snapshot": "findes ikke",
               "pseudonymised snapshot": "er pseudonymiseret", "not a snapshot": "er ikke et HjerteKom-snapshot"}[case]
    before = len(audit_entries(ws, "extract.individual"))
    request = ExtractRequest(**{"municipality": OWN, "level": "individual", "fmt": "xlsx", "snapshot": demo_snapshot,
                                "out_dir": out, **options})
    with pytest.raises(ExtractError) as caught:
        create_extract(ws, admin, request)
    assert message in str(caught.value)
    assert files_in(out) == []
    assert len(audit_entries(ws, "extract.individual")) == before


def test_a_failing_writer_leaves_no_file_and_no_audit_entry(
        ws: Workspace, users: dict[str, User], demo_snapshot: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def half_then_fail(con: duckdb.DuckDBPyConnection, tables: Any, path: Path, lang: str) -> None:
        path.write_text("half an extract")
        raise OSError("disk full")

    monkeypatch.setitem(FORMATS, "broken", Format("broken", ".bin", half_then_fail))
    before = len(audit_entries(ws, "extract.individual"))
    with pytest.raises(OSError, match="disk full"):
        extract(ws, users["coord740"], demo_snapshot, tmp_path, level="individual", fmt="broken")
    assert files_in(tmp_path) == []
    assert len(audit_entries(ws, "extract.individual")) == before


def test_an_existing_extract_is_never_replaced(ws: Workspace, users: dict[str, User], demo_snapshot: Path,
                                               tmp_path: Path) -> None:
    moment = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
    request = ExtractRequest(OWN, "aggregate", "xlsx", snapshot=demo_snapshot, out_dir=tmp_path)
    first = create_extract(ws, users["coord740"], request, now=lambda: moment)
    before = first.path.read_bytes()
    second = create_extract(ws, users["coord740"], request, now=lambda: moment)
    assert first.path.name == "extract-740-aggregate-all-20250601T120000.xlsx"
    assert second.path.name == "extract-740-aggregate-all-20250601T120000-2.xlsx"
    assert first.path.read_bytes() == before


# --- the command line ----------------------------------------------------------------------------------------

def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **(env or {})}
    environ.pop("HJERTEKOM_DATABASE_URL", None)
    return subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120)


def test_the_command_extracts_as_a_named_user_and_refuses_what_it_must(
        demo_snapshot: Path, tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    added = run(tmp_path, "users", "add", "mette", "--role", "coordinator", "-m", str(OWN),
                env={"HJERTEKOM_NEW_PASSWORD": "Lyngbakke-testkode-2026"})
    assert added.returncode == 0, added.stderr
    as_mette = {"HJERTEKOM_PASSWORD": "Lyngbakke-testkode-2026"}
    out = tmp_path / "extracts"
    no_snapshot = run(tmp_path, "extract", "-m", str(OWN), "--user", "mette", env=as_mette)
    assert no_snapshot.returncode == 1 and "hjertekom snapshot" in no_snapshot.stderr
    assert "Traceback" not in no_snapshot.stderr

    done = run(tmp_path, "extract", "-m", str(OWN), "--level", "individual", "--format", "xlsx", "--snapshot",
               str(demo_snapshot), "--out", str(out), "--user", "mette", env=as_mette)
    assert done.returncode == 0, done.stderr
    assert "Udtræk (personniveau) for 740 Silkeborg skrevet" in done.stdout
    [written] = files_in(out)
    assert sheet_rows(out / written, "Forløb")[0][2] == "CPR-nummer"

    refused = run(tmp_path, "extract", "-m", str(OTHER), "--level", "individual", "--snapshot", str(demo_snapshot),
                  "--out", str(out), "--user", "mette", "--lang", "en", env=as_mette)
    assert refused.returncode == 1
    assert "mette may not make extracts (individual level) for municipality 101" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert files_in(out) == [written]

