"""Writing a DuckDB snapshot of the operational store.

The rows are read from the store in one read transaction, loaded into DuckDB as raw JSON, and
spread into typed columns by DuckDB itself (its JSON functions parse each registration once, in
C++), which is what keeps a 200,000-course snapshot within seconds. The file is written under a
temporary name and linked into place only when complete; an existing snapshot is never touched.
Snapshots are owner-only (0600) whatever the umask; a temporary left by a writer killed half-way
is private too, and the next snapshot run in that folder removes it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
from sqlalchemy import Connection, Select, and_, func, select

from hjertekom_core import __version__, duck
from hjertekom_core.access import User
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.errors import HjerteKomError
from hjertekom_core.private_files import (
    create_private_file,
    private_dir,
    private_temp_dir,
    remove_stale_temporaries,
    restrict,
    restrict_tree,
)
from hjertekom_core.snapshot.layout import (
    CODEBOOK_COLUMNS,
    CODELIST_COLUMNS,
    LATER_INFO_COLUMNS,
    MUNICIPALITY_COLUMNS,
    SNAPSHOT_INFO_COLUMNS,
    STATUS_TYPE,
    STATUS_VALUES,
    Column,
    FormTable,
    citizen_columns,
    course_columns,
    enum_type,
    enum_values,
    form_tables,
    missing_codes,
)
from hjertekom_core.store import Store
from hjertekom_core.store.schema import citizens, courses, municipalities, registrations

if TYPE_CHECKING:
    from hjertekom_core.indicators.settings import IndicatorSettings

log = logging.getLogger(__name__)

# RE2 has no look-behind; this is hjertekom_core.cpr.CPR_PATTERN in RE2 form.
CPR_REGEX_SQL = r"(^|[^0-9])[0-9]{6}-?[0-9]{4}([^0-9]|$)"
# The pseudonym alphabet has no digits, so a key can never look like a CPR number.
_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEF"


class SnapshotError(HjerteKomError):
    """The snapshot could not be written; no file was left behind."""


class CprLeak(SnapshotError):
    """A pseudonymised snapshot held something CPR-shaped; the file was deleted."""

    def __init__(self, places: Sequence[str]) -> None:
        self.places = list(places)
        super().__init__(f"CPR-shaped values found in {', '.join(self.places)}; snapshot discarded")


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    created_at: str
    pseudonymised: bool
    row_counts: dict[str, int]
    contract_versions: dict[str, str]
    source: str
    content_hash: str
    dates: str = "exact"  # exact, month or shifted (snapshot/dates.py); identified: exact

    def describe(self) -> str:
        kind = f"pseudonymiseret, datoer: {self.dates}" if self.pseudonymised else "identificeret"
        counts = ", ".join(f"{k} {v}" for k, v in self.row_counts.items())
        return f"Snapshot ({kind}) skrevet: {self.path} [{counts}]"


def _letters(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 of ``message``, its first 160 bits written as 32 letters."""
    digest = hmac.new(key, message, hashlib.sha256).digest()[:20]
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(32):  # 160 bits in 5-bit letters
        number, index = divmod(number, 32)
        chars.append(_KEY_ALPHABET[index])
    return "".join(chars)


def pseudonym(key: bytes, cpr: str) -> str:
    """A stable, keyed pseudonym for a citizen: HMAC-SHA256 of the CPR, in letters only."""
    return _letters(key, cpr.encode("ascii"))


def course_pseudonym(key: bytes, course_id: int) -> str:
    """A stable, keyed pseudonym for a course: HMAC-SHA256 of ``course:<id>`` with the citizens'
    key, in letters only. The prefix separates the domains: a CPR number has no letters, so no
    course can get a citizen's pseudonym, and the operational id cannot be read back without the key."""
    return _letters(key, f"course:{int(course_id)}".encode("ascii"))


def read_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SnapshotError(f"pseudonymisation key {path} not found: run `hjertekom init` first") from None
    return bytes.fromhex(text)


# --- extracting from the store ---------------------------------------------------------------------

