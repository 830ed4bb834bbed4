"""Retention (GDPR art. 5(1)(e)): who is past ``retention_years``, and erasing or anonymising them.

The rule as a DPO reads it in docs/citizens-rights.md: a course counts from its end form's date, a
course that never ended from its last activity, and a citizen is due only when every course is past
the period; restricted citizens are held back. Anonymised data keep the statistics and lose the
person (CPR number, name, exact birth date, free text, earlier revisions, the old ids).
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
from sqlalchemy import func, select, update

from factories import course_data, end_data, start_data
from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import open_workspace
from hjertekom_core.citizen_erasure import restrict
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import AccessDenied, RightRefused
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.retention import ANONYMOUS_NAME, add_years, apply, describe_plan, dry_run, plan
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, autosaves, citizens, courses, metadata, registrations, tombstones
from paths import CONTRACTS_DIR

TODAY = dt.date(2026, 6, 1)      # with 10 years: courses that ended on 1 June 2016 or before are due
YEARS = 10
_rng = random.Random(2016)  # noqa: S311 - synthetic people only


@pytest.fixture
def admin(make_user) -> User:  # type: ignore[no-untyped-def]
    return make_user("dpo-admin", "administrator", ())


@pytest.fixture
def svc(service_for, make_user) -> Service:  # type: ignore[no-untyped-def]
    return service_for(make_user("terapeut", "clinician", (740,)))


def _d(day: dt.date) -> str:
    return f"{day:%d-%m-%Y}"


def person(svc: Service, name: str, *ends: dt.date | None) -> tuple[str, int, list[int]]:
    """A citizen born in 1949 with one course per ``ends`` item: ended that day, or (None) started,
    never ended."""
    cpr = generate_cpr(_rng, birth_date=dt.date(1949, 1, 1) + dt.timedelta(days=_rng.randrange(365)))
    citizen = svc.create_citizen(cpr, name, 740)
    course_ids = []
    for end in ends:
        start = (end or TODAY) - dt.timedelta(days=90)
        course_id = svc.open_course(citizen.id, course_data(referral_date=_d(start - dt.timedelta(days=14)),
                                                            index_event_date=(start - dt.timedelta(days=20)).isoformat(),
                                                            note="Ring til datteren efter kl. 15"),
                                    complete=True, confirm=True, second_open_reason="new_referral").course_id
        svc.save(course_id, "start", start_data(meeting_date=_d(start)), 0, complete=True, confirm=True)
        if end is not None:
            svc.save(course_id, "end", end_data(meeting_date=_d(end)), 0, complete=True, confirm=True)
        course_ids.append(course_id)
    return cpr, citizen.id, course_ids


def age(store: Store, course_ids: list[int], when: dt.date) -> None:
    """Make the courses' registrations and creation look made on ``when`` (old data)."""
    moment = dt.datetime(when.year, when.month, when.day, 12, tzinfo=dt.timezone.utc)
    with store.write() as conn:
        conn.execute(update(registrations).where(registrations.c.course_id.in_(course_ids)).values(saved_at=moment))
        conn.execute(update(courses).where(courses.c.id.in_(course_ids)).values(created_at=moment))


