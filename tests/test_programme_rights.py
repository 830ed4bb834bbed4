"""Rights per programme and municipality (issue 19): one login, several programmes.

The invented programme of test_invented_programme.py (``faldforebyggelse``) is loaded beside
hjertekom. A clinician granted only hjertekom in Silkeborg (740) is refused, and the refusal
audited, on the other programme's course in Silkeborg in every path of the core: opening, saving,
autosave, history, conflicts, a new course of that programme, the citizen sheet, extracts and the
coordinator's reports; the worklist, status counts and the name search show only hjertekom. One
granted both programmes sees both; an administrator sees all; a user from before rights were per
programme (the ``*`` grant the migration gives) keeps every programme. Both backends.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from hjertekom_core.access import ALL_PROGRAMMES, SYSTEM, User
from hjertekom_core.cli import main
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_core.export.extract import ExtractDenied, ExtractError, ExtractRequest, create_extract
from hjertekom_core.reports.citizen import course_report_data
from hjertekom_core.reports.library import list_reports, open_report
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, user_municipalities, users
from hjertekom_core.users import (
    UserAdminRefused,
    add_user,
    get_user,
    set_municipalities,
    set_programmes,
    user_records,
)

from factories import TEST_PASSWORD, course_data
from hosted_stack import scratch_database
from invented_programme_files import BOTH, BOTH_ENV, PROGRAMME, contracts_with_invented

SILKEBORG, AARHUS = 740, 751
HJERTEKOM = "hjertekom"
TODAY = dt.date(2025, 6, 2)  # a fixed day in Denmark (the worklist's "days since")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> ContractRegistry:
    """hjertekom and the invented programme, loaded side by side."""
    registry = ContractRegistry(contracts_with_invented(tmp_path_factory.mktemp("rights")), programmes=BOTH)
    assert set(registry.programmes) == {HJERTEKOM, PROGRAMME}
    return registry


def _fall_course(municipality: int = SILKEBORG) -> dict[str, Any]:
    return {"municipality": municipality, "referral_date": "2025-01-08"}


@pytest.fixture
def world(store: Store, both: ContractRegistry) -> SimpleNamespace:
    """In Silkeborg: Anna with a hjertekom course, Bent with a course of the invented programme
    only, Carl with one of each; the users: hjertekom only, both programmes, administrator, and a
    user with the ``*`` grant (what the migration gives everyone who was there before)."""
    rng = random.Random(1919)
    system = Service(store, both, SYSTEM, today=TODAY)
    anna = system.create_citizen(generate_cpr(rng), "Anna Rask", SILKEBORG)
    bent = system.create_citizen(generate_cpr(rng), "Bent Rask", SILKEBORG)
    carl = system.create_citizen(generate_cpr(rng), "Carl Rask", SILKEBORG)
    heart = system.open_course(anna.id, course_data(), complete=True).course_id
    fall = system.open_course(bent.id, _fall_course(), programme=PROGRAMME, complete=True).course_id
    carl_heart = system.open_course(carl.id, course_data(), complete=True).course_id
    carl_fall = system.open_course(carl.id, _fall_course(), programme=PROGRAMME, complete=True).course_id
    known = both.programmes
    make = {
        "heart_only": ("clinician", (HJERTEKOM,)),
        "fall_only": ("coordinator", (PROGRAMME,)),
        "heart_coordinator": ("coordinator", (HJERTEKOM,)),
        "both": ("clinician", (HJERTEKOM, PROGRAMME)),
        "legacy": ("clinician", None),
    }
    made = {name: add_user(store, SYSTEM, name, name.title(), role, TEST_PASSWORD, (SILKEBORG,), programmes,
                           known_programmes=known if programmes else None)
            for name, (role, programmes) in make.items()}
    made["admin"] = add_user(store, SYSTEM, "admin", "Admin", "administrator", TEST_PASSWORD, ())
    return SimpleNamespace(store=store, contracts=both, anna=anna, bent=bent, carl=carl, heart=heart, fall=fall,
                           carl_heart=carl_heart, carl_fall=carl_fall, **made)


def _svc(w: SimpleNamespace, user: User) -> Service:
    return Service(w.store, w.contracts, get_user(w.store, user.username), today=TODAY)


def _denials(store: Store, username: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == "access.denied",
                                                    audit_log.c.username == username).order_by(audit_log.c.id))
        return [dict(r._mapping) for r in rows]


def _refused(store: Store, username: str, call: Any, *errors: type[Exception]) -> dict[str, Any]:  # noqa: ANN401
    """``call()`` raises one of ``errors`` and adds exactly one access.denied row, which is returned."""
    before = len(_denials(store, username))
    with pytest.raises(errors or (AccessDenied, NotFound)):
        call()
    after = _denials(store, username)
    assert len(after) == before + 1, "the refusal is audited once"
    return after[-1]


# --- the user's API ---------------------------------------------------------------------------------------

def test_a_users_grants_are_programme_and_municipality_pairs() -> None:
    heart = User.with_grants(1, "a", "A", "clinician", {(HJERTEKOM, 740), (PROGRAMME, 751)})
    assert heart.municipalities == {740, 751}
    assert heart.acts_in(740) and heart.acts_in(740, HJERTEKOM) and not heart.acts_in(740, PROGRAMME)
    assert heart.programmes_in(740) == {HJERTEKOM} and heart.programmes_in(751) == {PROGRAMME}
    assert heart.programmes_in(101) == frozenset()
    assert heart.course_scope() == {740: {HJERTEKOM}, 751: {PROGRAMME}}
    with pytest.raises(AccessDenied, match="not in programme faldforebyggelse in municipality 740"):
        heart.require("course.read", 740, programme=PROGRAMME)
    with pytest.raises(AccessDenied, match="not in municipality 101"):
        heart.require("course.read", 101, programme=HJERTEKOM)
    heart.require("course.read", 740, programme=HJERTEKOM)
    every = User.with_grants(2, "b", "B", "clinician", {(ALL_PROGRAMMES, 740)})
    assert every.acts_in(740, "moeva") and every.programmes_in(740) is None and not every.acts_in(751, "moeva")
    by_hand = User(3, "c", "C", "clinician", frozenset({740}))  # built without grants: as before, every programme
    assert by_hand.acts_in(740, PROGRAMME) and by_hand.granted() == {ALL_PROGRAMMES: (740,)}
    admin = User(4, "d", "D", "administrator", frozenset())
    assert admin.acts_in(999, PROGRAMME) and admin.programmes_in(999) is None and admin.course_scope() is None


# --- the service ------------------------------------------------------------------------------------------

def test_hjertekom_only_is_refused_the_other_programmes_course_everywhere_and_each_refusal_audited(
        world: SimpleNamespace) -> None:
    w = world
    svc = _svc(w, w.heart_only)
    name = "heart_only"
    for call in (lambda: svc.get_course(w.fall), lambda: svc.get_course(w.fall, with_history=True),
                 lambda: svc.save(w.fall, "start", {"visit_date": "2025-02-05"}, 0),
                 lambda: svc.save_draft(w.fall, "course", _fall_course(), 1),
                 lambda: svc.form_history(w.fall, "course"),
                 lambda: svc.conflict_details(w.fall, "course", 0),
                 lambda: svc.autosave(w.fall, "start", {"visit_date": "2025-02-05"}, 0)):
        row = _refused(w.store, name, call, NotFound)
        assert (row["entity"], row["entity_id"], row["municipality_code"]) == ("course", str(w.fall), SILKEBORG)
    # A course of the other programme for a citizen the clinician may see: refused, saying why.
    row = _refused(w.store, name, lambda: svc.open_course(w.anna.id, _fall_course(), programme=PROGRAMME,
                                                         complete=True), AccessDenied)
    assert "not in programme faldforebyggelse in municipality 740" in row["detail"]
    # The citizen sheet and course summary of that course.
    _refused(w.store, name, lambda: course_report_data(svc, w.fall), AccessDenied)
    # Nothing was written by any of it.
    with w.store.read() as conn:
        from hjertekom_core.store.schema import autosaves, courses, registrations
        assert conn.execute(select(func.count()).select_from(registrations)
                            .where(registrations.c.course_id == w.fall)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(autosaves)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(courses)
                            .where(courses.c.citizen_id == w.anna.id)).scalar_one() == 1
    # Their own programme's course in the same municipality opens, saves and is listed.
    assert svc.get_course(w.heart).programme == HJERTEKOM
    svc.autosave(w.heart, "start", {"meeting_date": "17-02-2025"}, 0)
    assert [c.id for c in svc.courses_of(w.carl.id)] == [w.carl_heart]
    assert svc.courses_of(w.bent.id) == []


def test_worklist_status_and_search_show_only_the_users_programmes(world: SimpleNamespace) -> None:
    w = world
    heart, fall, admin = _svc(w, w.heart_only), _svc(w, w.fall_only), _svc(w, w.admin)
    assert {i.course_id for i in heart.worklist()} == {w.heart, w.carl_heart}
    assert {i.course_id for i in fall.worklist()} == {w.fall, w.carl_fall}
    assert {i.course_id for i in admin.worklist()} == {w.heart, w.fall, w.carl_heart, w.carl_fall}
    # Status counts: the courses counted are theirs only (one course form each).
    counted = sum(r["n"] for r in heart.status_counts() if r["form"] == "course")
    assert counted == 2
    # Name search: Bent is known only from the other programme; a citizen without a course yet is
    # found (registered a moment ago, about to get a course).
    rng = random.Random(7)
    dora = Service(w.store, w.contracts, SYSTEM).create_citizen(generate_cpr(rng), "Dora Rask", SILKEBORG)
    assert {c.id for c in heart.search_citizens("Rask")} == {w.anna.id, w.carl.id, dora.id}
    assert {c.id for c in fall.search_citizens("Rask")} == {w.bent.id, w.carl.id, dora.id}
    assert {c.id for c in admin.search_citizens("Rask")} == {w.anna.id, w.bent.id, w.carl.id, dora.id}


def test_granted_both_programmes_sees_both_and_the_administrator_all(world: SimpleNamespace) -> None:
    w = world
    for user in (w.both, w.admin, w.legacy):
        svc = _svc(w, user)
        assert {i.course_id for i in svc.worklist()} == {w.heart, w.fall, w.carl_heart, w.carl_fall}
        assert svc.get_course(w.fall).programme == PROGRAMME
        assert [c.id for c in svc.courses_of(w.carl.id)] == [w.carl_heart, w.carl_fall]
        assert {c.id for c in svc.search_citizens("Rask")} == {w.anna.id, w.bent.id, w.carl.id}
        assert _denials(w.store, user.username) == []
    saved = _svc(w, w.both).save(w.fall, "start", {"visit_date": "2025-02-05", "fall_risk": "high"}, 0)
    assert saved.revision == 1


def test_moving_a_course_needs_its_programme_in_the_new_municipality(world: SimpleNamespace) -> None:
    w = world
    mover = add_user(w.store, SYSTEM, "mover", "Mover", "clinician", TEST_PASSWORD, (SILKEBORG,),
                     (HJERTEKOM, PROGRAMME), known_programmes=w.contracts.programmes)
    with w.store.write() as conn:  # Aarhus in hjertekom only
        conn.execute(insert(user_municipalities).values(user_id=mover.id, programme=HJERTEKOM,
                                                        municipality_code=AARHUS))
    svc = _svc(w, mover)
    row = _refused(w.store, "mover", lambda: svc.save(w.fall, "course", _fall_course(AARHUS), 1,
                                                      complete=True, reason="Flyttet"), AccessDenied)
    assert row["municipality_code"] == AARHUS
    assert svc.save(w.heart, "course", course_data(AARHUS), 1, complete=True, reason="Flyttet").revision == 2


def test_the_live_snapshot_of_a_user_holds_only_their_programmes_courses(world: SimpleNamespace) -> None:
    from hjertekom_core.indicators.live import live_connection
    from hjertekom_core.snapshot.writer import read_store

    w = world
    frames = read_store(w.store, get_user(w.store, "heart_only"))
    assert set(frames["courses"]["id"]) == {w.heart, w.carl_heart}
    assert set(frames["citizens"]["id"]) == {w.anna.id, w.carl.id}
    assert set(frames["registrations"]["course_id"]) == {w.heart, w.carl_heart}
    assert set(read_store(w.store, get_user(w.store, "admin"))["courses"]["id"]) == \
        {w.heart, w.fall, w.carl_heart, w.carl_fall}
    with live_connection(w.store, w.contracts, get_user(w.store, "fall_only")) as con:
        assert {r[0] for r in con.execute("SELECT course_id FROM courses").fetchall()} == {w.fall, w.carl_fall}


def test_importing_another_programmes_courses_is_refused_row_by_row(world: SimpleNamespace, tmp_path: Path) -> None:
    from hjertekom_core.errors import ImportFailed
    from hjertekom_core.importer import import_file
    from hjertekom_core.store.schema import courses

    from test_invented_programme import ROWS, _write_import

    w = world
    sheet = tmp_path / "fald.csv"
    _write_import(sheet)  # rows in Silkeborg and one in Aarhus
    with w.store.read() as conn:
        before = conn.execute(select(func.count()).select_from(courses)).scalar_one()
    with pytest.raises(ImportFailed) as failed:
        import_file(_svc(w, w.heart_only), sheet, programme=PROGRAMME)
    messages = [e.message for e in failed.value.errors]
    assert sum("programmet faldforebyggelse i kommune 740" in m for m in messages) == \
        sum(1 for r in ROWS if r[0] == SILKEBORG)
    assert sum("i kommune 751." in m for m in messages) == sum(1 for r in ROWS if r[0] == AARHUS)
    with w.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(courses)).scalar_one() == before


# --- extracts and reports ---------------------------------------------------------------------------------

def test_extracts_of_another_programme_are_refused_and_audited(world: SimpleNamespace, tmp_path: Path) -> None:
    w = world
    ws = SimpleNamespace(store=w.store, contracts=w.contracts, config=SimpleNamespace(data_dir=tmp_path))
    coordinator = get_user(w.store, "heart_coordinator")
    for level in ("individual", "aggregate"):
        request = ExtractRequest(municipality=SILKEBORG, programme=PROGRAMME, level=level)
        with pytest.raises(ExtractDenied) as refused:
            create_extract(ws, coordinator, request)  # type: ignore[arg-type]
        assert "programmet faldforebyggelse for kommune 740" in refused.value.text.da
        row = _denials(w.store, "heart_coordinator")[-1]
        assert (row["entity"], row["municipality_code"]) == ("extract", SILKEBORG)
        assert "not in programme faldforebyggelse" in row["detail"]
        # Their own programme passes the check (and stops only for want of a snapshot).
        with pytest.raises(ExtractError):
            create_extract(ws, coordinator, ExtractRequest(municipality=SILKEBORG, programme=HJERTEKOM,  # type: ignore[arg-type]
                                                           level=level))
    assert len(_denials(w.store, "heart_coordinator")) == 2


def test_the_municipality_reports_are_hjertekoms_a_coordinator_of_another_programme_gets_none(
        world: SimpleNamespace, tmp_path: Path) -> None:
    w = world
    folder = tmp_path / "reports" / "2025"
    folder.mkdir(parents=True)
    (folder / "740-silkeborg.html").write_text("<p>rapport</p>", encoding="utf-8")
    heart, fall = get_user(w.store, "heart_coordinator"), get_user(w.store, "fall_only")
    assert [f.municipality_code for f in list_reports(tmp_path / "reports", heart, store=w.store)] == [SILKEBORG]
    assert list_reports(tmp_path / "reports", fall, store=w.store) == []
    row = _refused(w.store, "fall_only", lambda: open_report(tmp_path / "reports", fall, "2025", "740-silkeborg.html",
                                                             store=w.store), AccessDenied)
    assert row["municipality_code"] == SILKEBORG and "not in programme hjertekom" in row["detail"]


# --- administration ---------------------------------------------------------------------------------------

def test_programmes_are_set_checked_and_audited_and_kept_when_municipalities_change(world: SimpleNamespace) -> None:
    w = world
    known = w.contracts.programmes
    with pytest.raises(UserAdminRefused, match="moeva"):
        set_programmes(w.store, SYSTEM, "heart_only", ["moeva"], known_programmes=known)
    with pytest.raises(UserAdminRefused, match="moeva"):
        add_user(w.store, SYSTEM, "newbie", "Newbie", "clinician", TEST_PASSWORD, (SILKEBORG,), ["moeva"],
                 known_programmes=known)
    with w.store.read() as conn:
        assert conn.execute(select(users.c.id).where(users.c.username == "newbie")).first() is None
    assert get_user(w.store, "heart_only").grants == {(HJERTEKOM, SILKEBORG)}

    change = set_programmes(w.store, SYSTEM, "heart_only", [HJERTEKOM, PROGRAMME], known_programmes=known)
    assert change.changed and change.user.programmes == tuple(sorted((HJERTEKOM, PROGRAMME)))
    assert not set_programmes(w.store, SYSTEM, "heart_only", [PROGRAMME, HJERTEKOM], known_programmes=known).changed
    with w.store.read() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "user.change")
                             .order_by(audit_log.c.id.desc())).first()
    assert entry is not None and '"field": "programmes"' in entry.detail and "faldforebyggelse" in entry.detail
    # A new municipality gets the programmes the user has; a kept one keeps its own.
    set_programmes(w.store, SYSTEM, "heart_only", [HJERTEKOM], known_programmes=known)
    set_municipalities(w.store, SYSTEM, "heart_only", (SILKEBORG, AARHUS))
    assert get_user(w.store, "heart_only").grants == {(HJERTEKOM, SILKEBORG), (HJERTEKOM, AARHUS)}
    _refused(w.store, "heart_only", lambda: set_programmes(w.store, get_user(w.store, "heart_only"), "both",
                                                           [HJERTEKOM], known_programmes=known), AccessDenied)
    # The yearly audit report's users at the year's end: their programmes then, rebuilt from later changes.
    from hjertekom_core.audit_report import _users_at_year_end

    with w.store.read() as conn:
        end = conn.execute(select(func.max(audit_log.c.at))).scalar_one()
    end = (end if end.tzinfo else end.replace(tzinfo=dt.timezone.utc)) + dt.timedelta(microseconds=1)
    import time

    time.sleep(0.01)
    set_programmes(w.store, SYSTEM, "heart_only", [PROGRAMME], known_programmes=known)
    with w.store.read() as conn:
        then = {r[1]: r for r in _users_at_year_end(conn, end).rows}
        now = {r[1]: r for r in _users_at_year_end(conn, end + dt.timedelta(days=1)).rows}
    assert (then["heart_only"][7], now["heart_only"][7]) == (HJERTEKOM, PROGRAMME)
    assert then["legacy"][7] == "alle" and then["admin"][7] == "alle"
    record = {r.username: r for r in user_records(w.store, SYSTEM)}
    assert record["legacy"].programmes_text() == "alle" and record["both"].programmes_text() == \
        ", ".join(sorted((HJERTEKOM, PROGRAMME)))


def _users_page(w: SimpleNamespace, actor: str, body: dict[str, list[str]] | None = None) -> Any:  # noqa: ANN401
    """The "Brugere" handlers' own rendering and POST handling, signed in as ``actor``, without a server."""
    from hjertekom_widgets.admin_pages import UserActionHandler

    class Page(UserActionHandler):
        base_url = "/"
        current_user = actor

        def __init__(self) -> None:  # noqa: D107 - no tornado request: only the handler's own logic is used
            self.shown, self.status, self.redirected = "", 200, ""

        def ws(self) -> Any:  # noqa: ANN401
            return SimpleNamespace(store=w.store, contracts=w.contracts)

        def account(self) -> User:
            return get_user(w.store, actor)

        def show(self, title: str, body: str, status: int = 200) -> None:
            self.shown, self.status = body, status

        def xsrf_form_html(self) -> str:
            return ""

        def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
            return (body or {}).get(name, [])

        def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
            self.redirected = url

    return Page()