def latest_registrations() -> Select[Any]:
    """The latest revision of every form of every course, with the course's programme."""
    latest = (select(registrations.c.course_id, registrations.c.form, func.max(registrations.c.revision).label("rev"))
              .group_by(registrations.c.course_id, registrations.c.form).subquery())
    return (select(registrations.c.course_id, courses.c.programme, registrations.c.form, registrations.c.revision,
                   registrations.c.status, registrations.c.contract_version, registrations.c.saved_at,
                   registrations.c.data)
            .join(latest, and_(registrations.c.course_id == latest.c.course_id,
                               registrations.c.form == latest.c.form, registrations.c.revision == latest.c.rev))
            .join(courses, courses.c.id == registrations.c.course_id))


def _frame(conn: Connection, query: Select[Any]) -> pd.DataFrame:
    """The rows of ``query`` as a frame, fetched by the driver's own cursor in the connection's
    transaction. SQLAlchemy's result processing (on SQLite every date parsed from text in Python,
    one by one) took a third of a 200,000-course snapshot's reading; pandas parses the columns at
    once afterwards. The queries hold no user input, so their few parameters (municipality codes)
    are written into the SQL as literals."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    finally:
        cursor.close()


def read_store(store: Store, scope: Collection[int] | User | None = None) -> dict[str, pd.DataFrame]:
    """The store's rows as data frames; ``scope`` limits them to courses of those municipalities,
    or (a User) to the courses that user may see: of the programmes they act in, per municipality.

    Restricted citizens (GDPR art. 18) and their courses are left out, so no snapshot, report,
    indicator, extract or transfer made while they are restricted holds them (citizen_state.py)."""
    from hjertekom_core.citizen_state import not_restricted

    current = latest_registrations().where(not_restricted(courses.c.citizen_id))
    queries = {
        "municipalities": select(municipalities).order_by(municipalities.c.code),
        "citizens": select(citizens.c.id, citizens.c.cpr, citizens.c.name, citizens.c.birth_date, citizens.c.sex,
                           citizens.c.municipality_code).where(not_restricted()).order_by(citizens.c.id),
        "courses": select(courses.c.id, courses.c.citizen_id, courses.c.programme, courses.c.municipality_code,
                          courses.c.created_at).where(not_restricted(courses.c.citizen_id)).order_by(courses.c.id),
        "registrations": current,
    }
    if scope is not None:
        if isinstance(scope, User):
            from hjertekom_core.service import course_condition  # the service is not needed otherwise

            visible = course_condition(scope, courses.c.municipality_code, courses.c.programme)
        else:
            visible = courses.c.municipality_code.in_(sorted(scope))
        in_scope = select(courses.c.citizen_id).where(visible)
        queries["citizens"] = queries["citizens"].where(citizens.c.id.in_(in_scope))
        queries["courses"] = queries["courses"].where(visible)
        queries["registrations"] = current.where(visible)
    with store.read() as conn:  # one transaction: a consistent picture of the store
        out = {name: _frame(conn, query) for name, query in queries.items()}
    for column in ("created_at",):
        out["courses"][column] = pd.to_datetime(out["courses"][column], utc=True).dt.tz_localize(None)
    out["registrations"]["saved_at"] = pd.to_datetime(out["registrations"]["saved_at"], utc=True).dt.tz_localize(None)
    out["citizens"]["birth_date"] = pd.to_datetime(out["citizens"]["birth_date"])
    return out


# --- building tables in DuckDB ----------------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _value_sql(col: Column, raw: str) -> str:
    """SQL turning the extracted JSON text ``raw`` of one field into the column's value."""
    f = col.field
    assert f is not None
    # Any missing reason the field takes (UNK, NA, DECL) is "unknown"; _missing keeps which one.
    unknown = f"({raw} IN ({', '.join(_lit(code) for code in missing_codes(f))}))"
    if col.kind == "unknown":
        return f"coalesce({unknown}, false)"
    if col.kind == "missing":
        return f"CASE WHEN {unknown} THEN {raw} END"
    if col.kind == "label":
        assert f.codelist is not None
        cases = " ".join(f"WHEN {_lit(c.code)} THEN {_lit(c.label.da)}" for c in f.codelist.codes)
        return f"CASE {raw} {cases} END"
    if f.type == "multi_choice":
        return f"CAST({raw} AS VARCHAR[])"
    if f.type in ("choice", "text"):
        return raw
    if f.type == "bool":
        return f"CASE {raw} WHEN 'true' THEN true WHEN 'false' THEN false END"
    return f"TRY_CAST(CASE WHEN {unknown} THEN NULL ELSE {raw} END AS {col.type})"


