"""A third, invented programme declared by YAML files alone runs through the pipeline with no code change.

The contracts folder is a temporary copy of data_contracts (hjertekom stays) plus the invented
programme ``faldforebyggelse`` (fall prevention) from tests/data/faldforebyggelse: a contract with
a course form (municipality), a start and an end form with whole numbers, decimals, dates, a
choice from its own code list, a yes/no, free text, missing reasons and a derived score (BMI), and
an indicators.yaml with two indicators. On a workspace over that folder: init, an import and a
course through the service, a snapshot (identified and pseudonymised), its indicators counted by
hand, the municipality's extracts, and the DHRD transfer, which stays hjertekom's alone.

Demo data come from its contract alone (``demo_generic``), its report page from its indicators
(``reports/programme.py``), and the command line runs the same way. Not covered here
(docs/programmes.md, "What remains"): the entry app in the browser, and HjerteKom's own management
report, citizen sheet and research notebooks.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.demo import generate_demo
from hjertekom_core.export.contract import export_contract_path, load_export_contract
from hjertekom_core.export.dhrd import Month, build_transfer, transfer_files
from hjertekom_core.export.extract import ExtractError, ExtractRequest, create_extract
from hjertekom_core.importer import import_file
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.indicators.completeness import field_completeness, open_courses
from hjertekom_core.indicators.declarations import load_registry_declarations
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.users import add_user

from factories import TEST_PASSWORD, course_data, end_data, start_data
from invented_programme_files import BOTH, BOTH_ENV, PROGRAMME, contracts_with_invented

SILKEBORG, AARHUS = 740, 751

# One course per row, with what each indicator should make of it (F1: lower fall risk among those
# at moderate or high risk at the start; F2: at least 2 more chair stands at the end).
HEADER = ["cpr", "name", "course.municipality", "course.referral_date", "start.visit_date", "start.falls_last_year",
          "start.fall_risk", "start.weight_kg", "start.height_cm", "start.chair_stands", "end.visit_date",
          "end.completed", "end.fall_risk", "end.chair_stands", "end.note", "end.status"]
ROWS = [
    # municipality, start risk, start stands, end risk, end stands, end status      F1            F2
    (SILKEBORG, "high", "8", "low", "11", "complete"),                              # met           met
    (SILKEBORG, "moderate", "10", "moderate", "11", "complete"),                    # not met       not met
    (SILKEBORG, "low", "9", "low", "12", "complete"),                               # not in denom. met
    (SILKEBORG, "high", "uoplyst", "UNK", "10", "complete"),                        # unknown       unknown
    (SILKEBORG, "UNK", "7", "low", "9", "complete"),                                # excluded      met
    (SILKEBORG, "high", "6", "low", "12", "kladde"),                                # nowhere: draft end
    (AARHUS, "high", "5", "low", "8", "complete"),                                  # met           met
]


@dataclass
class Pipeline:
    ws: Workspace
    contracts_dir: Path
    clinician: User
    invented_ids: list[int]   # the invented programme's courses, in ROWS order, then the service's
    hjertekom_id: int
    snapshot: Path


def _write_import(path: Path) -> None:
    rng = random.Random(19)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(HEADER)
        for i, (code, start_risk, start_stands, end_risk, end_stands, status) in enumerate(ROWS):
            out.writerow([generate_cpr(rng), f"Borger {chr(65 + i)}", code, "06-01-2025", "03-02-2025", i,
                          start_risk, "72,5", 168, start_stands, "20-05-2025", "ja" if i % 2 else "nej", end_risk,
                          end_stands, "Faldt i haven" if i == 0 else "", status])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("invented")
    folder = contracts_with_invented(root)
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=folder, programmes=BOTH))
    initialise(ws)
    assert ws.contracts.programmes == [PROGRAMME, "hjertekom"]

    sheet = root / "import.csv"
    _write_import(sheet)
    result = import_file(Service(ws.store, ws.contracts, SYSTEM), sheet, programme=PROGRAMME)
    assert (result.courses, result.citizens_created) == (len(ROWS), len(ROWS))

    clinician = add_user(ws.store, SYSTEM, "kliniker", "Kliniker", "clinician", TEST_PASSWORD, (SILKEBORG,))
    service = Service(ws.store, ws.contracts, clinician)
    rng = random.Random(91)
    # One more invented course by hand, the way the entry form saves it: F1 met, F2 not (no change).
    citizen = service.create_citizen(generate_cpr(rng), "Borger H", SILKEBORG)
    opened = service.open_course(citizen.id, {"municipality": SILKEBORG, "referral_date": "2025-01-08"},
                                 programme=PROGRAMME, complete=True)
    service.save(opened.course_id, "start", {"visit_date": "2025-02-05", "falls_last_year": "borgeren ønskede ikke",
                                             "fall_risk": "high", "chair_stands": 10}, 0, complete=True)
    service.save(opened.course_id, "end", {"visit_date": "2025-05-22", "completed": True, "fall_risk": "low",
                                           "chair_stands": 10}, 0, complete=True)
    # And a hjertekom course ending in the same month, for the DHRD transfer.
    heart = service.create_citizen(generate_cpr(rng), "Borger I", SILKEBORG)
    hjertekom = service.open_course(heart.id, course_data(), complete=True)
    service.save(hjertekom.course_id, "start", start_data(), 0, complete=True)
    service.save(hjertekom.course_id, "end", end_data(), 0, complete=True)

    with ws.store.read() as conn:
        rows = conn.exec_driver_sql("SELECT id FROM courses WHERE programme = ? ORDER BY id", (PROGRAMME,)).fetchall()
    invented = [r[0] for r in rows]
    assert opened.course_id == invented[-1] and len(invented) == len(ROWS) + 1
    info = create_snapshot(ws.store, ws.contracts, root / "data" / "snapshots")
    yield Pipeline(ws, folder, clinician, invented, hjertekom.course_id, info.path)
    ws.store.dispose()


def test_the_invented_programme_is_declared_by_its_files_alone(tmp_path: Path) -> None:
    """Its contract and indicators pass the schemas and the cross-checks; hjertekom is unchanged."""
    from hjertekom_core.contract import ContractRegistry

    registry = ContractRegistry(contracts_with_invented(tmp_path), programmes=BOTH)
    contract = registry[PROGRAMME]
    assert list(contract.forms) == ["course", "start", "end"]
    assert contract.start_and_end() == ("start", "end")
    assert contract.form("start").field("bmi").is_derived
    assert registry.codelists["fall_risk"].label_of("high") == "Høj"
    declared = load_registry_declarations(registry)
    assert [i.id for i in declared[PROGRAMME].indicators] == ["F1", "F2"]
    assert [i.id for i in declared["hjertekom"].indicators] == ["K1", "K2", "K3", "K4", "K5", "K6"]


def test_the_import_and_the_service_validate_and_score_from_its_contract(pipeline: Pipeline) -> None:
    service = Service(pipeline.ws.store, pipeline.ws.contracts, pipeline.clinician)
    first = service.get_course(pipeline.invented_ids[0])
    assert first.programme == PROGRAMME
    start = first.data_of("start")
    assert start["bmi"] == 25.7        # 72.5 / 1.68², rounded half up: derived from the contract's declaration
    assert start["chair_stands"] == 8
    fourth = service.get_course(pipeline.invented_ids[3])
    assert fourth.data_of("start")["chair_stands"] == "UNK"  # "uoplyst" read as the missing reason's code
    # The contract's own limits and rules, as for hjertekom.
    from hjertekom_core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        service.save(pipeline.invented_ids[1], "end", {"visit_date": "01-01-2025", "completed": True,
                                                      "fall_risk": "low", "chair_stands": 61}, 1,
                     complete=True, reason="rettelse")
    # A whole number above its hard limit; an end dated before the start (the contract's rule).
    assert {i.field for i in refused.value.errors} == {"chair_stands", "visit_date"}


def test_the_snapshot_has_the_invented_programmes_form_tables(pipeline: Pipeline) -> None:
    with duckdb.connect(str(pipeline.snapshot), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert {f"{PROGRAMME}_course", f"{PROGRAMME}_start", f"{PROGRAMME}_end", f"{PROGRAMME}_indicator_facts",
                "hjertekom_course", "hjertekom_start", "hjertekom_end"} <= tables
        start = con.execute(f"SELECT * FROM {PROGRAMME}_start ORDER BY course_id").df()
        assert list(start["status"].astype(str)) == ["complete"] * (len(ROWS) + 1)
        assert list(start["fall_risk"].astype(str))[:5] == ["high", "moderate", "low", "high", "UNK"]
        assert str(start["fall_risk"].dtype) == "category"  # an ENUM of the code list
        assert start["fall_risk_label"].iloc[0] == "Høj"
        assert start["bmi"].iloc[0] == pytest.approx(25.7)
        assert list(start["chair_stands_unknown"])[:4] == [False, False, False, True]
        assert start["falls_last_year_missing"].iloc[-1] == "DECL"
        end = con.execute(f"SELECT course_id, status, note FROM {PROGRAMME}_end ORDER BY course_id").df()
        assert list(end["status"].astype(str)) == ["complete"] * 5 + ["draft", "complete", "complete"]
        assert end["note"].iloc[0] == "Faldt i haven"
        courses = con.execute("SELECT programme, count(*) FROM courses GROUP BY 1 ORDER BY 1").fetchall()
        assert courses == [(PROGRAMME, len(ROWS) + 1), ("hjertekom", 1)]
        codebook = con.execute("SELECT column_name FROM codebook WHERE table_name = ?",
                               [f"{PROGRAMME}_start"]).fetchall()
        assert ("bmi",) in codebook and ("fall_risk_label",) in codebook
        ages = con.execute("SELECT count(age_at_start) FROM courses WHERE programme = ?", [PROGRAMME]).fetchone()
        assert ages == (len(ROWS) + 1,)  # from the first form after the course form: start.visit_date


def test_a_pseudonymised_snapshot_leaves_out_its_free_text(pipeline: Pipeline, tmp_path: Path) -> None:
    ws = pipeline.ws
    info = create_snapshot(ws.store, ws.contracts, tmp_path, pseudonymise=True, key_file=ws.config.pseudonym_key_file,
                           indicator_settings=settings_from_config(ws.config))
    with duckdb.connect(str(info.path), read_only=True) as con:
        columns = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                                             [f"{PROGRAMME}_end"]).fetchall()}
        assert "fall_risk" in columns and "note" not in columns and "course_id" not in columns
        flags = con.execute(f"SELECT sum(F1_numerator), sum(F1_denominator), sum(F2_numerator) "
                            f"FROM {PROGRAMME}_indicator_facts").fetchone()
    assert flags == (3, 5, 4)  # the same courses as counted below, over both municipalities


def _row(df: pd.DataFrame, indicator: str, unit: int) -> tuple[int, int, int, int]:
    r = df[(df["indicator"] == indicator) & (df["unit"] == str(unit)) & (df["period"] == "2025")].iloc[0]
    return int(r["numerator"]), int(r["denominator"]), int(r["unknown"]), int(r["excluded"])


def test_its_indicators_are_counted_as_declared(pipeline: Pipeline) -> None:
    settings = settings_from_config(pipeline.ws.config, programme=PROGRAMME)
    with duckdb.connect(str(pipeline.snapshot), read_only=True) as con:
        df = compute(con, settings, levels=["municipality"], period="year")
        facts = con.execute(f"SELECT course_id, start_risk, end_risk, stands_change FROM {PROGRAMME}_indicator_facts "
                            "ORDER BY course_id").fetchall()
    assert set(df["indicator"]) == {"F1", "F2"}
    # (numerator, denominator, unknown, excluded), counted by hand from ROWS and the service's course.
    # Silkeborg F1: rows 1, 2, 4 and the service's course in the denominator (row 3 is at low risk,
    # row 5's start risk is unknown: excluded, row 6 has a draft end); met: 1 and the service's; 4 unknown.
    assert _row(df, "F1", SILKEBORG) == (2, 4, 1, 1)
    # F2: every finished course (1-5, the service's); met: 1 (+3), 3 (+3), 5 (+2); 4 unknown.
    assert _row(df, "F2", SILKEBORG) == (3, 6, 1, 0)
    assert _row(df, "F1", AARHUS) == (1, 1, 0, 0)
    assert _row(df, "F2", AARHUS) == (1, 1, 0, 0)
    assert [f[3] for f in facts][:3] == [3, 1, 3]
    # hjertekom's indicators are its own and do not count the invented courses.
    with duckdb.connect(str(pipeline.snapshot), read_only=True) as con:
        heart = compute(con, settings_from_config(pipeline.ws.config), levels=["municipality"], period="year")
    assert set(heart["indicator"]) == {"K1", "K2", "K3", "K4", "K5", "K6"}
    k5 = heart[(heart["indicator"] == "K5") & (heart["unit"] == str(SILKEBORG)) & (heart["period"] == "2025")]
    assert int(k5["denominator"].iloc[0]) == 1


def test_completeness_reads_its_forms(pipeline: Pipeline) -> None:
    contract = pipeline.ws.contracts[PROGRAMME]
    with duckdb.connect(str(pipeline.snapshot), read_only=True) as con:
        fields = field_completeness(con, pipeline.ws.contracts, PROGRAMME)
        still = open_courses(con, contract)
    silkeborg = fields[fields["municipality_code"] == SILKEBORG].set_index(["form", "field"])
    assert tuple(silkeborg.loc[("start", "fall_risk"), ["shown", "answered", "unknown"]]) == (7, 7, 1)
    assert tuple(silkeborg.loc[("end", "fall_risk"), ["shown", "answered", "unknown"]]) == (7, 7, 1)
    own = still[still["municipality_code"] == SILKEBORG].iloc[0]
    assert (own["started"], own["without_end"]) == (7, 1)  # row 6's end is a draft


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_its_extracts_come_from_its_contract_and_indicators(pipeline: Pipeline, tmp_path: Path) -> None:
    ws = pipeline.ws
    coordinator = add_user(ws.store, SYSTEM, "koordinator", "Koordinator", "coordinator", TEST_PASSWORD, (SILKEBORG,))
    individual = create_extract(ws, coordinator, ExtractRequest(
        SILKEBORG, "individual", "csv", snapshot=pipeline.snapshot, out_dir=tmp_path, programme=PROGRAMME))
    rows = _read_csv(individual.path / "courses.csv")
    assert [int(r["course_id"]) for r in rows] == pipeline.invented_ids[:6] + pipeline.invented_ids[-1:]
    assert rows[0]["start__fall_risk"] == "high" and rows[0]["start__fall_risk_label"] == "Høj"
    assert rows[0]["start__bmi"] == "25.7" and rows[0]["end__note"] == "Faldt i haven"
    assert not any(name.startswith("start__meeting_date") for name in rows[0])  # nothing of hjertekom's

    aggregate = create_extract(ws, coordinator, ExtractRequest(
        SILKEBORG, "aggregate", "csv", period="2025", snapshot=pipeline.snapshot, out_dir=tmp_path,
        programme=PROGRAMME))
    assert aggregate.tables == ("indicators", "about", "codebook")  # key figures are hjertekom's
    own = {r["indicator"]: r for r in _read_csv(aggregate.path / "indicators.csv")
           if r["level"] == "municipality" and r["unit"] == str(SILKEBORG)}
    assert (own["F1"]["numerator"], own["F1"]["denominator"], own["F1"]["indicator_name"]) == (
        "2", "4", "Lavere faldrisiko")
    assert (own["F2"]["numerator"], own["F2"]["denominator"]) == ("3", "6")

    with pytest.raises(ExtractError, match="moeva"):
        create_extract(ws, coordinator, ExtractRequest(SILKEBORG, "individual", "csv", snapshot=pipeline.snapshot,
                                                       out_dir=tmp_path, programme="moeva"))


def test_the_dhrd_transfer_stays_hjertekoms_alone(pipeline: Pipeline) -> None:
    contracts = pipeline.ws.contracts
    dhrd = load_export_contract(export_contract_path(pipeline.contracts_dir, "dhrd"), contracts)
    assert dhrd.programme == "hjertekom"
    with duckdb.connect(str(pipeline.snapshot), read_only=True) as con:
        transfer = build_transfer(con, dhrd, contracts, Month.parse("2025-05"))
    files = transfer_files(transfer)
    data = list(csv.DictReader(files["data"].decode("utf-8-sig").splitlines(), delimiter=";"))
    # Every invented course ended in May 2025 too, and not one of them is in the transfer or its rejects.
    assert [int(r["course_id"]) for r in data] == [pipeline.hjertekom_id]
    assert transfer.rejects == [] and files["rejects"].decode("utf-8-sig").count("\n") <= 1  # a header at most


def _demo_registrations(root: Path) -> tuple[list[tuple[str, str, str]], Workspace]:
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=contracts_with_invented(root), programmes=BOTH))
    initialise(ws)
    summary = generate_demo(ws, 40, seed=3, programme=PROGRAMME, today=dt.date.today())
    assert (summary.citizens, summary.courses) == (40, 40)
    with ws.store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT r.form, r.status, r.data FROM registrations r JOIN courses c ON c.id = r.course_id "
            "WHERE c.programme = ? ORDER BY r.course_id, r.form", (PROGRAMME,)).fetchall()
    return [tuple(r) for r in rows], ws


def test_demo_data_come_from_its_contract_alone(tmp_path: Path) -> None:
    """The demo of a programme without a clinical model: valid forms (the service took each one),
    the same for the same seed, and counted by its indicators."""
    first, ws = _demo_registrations(tmp_path / "a")
    again, other = _demo_registrations(tmp_path / "b")
    other.store.dispose()
    assert first == again
    forms = {(form, status) for form, status, _ in first}
    assert {("course", "complete"), ("start", "complete"), ("end", "complete")} <= forms
    info = create_snapshot(ws.store, ws.contracts, tmp_path / "snapshots")
    with duckdb.connect(str(info.path), read_only=True) as con:
        finished = con.execute(f"""SELECT count(*) FROM {PROGRAMME}_start s JOIN {PROGRAMME}_end e USING (course_id)
                                   WHERE s.status = 'complete' AND e.status = 'complete'""").fetchone()[0]
        df = compute(con, settings_from_config(ws.config, programme=PROGRAMME), levels=["national"], period="year")
        bmi = con.execute(f"SELECT count(bmi), count(*) FILTER (WHERE weight_kg IS NOT NULL "
                          f"AND height_cm IS NOT NULL) FROM {PROGRAMME}_start").fetchone()
    ws.store.dispose()
    f2 = df[df["indicator"] == "F2"]
    assert finished > 0 and int(f2["denominator"].sum()) == finished  # F2: every finished course
    assert bmi[0] == bmi[1] > 0  # the derived score wherever its inputs were given


def test_the_command_line_runs_it_by_name(tmp_path: Path) -> None:
    """`hjertekom demo`, `snapshot`, `indicators` and `report programme` with --programme, on a contracts
    folder of its own."""
    command = str(Path(sys.executable).with_name("hjertekom"))
    env = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), "HJERTEKOM_CONFIG": str(tmp_path / "none.toml"),
           "HJERTEKOM_CONTRACTS_DIR": str(contracts_with_invented(tmp_path)), **BOTH_ENV}
    env.pop("HJERTEKOM_DATABASE_URL", None)

    def run(*args: str) -> str:
        done = subprocess.run([command, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "30 forløb/courses" in run("demo", "--programme", PROGRAMME, "--citizens", "30", "--no-users")
    run("snapshot")
    snapshot = next((tmp_path / "var" / "snapshots").glob("*.duckdb"))
    out = run("indicators", "--snapshot", str(snapshot), "--programme", PROGRAMME, "--by", "national",
              "--format", "csv")
    assert {line.split(",")[0] for line in out.splitlines()[1:]} == {"F1", "F2"}
    year = str(dt.date.today().year)
    page = Path(run("report", "programme", "--programme", PROGRAMME, "--municipality", "740", "--period", year,
                    "--snapshot", str(snapshot), "--out", str(tmp_path / "side.html")).strip())
    assert page == tmp_path / "side.html" and "F2 Stærkere ben" in page.read_text(encoding="utf-8")
    assert page.stat().st_mode & 0o077 == 0


def test_a_workspace_of_the_invented_programme_alone(tmp_path: Path) -> None:
    """Without hjertekom in the contracts folder: its snapshots open (the reader's version guard is
    hjertekom's and applies to snapshots that hold hjertekom) and its indicators are counted."""
    from hjertekom_core.snapshot import open_snapshot

    folder = contracts_with_invented(tmp_path)
    shutil.rmtree(folder / "hjertekom")
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=folder, programmes=[PROGRAMME]))
    initialise(ws)
    assert ws.contracts.programmes == [PROGRAMME]
    generate_demo(ws, 20, seed=4, programme=PROGRAMME)
    info = create_snapshot(ws.store, ws.contracts, tmp_path / "snapshots")
    ws.store.dispose()
    con, meta = open_snapshot(info.path)
    with con:
        assert meta.contract_versions == {PROGRAMME: "0.1.0"}
        df = compute(con, settings_from_config(ws.config, programme=PROGRAMME), levels=["national"], period="year")
        finished = con.execute(f"""SELECT count(*) FROM {PROGRAMME}_start s JOIN {PROGRAMME}_end e USING (course_id)
                                   WHERE s.status = 'complete' AND e.status = 'complete'""").fetchone()[0]
    assert int(df[df["indicator"] == "F2"]["denominator"].sum()) == finished > 0
    # Its report (reports/programme.py) needs nothing of hjertekom either.
    from hjertekom_core.reports.programme import build_programme_report, render_programme_report

    with duckdb.connect(str(info.path), read_only=True) as con:
        code, year = con.execute(f"""SELECT c.municipality_code, year(e.visit_date) FROM courses c
                                     JOIN {PROGRAMME}_end e USING (course_id) WHERE e.status = 'complete'
                                     ORDER BY 1, 2 LIMIT 1""").fetchone()
    page = render_programme_report(build_programme_report(info.path, PROGRAMME, code, str(year), config=ws.config))
    assert "hk-funnel-F2-own" in page and "hk-run-F2-own" in page


