"""Pseudonymised snapshots are unlinkable to operations without the key (issue 15).

One demo store, whose citizen and course ids are made distinctive (seven digits no measurement or
code of the demo data has), so that an id left anywhere in a snapshot is found by its value. Its
pseudonymised snapshots, one per date mode, are searched generically: every table, every column
(lists unnested), every value, so that a column added later cannot slip past. The same search
run on the identified snapshot finds the ids and timestamps, so it can fail.
"""
from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from hjertekom_core.bootstrap import Workspace, ensure_secret, initialise, open_workspace
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.contract import Text
from hjertekom_core.cpr import CPR_PATTERN, generate_cpr, parse_cpr
from hjertekom_core.demo import generate_demo
from hjertekom_core.indicators import IndicatorSettings, compute
from hjertekom_core.indicators.declarations import declarations_for
from hjertekom_core.indicators.facts import IndicatorsFixedInSnapshot, date_bound, facts_table
from hjertekom_core.reports.municipality import ReportInputError, build_municipality_report
from hjertekom_core.snapshot import (
    SnapshotError,
    course_pseudonym,
    create_snapshot,
    open_snapshot,
    pseudonym,
    read_info,
    scan_for_cpr,
)
from hjertekom_core.snapshot.dates import LABEL_SUFFIX, SHIFT_DAYS, publish
from hjertekom_core.snapshot.layout import Column
from hjertekom_core.store.schema import audit_log, citizens, courses, registrations

from indicator_fixtures import TODAY, add_course, service
from paths import CONTRACTS_DIR

#: The first citizen and course ids of the store: every later id follows them.
CITIZEN_BASE, COURSE_BASE = 7_314_159, 8_271_828
#: When the snapshots are made: after every date of the data (the demo's "today" is TODAY), at a
#: time no registration or audit entry of the test has (the demo saves between 08 and 16 o'clock
#: UTC, the service and the audit log now).
MADE = dt.datetime(2026, 7, 1, 3, 17, 0, tzinfo=dt.timezone.utc)
MODES = ("exact", "month", "shifted")
FORMS = ("hjertekom_course", "hjertekom_start", "hjertekom_end")


@dataclass(frozen=True)
class World:
    ws: Workspace
    key: bytes
    ids: frozenset[str]             # every citizen and course id, as text
    minutes: frozenset[str]         # every operational timestamp, to the minute ("YYYY-MM-DD HH:MM", UTC)
    identified: Path
    pseudonymised: dict[str, Path]  # date mode -> snapshot