def _create(temporary: bool) -> str:
    """CREATE TABLE, or CREATE TEMP TABLE for a pseudonymised table that ``dates.publish`` writes
    into the file later (with its dates in the snapshot's mode)."""
    return "CREATE TEMP TABLE" if temporary else "CREATE TABLE"


def _create_form_table(con: duckdb.DuckDBPyConnection, table: FormTable, temporary: bool = False) -> None:
    value_columns = [c for c in table.columns if c.kind != "meta"]
    fields = list(dict.fromkeys(c.field.name for c in value_columns if c.field is not None))
    paths = ", ".join(_lit(f"$.{name}") for name in fields)
    extracted = {name: f"v[{i + 1}]" for i, name in enumerate(fields)}
    meta = [c.name for c in table.columns if c.kind == "meta"]  # the course's id or key first
    selects = ["revision::INTEGER AS revision" if name == "revision" else _q(name) for name in meta]
    for col in value_columns:
        assert col.field is not None
        raw = extracted[col.field.name]
        if col.field.type == "multi_choice" and col.kind == "value":
            # A list must come from the JSON value itself, not its text form.
            raw = f"json_extract(data, {_lit('$.' + col.field.name)})"
        selects.append(f"{_value_sql(col, raw)} AS {_q(col.name)}")
    sql = (f"{_create(temporary)} {_q(table.name)} AS SELECT {', '.join(selects)} FROM ("
           f"SELECT *, json_extract_string(data, [{paths}]) AS v FROM raw_registrations "
           f"WHERE programme = {_lit(table.programme)} AND form = {_lit(table.form.name)}) ORDER BY {_q(meta[0])}")
    con.execute(sql)


def coded_columns(tables: Sequence[FormTable]) -> dict[str, tuple[list[str], list[tuple[str, str]]]]:
    """ENUM type -> (its values, the (table, column) pairs of that type). Which columns are ENUMs
    is the layout's decision (``Column.type``); this only collects them."""
    out: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
    for table in tables:
        for col in table.columns:
            codelist = col.field.codelist if col.field is not None else None
            if col.type == STATUS_TYPE:
                values = list(STATUS_VALUES)
            elif codelist is not None and col.type == enum_type(codelist.name):
                values = enum_values(codelist)
            else:
                continue
            out.setdefault(col.type, (values, []))[1].append((table.name, col.name))
    return out


def type_coded_columns(con: duckdb.DuckDBPyConnection, tables: Sequence[FormTable]) -> None:
    """Retype the form tables' choice and status columns (VARCHAR as the JSON gave them) to their
    ENUMs (layout.py). A value that is not in the code list today, say a code retired from a later
    contract version, is added at the end of the type rather than lost or refused."""
    for type_name, (values, places) in coded_columns(tables).items():
        union = " UNION ".join(f"SELECT DISTINCT {_q(column)}::VARCHAR AS v FROM {_q(table)}"
                               for table, column in places)
        found = [r[0] for r in con.execute(f"SELECT v FROM ({union}) WHERE v IS NOT NULL ORDER BY v").fetchall()]
        known = set(values)
        extra = [v for v in found if v not in known]
        if extra:
            log.warning("snapshot: %d value(s) outside the code list kept in %s", len(extra), type_name)
        con.execute(f"CREATE TYPE {_q(type_name)} AS ENUM ({', '.join(_lit(v) for v in [*values, *extra])})")
        for table, column in places:
            con.execute(f"ALTER TABLE {_q(table)} ALTER {_q(column)} TYPE {_q(type_name)}")


def _create_typed(con: duckdb.DuckDBPyConnection, name: str, columns: Sequence[Column], select_sql: str,
                  temporary: bool = False) -> None:
    ddl = ", ".join(f"{_q(c.name)} {c.type}" for c in columns)
    con.execute(f"{_create(temporary)} {_q(name)} ({ddl})")
    con.execute(f"INSERT INTO {_q(name)} {select_sql}")


