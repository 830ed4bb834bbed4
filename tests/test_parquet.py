"""Parquet beside a snapshot (`hjertekom snapshot --parquet`): same values, codebook, no CPR, atomic."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.snapshot import CprLeak, SnapshotError
from hjertekom_core.snapshot.parquet import CODEBOOK_CSV, CODEBOOK_MD, parquet_folder, scan_folder, write_parquet

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))


def _copy(snapshot: Path, folder: Path) -> Path:
    """A private copy: the Parquet folder lands beside the snapshot, outside the shared fixture's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(snapshot, folder / snapshot.name))


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'main' ORDER BY 1").fetchall()]


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@pytest.fixture(scope="module")
def research_parquet(demo_research_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    snapshot = _copy(demo_research_snapshot, tmp_path_factory.mktemp("parquet"))
    return snapshot, write_parquet(snapshot).folder


def test_every_table_reads_back_with_the_same_values(research_parquet: tuple[Path, Path]) -> None:
    snapshot, folder = research_parquet
    assert folder == snapshot.with_name(snapshot.stem + "_parquet") == parquet_folder(snapshot)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = _tables(con)
        assert {"citizens", "courses", "hjertekom_start", "hjertekom_end", "codebook", "snapshot_info"} <= set(tables)
        assert sorted(p.stem for p in folder.glob("*.parquet")) == tables
        for table in tables:
            parquet = f"read_parquet({_lit(folder / f'{table}.parquet')})"
            # Parquet has no ENUM: a coded column comes back as its codes, VARCHAR.
            described = [(c[0], "VARCHAR" if c[1].startswith("ENUM(") else c[1], *c[2:])
                         for c in con.execute(f'DESCRIBE SELECT * FROM "{table}"').fetchall()]
            assert described == con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall(), table
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone() == \
                con.execute(f"SELECT count(*) FROM {parquet}").fetchone(), table
            for one, other in ((f'"{table}"', parquet), (parquet, f'"{table}"')):
                differing = con.execute(f"SELECT count(*) FROM (SELECT * FROM {one} EXCEPT ALL "
                                        f"SELECT * FROM {other})").fetchone()
                assert differing == (0,), table


def test_the_codebook_comes_as_csv_and_as_a_readable_document(research_parquet: tuple[Path, Path]) -> None:
    snapshot, folder = research_parquet
    with duckdb.connect(str(snapshot), read_only=True) as con:
        expected = con.execute("SELECT * FROM codebook ORDER BY ALL").fetchall()
        from_csv = con.execute(f"SELECT * FROM read_csv({_lit(folder / CODEBOOK_CSV)}, header = true, "
                               "all_varchar = true) ORDER BY ALL").fetchall()
        tables = _tables(con)
    assert [tuple(v or "" for v in row) for row in from_csv] == [tuple(v or "" for v in row) for row in expected]
    text = (folder / CODEBOOK_MD).read_text(encoding="utf-8")
    assert snapshot.name in text and "Pseudonymiseret / pseudonymised: ja / yes" in text
    # The date mode (the default, month) and the keys the tables join on: pseudonyms, not ids.
    assert "- Datoer / dates: `month`: hver dato er sat til den 1. i sin måned" in text
    assert "Tables join on `course_key` (and `citizen_key`)" in text and "course_id" not in text
    assert "[month: the day is set to the 1st]" in text  # a date column's label says so too
    for table in tables:
        assert f"### {table} (" in text
    assert "| walk_6min_m | INTEGER | 6 minutters gangtest, distance | 6-minute walk distance | m |" in text
    assert "### smoking" in text and "| daily | Dagligryger | Daily smoker |" in text


def test_a_research_folder_holds_no_cpr(research_parquet: tuple[Path, Path]) -> None:
    _, folder = research_parquet
    assert scan_folder(folder) == []
    names = {p.name for p in folder.iterdir()}
    assert "citizens.parquet" in names and not any(n.startswith(".") for n in names)
    with duckdb.connect() as con:
        columns = {r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({_lit(folder / 'citizens.parquet')})").fetchall()}
    assert "cpr" not in columns and "name" not in columns and "citizen_key" in columns


def test_the_scan_finds_cpr_numbers_where_there_are_some(demo_snapshot: Path, tmp_path: Path) -> None:
    """The identified folder is allowed (the data owner's), and the scan would have caught it."""
    export = write_parquet(_copy(demo_snapshot, tmp_path))
    assert export.pseudonymised is False and "CPR" in export.describe()
    assert "citizens.parquet:cpr" in scan_folder(export.folder)


def test_a_cpr_shaped_value_discards_the_folder(demo_research_snapshot: Path, tmp_path: Path) -> None:
    snapshot = _copy(demo_research_snapshot, tmp_path)
    with duckdb.connect(str(snapshot)) as con:  # a leak the snapshot writer did not catch
        con.execute("UPDATE codebook SET label_en = 'see 010190-1234' WHERE column_name = 'sex'")
    with pytest.raises(CprLeak) as caught:
        write_parquet(snapshot)
    assert "codebook.parquet:label_en" in caught.value.places
    assert os.listdir(tmp_path) == [snapshot.name]  # neither the folder nor its temporary twin


def test_an_existing_folder_is_never_replaced(research_parquet: tuple[Path, Path]) -> None:
    snapshot, folder = research_parquet
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    with pytest.raises(SnapshotError, match="never replaced"):
        write_parquet(snapshot)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert sorted(p.name for p in snapshot.parent.iterdir()) == [snapshot.name, folder.name]


@pytest.mark.slow
def test_the_snapshot_command_writes_parquet(tmp_path: Path) -> None:
    env = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var")}
    env.pop("HJERTEKOM_DATABASE_URL", None)

    def run(*args: str) -> str:
        done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("demo", "--citizens", "25", "--no-users")
    out = run("snapshot", "--pseudonymise", "--parquet")
    research = tmp_path / "var-research" / "snapshots"  # the research workspace, beside the data folder
    [snapshot] = research.glob("*.duckdb")
    folder = parquet_folder(snapshot)
    assert f"Parquet (pseudonymiseret) skrevet: {folder}" in out
    assert (folder / "courses.parquet").is_file() and (folder / CODEBOOK_MD).is_file()
    assert not CPR_PATTERN.search((folder / CODEBOOK_CSV).read_text(encoding="utf-8"))
    out = run("snapshot", "--parquet")  # the data owner's own, identified copy: allowed, and said so
    assert "identificeret: CPR-numre og navne" in out
    assert len(list((tmp_path / "var" / "snapshots").glob("*_parquet"))) == 1