def test_the_users_page_shows_and_changes_each_users_programmes(world: SimpleNamespace) -> None:
    w = world
    page = _users_page(w, "admin")
    page.render_list(get_user(w.store, "admin"))
    label = {p: w.contracts[p].label.da for p in w.contracts.programmes}
    assert "<th>Programmer</th>" in page.shown
    rows = {r.split('"')[0]: r for r in page.shown.split('data-user="')[1:]}
    assert f"<td>{label[HJERTEKOM]}</td>" in rows["heart_only"]
    assert f"<td>{', '.join(label[p] for p in sorted((HJERTEKOM, PROGRAMME)))}</td>" in rows["both"]
    assert "<td>alle programmer</td>" in rows["legacy"] and "<td>alle programmer</td>" in rows["admin"]
    assert f'value="{HJERTEKOM}" checked' in rows["heart_only"] and f'value="{PROGRAMME}">' in rows["heart_only"]
    # A coordinator reads their municipality's users, with the programmes, and changes nothing.
    coordinator = _users_page(w, "fall_only")
    coordinator.render_list(get_user(w.store, "fall_only"))
    assert f"<td>{label[PROGRAMME]}</td>" in coordinator.shown and 'name="programme"' not in coordinator.shown

    heart = get_user(w.store, "heart_only")
    ticked = _users_page(w, "admin", {"programme": [HJERTEKOM, PROGRAMME]})
    ticked.post(str(heart.id), "programmer")
    assert ticked.redirected.endswith("udfoert=programmes")
    assert get_user(w.store, "heart_only").grants == {(HJERTEKOM, SILKEBORG), (PROGRAMME, SILKEBORG)}
    for body, says in (({}, "Vælg mindst ét program."), ({"programme": ["moeva"]}, "Ukendt program: moeva")):
        refused = _users_page(w, "admin", body)
        refused.post(str(heart.id), "programmer")
        assert refused.status == 400 and says in refused.shown and not refused.redirected
    assert get_user(w.store, "heart_only").grants == {(HJERTEKOM, SILKEBORG), (PROGRAMME, SILKEBORG)}
    by_coordinator = _users_page(w, "heart_coordinator", {"programme": [HJERTEKOM]})
    before = len(_denials(w.store, "heart_coordinator"))
    by_coordinator.post(str(heart.id), "programmer")
    assert by_coordinator.status == 403 and len(_denials(w.store, "heart_coordinator")) == before + 1
    assert get_user(w.store, "heart_only").grants == {(HJERTEKOM, SILKEBORG), (PROGRAMME, SILKEBORG)}


