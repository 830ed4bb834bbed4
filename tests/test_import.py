"""Importing courses from CSV and XLSX: all rows valid or nothing written, errors a clinician can act on."""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hjertekom_core import importer
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.cli import main
from hjertekom_core.contract import Contract, ContractRegistry
from hjertekom_core.cpr import CPR_PATTERN, generate_cpr, parse_cpr
from hjertekom_core.errors import AccessDenied, ImportFailed, RowError
from hjertekom_core.importer import import_file, write_error_report
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, citizens, courses, registrations

TODAY = dt.date(2026, 6, 30)
_rng = random.Random(2024)


def new_cpr(**kwargs: Any) -> str:
    cpr = generate_cpr(_rng, **kwargs)
    return f"{cpr[:6]}-{cpr[6:]}"


# A complete start and end meeting, written the way a clinician would (Danish dates, decimal comma).
START = {
    "start.meeting_date": "20-02-2025", "start.weight_kg": "82,5", "start.height_cm": "178",
    "start.smoking": "daily", "start.fitness_test_type": "six_minute_walk", "start.walk_6min_m": "400",
    "start.hads_status": "completed", **{f"start.hads_{i:02d}": str(i % 3) for i in range(1, 15)},
    "start.heartqol_status": "declined", "start.eq5d_status": "not_done", "start.who5_status": "not_done",
    "start.employment": "retired", "start.training_offered": "yes", "start.patient_education_offered": "yes",
    "start.diet_offered": "no", "start.smoking_cessation_offered": "yes", "start.psychosocial_offered": "UNK",
}
END = {
    "end.meeting_date": "2025-05-15", "end.course_status": "completed", "end.training_sessions_planned": "20",
    "end.training_sessions_attended": "18", "end.patient_education_received": "yes",
    "end.diet_dietitian_received": "no", "end.smoking_cessation_received": "yes", "end.psychosocial_received": "no",
    "end.weight_kg": "80,0", "end.smoking": "former", "end.fitness_test_type": "six_minute_walk",
    "end.walk_6min_m": "460", "end.hads_status": "not_done", "end.heartqol_status": "not_done",
    "end.eq5d_status": "not_done", "end.who5_status": "not_done",
}


def course(cpr: str, name: str | None = "Jens Hansen", municipality: str = "740", **cells: str) -> dict[str, str]:
    row = {"cpr": cpr, "course.municipality": municipality, "course.referral_date": "03-02-2025",
           "course.diagnosis_groups": "acute_myocardial_infarction;pci"}
    if name is not None:
        row["name"] = name
    row.update(cells)
    return row


def write_csv(path: Path, rows: Sequence[Mapping[str, str]], delimiter: str = ";", bom: bool = False) -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows([r.get(h, "") for h in header] for r in rows)
    return path


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (citizens, courses, registrations, audit_log)}


