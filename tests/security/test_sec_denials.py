"""Refusals are audited, and refusing tells nothing about other municipalities (issue 12: "a refused
extract, another municipality's course, the CPR attempt are not logged"; "'Ny borger og forløb'
with a CPR registered elsewhere says so").

What an auditor checks: each refused attempt leaves exactly one ``access.denied`` row naming the
user, what was tried and the record or municipality, never a CPR number or a name. What the
refused clinician sees: nothing about where a citizen is registered.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import CPR_PATTERN, generate_cpr
from hjertekom_core.errors import AccessDenied, CitizenElsewhere, NotFound
from hjertekom_core.export.dhrd import export_dhrd
from hjertekom_core.export.extract import ExtractDenied, ExtractRequest, create_extract
from hjertekom_core.reports.library import list_reports, open_report
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_audited_snapshot
from hjertekom_core.store import Store
from hjertekom_core.users import add_user, list_users

from factories import course_data
from paths import CONTRACTS_DIR

CPR = generate_cpr(random.Random(12), birth_date=dt.date(1950, 6, 1), sex="F")  # noqa: S311 - synthetic
NAME = "Karen Prøvesen"
SILKEBORG, KOEBENHAVN = 740, 101


def denials(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = list(reversed(audit.entries(conn, action=audit.DENIED)))
    for row in rows:  # never identifying
        text = json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False)
        assert CPR not in text and CPR[:6] not in text and NAME not in text
        assert not CPR_PATTERN.search(text)
    return rows


def detail(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["detail"])


@pytest.fixture
def silkeborg_course(make_user, service_for) -> tuple[int, int]:
    """A citizen and course in Silkeborg: (citizen id, course id)."""
    svc = service_for(make_user("silke", "clinician", (SILKEBORG,)))
    citizen = svc.create_citizen(CPR, NAME, SILKEBORG)
    return citizen.id, svc.open_course(citizen.id, course_data(), complete=True).course_id


@pytest.fixture
def kbh(make_user, service_for) -> Service:
    return service_for(make_user("kbh", "clinician", (KOEBENHAVN,)))


def test_reading_another_municipalitys_course_by_id_is_audited(store: Store, kbh: Service,
                                                               silkeborg_course: tuple[int, int]) -> None:
    _, course_id = silkeborg_course
    with pytest.raises(NotFound):
        kbh.get_course(course_id)
    [row] = denials(store)
    assert (row["username"], row["user_id"]) == ("kbh", kbh.user.id)
    assert (row["entity"], row["entity_id"], row["municipality_code"]) == ("course", str(course_id), SILKEBORG)
    assert detail(row)["attempted"] == "course.read"


def test_a_course_that_does_not_exist_is_audited_the_same_way(store: Store, kbh: Service) -> None:
    with pytest.raises(NotFound):
        kbh.get_course(999_999)
    [row] = denials(store)
    assert (row["username"], row["entity"], row["entity_id"]) == ("kbh", "course", "999999")
    assert detail(row)["attempted"] == "course.read"


def test_every_refused_service_call_leaves_one_row(store: Store, kbh: Service,
                                                   silkeborg_course: tuple[int, int], make_user, service_for) -> None:
    citizen_id, course_id = silkeborg_course
    calls = [
        ("citizen.read", lambda: kbh.get_citizen(citizen_id)),
        ("registration.write", lambda: kbh.save_draft(course_id, "start", {"weight_kg": 80}, 0)),
        ("registration.write", lambda: kbh.autosave(course_id, "start", {"weight_kg": 80}, 0)),
        ("course.write", lambda: kbh.open_course(citizen_id, course_data(municipality=KOEBENHAVN))),
        ("course.write", lambda: kbh.open_course(citizen_id, course_data(municipality=SILKEBORG))),
        ("citizen.write", lambda: kbh.create_citizen(generate_cpr(random.Random(3)), "Ny Borger", SILKEBORG)),  # noqa: S311
    ]
    for attempted, call in calls:
        before = len(denials(store))
        with pytest.raises((NotFound, AccessDenied)):
            call()
        rows = denials(store)
        assert len(rows) == before + 1, attempted
        assert (rows[-1]["username"], detail(rows[-1])["attempted"]) == ("kbh", attempted)
    researcher = service_for(make_user("forsker", "researcher", ()))
    with pytest.raises(AccessDenied):
        researcher.find_citizen(CPR)
    row = denials(store)[-1]
    assert (row["username"], detail(row)["attempted"]) == ("forsker", "citizen.read")


def test_a_cpr_registered_elsewhere_is_not_revealed_but_is_audited(store: Store, kbh: Service,
                                                                   silkeborg_course: tuple[int, int]) -> None:
    citizen_id, _ = silkeborg_course
    with pytest.raises(CitizenElsewhere) as caught:
        kbh.create_citizen(CPR, "Some Body", KOEBENHAVN)
    # What the clinician is told names no other municipality, neither in words nor in fields.
    said = " ".join([str(caught.value), *map(str, vars(caught.value).values())]).lower()
    for revealing in ("anden kommune", "another municipality", "silkeborg", str(SILKEBORG), "registreret i",
                      "registered in"):
        assert revealing not in said
    [row] = denials(store)
    assert (row["username"], row["entity"], row["entity_id"]) == ("kbh", "citizen", str(citizen_id))
    assert row["municipality_code"] == SILKEBORG  # the auditor may see where
    assert detail(row)["attempted"] == "citizen.write"
    assert detail(row)["reason"] == "citizen registered elsewhere"


@pytest.fixture
def workspace(store: Store, contracts: ContractRegistry, tmp_path: Path) -> Workspace:
    return Workspace(Config(data_dir=tmp_path, contracts_dir=CONTRACTS_DIR), contracts, store)


def test_a_clinician_asking_for_an_individual_extract_is_audited(workspace: Workspace, make_user,
                                                                 tmp_path: Path) -> None:
    clinician = make_user("klinik", "clinician", (SILKEBORG,))
    with pytest.raises(ExtractDenied):
        create_extract(workspace, clinician, ExtractRequest(SILKEBORG, level="individual", out_dir=tmp_path / "x"))
    [row] = denials(workspace.store)
    assert (row["username"], row["entity"], row["municipality_code"]) == ("klinik", "extract", SILKEBORG)
    assert detail(row)["attempted"] == "extract.individual"


def test_a_researcher_asking_for_an_identified_snapshot_is_refused_and_audited(
        store: Store, contracts: ContractRegistry, make_user, tmp_path: Path) -> None:
    researcher = make_user("forsker", "researcher", ())
    with pytest.raises(AccessDenied):
        create_audited_snapshot(store, contracts, tmp_path / "snapshots", researcher, pseudonymise=False)
    assert not (tmp_path / "snapshots").exists() or not any((tmp_path / "snapshots").iterdir())
    [row] = denials(store)
    assert (row["username"], row["entity"]) == ("forsker", "snapshot")
    assert detail(row)["attempted"] == "snapshot.identified"
    with store.read() as conn:
        assert audit.entries(conn, action="snapshot.create") == []


def test_a_clinician_asking_for_the_dhrd_transfer_is_audited(store: Store, contracts: ContractRegistry,
                                                             make_user, tmp_path: Path) -> None:
    clinician = make_user("klinik", "clinician", (SILKEBORG,))
    with pytest.raises(AccessDenied):
        export_dhrd(store, contracts, clinician, "2025-05", tmp_path / "out", snapshot_dir=tmp_path / "s")
    [row] = denials(store)
    assert (row["username"], detail(row)["attempted"]) == ("klinik", "dhrd.export")


def test_user_administration_by_a_clinician_is_audited(store: Store, make_user) -> None:
    clinician = make_user("klinik", "clinician", (SILKEBORG,))
    with pytest.raises(AccessDenied):
        list_users(store, clinician)
    with pytest.raises(AccessDenied):
        add_user(store, clinician, "ny", "Ny", "administrator", "korrekt-hest-batteri", [])
    rows = denials(store)
    assert [(r["username"], detail(r)["attempted"]) for r in rows] == [("klinik", "user.admin")] * 2
    assert [u.username for u in list_users(store, SYSTEM)] == ["klinik"]


def test_reports_of_another_municipality_are_audited(store: Store, make_user, tmp_path: Path) -> None:
    (tmp_path / "2025").mkdir()
    (tmp_path / "2025" / "101-koebenhavn.pdf").write_text("x")
    coordinator = make_user("koord", "coordinator", (SILKEBORG,))
    clinician = make_user("klinik", "clinician", (SILKEBORG,))
    with pytest.raises(AccessDenied):
        open_report(tmp_path, coordinator, "2025", "101-koebenhavn.pdf", store=store)
    with pytest.raises(NotFound):
        open_report(tmp_path, coordinator, "2025", "../../010190-1234.pdf", store=store)
    with pytest.raises(AccessDenied):
        list_reports(tmp_path, clinician, store=store)
    rows = denials(store)
    assert [(r["username"], r["entity"], r["municipality_code"]) for r in rows] == [
        ("koord", "report", KOEBENHAVN), ("koord", "report", None), ("klinik", "report", None)]



def test_a_researcher_importing_registrations_is_refused_and_audited(
        store: Store, contracts: ContractRegistry, make_user, tmp_path: Path) -> None:
    from hjertekom_core.importer import import_file

    researcher = make_user("forsker", "researcher", ())
    upload = tmp_path / "upload.csv"
    upload.write_text("cpr;name\n", encoding="utf-8")
    with pytest.raises(AccessDenied):
        import_file(Service(store, contracts, researcher), upload)
    [row] = denials(store)
    assert (row["username"], row["entity"], row["entity_id"]) == ("forsker", "import", "upload.csv")
    assert detail(row)["attempted"] == "registration.write"


def test_a_clinician_starting_the_research_lab_is_refused_and_audited(tmp_path: Path, sqlite_store: Store) -> None:
    from click.testing import CliRunner

    from hjertekom_core.cli import main

    add_user(sqlite_store, SYSTEM, "klinik", "Klinik", "clinician", "Vandrehjem-Kano-72", [SILKEBORG])
    env = {"HJERTEKOM_DATABASE_URL": sqlite_store.url, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"),
           "HJERTEKOM_PASSWORD": "Vandrehjem-Kano-72"}
    done = CliRunner().invoke(main, ["lab", "--user", "klinik", "--no-browser"], env=env)
    assert done.exit_code != 0 and "access denied" in done.output
    [row] = denials(sqlite_store)
    assert (row["username"], row["entity"]) == ("klinik", "lab")
    assert detail(row)["attempted"] == "snapshot.pseudonymised"