def test_the_command_line_adds_changes_and_lists_programmes(tmp_path: Path, cli_env: dict[str, str | None],
                                                            both: ContractRegistry) -> None:
    env = {**cli_env, "HJERTEKOM_CONTRACTS_DIR": str(both.directory), "HJERTEKOM_NEW_PASSWORD": TEST_PASSWORD, **BOTH_ENV}
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    added = runner.invoke(main, ["users", "add", "hanne", "--role", "clinician", "-m", "740",
                                 "--programme", HJERTEKOM], env=env)
    assert added.exit_code == 0, added.output
    assert "programmes hjertekom" in added.output
    every = runner.invoke(main, ["users", "add", "ib", "--role", "clinician", "-m", "740"], env=env)
    assert every.exit_code == 0 and f"programmes {', '.join(sorted((HJERTEKOM, PROGRAMME)))}" in every.output
    bad = runner.invoke(main, ["users", "set-programmes", "hanne", "--programme", "moeva"], env=env)
    assert bad.exit_code == 1
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "moeva" in lines[0] and "faldforebyggelse" in lines[0]
    bad_add = runner.invoke(main, ["users", "add", "jens", "--role", "clinician", "-m", "740", "-p", "moeva"], env=env)
    assert bad_add.exit_code == 1 and len([ln for ln in bad_add.output.splitlines() if ln.strip()]) == 1
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert "jens" not in listed.output
    line = next(ln for ln in listed.output.splitlines() if ln.startswith("hanne"))
    assert line.split()[-1] == HJERTEKOM
    changed = runner.invoke(main, ["users", "set-programmes", "hanne", "-p", HJERTEKOM, "-p", PROGRAMME], env=env)
    assert changed.exit_code == 0, changed.output
    listed = runner.invoke(main, ["users", "list", "--json"], env=env)
    import json
    hanne = next(u for u in json.loads(listed.output) if u["username"] == "hanne")
    assert hanne["programmes"] == {HJERTEKOM: [740], PROGRAMME: [740]}