def _start_dates_sql(start_dates: dict[str, tuple[str, str]], key: str = "course_id") -> str:
    """Each course's start date: the date field of its programme's first form after the course form."""
    parts = [f"SELECT {key}, {_q(date)} AS start_date FROM {_q(table)}" for table, date in start_dates.values()]
    null_key = "NULL::VARCHAR" if key == "course_key" else "NULL::BIGINT"
    return " UNION ALL ".join(parts) if parts else f"SELECT {null_key} AS {key}, NULL::DATE AS start_date"


def build_tables(con: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame], contracts: ContractRegistry,
                 pseudonymised: bool, key: bytes | None, *, coded: bool = False,
                 staged: bool = False) -> list[tuple[str, Sequence[Column]]]:
    """Create every table; returns (table, columns) for the codebook.

    ``coded``: choice and status columns as ENUMs (snapshot files). The in-memory layouts of the
    live store and of one course leave them VARCHAR: the same SQL runs on both, and retyping
    would cost the entry app time on every look at a course.

    ``pseudonymised``: course_key and citizen_key for the operational ids (keyed with ``key``), no
    CPR, names, identifying fields or registration times; the dates are still exact.
    ``staged``: the tables that hold citizens and courses are TEMP tables, for ``dates.publish``
    to write into the file with the dates in the snapshot's mode.
    """
    regs, course_rows = frames["registrations"], frames["courses"]
    id_column = "course_key" if pseudonymised else "course_id"
    if pseudonymised:
        assert key is not None
        ids = set(course_rows["id"]) | set(regs["course_id"])
        keys = {course: course_pseudonym(key, course) for course in ids}
        regs = regs.assign(course_key=regs["course_id"].map(keys))
        course_rows = course_rows.assign(course_key=course_rows["id"].map(keys))
    con.register("raw_registrations_df", regs)
    con.execute("CREATE TEMP TABLE raw_registrations AS SELECT * FROM raw_registrations_df")
    con.unregister("raw_registrations_df")

    documented: list[tuple[str, Sequence[Column]]] = []
    start_dates: dict[str, tuple[str, str]] = {}
    tables = form_tables(contracts, pseudonymised)
    for table in tables:
        _create_form_table(con, table, staged)
        documented.append((table.name, table.columns))
        is_course_form = table.form.name == contracts[table.programme].course_form
        if not is_course_form and table.form.date_field and table.programme not in start_dates:
            start_dates[table.programme] = (table.name, table.form.date_field)
    if coded:
        type_coded_columns(con, tables)

    people = frames["citizens"].copy()
    if pseudonymised:
        people["citizen_key"] = [pseudonym(key, cpr) for cpr in people["cpr"]]  # type: ignore[arg-type]
    con.register("people_df", people)
    con.register("courses_df", course_rows)
    con.execute(f"""CREATE TEMP TABLE course_start AS
        SELECT c.id AS course_id, s.start_date, p.birth_date
        FROM courses_df c JOIN people_df p ON p.id = c.citizen_id
        LEFT JOIN ({_start_dates_sql(start_dates, id_column)}) s
            ON s.{id_column} = c.{"course_key" if pseudonymised else "id"}""")
    age = ("CASE WHEN cs.start_date IS NULL THEN NULL ELSE date_diff('year', cs.birth_date, cs.start_date) - "
           "CASE WHEN strftime(cs.start_date, '%m%d') < strftime(cs.birth_date, '%m%d') THEN 1 ELSE 0 END END")
    if pseudonymised:
        _create_typed(con, "citizens", citizen_columns(True), "SELECT citizen_key, year(birth_date), sex, "
                      "municipality_code FROM people_df ORDER BY citizen_key", staged)
        # Ordered by the key, not the id: the rows' order must not give away the order of creation.
        _create_typed(con, "courses", course_columns(True), f"""
            SELECT c.course_key, p.citizen_key, c.programme, c.municipality_code, {age}
            FROM courses_df c JOIN people_df p ON p.id = c.citizen_id JOIN course_start cs ON cs.course_id = c.id
            ORDER BY c.course_key""", staged)
    else:
        _create_typed(con, "citizens", citizen_columns(False),
                      "SELECT id, cpr, name, birth_date, year(birth_date), sex, municipality_code FROM people_df "
                      "ORDER BY id")
        _create_typed(con, "courses", course_columns(False), f"""
            SELECT c.id, c.citizen_id, c.programme, c.municipality_code, c.created_at, {age}
            FROM courses_df c JOIN course_start cs ON cs.course_id = c.id ORDER BY c.id""")
    for name in ("people_df", "courses_df"):
        con.unregister(name)
    con.execute("DROP TABLE course_start")
    con.execute("DROP TABLE raw_registrations")
    documented += [("citizens", citizen_columns(pseudonymised)), ("courses", course_columns(pseudonymised))]

    con.register("municipalities_df", frames["municipalities"])
    _create_typed(con, "municipalities", MUNICIPALITY_COLUMNS,
                  "SELECT code, name, region_code, region FROM municipalities_df ORDER BY code")
    con.unregister("municipalities_df")
    codes = pd.DataFrame([(cl.name, str(c.code), c.label.da, c.label.en)
                          for cl in contracts.codelists.values() for c in cl.codes],
                         columns=["codelist", "code", "label_da", "label_en"])
    con.register("codelists_df", codes)
    _create_typed(con, "codelists", CODELIST_COLUMNS, "SELECT * FROM codelists_df")
    con.unregister("codelists_df")
    documented += [("municipalities", MUNICIPALITY_COLUMNS), ("codelists", CODELIST_COLUMNS)]
    return documented