def stored_courses(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        people = {r.id: r for r in conn.execute(select(citizens))}
        found = {c.id: {"citizen": people[c.citizen_id], "municipality": c.municipality_code, "forms": {}}
                 for c in conn.execute(select(courses).order_by(courses.c.id))}
        for r in conn.execute(select(registrations)):
            found[r.course_id]["forms"][r.form] = r
    return list(found.values())


@pytest.fixture
def clinician(make_user: Callable[..., User]) -> User:
    return make_user("importer740", "clinician", (740,))


@pytest.fixture
def service(store: Store, contracts: ContractRegistry, clinician: User) -> Service:
    return Service(store, contracts, clinician, today=TODAY)


# --- valid files ---------------------------------------------------------------------------------
def test_valid_csv_import(service: Service, store: Store, contract: Contract, tmp_path: Path) -> None:
    full, only_course, partial = new_cpr(sex="M"), new_cpr(sex="F"), new_cpr()
    path = write_csv(tmp_path / "forløb.csv", [
        course(full, **START, **END),
        course(only_course, "Karen Nielsen", "740", **{"course.index_event_date": "UNK"}),
        course(partial, "Bent Holm", **{"start.meeting_date": "2025-02-21", "start.weight_kg": "90,1"}),
    ])
    ticks: list[int] = []
    result = import_file(service, path, progress=ticks.append)

    assert (result.citizens_created, result.courses, sum(ticks)) == (3, 3, 3)
    assert result.registrations == {("course", "complete"): 3, ("start", "complete"): 1, ("start", "draft"): 1,
                                    ("end", "complete"): 1}
    assert "3 forløb/courses" in result.describe()
    by_cpr = {c["citizen"].cpr: c for c in stored_courses(store)}
    first = by_cpr[full.replace("-", "")]
    info = parse_cpr(full)
    assert (first["citizen"].name, first["citizen"].sex, first["citizen"].birth_date) == \
        ("Jens Hansen", info.sex, info.birth_date)
    assert first["municipality"] == 740 and first["citizen"].municipality_code == 740
    start = json.loads(first["forms"]["start"].data)
    end = json.loads(first["forms"]["end"].data)
    assert json.loads(first["forms"]["course"].data)["diagnosis_groups"] == ["acute_myocardial_infarction", "pci"]
    assert start["meeting_date"] == "2025-02-20" and start["weight_kg"] == 82.5
    assert start["bmi"] == 26.0 and isinstance(start["hads_anxiety"], int), "derived scores computed"
    assert end["bmi"] == 25.2, "end BMI uses the start height"
    assert end["fitness_change_pct"] == 15.0
    assert first["forms"]["start"].user_id == service.user.id
    assert first["forms"]["end"].contract_version == contract.version
    assert json.loads(by_cpr[only_course.replace("-", "")]["forms"]["course"].data)["index_event_date"] == "UNK"
    assert by_cpr[partial.replace("-", "")]["forms"]["start"].status == "draft"
    assert set(by_cpr[partial.replace("-", "")]["forms"]) == {"course", "start"}

    with store.read() as conn:
        entries = conn.execute(select(audit_log.c.action, audit_log.c.detail)
                               .where(audit_log.c.action == "import.course")).all()
    assert len(entries) == 3
    assert not any(CPR_PATTERN.search(e.detail) or "Hansen" in e.detail for e in entries)


@pytest.mark.parametrize("delimiter,bom", [(",", False), (";", True), (",", True)])
def test_csv_delimiters_and_bom(service: Service, store: Store, tmp_path: Path, delimiter: str, bom: bool) -> None:
    cpr = new_cpr()
    path = write_csv(tmp_path / "f.csv", [course(cpr, **{"start.weight_kg": "72,5", "start.meeting_date": "1.3.2025"})],
                     delimiter, bom)
    import_file(service, path)
    (found,) = stored_courses(store)
    assert json.loads(found["forms"]["start"].data) == {"weight_kg": 72.5, "meeting_date": "2025-03-01"}


def test_valid_xlsx_import(service: Service, store: Store, tmp_path: Path) -> None:
    leading_zero = generate_cpr(_rng, birth_date=dt.date(1950, 1, 5), sex="F")  # "050150...": a number drops the 0
    other = new_cpr()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    header = ["CPR", "name", "course.municipality", "course.referral_date", "course.diagnosis_groups",
              "start.meeting_date", "start.weight_kg", "start.height_cm", "start.status"]
    sheet.append(header)
    sheet.append([int(leading_zero), "Inge Dam", 740, dt.date(2025, 2, 3), "heart_failure", dt.date(2025, 2, 20),
                  68.4, 165, "kladde"])
    sheet.append([other, "Ole Berg", "740", "03-02-2025", "angina_pectoris|pci", None, None, None, None])
    sheet.append([None] * len(header))  # a blank row is skipped
    path = tmp_path / "forløb.xlsx"
    workbook.save(path)

    result = import_file(service, path)
    assert (result.citizens_created, result.courses) == (2, 2)
    by_cpr = {c["citizen"].cpr: c for c in stored_courses(store)}
    first = by_cpr[leading_zero]
    assert first["citizen"].name == "Inge Dam"
    assert json.loads(first["forms"]["course"].data)["referral_date"] == "2025-02-03"
    assert first["forms"]["course"].status == "draft", "NYHA class is required for heart failure"
    start = first["forms"]["start"]
    assert start.status == "draft"
    assert json.loads(start.data) == {"meeting_date": "2025-02-20", "weight_kg": 68.4, "height_cm": 165, "bmi": 25.1}
    assert json.loads(by_cpr[other.replace("-", "")]["forms"]["course"].data)["diagnosis_groups"] == \
        ["angina_pectoris", "pci"]


def test_existing_citizen_gets_a_new_course_and_one_citizen_may_have_two_rows(
        service: Service, store: Store, tmp_path: Path) -> None:
    known = new_cpr()
    citizen = service.create_citizen(known, "Lis Friis", 740)
    twice = new_cpr()
    path = write_csv(tmp_path / "f.csv", [
        course(known, name=None),
        course(twice, "Per Lund"),
        course(twice, "Per  Lund", **{"course.referral_date": "01-06-2025"}),
        course(twice, name=None, **{"course.referral_date": "02-06-2025"}),
    ])
    result = import_file(service, path)
    assert (result.citizens_created, result.citizens_existing, result.courses) == (1, 1, 4)
    found = stored_courses(store)
    assert sum(c["citizen"].id == citizen.id for c in found) == 1
    assert len({c["citizen"].id for c in found}) == 2


def test_cpr_failing_modulus_11_is_accepted(service: Service, store: Store, tmp_path: Path) -> None:
    cpr = new_cpr(modulus11=False)
    assert not parse_cpr(cpr).modulus11_ok
    import_file(service, write_csv(tmp_path / "f.csv", [course(cpr)]))
    assert stored_courses(store)[0]["citizen"].cpr == cpr.replace("-", "")


def test_explicit_status(service: Service, store: Store, tmp_path: Path) -> None:
    draft, complete = new_cpr(), new_cpr()
    path = write_csv(tmp_path / "f.csv", [
        course(draft, **{"course.status": "draft"}),
        course(complete, **{"start.meeting_date": "2025-02-20", "start.status": "complete"}),
    ])
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path)
    columns = {e.column for e in failed.value.errors}
    assert all(e.row == 3 for e in failed.value.errors)
    assert {"start.weight_kg", "start.smoking", "start.height_cm"} <= columns
    assert all("mangler" in e.message for e in failed.value.errors)


