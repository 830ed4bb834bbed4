"""The demo data generator: deterministic, realistic, valid per the contract, and quiet in the audit log."""
from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hjertekom_core import audit
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.contract import UNKNOWN, Contract, ContractRegistry
from hjertekom_core.cpr import CPR_PATTERN, parse_cpr
from hjertekom_core.demo import (
    DEMO_USERS,
    DemoSummary,
    Vocabulary,
    create_demo_users,
    demo_password,
    generate_demo,
    store_is_empty,
)
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, citizens, courses, registrations
from hjertekom_core.users import authenticate
from hjertekom_core.validation import validate_form

TODAY = dt.date(2026, 6, 30)
V = Vocabulary


def _generate(store: Store, contracts: ContractRegistry, tmp_path: Path, n: int, seed: int) -> DemoSummary:
    workspace = Workspace(Config(data_dir=tmp_path), contracts, store)
    return generate_demo(workspace, n, seed, today=TODAY)


def _fresh_sqlite(path: Path, contracts: ContractRegistry) -> Store:
    from hjertekom_core.bootstrap import sync_municipalities

    store = Store(f"sqlite:///{path}")
    store.migrate()
    sync_municipalities(store, contracts)
    return store


def _content(store: Store) -> list[tuple[Any, ...]]:
    """Everything generated, in insertion order, without ids and timestamps."""
    query = (select(citizens.c.cpr, citizens.c.name, citizens.c.birth_date, citizens.c.sex,
                    citizens.c.municipality_code, courses.c.municipality_code, registrations.c.form,
                    registrations.c.status, registrations.c.data)
             .join(courses, courses.c.citizen_id == citizens.c.id)
             .join(registrations, registrations.c.course_id == courses.c.id)
             .order_by(citizens.c.id, courses.c.id, registrations.c.id))
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(query)]


def _courses(store: Store) -> list[dict[str, Any]]:
    """Per course: the citizen's row and the data and status of each form."""
    with store.read() as conn:
        people = {r.id: r for r in conn.execute(select(citizens))}
        found: dict[int, dict[str, Any]] = {}
        for c in conn.execute(select(courses).order_by(courses.c.id)):
            found[c.id] = {"citizen": people[c.citizen_id], "municipality": c.municipality_code, "forms": {}}
        for r in conn.execute(select(registrations).order_by(registrations.c.id)):
            found[r.course_id]["forms"][r.form] = (r.status, json.loads(r.data), r)
    return list(found.values())