def _codebook(con: duckdb.DuckDBPyConnection, documented: list[tuple[str, Sequence[Column]]]) -> None:
    rows = [c.codebook_row(table) for table, columns in documented for c in columns]
    rows += [c.codebook_row("codebook") for c in CODEBOOK_COLUMNS]
    rows += [c.codebook_row("snapshot_info") for c in SNAPSHOT_INFO_COLUMNS]
    con.register("codebook_df", pd.DataFrame(rows, columns=[c.name for c in CODEBOOK_COLUMNS]))
    _create_typed(con, "codebook", CODEBOOK_COLUMNS, "SELECT * FROM codebook_df")
    con.unregister("codebook_df")


def user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name").fetchall()]


def scan_for_cpr(con: duckdb.DuckDBPyConnection) -> list[str]:
    """table.column of every text-like column holding a CPR-shaped value."""
    hits = []
    for table, column, type_ in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND (data_type LIKE 'VARCHAR%' OR data_type LIKE 'ENUM%' OR data_type IN "
            "('INTEGER', 'BIGINT', 'HUGEINT', 'UBIGINT', 'DOUBLE', 'DECIMAL'))"
    ).fetchall():
        value = f"CAST({_q(column)} AS VARCHAR)"
        found = con.execute(f"SELECT count(*) FROM {_q(table)} WHERE regexp_matches({value}, ?)",
                            [CPR_REGEX_SQL]).fetchone()
        if found and found[0]:
            hits.append(f"{table}.{column}")
    return hits


