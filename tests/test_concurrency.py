"""Several processes writing to one store at once, on SQLite and on PostgreSQL.

The children are processes started with 'spawn' (one crew of them serves the whole module, as
importing the core is most of their cost). For every job a child opens its own Store from the URL
it is given, uses its own ContractRegistry (built once per process) and Service, and looks its
user up with ``users.get_user``; users are added in the parent with ``users.add_user`` as SYSTEM.
Only URL strings, names, ids and numbers cross the process boundary. Children catch every
exception and report it to the parent, which checks the store afterwards:

* writers on their own courses lose nothing: every reported save is a row, revisions run 1..n
  without gaps per course and form, and no child saw any error (e.g. 'database is locked');
* writers on the SAME form of the SAME course from the same base revision: exactly one wins per
  base revision, every other one gets RevisionConflict, the store holds one row per revision (the
  winner's data, one audit entry each), and no child saw any other exception. In "lockstep" every
  child has read the course and passed validation before any of them writes, so the losers are
  caught by the unique (course_id, form, revision) key at commit, not by the early check.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from factories import course_data, end_data, start_data
from hjertekom_core.access import SYSTEM
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, registrations
from hjertekom_core.users import add_user

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "data_contracts"
PROCESSES = 4
TIMEOUT_S = 60
MUNICIPALITY = 740


# --- the children --------------------------------------------------------------------------------
# One crew of spawned processes serves every test of this module (importing the core and loading
# the contracts is most of a child's cost); each job opens its own Store from the URL it is given.

_contracts: ContractRegistry | None = None


def _member(index: int, inbox: Any, barrier: Any, results: Any) -> None:
    while (job := inbox.get()) is not None:
        job_id, target, args = job
        try:
            results.put((job_id, index, "done", target(index, args, barrier)))
        except BaseException:  # noqa: BLE001 - anything unexpected goes back to the parent
            try:
                barrier.abort()  # free the others instead of letting them wait for the timeout
            except Exception:  # noqa: BLE001
                pass
            results.put((job_id, index, "crashed", traceback.format_exc()))


class Crew:
    """``size`` spawned processes that run ``target(index, args, barrier)`` side by side."""

    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(size)
        self.results = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in range(size)]
        self.procs = [ctx.Process(target=_member, args=(i, inbox, self.barrier, self.results), daemon=True)
                      for i, inbox in enumerate(self.inboxes)]
        for p in self.procs:
            p.start()
        self.jobs = 0

    def run(self, target: Any, args: list[Any]) -> list[Any]:
        """The children's results in order; fails on a crash, a dead child or a timeout."""
        assert len(args) == len(self.procs)
        self.jobs += 1
        self.barrier.reset()
        for inbox, a in zip(self.inboxes, args):
            inbox.put((self.jobs, target, a))
        out: dict[int, Any] = {}
        crashed: list[str] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) + len(crashed) < len(self.procs):
            try:
                job_id, index, how, value = self.results.get(timeout=1)
            except queue.Empty:
                assert time.monotonic() < deadline, "child processes did not finish in time"
                dead = [p.exitcode for p in self.procs if p.exitcode is not None]
                assert not dead, f"a child process ended (exit code {dead[0]})"
                continue
            if job_id != self.jobs:
                continue  # left over from an earlier job that failed
            if how == "done":
                out[index] = value
            else:
                crashed.append(f"child {index}:\n{value}")
        assert not crashed, "\n".join(crashed)
        return [out[i] for i in range(len(self.procs))]

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()


@pytest.fixture(scope="module")
def crew() -> Iterator[Crew]:
    c = Crew(PROCESSES)
    yield c
    c.close()


def _open(args: dict[str, Any]) -> tuple[Store, ContractRegistry, Any]:
    """In a child: its own Store for the URL, its own contracts, its user looked up by name."""
    from hjertekom_core.users import get_user

    global _contracts
    if _contracts is None:
        _contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    store = Store(args["url"])
    return store, _contracts, get_user(store, args["username"])


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"


# --- children ----------------------------------------------------------------------------------------

def _save_own_courses(index: int, args: dict[str, Any], barrier: Any) -> dict[str, Any]:
    """Save ``revisions`` revisions of start and end on each own course, round-robin."""
    store, contracts, user = _open(args)
    svc = Service(store, contracts, user)
    saved: list[tuple[int, str, int]] = []
    errors: list[str] = []
    latest: dict[tuple[int, str], int] = defaultdict(int)
    barrier.wait(timeout=TIMEOUT_S)
    for rev in range(1, args["revisions"] + 1):
        for course_id in args["courses"]:
            for form, make in (("start", start_data), ("end", end_data)):
                try:
                    result = svc.save_draft(course_id, form, make(walk_6min_m=100 + rev), latest[course_id, form])
                except Exception as exc:  # noqa: BLE001 - reported, the parent fails on it
                    errors.append(_describe(exc))
                    continue
                latest[course_id, form] = result.revision
                saved.append((course_id, form, result.revision))
    store.dispose()
    return {"saved": saved, "errors": errors}


def _edit_same_form(index: int, args: dict[str, Any], barrier: Any) -> list[tuple[Any, ...]]:
    """In each round, save the shared course's start form from base revision ``round``."""
    from hjertekom_core.errors import RevisionConflict

    store, contracts, user = _open(args)

    class LockstepService(Service):
        def _validate(self, *a: Any, **kw: Any) -> Any:
            report = super()._validate(*a, **kw)
            barrier.wait(timeout=TIMEOUT_S)  # everybody has read the course; now all write at once
            return report

    svc = (LockstepService if args["lockstep"] else Service)(store, contracts, user)
    outcomes: list[tuple[Any, ...]] = []
    for base in range(args["rounds"]):
        barrier.wait(timeout=TIMEOUT_S)
        try:
            result = svc.save_draft(args["course"], "start", start_data(walk_6min_m=200 + index), base)
            outcomes.append(("won", base, result.revision))
        except RevisionConflict as exc:
            outcomes.append(("conflict", base, exc.base_revision, exc.latest_revision))
        except Exception as exc:  # noqa: BLE001 - reported, the parent fails on it
            outcomes.append(("error", base, _describe(exc)))
            if args["lockstep"]:
                break  # the barrier inside the save is broken now; the parent reports this error
    store.dispose()
    return outcomes