# --- refused files -------------------------------------------------------------------------------
def test_one_bad_row_imports_nothing(service: Service, store: Store, tmp_path: Path) -> None:
    service.create_citizen(new_cpr(), "Else Bach", 740)
    before = counts(store)
    path = write_csv(tmp_path / "f.csv", [
        course(new_cpr(), **START, **END),
        course(new_cpr(), "Finn Skov", **{"start.weight_kg": "abc", "start.meeting_date": "31-02-2025",
                                          "start.height_cm": "400", "end.meeting_date": "2025-01-01"}),
        course(new_cpr(), "Aase Krogh"),
    ])
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path)
    assert counts(store) == before
    errors = {(e.row, e.column): e.message for e in failed.value.errors}
    assert set(errors) == {(3, "start.weight_kg"), (3, "start.meeting_date"), (3, "start.height_cm")}
    assert "«abc» er ikke et tal" in errors[(3, "start.weight_kg")] and "72,5" in errors[(3, "start.weight_kg")]
    assert "dd-mm-åååå" in errors[(3, "start.meeting_date")]
    assert "Ret værdien" in errors[(3, "start.height_cm")]
    assert "nothing was imported" in str(failed.value)


def test_rule_across_forms_and_dates_in_the_future(service: Service, store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", [
        course(new_cpr(), **{"start.meeting_date": "2025-01-01"}),       # before the referral
        course(new_cpr(), **{"course.referral_date": "01-01-2027"}),     # after "today"
    ])
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path)
    assert [(e.row, e.column) for e in failed.value.errors] == [(2, "start.meeting_date"),
                                                                 (3, "course.referral_date")]
    assert counts(store)["courses"] == 0


def test_unknown_derived_and_duplicate_columns(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("cpr;name;course.municipality;start.weigth_kg;start.bmi;foo;course.municipality\n"
                    f"{new_cpr()};Jens Olsen;740;80;;x;740\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path)
    errors = {e.column: e for e in failed.value.errors}
    assert set(errors) == {"start.weigth_kg", "start.bmi", "foo", "course.municipality"}
    assert all(e.row == 1 for e in errors.values())
    assert "kendes ikke" in errors["start.weigth_kg"].message
    assert "beregnes automatisk" in errors["start.bmi"].message
    assert counts(store)["citizens"] == 0


def test_bad_cpr_and_missing_name(service: Service, tmp_path: Path) -> None:
    same = new_cpr()
    path = write_csv(tmp_path / "f.csv", [course("310299-1234"), course("12345"), course(new_cpr(), name=" "),
                                          course(""), course(same, "Bo Holm"), course(same, "Bo Holm Dam")])
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path)
    assert [(e.row, e.column) for e in failed.value.errors] == [(2, "cpr"), (3, "cpr"), (4, "name"), (5, "cpr"),
                                                                 (7, "name")]
    assert "række 6" in failed.value.errors[-1].message
    assert "fødselsdato" in failed.value.errors[0].message
    assert not any(CPR_PATTERN.search(e.message) for e in failed.value.errors)


def test_other_municipality_is_refused(service: Service, store: Store, contracts: ContractRegistry,
                                       make_user: Callable[..., User], tmp_path: Path) -> None:
    copenhagen = Service(store, contracts, make_user("kbh", "clinician", (101,)), today=TODAY)
    elsewhere = new_cpr()
    copenhagen.create_citizen(elsewhere, "Hans Dahl", 101)
    before = counts(store)
    path = write_csv(tmp_path / "f.csv", [course(new_cpr(), municipality="101"), course(elsewhere, name=None)])
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path)
    assert [(e.row, e.column) for e in failed.value.errors] == [(2, "course.municipality"), (3, "cpr")]
    assert "101" not in failed.value.errors[1].message, "never say where the citizen is"
    assert counts(store) == before