def test_its_report_page_comes_from_its_indicators(pipeline: Pipeline, tmp_path: Path) -> None:
    """The programme's indicator page for Silkeborg 2025: its own numbers exact, the region's small
    counts hidden, the texts composed from its declarations and its guidance."""
    from hjertekom_core.reports.programme import build_programme_report, write_programme_report

    report = build_programme_report(pipeline.snapshot, PROGRAMME, SILKEBORG, "2025", config=pipeline.ws.config)
    page = write_programme_report(report, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h1>Faldforebyggelse: Silkeborg 2025</h1>" in page
    assert "F1 Lavere faldrisiko" in page and "F2 Stærkere ben" in page
    assert "moderat eller høj faldrisiko ved start" in page  # the denominator's declared label
    assert "Træn balance to gange om ugen." in page            # its indicator_texts.yaml
    own = report.rows[(report.rows["level"] == "municipality") & (report.rows["indicator"] == "F1")].iloc[0]
    assert (own["numerator"], own["denominator"]) == (2, 4)
    region = report.rows[(report.rows["level"] == "region") & (report.rows["indicator"] == "F1")].iloc[0]
    assert region["numerator"] == "< 5"  # Silkeborg's 2 and Aarhus's 1: 3 courses, hidden outside the own
    assert "K1" not in set(report.rows["indicator"])