@pytest.fixture
def close_cli_logging() -> Iterator[None]:
    """The CLI adds a file handler to the root logger; close it so the next test starts clean."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_hjertekom", False)]:
        root.removeHandler(handler)
        handler.close()


# --- determinism ---------------------------------------------------------------------------------
def test_same_seed_gives_identical_data_and_another_seed_does_not(store: Store, contracts: ContractRegistry,
                                                                  tmp_path: Path) -> None:
    summary = _generate(store, contracts, tmp_path, 150, seed=7)
    other = _fresh_sqlite(tmp_path / "other.sqlite", contracts)
    third = _fresh_sqlite(tmp_path / "third.sqlite", contracts)
    try:
        assert _generate(other, contracts, tmp_path, 150, seed=7).describe() == summary.describe()
        _generate(third, contracts, tmp_path, 150, seed=8)
        first = _content(store)
        assert first == _content(other)
        different = _content(third)
        assert len({r[0] for r in first} & {r[0] for r in different}) < 5, "other CPR numbers"
        assert [r[1] for r in first] != [r[1] for r in different], "other names"
    finally:
        other.dispose()
        third.dispose()
    assert summary.citizens == 150
    assert summary.courses >= 150
    assert "150 borgere/citizens" in summary.describe()


# --- realism -------------------------------------------------------------------------------------
def test_rates_and_distributions(sqlite_store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    _generate(sqlite_store, contracts, tmp_path, 2000, seed=11)
    found = _courses(sqlite_store)
    n = len(found)
    started = [c for c in found if "start" in c["forms"]]
    ended = [c for c in started if "end" in c["forms"]]
    dropped = [c for c in ended if c["forms"]["end"][1].get(V.course_status) == V.dropped_out]
    completed = [c for c in ended if c["forms"]["end"][1].get(V.course_status) == V.completed]

    assert 0.21 <= 1 - len(started) / n <= 0.29, "about 25 % never start"
    assert 0.25 <= len(dropped) / len(started) <= 0.33, "about 29 % of starters drop out"
    assert all(c["forms"]["end"][1].get("dropout_reason") for c in dropped)

    # The effects the research notebooks should find (docs/import-and-demo.md): smokers and the
    # youngest drop out more often.
    def dropout_share(courses: list[dict[str, Any]]) -> float:
        return sum(c in dropped for c in courses) / len(courses)

    def age(c: dict[str, Any]) -> float:
        referral = dt.date.fromisoformat(c["forms"]["course"][1][V.referral_date])
        return (referral - c["citizen"].birth_date).days / 365.25

    smoking = [c for c in ended if c["forms"]["start"][1].get(V.smoking) in V.smokers]
    others = [c for c in ended if c["forms"]["start"][1].get(V.smoking) in ("former", "never")]
    assert dropout_share(smoking) > 1.5 * dropout_share(others)
    assert dropout_share([c for c in ended if age(c) < 55]) > 1.4 * dropout_share([c for c in ended if age(c) >= 70])

    people = {c["citizen"].id: c["citizen"] for c in found}
    assert 0.66 <= sum(p.sex == "M" for p in people.values()) / len(people) <= 0.74
    ages = []
    for c in found:
        referral = dt.date.fromisoformat(c["forms"]["course"][1][V.referral_date])
        assert dt.date(2021, 1, 1) <= referral <= TODAY
        ages.append((referral - c["citizen"].birth_date).days / 365.25)
    assert 45 <= min(ages) and max(ages) < 92
    assert 64 <= statistics.mean(ages) <= 70
    municipalities = [c["municipality"] for c in found]
    assert len(set(municipalities)) >= 40, "spread over many municipalities"
    region = {int(code.code): code.attributes["region_code"]
              for code in contracts.codelists["municipalities"].codes}
    assert sum(int(region[m]) == 1082 for m in municipalities) / n > 0.35, "Central Denmark Region heavier"
    assert municipalities.count(101) / n > 0.08, "Copenhagen heavier"

    # Completers improve; smokers quit at 40-50 %; attendance mostly >= 80 %.
    walk = [(c["forms"]["start"][1], c["forms"]["end"][1]) for c in completed
            if c["forms"]["end"][1].get("fitness_change_pct") is not None
            and c["forms"]["end"][1]["fitness_test_type"] == "six_minute_walk"]
    assert 10 <= statistics.mean(e["fitness_change_pct"] for _, e in walk) <= 20
    assert statistics.mean(e["weight_kg"] - s["weight_kg"] for s, e in
                           ((s, e) for s, e in walk if isinstance(s.get("weight_kg"), float)
                            and isinstance(e.get("weight_kg"), float))) < 0
    hads = [(c["forms"]["start"][1]["hads_depression"], c["forms"]["end"][1]["hads_depression"]) for c in completed
            if "hads_depression" in c["forms"]["start"][1] and "hads_depression" in c["forms"]["end"][1]]
    assert statistics.mean(e - s for s, e in hads) < 0
    eq5d = [(c["forms"]["start"][1]["eq5d_index"], c["forms"]["end"][1]["eq5d_index"]) for c in completed
            if "eq5d_index" in c["forms"]["start"][1] and "eq5d_index" in c["forms"]["end"][1]]
    assert statistics.mean(e - s for s, e in eq5d) > 0
    smokers = [c for c in completed if c["forms"]["start"][1][V.smoking] in V.smokers]
    quit_rate = sum(c["forms"]["end"][1][V.smoking] == V.former_smoker for c in smokers) / len(smokers)
    assert 0.33 <= quit_rate <= 0.57
    training = [c["forms"]["end"][1] for c in completed
                if isinstance(c["forms"]["end"][1].get(V.training_planned), int)
                and c["forms"]["end"][1][V.training_planned] > 0]
    assert all(16 <= t[V.training_planned] <= 24 for t in training)
    assert sum(t[V.training_attended] >= 0.8 * t[V.training_planned] for t in training) / len(training) > 0.75

    # The unusual cases are there too.
    durations = [(dt.date.fromisoformat(c["forms"]["end"][1][V.meeting_date])
                  - dt.date.fromisoformat(c["forms"]["start"][1][V.meeting_date])).days
                 for c in ended if V.meeting_date in c["forms"]["end"][1]]
    assert any(d > 180 for d in durations)
    tests = [(c["forms"]["start"][1][V.fitness_test_type], c["forms"]["end"][1].get(V.fitness_test_type))
             for c in ended]
    assert any(V.fitness_not_done not in (s, e) and e is not None and s != e for s, e in tests), "test changed"
    assert any(c["forms"]["start"][0] == "complete" and "end" not in c["forms"] for c in started), "open courses"
    statuses = {(form, status) for c in found for form, (status, _, _) in c["forms"].items()}
    assert {("course", "draft"), ("start", "draft"), ("end", "draft")} <= statuses
    assert any(UNKNOWN in data.values() for c in found for _, data, _ in c["forms"].values())
    reasons = {(name, value) for c in found for form, (_, data, _) in c["forms"].items() if form == "start"
               for name, value in data.items() if value in ("NA", "DECL")}
    assert {("weight_kg", "DECL"), ("waist_cm", "DECL"), ("waist_cm", "NA")} <= reasons, "other missing reasons"

    # Interventions follow the plan: a dietitian only where dietary advice was offered (the
    # contract's rule warns otherwise), at the share a dietitian was received before (about 55 %
    # of completers, 15 % of dropouts).
    pairs = [(c["forms"]["start"][1].get("diet_offered"), c["forms"]["end"][1].get("diet_dietitian_received"),
              c["forms"]["end"][1].get(V.course_status)) for c in ended if "diet_dietitian_received" in
             c["forms"]["end"][1]]
    refused = [received for offered, received, _ in pairs if offered == "no"]
    assert len(refused) > 100 and "yes" not in refused
    assert 0.45 <= sum(r == "yes" for _, r, s in pairs if s == V.completed) / len(completed) <= 0.62
    assert 0.08 <= sum(r == "yes" for _, r, s in pairs if s == V.dropped_out) / len(dropped) <= 0.23


# --- validity ------------------------------------------------------------------------------------
def test_every_registration_is_valid(store: Store, contracts: ContractRegistry, contract: Contract,
                                     tmp_path: Path) -> None:
    _generate(store, contracts, tmp_path, 300, seed=3)
    derived = {name: {f.name for f in form.fields.values() if f.is_derived} for name, form in contract.forms.items()}
    drafts = 0
    for course in _courses(store):
        stored = {form: data for form, (_, data, _) in course["forms"].items()}
        for form, (status, data, row) in course["forms"].items():
            context = {other: d for other, d in stored.items() if other != form}
            entered = {k: v for k, v in data.items() if k not in derived[form]}
            report = validate_form(contract, form, entered, context=context, complete=True, today=TODAY)
            assert report.errors == [], (form, report.errors)
            assert report.cleaned == data, "stored exactly as validation cleans it, derived scores included"
            assert row.contract_version == contract.version and row.user_id is None and row.revision == 1
            if status == "complete":
                assert report.warnings == [] and report.missing == [], (form, report.warnings, report.missing)
            else:
                drafts += 1
                assert report.missing, "a draft is incomplete"
        assert course["municipality"] == stored["course"][contract.municipality_field]
    assert drafts > 0


def test_cprs_are_valid_and_match_sex_and_birth_date(store: Store, contracts: ContractRegistry,
                                                      tmp_path: Path) -> None:
    _generate(store, contracts, tmp_path, 300, seed=5)
    with store.read() as conn:
        rows = conn.execute(select(citizens)).all()
    assert len(rows) == 300 == len({r.cpr for r in rows})
    for row in rows:
        info = parse_cpr(row.cpr)
        assert (info.sex, info.birth_date) == (row.sex, row.birth_date)
        assert len(row.name.split()) >= 2
    assert any(not parse_cpr(r.cpr).modulus11_ok for r in rows), "some numbers fail modulus 11, as real ones may"


def test_audit_log_has_one_entry_and_nothing_identifying(store: Store, contracts: ContractRegistry,
                                                         tmp_path: Path) -> None:
    _generate(store, contracts, tmp_path, 100, seed=9)
    with store.read() as conn:
        entries = audit.entries(conn)
        people = conn.execute(select(citizens.c.cpr, citizens.c.name)).all()
    assert [e["action"] for e in entries] == ["demo.generate"]
    detail = entries[0]["detail"]
    assert json.loads(detail)["citizens"] == 100
    assert not CPR_PATTERN.search(detail)
    assert not any(p.cpr in detail or p.name in detail for p in people)


def test_store_is_empty(store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    assert store_is_empty(store)
    _generate(store, contracts, tmp_path, 5, seed=1)
    assert not store_is_empty(store)


def test_a_second_run_on_the_same_seed_adds_new_citizens(sqlite_store: Store, contracts: ContractRegistry,
                                                          tmp_path: Path) -> None:
    _generate(sqlite_store, contracts, tmp_path, 50, seed=2)
    _generate(sqlite_store, contracts, tmp_path, 50, seed=2)  # same CPRs drawn: redrawn, not refused
    with sqlite_store.read() as conn:
        assert conn.execute(select(func.count(func.distinct(citizens.c.cpr)))).scalar_one() == 100
        assert conn.execute(select(func.count()).select_from(audit_log)
                            .where(audit_log.c.action == "demo.generate")).scalar_one() == 2


# --- users ---------------------------------------------------------------------------------------
def test_demo_users_can_log_in(store: Store) -> None:
    lines = create_demo_users(store)
    assert len(lines) == len(DEMO_USERS)
    for (username, role, codes), line in zip(DEMO_USERS, lines):
        assert username in line and demo_password(role) in line
        user = authenticate(store, username, demo_password(role))
        assert user.role == role and user.municipalities == frozenset(codes)
    assert {u[1] for u in DEMO_USERS} == {"clinician", "coordinator", "researcher", "administrator"}
    again = create_demo_users(store)  # existing users are left alone
    assert all("findes allerede" in line and "demo-" not in line for line in again)


# --- the command line ----------------------------------------------------------------------------
def test_cli_demo_if_empty(tmp_path: Path, close_cli_logging: None) -> None:
    env = {"HJERTEKOM_DATA_DIR": str(tmp_path), "HJERTEKOM_CONFIG": str(tmp_path / "none.toml"),
           "HJERTEKOM_DATABASE_URL": None}
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--citizens", "30", "--seed", "4", "--if-empty"], env=env)
    assert first.exit_code == 0, first.output
    assert "30 borgere/citizens" in first.stdout
    assert "kliniker" in first.stdout and "demo-clinician" in first.stdout
    store = Store(f"sqlite:///{tmp_path / 'hjertekom.sqlite'}")
    try:
        def count() -> int:
            with store.read() as conn:
                return conn.execute(select(func.count()).select_from(citizens)).scalar_one()

        assert count() == 30
        second = runner.invoke(main, ["demo", "--citizens", "30", "--if-empty"], env=env)
        assert second.exit_code == 0, second.output
        assert "no demo data added" in second.stdout
        assert count() == 30
        third = runner.invoke(main, ["demo", "--citizens", "10", "--no-users"], env=env)
        assert third.exit_code == 0, third.output
        assert count() == 40
        assert "kliniker" not in third.stdout
    finally:
        store.dispose()
    log_text = (tmp_path / "hjertekom.log").read_text(encoding="utf-8")
    assert not CPR_PATTERN.search(log_text)
