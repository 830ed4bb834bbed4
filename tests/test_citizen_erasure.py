"""Restriction (GDPR art. 18) and erasure (art. 17) of one citizen (issue 15), on both backends.

What a DPO, a clinician and an auditor would check: a restricted citizen is out of entry, status,
indicators, snapshots and the DHRD transfer until lifted, and is said to be restricted when looked
up by CPR number; an erased citizen's CPR number and name are nowhere in the store, later snapshots
do not hold them, their ids are never handed out again, a later registration or import of the
number is flagged; every action and refusal is audited without a CPR number or a name; bad input
changes nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from sqlalchemy import and_, func, insert, or_, select

from factories import TEST_PASSWORD, course_data, end_data, start_data
from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import open_workspace
from hjertekom_core.citizen_erasure import (
    CATEGORY_LABELS,
    erase,
    lift,
    preview_erasure,
    restrict,
)
from hjertekom_core.citizen_state import RESTRICTED_MESSAGE
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import (
    AccessDenied,
    CitizenNotFound,
    CitizenRestricted,
    ImportFailed,
    NotFound,
    RightRefused,
)
from hjertekom_core.export.dhrd import export_dhrd
from hjertekom_core.importer import import_file
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.store import Store
from hjertekom_core.store.schema import (
    TOMBSTONE_CATEGORIES,
    audit_log,
    autosaves,
    citizens,
    courses,
    metadata,
    registrations,
    tombstones,
    transfer_log,
)
from hjertekom_core.users import add_user
from paths import CONTRACTS_DIR

_rng = random.Random(1517)  # noqa: S311 - synthetic people only


def new_cpr() -> str:
    return generate_cpr(_rng)


@pytest.fixture
def admin(make_user) -> User:  # type: ignore[no-untyped-def]
    return make_user("dpo-admin", "administrator", ())


@pytest.fixture
def nurse(service_for, make_user) -> Service:  # type: ignore[no-untyped-def]
    return service_for(make_user("sygeplejerske", "clinician", (740,)))


def with_course(svc: Service, cpr: str, name: str, *, finished: bool = True, end: str = "19-05-2025") -> tuple[int, int]:
    """A citizen with one course: start and end complete (finished), or a start only."""
    citizen = svc.create_citizen(cpr, name, 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    svc.save(course_id, "start", start_data(), 0, complete=True, confirm=True)
    if finished:
        svc.save(course_id, "end", end_data(meeting_date=end), 0, complete=True, confirm=True)
    return citizen.id, course_id


def rows_of(store: Store, table: Any) -> list[Any]:
    with store.read() as conn:
        return conn.execute(select(table)).all()


def count(store: Store, table: Any, *where: Any) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def entries(store: Store, action: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        found = audit.entries(conn, action=action)
    return [{**e, "detail": json.loads(e["detail"])} for e in found]


def snapshot_people(store: Store, contracts, folder: Path) -> tuple[set[int], set[str], set[int]]:  # type: ignore[no-untyped-def]
    """Citizen ids, CPR numbers and course ids of a new identified snapshot."""
    info = create_snapshot(store, contracts, folder)
    with duckdb.connect(str(info.path), read_only=True) as con:
        people = con.execute("SELECT citizen_id, cpr FROM citizens").fetchall()
        course_ids = {r[0] for r in con.execute("SELECT course_id FROM courses").fetchall()}
    return {p[0] for p in people}, {p[1] for p in people}, course_ids


# --- restriction -------------------------------------------------------------------------------------

def test_a_restricted_citizen_is_out_of_entry_and_said_to_be_restricted_until_lifted(
        keyed: Store, nurse: Service, admin: User) -> None:
    store = keyed
    cpr, other = new_cpr(), new_cpr()
    citizen_id, course_id = with_course(nurse, cpr, "Karen Bjerregaard", finished=False)
    with_course(nurse, other, "Karen Lassen", finished=False)
    assert {c.id for c in nurse.search_citizens("karen")} >= {citizen_id}
    saved_before = count(store, registrations)

    why = "Sag 2025-117: borgeren bestrider oplysningerne"
    done = restrict(store, admin, cpr, why)
    assert done.restricted and done.citizen_id == citizen_id and done.courses == 1

    # Looked up by CPR number (the worklist's search, "Ny borger og forløb"): said so, in Danish.
    with pytest.raises(CitizenRestricted) as told:
        nurse.find_citizen(cpr)
    assert told.value.user_message.startswith("Borgeren er begrænset (GDPR art. 18)")
    assert told.value.user_message == RESTRICTED_MESSAGE["da"]
    with pytest.raises(CitizenRestricted):
        nurse.create_citizen(cpr, "Karen Bjerregaard", 740)  # not registered a second time either
    # By name and on the worklist: simply not there.
    assert [c.id for c in nurse.search_citizens("karen")] != [] and citizen_id not in {
        c.id for c in nurse.search_citizens("karen")}
    assert course_id not in {item.course_id for item in nurse.worklist()}
    # By id: refused, and nothing can be saved or added.
    for attempt in (lambda: nurse.get_citizen(citizen_id), lambda: nurse.get_course(course_id),
                    lambda: nurse.courses_of(citizen_id), lambda: nurse.form_history(course_id, "start"),
                    lambda: nurse.save(course_id, "end", end_data(), 0, complete=True, confirm=True),
                    lambda: nurse.open_course(citizen_id, course_data(), complete=True,
                                              second_open_reason="new_referral")):
        with pytest.raises(CitizenRestricted):
            attempt()
    with pytest.raises(NotFound):
        nurse.autosave(course_id, "end", {"weight_kg": "80"}, 0)
    assert count(store, registrations) == saved_before and count(store, autosaves) == 0
    assert count(store, courses, courses.c.citizen_id == citizen_id) == 1

    # Every refusal is audited: what was tried, the citizen's id, why; never the CPR number or name.
    denied = [e for e in entries(store, audit.DENIED) if e["detail"].get("citizen_id") == citizen_id]
    assert {e["detail"]["attempted"] for e in denied} >= {"citizen.read", "citizen.write", "course.read",
                                                         "registration.write", "course.write"}
    assert all(e["detail"]["reason"] == "citizen restricted (GDPR art. 18)" for e in denied)
    [entry] = entries(store, "citizen.restrict")
    assert (entry["entity_id"], entry["municipality_code"], entry["user_id"]) == (str(citizen_id), 740, admin.id)
    assert entry["detail"] == {"courses": 1, "reason_length": len(why)}
    with store.read() as conn:
        row = conn.execute(select(citizens).where(citizens.c.id == citizen_id)).one()
    assert row.restricted_by == admin.id and row.restriction_reason.startswith("Sag 2025-117")

    lifted = lift(store, admin, cpr, "Sag 2025-117: oplysningerne er rettet")
    assert not lifted.restricted and lifted.restricted_since is not None
    assert nurse.find_citizen(cpr).id == citizen_id  # type: ignore[union-attr]
    assert course_id in {item.course_id for item in nurse.worklist()}
    assert nurse.save(course_id, "end", end_data(), 0, complete=True, confirm=True).revision == 1
    [lift_entry] = entries(store, "citizen.restrict.lift")
    assert lift_entry["detail"]["reason_length"] == len("Sag 2025-117: oplysningerne er rettet")


def test_a_restricted_citizen_is_out_of_snapshots_indicators_status_and_the_dhrd_transfer(
        keyed: Store, contracts, nurse: Service, admin: User, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr, other = new_cpr(), new_cpr()
    citizen_id, course_id = with_course(nurse, cpr, "Poul Winther")
    other_id, other_course = with_course(nurse, other, "Ib Kjær")

    def k1_denominator() -> int:
        found = live_indicators(store, contracts, IndicatorSettings(), [740])
        return int(found[found.indicator == "K1"].denominator.sum())

    def status_courses() -> int:
        return sum(r["n"] for r in nurse.status_counts() if r["form"] == "course")

    before = (k1_denominator(), status_courses())
    assert before == (2, 2)
    restrict(store, admin, cpr, "Sag 7: retskrav")
    ids, cprs, course_ids = snapshot_people(store, contracts, tmp_path / "restricted")
    assert citizen_id not in ids and cpr not in cprs and course_id not in course_ids
    assert other_id in ids and other_course in course_ids
    assert (k1_denominator(), status_courses()) == (1, 1)
    transfer = export_dhrd(store, contracts, SYSTEM, "2025-05", tmp_path / "out", snapshot_dir=tmp_path / "snap")
    assert transfer.rows == 1
    assert cpr not in transfer.files["data"].read_text(encoding="utf-8")

    lift(store, admin, cpr, "Sag 7 afsluttet")
    ids, cprs, course_ids = snapshot_people(store, contracts, tmp_path / "lifted")
    assert citizen_id in ids and cpr in cprs and course_id in course_ids
    assert (k1_denominator(), status_courses()) == before


def test_restriction_refuses_bad_input_and_changes_nothing(keyed: Store, nurse: Service, admin: User,
                                                           make_user) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr = new_cpr()
    citizen_id, _ = with_course(nurse, cpr, "Agnete Frost")
    audit_rows = count(store, audit_log)

    for reason, code in (("", "reason_required"), ("   ", "reason_required"), ("x" * 1001, "reason_too_long"),
                         (f"anmodning {cpr[:6]}-{cpr[6:]}", "reason_holds_cpr"),
                         (f"sag 12, cpr {cpr}", "reason_holds_cpr"),
                         ("Agnete Frost ringede", "reason_holds_name"), ("frost har bedt om det", "reason_holds_name")):
        with pytest.raises(RightRefused) as refused:
            restrict(store, admin, cpr, reason)
        assert refused.value.code == code
    assert count(store, audit_log) == audit_rows  # a refused reason writes nothing, not even an audit row
    with pytest.raises(CitizenNotFound) as unknown:
        restrict(store, admin, new_cpr(), "Sag 1")
    assert "Ingen borger i HjerteKom har dette CPR-nummer" in str(unknown.value)
    assert entries(store, "citizen.restrict.not_found")[0]["detail"] == {"erased_before": False}
    with pytest.raises(RightRefused) as not_restricted:
        lift(store, admin, cpr, "Sag 1")
    assert not_restricted.value.code == "not_restricted"

    clinician = make_user("kliniker", "clinician", (740,))
    with pytest.raises(AccessDenied):
        restrict(store, clinician, cpr, "Sag 1")
    [denied] = [e for e in entries(store, audit.DENIED) if e["detail"]["attempted"] == "citizen.restrict"]
    assert denied["user_id"] == clinician.id

    restrict(store, admin, cpr, "Sag 1")
    with pytest.raises(RightRefused) as twice:
        restrict(store, admin, cpr, "Sag 1 igen")
    assert twice.value.code == "already_restricted" and "allerede begrænset" in str(twice.value)
    with store.read() as conn:
        row = conn.execute(select(citizens).where(citizens.c.id == citizen_id)).one()
    assert row.restriction_reason == "Sag 1"
    assert len(entries(store, "citizen.restrict")) == 1
    text = " ".join(str(e) for e in rows_of(store, audit_log))
    assert cpr not in text and "Frost" not in text


def test_importing_a_course_for_a_restricted_citizen_is_refused(keyed: Store, contracts, nurse: Service,
                                                                admin: User, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr = new_cpr()
    with_course(nurse, cpr, "Tove Hald")
    restrict(store, admin, cpr, "Sag 3")
    before = count(store, courses)
    path = _csv(tmp_path / "import.csv", [cpr])
    with pytest.raises(ImportFailed) as failed:
        import_file(nurse, path)
    assert [(e.row, e.column) for e in failed.value.errors] == [(2, "cpr")]
    assert "begrænset (GDPR art. 18)" in failed.value.errors[0].message
    assert count(store, courses) == before


# --- erasure -----------------------------------------------------------------------------------------

def _every_text(store: Store) -> str:
    """Every value of every column of every table, as text (the CPR number must be in none)."""
    parts = []
    with store.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_erasure_removes_the_citizen_everywhere_and_leaves_a_tombstone_and_the_audit_trail(
        keyed: Store, contracts, nurse: Service, admin: User, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr, other = new_cpr(), new_cpr()
    citizen_id, course_id = with_course(nurse, cpr, "Signe Abildgaard")
    nurse.save(course_id, "end", end_data(weight_kg="84,0"), 1, complete=True, confirm=True,
               reason="Vægten var tastet forkert")                      # a second revision
    nurse.autosave(course_id, "start", {"weight_kg": "88"}, 1)           # an unsaved draft
    second = nurse.open_course(citizen_id, course_data(), complete=True).course_id
    other_id, other_course = with_course(nurse, other, "Holger Dam")
    ids, cprs, _ = snapshot_people(store, contracts, tmp_path / "before")
    assert citizen_id in ids and cpr in cprs
    their_ids = or_(and_(audit_log.c.entity == "citizen", audit_log.c.entity_id == str(citizen_id)),
                    and_(audit_log.c.entity == "course", audit_log.c.entity_id.in_([str(course_id), str(second)])))
    about_them = count(store, audit_log, their_ids)

    plan = preview_erasure(store, contracts, admin, cpr)
    assert (plan.citizen_id, plan.courses, plan.registrations, plan.autosaves) == (citizen_id, 2, 5, 1)
    result = erase(store, contracts, admin, cpr, "Sag 2025-140, borgerens anmodning")

    text = _every_text(store)
    assert cpr not in text and f"{cpr[:6]}-{cpr[6:]}" not in text
    assert "Abildgaard" not in text and "Vægten var tastet forkert" not in text
    assert count(store, citizens, citizens.c.id == citizen_id) == 0
    assert count(store, courses, courses.c.citizen_id == citizen_id) == 0
    assert count(store, registrations, registrations.c.course_id.in_([course_id, second])) == 0
    assert count(store, autosaves) == 0
    # The audit trail stays (append-only), and says what was erased, by whom, with ids and counts only.
    assert count(store, audit_log, their_ids) == about_them + 2  # the preview and the erasure
    assert nurse.get_citizen(other_id).name == "Holger Dam" and nurse.get_course(other_course).id == other_course
    [entry] = entries(store, "citizen.erase")
    assert (entry["entity_id"], entry["municipality_code"], entry["user_id"]) == (str(citizen_id), 740, admin.id)
    assert entry["detail"] == {"category": "citizen_request", "reason_length": 33, "courses": 2, "registrations": 5,
                               "autosaves": 1, "was_restricted": False, "municipalities": [740], "transfers": []}
    [stone] = rows_of(store, tombstones)
    assert (stone.kind, stone.citizen_id, stone.erased_by, stone.reason_category, stone.municipality_codes) == \
        ("erased", citizen_id, admin.id, "citizen_request", "740")
    assert stone.reason == "Sag 2025-140, borgerens anmodning" and len(stone.cpr_hash) == 52
    assert not any(ch.isdigit() for ch in stone.cpr_hash)
    assert result.plan.courses == 2 and "gravsten" in result.describe()
    # Snapshots made afterwards do not hold the citizen.
    ids, cprs, course_ids = snapshot_people(store, contracts, tmp_path / "after")
    assert citizen_id not in ids and cpr not in cprs and not {course_id, second} & course_ids
    assert other_id in ids


def test_an_erased_citizens_ids_are_never_handed_out_again(keyed: Store, contracts, nurse: Service,
                                                           admin: User) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr = new_cpr()
    citizen_id, course_id = with_course(nurse, cpr, "Bodil Krogh")  # the newest citizen and course
    erase(store, contracts, admin, cpr, "Sag 9")
    again_id, again_course = with_course(nurse, new_cpr(), "Svend Krogh")
    assert again_id > citizen_id and again_course > course_id
    # The audit entries about the erased course still name only the erased one.
    assert all(e["entity_id"] != str(again_course) for e in entries(store, "course.create")
               if e["at"] < entries(store, "citizen.erase")[0]["at"])


def test_a_later_registration_or_import_of_an_erased_cpr_is_flagged(keyed: Store, contracts, nurse: Service,
                                                                    admin: User, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr, fresh = new_cpr(), new_cpr()
    with_course(nurse, cpr, "Inge Vinther")
    erase(store, contracts, admin, cpr, "Sag 11", category="registered_in_error")

    again = nurse.create_citizen(cpr, "Inge Vinther", 740)
    assert again.previously_erased
    assert not nurse.create_citizen(fresh, "Ove Juhl", 740).previously_erased
    created = {e["entity_id"]: e["detail"] for e in entries(store, "citizen.create")}
    assert created[str(again.id)]["previously_erased"] is True
    assert "previously_erased" not in created[str(nurse.find_citizen(fresh).id)]  # type: ignore[union-attr]

    # Erase the re-registered citizen too, then import the number: imported, and the row is named.
    erase(store, contracts, admin, cpr, "Sag 12")
    result = import_file(nurse, _csv(tmp_path / "gen.csv", [fresh, cpr]))
    assert result.courses == 2
    assert [(n.row, n.column) for n in result.notes] == [(3, "cpr")]
    assert "tidligere er slettet" in result.describe() and "række 3" in result.describe()
    imported = [e for e in entries(store, "import.course") if e["detail"].get("previously_erased")]
    assert [e["detail"]["row"] for e in imported] == [3]
    assert len(rows_of(store, tombstones)) == 2


def test_erasing_a_restricted_citizen_works(keyed: Store, contracts, nurse: Service, admin: User) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr = new_cpr()
    citizen_id, _ = with_course(nurse, cpr, "Gerda Holst")
    restrict(store, admin, cpr, "Sag 20")
    erase(store, contracts, admin, cpr, "Sag 20: borgeren ønsker nu sletning")
    assert count(store, citizens, citizens.c.id == citizen_id) == 0
    assert entries(store, "citizen.erase")[0]["detail"]["was_restricted"] is True
    [stone] = rows_of(store, tombstones)
    assert stone.reason == "Sag 20: borgeren ønsker nu sletning"  # the restriction's own reason went with the row


def test_erasure_refuses_bad_input_and_changes_nothing(keyed: Store, contracts, nurse: Service, admin: User,
                                                       make_user, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    store = keyed
    cpr = new_cpr()
    citizen_id, _ = with_course(nurse, cpr, "Ejner Rask")

    def state() -> tuple[int, ...]:
        return tuple(count(store, t) for t in (citizens, courses, registrations, tombstones))

    before = state()
    with pytest.raises(CitizenNotFound) as unknown:
        erase(store, contracts, admin, new_cpr(), "Sag 1")
    assert unknown.value.code == "not_found"
    assert entries(store, "citizen.erase.not_found")[0]["detail"] == {"erased_before": False}
    for reason in ("", f"cpr {cpr}", "Ejner ringede"):
        with pytest.raises(RightRefused):
            erase(store, contracts, admin, cpr, reason)
    with pytest.raises(RightRefused):
        erase(store, contracts, admin, cpr, "Sag 1", category="because")
    clinician = make_user("kliniker2", "clinician", (740,))
    with pytest.raises(AccessDenied):
        erase(store, contracts, clinician, cpr, "Sag 1")
    assert [e["detail"]["attempted"] for e in entries(store, audit.DENIED)] == ["citizen.erase"]
    key_file = store.key_file
    monkeypatch.setattr(store, "key_file", tmp_path / "missing.key")
    with pytest.raises(RightRefused) as no_key:
        erase(store, contracts, admin, cpr, "Sag 1")
    assert no_key.value.code == "no_key" and "hjertekom init" in str(no_key.value)
    assert state() == before and not entries(store, "citizen.erase")
    monkeypatch.setattr(store, "key_file", key_file)

    erase(store, contracts, admin, cpr, "Sag 1")
    with pytest.raises(CitizenNotFound) as again:
        erase(store, contracts, admin, cpr, "Sag 1")
    assert again.value.code == "erased" and "blev slettet" in str(again.value)
    assert count(store, citizens, citizens.c.id == citizen_id) == 0


def test_erasure_names_the_dhrd_transfers_that_held_the_citizen(keyed: Store, contracts, nurse: Service,
                                                                admin: User, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = keyed
    cpr, other = new_cpr(), new_cpr()
    _, course_id = with_course(nurse, cpr, "Rigmor Brandt", end="19-05-2025")
    with_course(nurse, other, "Aksel Brandt", end="12-06-2025")
    may = export_dhrd(store, contracts, SYSTEM, "2025-05", tmp_path / "out", snapshot_dir=tmp_path / "snap")
    june = export_dhrd(store, contracts, SYSTEM, "2025-06", tmp_path / "out", snapshot_dir=tmp_path / "snap")
    assert (may.rows, june.rows) == (1, 1)
    with store.write() as conn:  # a transfer of another month, made before: not the citizen's
        conn.execute(insert(transfer_log).values(
            target="dhrd", period="2025-04", created_at=dt.datetime(2025, 5, 2, tzinfo=dt.timezone.utc),
            user_id=None, username="system", export_contract_version="1", programme_contract_version="1",
            snapshot_name="x", snapshot_hash="x", row_count=0, reject_count=0, data_sha256="0" * 64, location="/x"))

    restricted = restrict(store, admin, cpr, "Sag 29", contracts=contracts)  # recipients are told (art. 19)
    assert [t.transfer_id for t in restricted.transfers] == [may.transfer_id]
    assert "underrette modtageren" in restricted.describe()
    assert entries(store, "citizen.restrict")[0]["detail"]["transfers"] == [may.transfer_id]
    plan = preview_erasure(store, contracts, admin, cpr)
    assert [(t.transfer_id, t.period, t.course_ids) for t in plan.transfers] == [(may.transfer_id, "2025-05",
                                                                                  (course_id,))]
    result = erase(store, contracts, admin, cpr, "Sag 30")
    assert "Giv kommunen besked" in result.describe() and str(may.directory) in result.describe()
    assert entries(store, "citizen.erase")[0]["detail"]["transfers"] == [may.transfer_id]


def test_tombstone_categories_are_the_schemas() -> None:
    assert tuple(CATEGORY_LABELS) == TOMBSTONE_CATEGORIES


# --- the command line -------------------------------------------------------------------------------

def _csv(path: Path, cprs: list[str]) -> Path:
    lines = ["cpr;name;course.municipality;course.referral_date;course.diagnosis_groups"]
    lines += [f"{c};Importeret Person;740;03-02-2025;pci" for c in cprs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_command_line_restricts_lifts_and_erases_after_asking(tmp_path: Path,
                                                                  cli_env: dict[str, str | None]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=cli_env).exit_code == 0
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=CONTRACTS_DIR))
    cpr = new_cpr()
    try:
        add_user(ws.store, SYSTEM, "anne", "Anne", "clinician", TEST_PASSWORD, (740,))
        svc = Service(ws.store, ws.contracts, SYSTEM)
        citizen_id, _ = with_course(svc, cpr, "Lis Mortensen")
    finally:
        ws.store.dispose()
    store = Store(f"sqlite:///{tmp_path / 'data' / 'hjertekom.sqlite'}")

    def restricted() -> bool:
        with store.read() as conn:
            return conn.execute(select(citizens.c.restricted_at).where(citizens.c.id == citizen_id)).scalar() \
                is not None

    done = runner.invoke(main, ["citizen", "restrict", "--reason", "Sag 40"], env=cli_env, input=f"{cpr}\n")
    assert done.exit_code == 0, done.output
    assert f"Borger {citizen_id}" in done.stdout and "begrænset" in done.stdout and restricted()
    assert cpr not in done.stdout.replace(f"{cpr}\n", "", 1)
    done = runner.invoke(main, ["citizen", "lift", "--cpr", cpr, "--reason", "Sag 40 slut"], env=cli_env)
    assert done.exit_code == 0 and "ophævet" in done.stdout and not restricted()
    refused = runner.invoke(main, ["citizen", "restrict", "--cpr", cpr, "--reason", "Sag 41"],
                            env={**cli_env, "HJERTEKOM_USER": "anne", "HJERTEKOM_PASSWORD": TEST_PASSWORD})
    assert refused.exit_code == 1 and "access denied: citizen.restrict" in refused.stderr and not restricted()
    bad = runner.invoke(main, ["citizen", "restrict", "--cpr", cpr, "--reason", f"om {cpr}"], env=cli_env)
    assert bad.exit_code == 1 and "CPR-nummer" in bad.stderr and not restricted()

    declined = runner.invoke(main, ["citizen", "erase", "--cpr", cpr, "--reason", "Sag 42"], env=cli_env, input="n\n")
    assert declined.exit_code == 1 and "intet er slettet" in declined.stderr
    assert f"Borger {citizen_id}" in declined.stdout and "1 forløb" in declined.stdout
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(citizens)).scalar_one() == 1
    erased = runner.invoke(main, ["citizen", "erase", "--cpr", cpr, "--reason", "Sag 42"], env=cli_env, input="y\n")
    assert erased.exit_code == 0, erased.output
    assert "er slettet" in erased.stdout and "Snapshots og sikkerhedskopier" in erased.stdout
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(citizens)).scalar_one() == 0
    gone = runner.invoke(main, ["citizen", "erase", "--cpr", cpr, "--reason", "Sag 42", "--yes"], env=cli_env)
    assert gone.exit_code == 1 and "blev slettet" in gone.stderr
    assert cpr not in (tmp_path / "data" / "hjertekom.log").read_text(encoding="utf-8")
    store.dispose()


def test_reports_and_extracts_pass_over_a_snapshot_made_before_a_restriction(cli_env: dict[str, str | None]) -> None:
    """`hjertekom report` and `extract` read the newest snapshot; one made before a restriction or
    an erasure would still show the citizen: reports make a new one, an extract asks for one."""
    from hjertekom_core.cli.common import snapshot_file
    from hjertekom_core.config import load_config

    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=cli_env).exit_code == 0
    ws = open_workspace(load_config(environ={k: v for k, v in cli_env.items() if v is not None}))
    try:
        cpr = new_cpr()
        with_course(Service(ws.store, ws.contracts, SYSTEM), cpr, "Jytte Lund")
        first = snapshot_file(ws, None)
        assert snapshot_file(ws, None) == first
        restrict(ws.store, SYSTEM, cpr, "Sag 50")
        stale = runner.invoke(main, ["extract", "-m", "740", "--level", "individual", "--format", "csv"], env=cli_env)
        assert stale.exit_code == 1 and "lavet før en borger blev begrænset" in stale.stderr
        assert not (ws.config.data_dir / "extracts").exists()
        newer = snapshot_file(ws, None)
        assert newer != first
        with duckdb.connect(str(newer), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM citizens").fetchone() == (0,)
        fresh = runner.invoke(main, ["extract", "-m", "740", "--level", "individual", "--format", "csv"], env=cli_env)
        assert "har ingen forløb" in fresh.stderr  # read from the new snapshot: the only citizen is restricted
    finally:
        ws.store.dispose()