# --- the migration ----------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own on each backend, for migrating from an older revision."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
    else:
        with scratch_database("hjertekom_rights") as url:
            yield url


def test_users_from_before_the_migration_keep_every_programme(old_store_url: str, both: ContractRegistry) -> None:
    """Migration 0012 on a store at 0011 with a clinician of 740 and 751: afterwards the clinician
    holds the ``*`` grant in both, acts in both programmes as before, and the store downgrades and
    upgrades again."""
    from sqlalchemy import text

    from hjertekom_core.bootstrap import sync_municipalities

    store = Store(old_store_url)
    try:
        with store.write() as conn:
            command.upgrade(store._alembic_config(conn), "0011")
        sync_municipalities(store, both)
        with store.write() as conn:
            conn.execute(text("INSERT INTO users (id, username, display_name, role, password_hash, active, created_at, "
                              "must_change_password) VALUES (7, 'gammel', 'Gammel', 'clinician', 'x', true, "
                              "'2025-01-01 00:00:00', false)"))
            conn.execute(text("INSERT INTO user_municipalities (user_id, municipality_code) VALUES (7, 740), (7, 751)"))
        store.migrate()
        old = get_user(store, "gammel")
        assert old.grants == {(ALL_PROGRAMMES, 740), (ALL_PROGRAMMES, 751)}
        assert old.municipalities == {740, 751} and old.acts_in(740, PROGRAMME) and old.acts_in(751, HJERTEKOM)
        rng = random.Random(3)
        system = Service(store, both, SYSTEM)
        citizen = system.create_citizen(generate_cpr(rng), "Eva Rask", SILKEBORG)
        fall = system.open_course(citizen.id, _fall_course(), programme=PROGRAMME, complete=True).course_id
        assert Service(store, both, old).get_course(fall).programme == PROGRAMME
        with store.write() as conn:
            command.downgrade(store._alembic_config(conn), "0011")
        with store.read() as conn:
            assert sorted(conn.execute(text("SELECT municipality_code FROM user_municipalities")).scalars()) == [740, 751]
        store.migrate()
        assert get_user(store, "gammel").grants == {(ALL_PROGRAMMES, 740), (ALL_PROGRAMMES, 751)}
    finally:
        store.dispose()