def content_hash(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> str:
    """SHA-256 over every table's name, row count and order-independent sum of row hashes.

    Written in groups of four hex digits, so that the hash never holds a CPR-shaped digit run.
    """
    digest = hashlib.sha256()
    for table in sorted(tables):
        # A sum (not XOR) of row hashes: identical rows do not cancel out.
        count, rows = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {_q(table)} t").fetchone()  # type: ignore[misc]
        digest.update(f"{table}:{count}:{rows};".encode())
    hexed = digest.hexdigest()
    return "-".join(hexed[i:i + 4] for i in range(0, len(hexed), 4))


#: The hidden temporaries of the snapshot and Parquet writers (``.snapshot-<stem>.<random>.tmp``,
#: a folder; older versions left a file and its ``.wal``): removed by the next run in the same
#: folder once their writer is gone (private_files.remove_stale_temporaries).
TEMPORARIES = (".snapshot-*.tmp", ".snapshot-*.tmp.wal")


def remove_unfinished(folder: Path) -> list[Path]:
    """Remove what snapshot or Parquet writers killed half-way left in ``folder``."""
    return [path for pattern in TEMPORARIES for path in remove_stale_temporaries(folder, pattern)]


def _private_duckdb(path: Path) -> None:
    """Make a just-created DuckDB file 0600 before any data goes in, and create its WAL 0600
    (DuckDB appends to a WAL it finds); the private folder around them is the real guard."""
    restrict(path)
    create_private_file(path.with_name(path.name + ".wal"))


def _link_new(tmp: Path, out_dir: Path, stem: str) -> Path:
    """Give the finished file its name; os.link refuses an existing name, so nothing is replaced."""
    for n in range(1, 1000):
        final = out_dir / (f"{stem}.duckdb" if n == 1 else f"{stem}-{n}.duckdb")
        try:
            os.link(tmp, final)
            return final
        except FileExistsError:
            continue
    raise SnapshotError(f"no free file name for {stem} in {out_dir}")


def date_mode(pseudonymise: bool, dates: str | None) -> str:
    """The snapshot's date mode: ``dates`` (default: ``dates.DEFAULT_DATES``) for a pseudonymised
    snapshot; an identified one keeps its dates exact and refuses any other mode."""
    from hjertekom_core.snapshot.dates import DEFAULT_DATES, check_mode

    if pseudonymise:
        return check_mode(dates or DEFAULT_DATES)
    if dates not in (None, "exact"):
        raise SnapshotError(f"datotilstanden {dates!r} gælder kun pseudonymiserede snapshots (--pseudonymise); et "
                            f"identificeret snapshot har altid de nøjagtige datoer / the date mode {dates!r} applies "
                            "to pseudonymised snapshots only; an identified snapshot always keeps the exact dates")
    return "exact"


def _reference_date(created: dt.datetime) -> dt.date:
    """The date the snapshot's indicators describe: indicators.reference_date of the finished file."""
    from hjertekom_core.indicators.counting import DANISH_TIME

    aware = created if created.tzinfo else created.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(DANISH_TIME).date()


def create_snapshot(store: Store, contracts: ContractRegistry, out_dir: Path, *, pseudonymise: bool = False,
                    key_file: Path | None = None, now: Callable[[], dt.datetime] | None = None,
                    dates: str | None = None, indicator_settings: IndicatorSettings | None = None) -> SnapshotInfo:
    """Write a new snapshot file into ``out_dir`` and return what it holds.

    Pseudonymised: ``dates`` is exact, month (default) or shifted (snapshot/dates.py); each course's
    indicators are worked out on the exact dates first, with ``indicator_settings`` (default: the
    built-in ones; pass the configured ones) and the snapshot's date (indicators/facts.py).
    """
    created = (now or (lambda: dt.datetime.now(dt.timezone.utc)))()
    mode = date_mode(pseudonymise, dates)
    if pseudonymise and key_file is None:
        raise SnapshotError("a pseudonymised snapshot needs the key file")
    key = read_key(key_file) if pseudonymise and key_file is not None else None
    private_dir(out_dir, tighten=False)  # made 0700 if missing; a folder the user named keeps its mode
    remove_unfinished(out_dir)
    stem = f"snapshot-{created:%Y%m%dT%H%M%S}{'-pseudo' if pseudonymise else ''}"
    frames = read_store(store)
    # The file is built in a private (0700) folder of its own, unique because several writers may
    # run at once: DuckDB creates its files (and its WAL, and spill files beside them) through the
    # umask, and a writer killed half-way must not leave them where others can read them.
    with private_temp_dir(out_dir, stem) as work:
        tmp = work / "snapshot.duckdb"
        con = duck.connect(tmp)
        try:
            _private_duckdb(tmp)
            documented = build_tables(con, frames, contracts, pseudonymise, key, coded=True, staged=pseudonymise)
            # Each course's indicator facts, from the same declarations compute() reads (indicators/facts.py).
            from hjertekom_core.indicators.facts import snapshot_facts_tables
            if pseudonymise:  # worked out on the exact dates, then every table published in the date mode
                from hjertekom_core.indicators.settings import IndicatorSettings
                from hjertekom_core.snapshot.dates import publish

                settings = indicator_settings or IndicatorSettings()
                documented += snapshot_facts_tables(con, contracts, flags=(settings.values(), _reference_date(created)))
                documented = publish(con, documented, mode)
            else:
                documented += snapshot_facts_tables(con, contracts)
            _codebook(con, documented)
            tables = user_tables(con)
            counts = {t: con.execute(f"SELECT count(*) FROM {_q(t)}").fetchone()[0] for t in tables}  # type: ignore[index]
            digest = content_hash(con, tables)
            versions = {c.programme: c.version for c in contracts}
            con.execute("CREATE TABLE snapshot_info (" + ", ".join(
                f"{_q(c.name)} {c.type}" for c in SNAPSHOT_INFO_COLUMNS) + ")")
            con.execute("INSERT INTO snapshot_info VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [created, __version__, json.dumps(versions), store.describe(), json.dumps(counts),
                         pseudonymise, digest, mode])
            if pseudonymise:  # the finished file, every table included
                leaks = scan_for_cpr(con)
                if leaks:
                    raise CprLeak(leaks)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        restrict_tree(work)  # whatever DuckDB made, before the file gets its name
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        final = _link_new(tmp, out_dir, stem)
    info = SnapshotInfo(final, created.isoformat(), pseudonymise, counts, versions, store.describe(), digest, mode)
    log.info("snapshot written: %s (%s courses, pseudonymised=%s, dates=%s)", final.name, counts.get("courses"),
             pseudonymise, mode)
    return info