def entries(store: Store, action: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [{**e, "detail": json.loads(e["detail"])} for e in audit.entries(conn, action=action)]


def count(store: Store, table: Any, *where: Any) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def every_text(store: Store) -> str:
    with store.read() as conn:
        return "\n".join(str(v) for t in metadata.sorted_tables for row in conn.execute(select(t)) for v in row)


@pytest.fixture
def people(keyed: Store, svc: Service, admin: User) -> dict[str, Any]:
    """Citizens on both sides of the line (TODAY, 10 years)."""
    found = {
        "old": person(svc, "Anna Gammel", dt.date(2012, 5, 19)),
        "on_the_day": person(svc, "Bo Grænse", dt.date(2016, 6, 1)),
        "a_day_late": person(svc, "Carl Grænse", dt.date(2016, 6, 2)),
        "one_recent": person(svc, "Dorte Blandet", dt.date(2011, 3, 1), dt.date(2020, 9, 9)),
        "never_ended_old": person(svc, "Erik Åben", None),
        "never_ended_recent": person(svc, "Frida Åben", None),
        "restricted": person(svc, "Gitte Begrænset", dt.date(2010, 1, 11)),
    }
    age(keyed, found["never_ended_old"][2], dt.date(2013, 4, 4))
    restrict(keyed, admin, found["restricted"][0], "Sag 77: retskrav")
    return found


# --- who is due -------------------------------------------------------------------------------------

def test_who_is_due_follows_the_documented_rule(keyed: Store, contracts, people: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    result = plan(keyed, contracts, YEARS, TODAY)
    due = {d.citizen_id: d for d in result.due}
    ids = {key: value[1] for key, value in people.items()}
    assert set(due) == {ids["old"], ids["on_the_day"], ids["never_ended_old"], ids["restricted"]}
    assert due[ids["old"]].last_end == dt.date(2012, 5, 19) and due[ids["old"]].basis == "end"
    assert due[ids["old"]].due_since == dt.date(2022, 5, 19)
    assert due[ids["on_the_day"]].due_since == TODAY
    assert due[ids["never_ended_old"]].basis == "activity" and due[ids["never_ended_old"]].last_end == dt.date(2013, 4, 4)
    assert [d.citizen_id for d in result.held] == [ids["restricted"]]
    assert {d.citizen_id for d in result.ready} == {ids["old"], ids["on_the_day"], ids["never_ended_old"]}
    assert add_years(dt.date(2016, 2, 29), 10) == dt.date(2026, 2, 28)


def test_the_dry_run_lists_ids_and_dates_only_changes_nothing_and_is_audited(
        keyed: Store, contracts, people: dict[str, Any], admin: User) -> None:  # type: ignore[no-untyped-def]
    before = tuple(count(keyed, t) for t in (citizens, courses, registrations, tombstones))
    result = dry_run(keyed, contracts, admin, YEARS, TODAY)
    assert tuple(count(keyed, t) for t in (citizens, courses, registrations, tombstones)) == before
    text = "\n".join(describe_plan(result))
    for cpr, citizen_id, _ in people.values():
        assert cpr not in text and f"{cpr[:6]}-{cpr[6:]}" not in text
    assert "Gammel" not in text and "Begrænset" not in text
    assert f"{people['old'][1]:>8}     740      1 19-05-2012 end       19-05-2022  klar" in text
    assert "begrænset: holdes tilbage" in text and "I alt 3 borgere (3 forløb) klar; 1 holdes tilbage" in text
    [entry] = entries(keyed, "retention.dry_run")
    assert entry["detail"] == {"years": 10, "cutoff": "2016-06-01", "due": 3, "held_restricted": 1, "courses": 3,
                               "municipalities": {"740": 3}}


# --- erase -------------------------------------------------------------------------------------------

def test_apply_erase_removes_the_due_citizens_and_keeps_the_rest(keyed: Store, contracts, people: dict[str, Any],
                                                                 admin: User) -> None:  # type: ignore[no-untyped-def]
    result = apply(keyed, contracts, admin, YEARS, "erase", today=TODAY)
    gone = {people[k][1] for k in ("old", "on_the_day", "never_ended_old")}
    assert set(result.done) == gone and not result.skipped
    with keyed.read() as conn:
        left = set(conn.execute(select(citizens.c.id)).scalars())
    assert not gone & left
    assert left == {people[k][1] for k in ("a_day_late", "one_recent", "never_ended_recent", "restricted")}
    text = every_text(keyed)
    for key in ("old", "on_the_day", "never_ended_old"):
        assert people[key][0] not in text
    assert {(s.kind, s.reason_category, s.citizen_id) for s in keyed_rows(keyed)} == \
        {("erased", "retention", i) for i in gone}
    erased = entries(keyed, "citizen.erase")
    assert {int(e["entity_id"]) for e in erased} == gone and {e["detail"]["category"] for e in erased} == {"retention"}
    [summary] = entries(keyed, "retention.apply")
    assert summary["detail"] == {"years": 10, "cutoff": "2016-06-01", "due": 3, "held_restricted": 1, "courses": 3,
                                      "municipalities": {"740": 3}, "mode": "erase", "done": 3, "skipped": 0}
    assert "3 borgere slettet; 1 holdt tilbage" in result.describe()
    # Run again: nobody is due but the restricted citizen, who is still held back.
    again = apply(keyed, contracts, admin, YEARS, "erase", today=TODAY)
    assert again.done == () and [d.citizen_id for d in again.plan.held] == [people["restricted"][1]]


def keyed_rows(store: Store) -> list[Any]:
    with store.read() as conn:
        return conn.execute(select(tombstones)).all()


def test_a_citizen_registered_again_after_retention_is_flagged(keyed: Store, contracts, svc: Service,
                                                               people: dict[str, Any], admin: User) -> None:  # type: ignore[no-untyped-def]
    apply(keyed, contracts, admin, YEARS, "anonymise", today=TODAY)
    cpr = people["old"][0]
    assert svc.create_citizen(cpr, "Anna Gammel", 740).previously_erased


# --- anonymise ---------------------------------------------------------------------------------------

def test_apply_anonymise_keeps_the_statistics_and_loses_the_person(keyed: Store, contracts, svc: Service,
                                                                   people: dict[str, Any], admin: User,
                                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cpr, old_id, [old_course] = people["old"]
    svc.save(old_course, "end", end_data(meeting_date="19-05-2012", weight_kg="85,5"), 1, complete=True,
             confirm=True, reason="Vægten var forkert, jf. journalen")           # a second revision, with a reason
    svc.autosave(old_course, "start", {"weight_kg": "90"}, 1)                    # an unsaved draft

    def denominators() -> dict[str, int]:
        found = live_indicators(keyed, contracts, IndicatorSettings(), [740])
        return {k: int(v) for k, v in found.groupby("indicator").denominator.sum().items()}

    before = denominators()
    courses_before = count(keyed, courses)
    result = apply(keyed, contracts, admin, YEARS, "anonymise", today=TODAY, rng=random.Random(3))  # noqa: S311
    assert set(result.done) == {people[k][1] for k in ("old", "on_the_day", "never_ended_old")}

    # The statistics: as many courses, the same indicators.
    assert count(keyed, courses) == courses_before and denominators() == before
    # The person: gone from every row; the old ids too; no name, no exact birth date, no free text.
    text = every_text(keyed)
    for key in ("old", "on_the_day", "never_ended_old"):
        assert people[key][0] not in text
    assert "Gammel" not in text and "Vægten var forkert" not in text
    assert count(keyed, citizens, citizens.c.id == old_id) == 0 and count(keyed, courses, courses.c.id == old_course) == 0
    assert count(keyed, autosaves) == 0
    with keyed.read() as conn:
        anonymous = conn.execute(select(citizens).where(citizens.c.anonymised_at.is_not(None))).all()
        copies = conn.execute(select(courses).where(courses.c.citizen_id.in_([a.id for a in anonymous]))).all()
        regs = conn.execute(select(registrations).where(registrations.c.course_id.in_([c.id for c in copies]))).all()
    assert len(anonymous) == 3 and all(a.name == ANONYMOUS_NAME and a.cpr == f"~{a.id}" for a in anonymous)
    assert {(a.birth_date.month, a.birth_date.day) for a in anonymous} == {(7, 1)}
    assert {a.birth_date.year for a in anonymous} == {1949}
    assert all(a.id > max(p[1] for p in people.values()) for a in anonymous)
    assert all(c.created_by is None and c.created_at.hour == 0 for c in copies)
    assert all(r.revision == 1 and r.user_id is None and r.reason is None for r in regs)
    assert len(regs) == 8 and not any("Ring til datteren" in r.data for r in regs)  # course, start, (end) each
    ends = [json.loads(r.data) for r in regs if r.form == "end"]
    assert {e["meeting_date"] for e in ends} == {"2012-05-19", "2016-06-01"}
    assert any(e.get("weight_kg") == 85.5 for e in ends)  # the latest revision's values are the ones kept
    # Anonymised rows are never due again, and never in the entry app.
    assert {d.citizen_id for d in plan(keyed, contracts, YEARS, TODAY).due} == {people["restricted"][1]}
    assert svc.search_citizens("anonymiseret") == []
    assert all(item.course_id not in {c.id for c in copies} for item in svc.worklist())
    # Nothing written leads from an old id to the new ones.
    for entry in entries(keyed, "retention.anonymise"):
        assert int(entry["entity_id"]) in result.done
        assert not {str(a.id) for a in anonymous} & {str(v) for v in entry["detail"].values()}
    stones = keyed_rows(keyed)
    assert {(s.kind, s.citizen_id, s.reason_category) for s in stones} == {("anonymised", None, "retention")}
    # Snapshots hold the statistics; a pseudonymised one passes its CPR scan.
    info = create_snapshot(keyed, contracts, tmp_path / "snap")
    with duckdb.connect(str(info.path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM citizens WHERE name = ?", [ANONYMOUS_NAME]).fetchone() == (3,)
    create_snapshot(keyed, contracts, tmp_path / "research", pseudonymise=True, key_file=keyed.key_file)


# --- refusals and the command line -----------------------------------------------------------------------

def test_retention_refuses_a_clinician_and_an_unknown_mode_and_changes_nothing(
        keyed: Store, contracts, people: dict[str, Any], make_user) -> None:  # type: ignore[no-untyped-def]
    before = count(keyed, citizens)
    clinician = make_user("kliniker", "clinician", (740,))
    with pytest.raises(AccessDenied):
        dry_run(keyed, contracts, clinician, YEARS, TODAY)
    with pytest.raises(AccessDenied):
        apply(keyed, contracts, clinician, YEARS, "erase", today=TODAY)
    assert [e["detail"]["attempted"] for e in entries(keyed, audit.DENIED)] == ["citizen.erase", "citizen.erase"]
    with pytest.raises(RightRefused):
        apply(keyed, contracts, SYSTEM, YEARS, "delete", today=TODAY)
    assert count(keyed, citizens) == before and not entries(keyed, "retention.apply")
    assert count(keyed, audit_log, audit_log.c.action.like("retention.%")) == 0


def test_the_command_line_lists_asks_and_applies(tmp_path: Path, cli_env: dict[str, str | None]) -> None:
    runner = CliRunner()
    env = {**cli_env, "HJERTEKOM_RETENTION_YEARS": "10"}
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=CONTRACTS_DIR))
    try:
        svc = Service(ws.store, ws.contracts, SYSTEM)
        cpr, old_id, _ = person(svc, "Henning Fortid", dt.date(2011, 8, 8))
        _, recent_id, _ = person(svc, "Ida Nutid", dt.date(2024, 8, 8))
    finally:
        ws.store.dispose()
    store = Store(f"sqlite:///{tmp_path / 'data' / 'hjertekom.sqlite'}")

    def ids() -> set[int]:
        with store.read() as conn:
            return set(conn.execute(select(citizens.c.id)).scalars())

    for args in (["retention"], ["retention", "--dry-run", "--apply"], ["retention", "--apply"],
                 ["retention", "--dry-run", "--mode", "erase"]):
        refused = runner.invoke(main, args, env=env)
        assert refused.exit_code == 2 and ("--dry-run" in refused.output or "--mode" in refused.output)
    listed = runner.invoke(main, ["retention", "--dry-run"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"{old_id:>8}     740" in listed.stdout and f"{recent_id:>8}" not in listed.stdout.split("status")[1]
    assert cpr not in listed.stdout and "Fortid" not in listed.stdout
    declined = runner.invoke(main, ["retention", "--apply", "--mode", "erase"], env=env, input="n\n")
    assert declined.exit_code == 1 and "intet er ændret" in declined.stderr and ids() == {old_id, recent_id}
    done = runner.invoke(main, ["retention", "--apply", "--mode", "anonymise", "--yes"], env=env)
    assert done.exit_code == 0, done.output
    assert "1 borgere anonymiseret" in done.stdout
    assert old_id not in ids() and recent_id in ids() and len(ids()) == 2
    shorter = runner.invoke(main, ["retention", "--dry-run"], env={**env, "HJERTEKOM_RETENTION_YEARS": "1"})
    assert "1 år efter" in shorter.stdout and "I alt 1 borgere" in shorter.stdout
    assert cpr not in (tmp_path / "data" / "hjertekom.log").read_text(encoding="utf-8")
    store.dispose()