# --- set-up in the parent --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody logs in here: hash the writers' passwords with a minimal argon2id (a real hash, but
    milliseconds instead of the ~0.1-0.4 s of the production parameters per user)."""
    import hjertekom_core.users

    monkeypatch.setattr(hjertekom_core.users, "hash_password",
                        PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash)


def _writers(store: Store, n: int) -> list[str]:
    names = [f"writer{i}" for i in range(n)]
    for name in names:
        add_user(store, SYSTEM, name, name.title(), "clinician", "Lyngbakke-testkode-2026", [MUNICIPALITY])
    return names


def _courses(store: Store, contracts: ContractRegistry, n: int, seed: int) -> list[int]:
    import random

    svc = Service(store, contracts, SYSTEM)
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        citizen = svc.create_citizen(generate_cpr(rng), f"Borger {i}", MUNICIPALITY)
        ids.append(svc.open_course(citizen.id, course_data(municipality=MUNICIPALITY), complete=True).course_id)
    return ids


def _saves_in_audit(store: Store, course_ids: list[int]) -> Counter[str]:
    with store.read() as conn:
        rows = conn.execute(select(audit_log.c.entity_id, func.count()).where(
            audit_log.c.action == "registration.save", audit_log.c.entity_id.in_([str(c) for c in course_ids]))
            .group_by(audit_log.c.entity_id)).all()
    return Counter({entity_id: n for entity_id, n in rows})


# --- tests ---------------------------------------------------------------------------------------

def test_parallel_writers_lose_no_revision(store: Store, contracts: ContractRegistry, crew: Crew) -> None:
    courses_each, revisions = 2, 6
    names = _writers(store, PROCESSES)
    course_ids = _courses(store, contracts, PROCESSES * courses_each, seed=11)
    mine = [course_ids[i * courses_each:(i + 1) * courses_each] for i in range(PROCESSES)]

    results = crew.run(_save_own_courses, [
        {"url": store.url, "username": name, "courses": mine[i], "revisions": revisions}
        for i, name in enumerate(names)])

    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors
    reported = [s for r in results for s in r["saved"]]
    assert len(reported) == PROCESSES * courses_each * 2 * revisions
    with store.read() as conn:
        rows = conn.execute(select(registrations.c.course_id, registrations.c.form, registrations.c.revision,
                                   registrations.c.data)
                            .where(registrations.c.form.in_(["start", "end"]))).all()
    stored = Counter((r.course_id, r.form, r.revision) for r in rows)
    assert set(reported) <= set(stored), "a save reported as done is not in the store"
    assert all(n == 1 for n in stored.values())
    per_form: dict[tuple[int, str], list[int]] = defaultdict(list)
    for course_id, form, rev in stored:
        per_form[course_id, form].append(rev)
    assert set(per_form) == {(c, f) for c in course_ids for f in ("start", "end")}
    for key, revs in per_form.items():
        assert sorted(revs) == list(range(1, revisions + 1)), f"gap or extra revision in {key}: {sorted(revs)}"
    # each row holds what its save sent (no rows swapped between writers or revisions)
    assert all(f'"walk_6min_m":{100 + r.revision}' in r.data for r in rows)
    # one audit entry per save (plus the one of the course form saved when the course was opened)
    assert _saves_in_audit(store, course_ids) == Counter({str(c): 2 * revisions + 1 for c in course_ids})


@pytest.mark.parametrize("lockstep", [False, True], ids=["race", "lockstep"])
def test_same_form_from_same_base_exactly_one_wins(store: Store, contracts: ContractRegistry, crew: Crew,
                                                  lockstep: bool) -> None:
    rounds = 5
    names = _writers(store, PROCESSES)
    (course_id,) = _courses(store, contracts, 1, seed=22)

    outcomes = crew.run(_edit_same_form, [
        {"url": store.url, "username": name, "course": course_id, "rounds": rounds, "lockstep": lockstep}
        for name in names])

    errors = [o for per_child in outcomes for o in per_child if o[0] == "error"]
    assert errors == [], errors
    winners: dict[int, list[int]] = defaultdict(list)
    for index, per_child in enumerate(outcomes):
        assert len(per_child) == rounds
        for outcome in per_child:
            if outcome[0] == "won":
                _, base, revision = outcome
                assert revision == base + 1
                winners[base].append(index)
            else:
                _, base, conflict_base, latest = outcome
                assert conflict_base == base
                if lockstep:  # all had read revision `base`: only the unique key could stop them
                    assert latest is None, outcome
    assert {base: len(w) for base, w in winners.items()} == {base: 1 for base in range(rounds)}

    with store.read() as conn:
        rows = conn.execute(select(registrations.c.revision, registrations.c.data).where(
            registrations.c.course_id == course_id, registrations.c.form == "start")
            .order_by(registrations.c.revision)).all()
    assert [r.revision for r in rows] == list(range(1, rounds + 1))
    for r in rows:  # the stored revision is the winner's data, not a loser's
        assert f'"walk_6min_m":{200 + winners[r.revision - 1][0]}' in r.data
    # one audit entry per revision (the losers' entries were rolled back), plus the course form's
    assert _saves_in_audit(store, [course_id])[str(course_id)] == rounds + 1