def info_dates(con: duckdb.DuckDBPyConnection) -> str:
    """The snapshot's date mode (snapshot_info.dates); 'exact' for a snapshot written before the
    column existed (its dates were exact) or a connection without snapshot_info (the live store)."""
    has = con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'snapshot_info' "
                      "AND column_name = 'dates' AND database_name <> 'temp'").fetchall()
    if not has[0][0]:
        return LATER_INFO_COLUMNS["dates"]
    rows = con.execute("SELECT dates FROM snapshot_info").fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else LATER_INFO_COLUMNS["dates"]


def read_info(path: Path) -> SnapshotInfo:
    with duck.connect(path, read_only=True) as con:
        row = con.execute("SELECT created_at, pseudonymised, row_counts, contract_versions, source_store, "
                          "content_hash FROM snapshot_info").fetchone()
        dates = info_dates(con)
    assert row is not None
    return SnapshotInfo(path, row[0].isoformat(), bool(row[1]), json.loads(row[2]), json.loads(row[3]), row[4], row[5],
                        dates)


def newest_snapshot(folder: Path, *, pseudonymised: bool) -> Path | None:
    """The most recently written snapshot of the kind asked for in ``folder`` (not its sub-folders)."""
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("snapshot-*.duckdb") if ("-pseudo" in p.stem) == pseudonymised]
    return max(found, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def create_audited_snapshot(store: Store, contracts: ContractRegistry, out_dir: Path, user: User, *,
                            pseudonymise: bool = False, key_file: Path | None = None,
                            now: Callable[[], dt.datetime] | None = None, dates: str | None = None,
                            indicator_settings: IndicatorSettings | None = None, **detail: Any) -> SnapshotInfo:
    """``create_snapshot``, recorded in the audit log: reading the whole store is an access like any
    other. ``detail`` adds to the entry (e.g. what the snapshot was made for). The user needs
    snapshot.identified (or snapshot.pseudonymised); a refusal is audited and writes nothing."""
    from hjertekom_core import audit
    from hjertekom_core.errors import AccessDenied

    permission = "snapshot.pseudonymised" if pseudonymise else "snapshot.identified"
    try:
        user.require(permission)
    except AccessDenied as exc:
        audit.deny(store, user, permission, "snapshot", reason=exc.reason)
        raise
    info = create_snapshot(store, contracts, out_dir, pseudonymise=pseudonymise, key_file=key_file, now=now,
                           dates=dates, indicator_settings=indicator_settings)
    with store.write() as conn:
        audit.record(conn, user, "snapshot.create", "snapshot", info.path.name, None,
                     {"pseudonymised": pseudonymise, "courses": info.row_counts.get("courses", 0), "dates": info.dates,
                      **detail})
    return info