def _minute(value: dt.datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _distinctive_ids(ws: Workspace) -> None:
    """A first citizen and course with high ids: the store numbers everything after them."""
    cpr = generate_cpr(random.Random(99))
    born = parse_cpr(cpr)
    now = dt.datetime.now(dt.timezone.utc)
    with ws.store.write() as conn:
        conn.execute(insert(citizens).values(id=CITIZEN_BASE, cpr=cpr, name="Første Testborger",
                                             birth_date=born.birth_date, sex=born.sex, municipality_code=740,
                                             created_at=now))
        conn.execute(insert(courses).values(id=COURSE_BASE, citizen_id=CITIZEN_BASE, programme="hjertekom",
                                            municipality_code=740, created_at=now))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("pseudonyms")
    ws = open_workspace(Config(data_dir=data_dir / "var", contracts_dir=CONTRACTS_DIR))
    initialise(ws)
    _distinctive_ids(ws)
    generate_demo(ws, 150, seed=15, today=TODAY)
    svc = service(ws.store, ws.contracts)
    for seed in (1, 2):  # through the service too: audit entries naming the course
        add_course(svc, seed)
    with ws.store.read() as conn:
        people = list(conn.execute(select(citizens.c.id)).scalars())
        course_ids = list(conn.execute(select(courses.c.id)).scalars())
        stamps = [*conn.execute(select(registrations.c.saved_at)).scalars(),
                  *conn.execute(select(courses.c.created_at)).scalars(),
                  *conn.execute(select(citizens.c.created_at)).scalars(),
                  *conn.execute(select(audit_log.c.at)).scalars()]
    assert min(people) == CITIZEN_BASE and min(course_ids) == COURSE_BASE and len(course_ids) > 150
    key = bytes.fromhex(ws.config.pseudonym_key_file.read_text(encoding="ascii").strip())
    out = data_dir / "snapshots"
    identified = create_snapshot(ws.store, ws.contracts, out / "identified", now=lambda: MADE).path
    pseudonymised = {mode: create_snapshot(ws.store, ws.contracts, out / mode, pseudonymise=True, dates=mode,
                                           key_file=ws.config.pseudonym_key_file, now=lambda: MADE).path
                     for mode in MODES}
    yield World(ws, key, frozenset(str(i) for i in [*people, *course_ids]),
                frozenset(_minute(s) for s in stamps), identified, pseudonymised)
    ws.store.dispose()


Connect = Callable[[Path], duckdb.DuckDBPyConnection]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Opens snapshots read-only, and closes them after the test."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def open_(path: Path) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(path), read_only=True)
        opened.append(con)
        return con
    yield open_
    for con in opened:
        con.close()


def _columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(table, column, type) of every column of every table of the file."""
    return con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()


def _texts(con: duckdb.DuckDBPyConnection, table: str, column: str, type_: str) -> list[str]:
    """Every distinct value of the column as text (a list's elements one by one)."""
    value = f'unnest("{column}")' if type_.endswith("[]") else f'"{column}"'
    sql = f'SELECT DISTINCT CAST(v AS VARCHAR) FROM (SELECT {value} AS v FROM "{table}") WHERE v IS NOT NULL'
    return [r[0] for r in con.execute(sql).fetchall()]


_DIGITS = re.compile(r"\d+")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def links(con: duckdb.DuckDBPyConnection, world: World) -> dict[str, set[str]]:
    """table.column -> what in it equals an operational value: 'id' (a whole number that is a
    citizen or course id, also inside text), 'timestamp' (a time within the minute of a saved_at,
    created_at or audit entry) or 'time of day' (any TIMESTAMP column but the snapshot's own)."""
    found: dict[str, set[str]] = {}
    for table, column, type_ in _columns(con):
        place = f"{table}.{column}"
        if type_.startswith("TIMESTAMP") and place != "snapshot_info.created_at":
            found.setdefault(place, set()).add("time of day")
        if type_.startswith("TIMESTAMP"):
            rows = con.execute(f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL').fetchall()
            if {_minute(r[0]) for r in rows} & world.minutes:
                found.setdefault(place, set()).add("timestamp")
            continue
        for text in _texts(con, table, column, type_):
            if world.ids.intersection(_DIGITS.findall(text)):
                found.setdefault(place, set()).add("id")
            if world.minutes.intersection(m.replace("T", " ") for m in _MINUTE.findall(text)):
                found.setdefault(place, set()).add("timestamp")
    return found


# --- no operational id or timestamp ----------------------------------------------------------------------

def test_the_search_finds_the_ids_and_times_of_an_identified_snapshot(world: World, connect: Connect) -> None:
    found = links(connect(world.identified), world)
    assert {"id"} <= found["courses.course_id"] and {"id"} <= found["courses.citizen_id"]
    assert found["hjertekom_start.saved_at"] == {"time of day", "timestamp"}
    assert "timestamp" in found["courses.created_at"]
    assert all("id" in found[f"{form}.course_id"] for form in FORMS)


@pytest.mark.parametrize("mode", MODES)
def test_no_value_of_a_pseudonymised_snapshot_is_an_operational_id_or_timestamp(world: World, connect: Connect,
                                                                              mode: str) -> None:
    con = connect(world.pseudonymised[mode])
    assert links(con, world) == {}
    assert scan_for_cpr(con) == []  # and still nothing CPR-shaped, snapshot_info included
    names = {(t, c) for t, c, _ in _columns(con)}
    assert {c for t, c in names if c in ("course_id", "citizen_id", "saved_at", "cpr")} == set()
    assert [(t, c) for t, c in names if c == "created_at"] == [("snapshot_info", "created_at")]
    # Every table with courses is keyed by course_key, and its rows are in key order, not id order.
    for table in (*FORMS, "courses", facts_table("hjertekom")):
        keys = [r[0] for r in con.execute(f'SELECT course_key FROM "{table}"').fetchall()]
        assert keys == sorted(keys) and all(re.fullmatch(r"[A-Za-z]{32}", k) for k in keys)


# --- the course key --------------------------------------------------------------------------------------

def test_a_course_key_is_a_keyed_pseudonym_stable_across_snapshots(world: World, connect: Connect,
                                                                   tmp_path: Path) -> None:
    identified = connect(world.identified).execute(
        "SELECT c.course_id, p.cpr FROM courses c JOIN citizens p ON p.citizen_id = c.citizen_id").fetchall()
    expected = {course_pseudonym(world.key, course): pseudonym(world.key, cpr) for course, cpr in identified}
    for mode in MODES:  # the same key: the same course_key (and citizen_key) in every snapshot
        con = connect(world.pseudonymised[mode])
        assert dict(con.execute("SELECT course_key, citizen_key FROM courses").fetchall()) == expected
    assert all(not CPR_PATTERN.search(k) and k != c for k, c in expected.items())  # letters only, never a CPR
    assert course_pseudonym(world.key, 1) != pseudonym(world.key, "1")  # "course:" keeps the domains apart
    # Another key: none of the course keys (nor citizen keys) again.
    other = tmp_path / "other.key"
    ensure_secret(other)
    again = create_snapshot(world.ws.store, world.ws.contracts, tmp_path / "out", pseudonymise=True,
                            key_file=other, now=lambda: MADE)
    with duckdb.connect(str(again.path), read_only=True) as con:
        keys = con.execute("SELECT course_key, citizen_key FROM courses").fetchall()
    assert len(keys) == len(expected)
    assert not {k for k, _ in keys} & set(expected) and not {c for _, c in keys} & set(expected.values())


# --- the date modes --------------------------------------------------------------------------------------

def _dates(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every date of every table with courses, one row each: table, column, course_key, date."""
    parts = [f"SELECT '{t}' AS t, '{c}' AS c, course_key, \"{c}\" AS d FROM \"{t}\""
             for t, c, type_ in _columns(con) if type_ == "DATE"]
    return con.execute(" UNION ALL ".join(parts)).df().dropna(subset=["d"])


def test_month_puts_every_date_on_the_first_of_its_month(world: World, connect: Connect) -> None:
    month, exact = _dates(connect(world.pseudonymised["month"])), _dates(connect(world.pseudonymised["exact"]))
    assert len(month) == len(exact) > 500
    assert (pd.to_datetime(month["d"]).dt.day == 1).all()
    assert (pd.to_datetime(exact["d"]).dt.day != 1).any()
    both = month.merge(exact, on=["t", "c", "course_key"], suffixes=("_month", "_exact"))
    assert len(both) == len(month)
    first = pd.to_datetime(both["d_exact"]).dt.to_period("M").dt.to_timestamp()
    assert (pd.to_datetime(both["d_month"]) == first).all()  # the right month


def test_exact_keeps_the_dates_of_the_identified_snapshot(world: World, connect: Connect) -> None:
    ident = connect(world.identified)
    for form in FORMS:
        date_columns = [c for t, c, type_ in _columns(ident) if t == form and type_ == "DATE"]
        rows = ident.execute(f'SELECT course_id, {", ".join(date_columns)} FROM "{form}"').fetchall()
        expected = {(course_pseudonym(world.key, r[0]), *r[1:]) for r in rows}
        got = set(connect(world.pseudonymised["exact"]).execute(
            f'SELECT course_key, {", ".join(date_columns)} FROM "{form}"').fetchall())
        assert got == expected


def _shifts(shifted: pd.DataFrame, exact: pd.DataFrame, citizen_of: dict[str, str]) -> pd.DataFrame:
    both = shifted.merge(exact, on=["t", "c", "course_key"], suffixes=("_shifted", "_exact"))
    assert len(both) == len(shifted) == len(exact)
    both["days"] = (pd.to_datetime(both["d_shifted"]) - pd.to_datetime(both["d_exact"])).dt.days
    both["citizen"] = both["course_key"].map(citizen_of)
    return both


def test_shifted_moves_all_of_a_citizens_dates_by_one_offset_kept_nowhere(world: World, connect: Connect,
                                                                          tmp_path: Path) -> None:
    exact_con = connect(world.pseudonymised["exact"])
    citizen_of = dict(exact_con.execute("SELECT course_key, citizen_key FROM courses").fetchall())
    exact = _dates(exact_con)
    both = _shifts(_dates(connect(world.pseudonymised["shifted"])), exact, citizen_of)
    per_citizen = both.groupby("citizen")["days"].agg(["min", "max"])
    assert (per_citizen["min"] == per_citizen["max"]).all()  # one offset per citizen: intervals exact
    offsets = per_citizen["min"]
    assert offsets.abs().between(1, SHIFT_DAYS).all()        # every date moved, within the range
    assert offsets.nunique() > 50 and (offsets < 0).any() and (offsets > 0).any()
    assert "outcome_date" in set(both["c"])                   # the facts' period date moves too
    # No column of the snapshot holds the offsets (or undoes them): every number keyed by course.
    shifted_con = connect(world.pseudonymised["shifted"])
    offset_of = both.drop_duplicates("course_key").set_index("course_key")["days"]
    for table, column, type_ in _columns(shifted_con):
        keyed = (table, "course_key") in {(t, c) for t, c, _ in _columns(shifted_con)}
        if keyed and type_ in ("INTEGER", "BIGINT", "DOUBLE", "HUGEINT", "SMALLINT"):
            values = shifted_con.execute(f'SELECT course_key, "{column}" FROM "{table}"').df().dropna()
            values = values[values["course_key"].isin(offset_of.index)]
            own = offset_of.reindex(values["course_key"]).to_numpy()
            assert not (len(values) > 20 and (abs(values[column].to_numpy()) == abs(own)).all()), (table, column)
    # A new shifted snapshot draws new offsets: they come from no key and are kept nowhere.
    again = create_snapshot(world.ws.store, world.ws.contracts, tmp_path, pseudonymise=True, dates="shifted",
                            key_file=world.ws.config.pseudonym_key_file, now=lambda: MADE)
    with duckdb.connect(str(again.path), read_only=True) as con:
        second = _shifts(_dates(con), exact, citizen_of).groupby("citizen")["days"].first()
    assert (second != offsets.reindex(second.index)).mean() > 0.9


def test_the_writer_refuses_a_time_of_day_or_an_unkeyed_date_in_a_pseudonymised_table() -> None:
    """A column added later cannot slip into a research file unchanged: ``publish`` refuses, and
    writes nothing, a TIMESTAMP anywhere, a date in a table without course_key, and a table the
    codebook does not describe."""
    key = Column("course_key", "VARCHAR", Text("k", "k"))
    cases = {
        "CREATE TEMP TABLE t AS SELECT 'abc' AS course_key, TIMESTAMP '2025-02-17 10:23' AS saved_at": "time of day",
        "CREATE TEMP TABLE t AS SELECT 2 AS n, DATE '2025-02-17' AS d": "without course_key",
        "CREATE TEMP TABLE u AS SELECT 'abc' AS course_key": "not in the codebook",
    }
    for sql, message in cases.items():
        with duckdb.connect() as con:
            con.execute(sql)
            with pytest.raises(SnapshotError, match=message):
                publish(con, [("t", [key])], "month")
            assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT temporary").fetchall() == [(0,)]


# --- what the snapshot says of itself ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_the_codebook_and_snapshot_info_say_how_the_dates_were_changed(world: World, connect: Connect,
                                                                      mode: str) -> None:
    path = world.pseudonymised[mode]
    assert read_info(path).dates == mode and open_snapshot(path)[1].dates == mode
    con = connect(path)
    assert con.execute("SELECT dates FROM snapshot_info").fetchall() == [(mode,)]
    documented = {(t, c): (ty, en) for t, c, ty, en in con.execute(
        "SELECT table_name, column_name, type, label_en FROM codebook").fetchall()}
    actual = {(t, c): ty for t, c, ty in _columns(con)}
    assert set(documented) == set(actual)
    for place, type_ in actual.items():
        assert documented[place][1].endswith(LABEL_SUFFIX[mode].en) == (type_ == "DATE"), place
    # The facts table holds no date but the period's, and nothing worked out from dates (days in course).
    decl = declarations_for("hjertekom")
    facts = {c for t, c in actual if t == facts_table("hjertekom")}
    assert {c for c in facts if c in decl.facts and date_bound(decl, c)} == {"outcome_date"}


def test_an_identified_snapshot_refuses_a_date_mode(world: World, tmp_path: Path) -> None:
    for dates in ("month", "shifted"):
        with pytest.raises(SnapshotError, match="kun pseudonymiserede"):
            create_snapshot(world.ws.store, world.ws.contracts, tmp_path, dates=dates)
    with pytest.raises(SnapshotError, match="exact, month, shifted"):
        create_snapshot(world.ws.store, world.ws.contracts, tmp_path, pseudonymise=True, dates="year",
                        key_file=world.ws.config.pseudonym_key_file)
    assert list(tmp_path.iterdir()) == []
    assert read_info(world.identified).dates == "exact"


# --- the indicators ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["exact", "month"])
@pytest.mark.parametrize("period", ["year", "quarter", "month"])
def test_indicators_from_a_pseudonymised_snapshot_equal_the_identified_ones(world: World, connect: Connect,
                                                                           mode: str, period: str) -> None:
    settings = IndicatorSettings()
    expected = compute(connect(world.identified), settings, period=period)
    assert expected["denominator"].sum() > 0
    pd.testing.assert_frame_equal(compute(connect(world.pseudonymised[mode]), settings, period=period), expected)


def test_shifted_indicators_count_every_course_as_the_identified_ones_in_shifted_periods(
        world: World, connect: Connect) -> None:
    settings = IndicatorSettings()
    counts = ["numerator", "denominator", "unknown", "excluded"]

    def totals(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return compute(con, settings, period="year").groupby(["indicator", "level", "unit"])[counts].sum()

    pd.testing.assert_frame_equal(totals(connect(world.pseudonymised["shifted"])), totals(connect(world.identified)))


def test_other_settings_are_refused_where_dates_were_changed_and_recomputed_where_exact(world: World, connect: Connect
                                                                                      ) -> None:
    shorter = IndicatorSettings(completion_limit_days=90)
    for mode in ("month", "shifted"):
        with pytest.raises(IndicatorsFixedInSnapshot, match="completion_limit_days': 180"):
            compute(connect(world.pseudonymised[mode]), shorter)
    expected = compute(connect(world.identified), shorter, period="quarter")
    assert not expected.equals(compute(connect(world.identified), IndicatorSettings(), period="quarter"))
    pd.testing.assert_frame_equal(compute(connect(world.pseudonymised["exact"]), shorter, period="quarter"), expected)


def test_a_management_report_refuses_a_pseudonymised_snapshot(world: World) -> None:
    """It lists courses with impossible data by id, and counts by exact dates: identified only."""
    config = Config(data_dir=world.ws.config.data_dir, contracts_dir=CONTRACTS_DIR)
    with pytest.raises(ReportInputError, match="er pseudonymiseret; ledelsesinformation laves af et identificeret"):
        build_municipality_report(world.pseudonymised["month"], 740, "2025", config=config)
    assert build_municipality_report(world.identified, 740, "2025", config=config) is not None


# --- the command line ---------------------------------------------------------------------------------------

def test_the_snapshot_command_takes_a_date_mode_for_pseudonymised_snapshots_only(
        cli_env: dict[str, str | None], tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=cli_env).exit_code == 0
    refused = runner.invoke(main, ["snapshot", "--dates", "month"], env=cli_env)
    assert refused.exit_code != 0 and "--pseudonymise" in refused.output
    assert not (tmp_path / "data" / "snapshots").exists() or not list((tmp_path / "data" / "snapshots").iterdir())
    for args, mode in ((["--dates", "shifted"], "shifted"), ([], "month")):  # month: the default
        out = tmp_path / f"research-{mode}"
        done = runner.invoke(main, ["snapshot", "--pseudonymise", *args, "--out", str(out)], env=cli_env)
        assert done.exit_code == 0, done.output
        [made] = out.glob("*.duckdb")
        assert read_info(made).dates == mode and f"datoer: {mode}" in done.output