def test_a_researcher_may_not_import(store: Store, contracts: ContractRegistry, make_user: Callable[..., User],
                                     tmp_path: Path) -> None:
    researcher = Service(store, contracts, make_user("res", "researcher", ()), today=TODAY)
    with pytest.raises(AccessDenied):
        import_file(researcher, write_csv(tmp_path / "f.csv", [course(new_cpr())]))


def test_a_database_error_midway_leaves_nothing(service: Service, store: Store, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    before = counts(store)
    calls = []

    def failing_record(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # after citizens, courses and one audit entry went in
            raise RuntimeError("database went away")

    monkeypatch.setattr(importer.audit, "record", failing_record)
    with pytest.raises(RuntimeError):
        import_file(service, write_csv(tmp_path / "f.csv", [course(new_cpr()), course(new_cpr(), "Kim Bak")]))
    assert counts(store) == before


def test_unreadable_files(service: Service, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("cpr;name\n010150-1234;Søren\n".encode("latin-1"))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    other = tmp_path / "f.ods"
    other.write_text("x", encoding="utf-8")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    for path, words in ((latin1, "UTF-8"), (empty, "tom"), (other, "Filtypen"), (broken, "Excel")):
        with pytest.raises(ImportFailed) as failed:
            import_file(service, path)
        assert words in failed.value.errors[0].message


# --- the error report ----------------------------------------------------------------------------
def test_error_report_csv(tmp_path: Path) -> None:
    errors = [RowError(1, "start.weigth_kg", "Kolonnen «start.weigth_kg» kendes ikke."),
              RowError(3, "start.weight_kg", "Vægt: «abc» er ikke et tal; skriv fx 72,5.")]
    path = tmp_path / "rapport" / "fejl.csv"
    write_error_report(errors, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "BOM, so that Excel reads UTF-8"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert rows == [["række", "kolonne", "fejl"], ["1", "start.weigth_kg", errors[0].message],
                    ["3", "start.weight_kg", errors[1].message]]
    assert [p.name for p in path.parent.iterdir()] == ["fejl.csv"], "no temporary file left behind"
    write_error_report(errors[:1], path)  # replaced as a whole
    assert len(path.read_text(encoding="utf-8-sig").splitlines()) == 2


# --- the command line ----------------------------------------------------------------------------
def test_cli_import(tmp_path: Path, cli_env: dict[str, str | None]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=cli_env).exit_code == 0
    good = write_csv(tmp_path / "good.csv", [course(new_cpr(), **START, **END)])
    ok = runner.invoke(main, ["import", str(good)], env=cli_env)
    assert ok.exit_code == 0, ok.output
    assert "1 forløb/courses" in ok.stdout

    bad = write_csv(tmp_path / "bad.csv", [course(new_cpr()), course(new_cpr(), **{"start.weight_kg": "abc"})])
    report = tmp_path / "fejl.csv"
    refused = runner.invoke(main, ["import", str(bad), "--report", str(report)], env=cli_env)
    assert refused.exit_code == 1
    assert "række 3, start.weight_kg:" in refused.stderr
    assert "1 fejl; intet er importeret" in refused.stderr
    assert report.read_text(encoding="utf-8-sig").splitlines()[1].startswith("3;start.weight_kg;")

    store = Store(f"sqlite:///{tmp_path / 'data' / 'hjertekom.sqlite'}")
    try:
        assert counts(store)["courses"] == 1
        with store.read() as conn:
            users = conn.execute(select(registrations.c.user_id).distinct()).scalars().all()
        assert users == [SYSTEM.id]
    finally:
        store.dispose()
    assert not CPR_PATTERN.search((tmp_path / "data" / "hjertekom.log").read_text(encoding="utf-8"))
