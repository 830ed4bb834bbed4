"""The researchers' workbench: the research notebooks on a pseudonymised demo snapshot, their
numbers against direct computations, the refusal of identified snapshots, and `hjertekom lab`."""
from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from bs4 import BeautifulSoup
from click.testing import CliRunner
from scipy import stats

from hjertekom_core import kernel_sockets
from hjertekom_core.config import Config
from hjertekom_core.contract.loader import load_codelist
from hjertekom_core.errors import AccessDenied, ReportFailed
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.reports.runner import KernelSession, execute, to_html
from hjertekom_core.research import (
    RESEARCH_DIR_ENV,
    IdentifiedSnapshot,
    NoResearchSnapshot,
    labeller,
    load_diagnosis_groups,
    newest_research_snapshot,
    open_research,
)
from hjertekom_core.research.change import OUTCOMES, change_html, paired_change
from hjertekom_core.research.dropout import MIN_LEVEL, dropout_model

from paths import CONTRACTS_DIR, REPO

FOLLOWED = """
    FROM courses c
    JOIN citizens ci USING (citizen_key)
    JOIN hjertekom_course co USING (course_key)
    JOIN hjertekom_start s USING (course_key)
    JOIN hjertekom_end e USING (course_key)
    WHERE c.programme = 'hjertekom' AND s.status = 'complete' AND e.status = 'complete'"""


@pytest.fixture(scope="module")
def session() -> Iterator[KernelSession]:
    with KernelSession() as own:
        yield own


def run(name: str, parameters: dict[str, str], session: KernelSession):  # type: ignore[no-untyped-def]
    """``runner.execute``; a socket left open would fail the test through its ResourceWarning."""
    try:
        return execute(name, parameters, session=session)
    finally:
        gc.collect()


@pytest.fixture(scope="module")
def pages(demo_research_snapshot: Path, session: KernelSession) -> dict[str, BeautifulSoup]:
    """Each research notebook run with papermill on the snapshot and rendered to HTML."""
    out = {}
    for name in ("change", "dropout", "trends"):
        nb = run(f"research/{name}", {"snapshot": str(demo_research_snapshot), "lang": "da"}, session)
        out[name] = BeautifulSoup(to_html(nb, name, "da"), "html.parser")
    return out


@pytest.fixture
def con(demo_research_snapshot: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(demo_research_snapshot), read_only=True) as c:
        yield c


def rows_after(page: BeautifulSoup, heading: str) -> list[list[str]]:
    """The cells of the first table after the heading with this text."""
    found = page.find(lambda tag: tag.name in ("h1", "h2", "h3") and tag.get_text(strip=True) == heading)
    assert found is not None, heading
    table = found.find_next("table")
    return [[cell.get_text(strip=True) for cell in tr.find_all(["td", "th"])] for tr in table.find_all("tr")]


def da(number: float, decimals: int) -> str:
    """A number as the Danish pages write it: decimal comma, a real minus sign."""
    return f"{number:.{decimals}f}".replace(".", ",").replace("-", "\u2212")


def row_starting(rows: list[list[str]], *first: str) -> list[str]:
    matches = [r for r in rows if r[:len(first)] == list(first)]
    assert len(matches) == 1, (first, rows[:3])
    return matches[0]


# --- change ---------------------------------------------------------------------------------------

def test_the_change_page_shows_the_mean_6mwt_change_computed_directly(pages: dict[str, BeautifulSoup],
                                                                       con: duckdb.DuckDBPyConnection) -> None:
    diffs = np.array([r[0] for r in con.execute(
        f"SELECT e.walk_6min_m - s.walk_6min_m {FOLLOWED} "
        "AND s.walk_6min_m IS NOT NULL AND e.walk_6min_m IS NOT NULL").fetchall()], dtype=float)
    n, mean, sd = len(diffs), diffs.mean(), diffs.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    assert n > 100
    row = row_starting(rows_after(pages["change"], "Alle"), "6 minutters gangtest, distance (m)", "Alle")
    # Danish decimal commas; the change and its interval share a column so the table fits the page.
    assert row[2:] == [str(n), row[3], row[4], f"{da(mean, 1)} ({da(mean - half, 1)}; {da(mean + half, 1)})",
                       da(sd, 1), da(mean / sd, 2)]
    # The distribution, not only the mean: percentiles and the share that walked further.
    spread = row_starting(rows_after(pages["change"], "Fordelingen af ændringen"), "6 minutters gangtest, distance (m)")
    assert spread[1:7] == [str(n), *(da(np.percentile(diffs, q), 1) for q in (5, 25, 50, 75, 95))]
    assert spread[7] == f"{da(100 * (diffs > 0).mean(), 0)} %"
    boxes = [f for f in pages["change"].find_all("figure") if f["aria-label"].startswith("Boksplot")]
    assert len(boxes) == 1 and boxes[0].find("svg") is not None


def test_the_change_page_by_sex_matches_a_direct_computation(pages: dict[str, BeautifulSoup],
                                                              con: duckdb.DuckDBPyConnection) -> None:
    n, mean = con.execute(f"SELECT count(*), avg(e.hads_anxiety - s.hads_anxiety) {FOLLOWED} AND ci.sex = 'F' "
                          "AND s.hads_anxiety IS NOT NULL AND e.hads_anxiety IS NOT NULL").fetchone()
    row = row_starting(rows_after(pages["change"], "Efter køn"), "HADS angstscore (0-21)", "Kvinde")
    assert (row[2], row[5].split(" ")[0]) == (str(n), da(mean, 2))


def test_paired_change_equals_pandas_for_every_outcome(con: duckdb.DuckDBPyConnection) -> None:
    groups = load_diagnosis_groups(CONTRACTS_DIR)
    result = paired_change(con, groups).set_index(["outcome", "by", "group"])
    for outcome in OUTCOMES:
        col = outcome.column
        frame = con.execute(f"SELECT ci.sex, s.{col} AS a, e.{col} AS b {FOLLOWED}").df().dropna(subset=["a", "b"])
        for sex, part in [("all", frame), *frame.groupby("sex")]:
            got = result.loc[(col, "all" if sex == "all" else "sex", sex)]
            diff = part["b"] - part["a"]
            assert got["n"] == len(part)
            assert got["mean_change"] == pytest.approx(diff.mean(), rel=1e-12)
            assert got["sd_change"] == pytest.approx(diff.std(ddof=1), rel=1e-12)
            assert got["mean_start"] == pytest.approx(part["a"].mean(), rel=1e-12)


def test_small_groups_show_no_statistics(con: duckdb.DuckDBPyConnection) -> None:
    groups = load_diagnosis_groups(CONTRACTS_DIR)
    result = paired_change(con, groups)
    page = BeautifulSoup(change_html(result, labeller(con, groups, "en"), threshold=10_000), "html.parser")
    row = row_starting(rows_after(page, "All"), "6-minute walk distance (m)", "All")
    assert row[2:] == ["< 10000", "", "", "", "", ""]
    assert page.find("h1").get_text() == "Change from the start to the end of the course"


def test_a_course_belongs_to_its_first_diagnosis_group() -> None:
    groups = load_diagnosis_groups(CONTRACTS_DIR)
    assert groups.primary(["heart_failure", "pci"]) == "ischaemic_heart_disease"
    assert groups.primary(["atrial_fibrillation", "heart_failure"]) == "heart_failure"
    assert groups.primary(["atrial_fibrillation"]) == "arrhythmia"
    assert groups.primary(None) is None
    assert (groups.label("arrhythmia", "da"), groups.label("ischaemic_heart_disease", "en")) == \
        ("Atrieflimren", "Ischaemic heart disease")


# --- drop-out -------------------------------------------------------------------------------------

def _model_data(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, str]:
    """The regression's data, built here from the snapshot and the code list (not by the module)."""
    codelist = load_codelist(CONTRACTS_DIR / "codelists" / "diagnosis_group.yaml")
    order = list(dict.fromkeys(c.attributes["group"] for c in codelist.codes))
    group_of = {c.code: c.attributes["group"] for c in codelist.codes}
    df = con.execute(f"""SELECT c.age_at_start AS age, ci.sex, s.hads_anxiety AS ha, s.hads_depression AS hd,
                                s.smoking, co.diagnosis_groups AS dx, e.course_status, c.municipality_code AS town
                         {FOLLOWED} AND e.course_status IS NOT NULL
                         AND e.dropout_reason IS DISTINCT FROM 'death'""").df()
    df["group"] = [None if not isinstance(v, (list, np.ndarray)) else
                   min((group_of[c] for c in v), key=order.index) for v in df["dx"]]
    df = df[df["smoking"].isin(["daily", "occasional", "former", "never"])].dropna(
        subset=["age", "sex", "ha", "hd", "group"]).copy()
    df["y"] = (df["course_status"] == "dropped_out").astype(int)
    sizes = df.groupby("group")["y"].agg(["size", "sum"])
    kept = sizes[(sizes["size"] >= MIN_LEVEL) & (sizes["sum"] > 0) & (sizes["sum"] < sizes["size"])].index
    df = df[df["group"].isin(kept)]
    df["female"] = (df["sex"] == "F").astype(int)
    df["smoker"] = df["smoking"].isin(["daily", "occasional"]).astype(int)
    df["anx8"] = (df["ha"] >= 8).astype(int)
    df["dep8"] = (df["hd"] >= 8).astype(int)
    df["age10"] = df["age"] / 10
    return df, min(kept, key=order.index)


def test_the_odds_ratios_equal_a_direct_statsmodels_fit(pages: dict[str, BeautifulSoup],
                                                       con: duckdb.DuckDBPyConnection) -> None:
    df, reference = _model_data(con)
    df = df.reset_index(drop=True)
    fit = smf.glm(f"y ~ age10 + female + anx8 + dep8 + smoker + C(group, Treatment('{reference}'))", data=df,
                  family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": df["town"].to_numpy()})
    odds, ci = np.exp(fit.params), np.exp(fit.conf_int())
    naive = np.exp(smf.glm(f"y ~ age10 + female + anx8 + dep8 + smoker + C(group, Treatment('{reference}'))",
                           data=df, family=sm.families.Binomial()).fit().conf_int())
    made = dropout_model(con, load_diagnosis_groups(CONTRACTS_DIR))
    model = made.table.set_index("term")
    assert made.clusters == df["town"].nunique()
    # municipality clustering widens the interval of a municipality-level effect; here it differs at all
    assert model.loc["smoker", "ci_high"] != pytest.approx(naive.loc["smoker", 1], rel=1e-6)
    assert model.loc["smoker", "odds_ratio"] == pytest.approx(odds["smoker"], rel=1e-8)
    assert model.loc["age_per_10_years", "ci_high"] == pytest.approx(ci.loc["age10", 1], rel=1e-8)
    hf = f"C(group, Treatment('{reference}'))[T.heart_failure]"
    assert model.loc["diagnosis_group[heart_failure]", "odds_ratio"] == pytest.approx(odds[hf], rel=1e-8)
    assert len(model) == len(fit.params) - 1  # every term but the intercept
    shown = row_starting(rows_after(pages["dropout"], "Logistisk regression"),
                         "Ryger ved start (dagligt/lejlighedsvis; ref.: tidligere/aldrig)")
    assert shown[1:3] == [da(odds["smoker"], 2), f"({da(ci.loc['smoker', 0], 2)}; {da(ci.loc['smoker', 1], 2)})"]
    text = pages["dropout"].get_text(" ")
    assert f"{len(df)} forløb med alle oplysninger ({int(df['y'].sum())} ophørt)" in text
    assert "klynge-robuste efter kommune" in text
    # the demo's built-in effect is found (docs/import-and-demo.md): smokers drop out more
    assert odds["smoker"] > 1.5 and ci.loc["smoker", 0] > 1


def test_the_dropout_page_says_what_complete_cases_leave_out_and_keeps_deaths_apart(
        pages: dict[str, BeautifulSoup], con: duckdb.DuckDBPyConnection) -> None:
    followed, died, no_smoking = con.execute(f"""SELECT
            count(*) FILTER (WHERE e.dropout_reason IS DISTINCT FROM 'death'),
            count(*) FILTER (WHERE e.dropout_reason = 'death'),
            count(*) FILTER (WHERE e.dropout_reason IS DISTINCT FROM 'death'
                             AND (s.smoking IS NULL OR s.smoking NOT IN ('daily', 'occasional', 'former', 'never')))
        {FOLLOWED} AND e.course_status IS NOT NULL""").fetchone()
    assert died > 0, "the demo should have courses that ended in death"
    df, _ = _model_data(con)
    text = " ".join(pages["dropout"].get_text(" ").split())
    assert f"{died} forløb endte, fordi borgeren døde" in text
    assert f"udelader {followed - len(df)} af {followed} forløb" in text
    assert f"ref.: tidligere/aldrig) ukendt i {no_smoking}" in text
    forest = [f for f in pages["dropout"].find_all("figure") if f["aria-label"].startswith("Forest plot")]
    assert len(forest) == 1 and forest[0].find("svg") is not None


def test_dropout_proportions_are_counted_directly_and_small_numbers_hidden(pages: dict[str, BeautifulSoup],
                                                                           con: duckdb.DuckDBPyConnection) -> None:
    n, dropped = con.execute(f"SELECT count(*), count(*) FILTER (WHERE e.course_status = 'dropped_out') {FOLLOWED} "
                             "AND e.course_status IS NOT NULL AND e.dropout_reason IS DISTINCT FROM 'death'").fetchone()
    assert row_starting(rows_after(pages["dropout"], "Alle"), "Alle")[1:4] == \
        [str(n), str(dropped), f"{da(100 * dropped / n, 1)} %"]
    per_town = con.execute(f"""SELECT mu.name, count(*) AS n {FOLLOWED} AND e.course_status IS NOT NULL
                               AND e.dropout_reason IS DISTINCT FROM 'death' GROUP BY mu.name ORDER BY n""".replace(
        "FROM courses c", "FROM courses c JOIN municipalities mu ON mu.code = c.municipality_code")).fetchall()
    shown = rows_after(pages["dropout"], "Kommune")
    small = [name for name, count in per_town if count < 5]
    assert small, "the demo data should have small municipalities"
    for name in small:
        row = row_starting(shown, name)
        assert row[1] == "< 5" and row[3:] == ["", ""]
    big_name, big_n = per_town[-1]
    assert row_starting(shown, big_name)[1] == str(big_n)


def test_no_hidden_count_of_the_dropout_page_can_be_worked_out(con: duckdb.DuckDBPyConnection) -> None:
    """Issue 14: a suppressed count must not follow from the others. Every grouping on the page
    (municipality, sex, age ...) breaks down the same courses: the courses are the atoms."""
    from hjertekom_core.disclosure import Block, Cell, protect_breakdown
    from hjertekom_core.research.cohort import load_diagnosis_groups
    from hjertekom_core.research.dropout import dropout_proportions, followed_courses

    groups = load_diagnosis_groups(CONTRACTS_DIR)
    exact = dropout_proportions(con, groups)
    shown = dropout_proportions(con, groups, threshold=5)
    assert set(shown["n"].map(str)) >= {"< 5"}, "the demo data should have small groups"
    frame = followed_courses(con, groups)
    cells = [Cell(i, frozenset((frame[frame[f].isna()] if g is None else frame[frame[f] == g]).index))
             for i, (f, g) in enumerate(zip(exact["factor"], exact["group"], strict=True))]
    states = ["shown" if not isinstance(v, str) else "hidden" for v in shown["n"]]
    values = [None if isinstance(v, str) else int(v) for v in shown["n"]]
    assert Block(cells).audit(values, states, 5) == []
    # And the per-cell rule alone would have given some away.
    naive = ["< 5" if 0 < int(v) < 5 else int(v) for v in exact["n"]]
    assert Block(cells).audit([None if isinstance(v, str) else v for v in naive],
                              ["hidden" if isinstance(v, str) else "shown" for v in naive], 5)
    assert protect_breakdown(cells, [int(v) for v in exact["n"]], 5) == list(shown["n"])


# --- trends ---------------------------------------------------------------------------------------

def test_the_trends_page_shows_suppressed_indicators_and_charts(pages: dict[str, BeautifulSoup],
                                                                con: duckdb.DuckDBPyConnection) -> None:
    page = pages["trends"]
    figures = page.find_all("figure")
    assert len(figures) == 2 and all(f.find("svg") is not None and f["role"] == "img" for f in figures)
    assert figures[0]["aria-label"].startswith("Seriediagrammer: andel pr. kvartal for K1, K2")
    assert not page.find_all("img")
    rows = rows_after(page, "K1 Vedholdenhed efter kommune")
    periods = rows[0][1:]
    exact = compute(con, settings_from_config(Config()), period="year", levels=["national", "municipality"])
    k1 = exact[exact["indicator"] == "K1"]
    # The latest years only, so the table fits the page; the year not over yet is starred.
    assert [p.rstrip(" *") for p in periods] == sorted(k1["period"].unique())[-6:]
    made = con.execute("SELECT created_at FROM snapshot_info").fetchone()[0]
    this_year = str(pd.Timestamp(made).tz_convert("Europe/Copenhagen").year)
    assert f"{this_year} *" in periods and "ikke afsluttet" in page.get_text(" ")
    # start-up periods (municipalities still joining) and the unfinished one are kept out of the median
    assert "er opstartsperioder" in page.get_text(" ")
    national = row_starting(rows, "Hele landet")
    for period, cell in zip(periods, national[1:]):
        [(x, d)] = k1[(k1["level"] == "national") & (k1["period"] == period.rstrip(" *"))][
            ["numerator", "denominator"]].values
        assert cell == f"{da(100 * x / d, 1)} % ({d})"
    shown = 0
    for row in rows[1:]:
        if row[0] == "Hele landet":
            continue
        for cell in row[1:]:
            if "%" in cell:  # a proportion is shown only with 5 or more courses behind it
                shown += 1
                assert int(cell.split("(")[1].rstrip(")")) >= 5
            else:
                assert cell in ("", "– (< 5)") or cell.startswith("– (")
    assert shown > 0


# --- who may use it -------------------------------------------------------------------------------

def test_an_identified_snapshot_is_refused(demo_snapshot: Path, session: KernelSession, tmp_path: Path) -> None:
    with pytest.raises(ReportFailed) as caught:
        run("research/change", {"snapshot": str(demo_snapshot), "lang": "da"}, session)
    assert caught.value.cause.startswith("IdentifiedSnapshot:")
    assert "identificeret snapshot" in caught.value.cause
    # The file's own record decides, not its name.
    disguised = Path(shutil.copy2(demo_snapshot, tmp_path / "snapshot-20250101T000000-pseudo.duckdb"))
    with pytest.raises(IdentifiedSnapshot) as refused:
        open_research(disguised, Config(data_dir=tmp_path))
    assert isinstance(refused.value, AccessDenied)


def test_the_default_snapshot_is_the_newest_research_snapshot(demo_research_snapshot: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESEARCH_DIR_ENV, str(tmp_path))
    with pytest.raises(NoResearchSnapshot, match="hjertekom snapshot --pseudonymise"):
        open_research("", Config(data_dir=tmp_path))
    older = Path(shutil.copy2(demo_research_snapshot, tmp_path / "snapshot-20240101T000000-pseudo.duckdb"))
    newer = Path(shutil.copy2(demo_research_snapshot, tmp_path / "snapshot-20250101T000000-pseudo.duckdb"))
    os.utime(older, (time.time() - 3600, time.time() - 3600))
    shutil.copy2(demo_research_snapshot, tmp_path / "snapshot-20260101T000000.duckdb")  # not a research file
    assert newest_research_snapshot(tmp_path) == newer
    with open_research("", Config(data_dir=tmp_path / "elsewhere")) as research:
        assert research.path == newer.resolve() and research.info.pseudonymised


# --- hjertekom lab --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lab_help_and_dry_run(tmp_path: Path) -> None:
    from hjertekom_core.cli import main

    runner = CliRunner()
    assert "pseudonymised snapshots only" in runner.invoke(main, ["lab", "--help"]).output
    env = {"HJERTEKOM_DATA_DIR": str(tmp_path / "var"), RESEARCH_DIR_ENV: "", "HJERTEKOM_RESEARCH_WORKSPACE": ""}
    done = runner.invoke(main, ["lab", "--dry-run", "--port", "8999", "--no-browser"], env=env)
    assert done.exit_code == 0, done.output
    # The research workspace beside the data folder, never the repository or the data folder.
    assert f"--ServerApp.root_dir={tmp_path / 'var-research'} " in done.output
    assert f"--ServerApp.root_dir={REPO}" not in done.output
    assert "--LabApp.default_url=/lab/tree/notebooks" in done.output
    assert "--ServerApp.ip=127.0.0.1" in done.output and "--ServerApp.port=8999" in done.output
    assert "--KernelManager.transport=ipc" in done.output and "--ContentsManager.allow_hidden=False" in done.output
    assert f"{RESEARCH_DIR_ENV}={tmp_path / 'var-research' / 'snapshots'}" in done.output
    assert not (tmp_path / "var").exists() and not (tmp_path / "var-research").exists()  # a dry run makes nothing


def test_lab_makes_a_research_snapshot_only_when_none_exists(tmp_path: Path) -> None:
    from hjertekom_core import audit
    from hjertekom_core.access import SYSTEM
    from hjertekom_core.bootstrap import initialise, open_workspace
    from hjertekom_core.cli.lab import ensure_research_snapshot
    from hjertekom_core.demo import generate_demo

    ws = open_workspace(Config(data_dir=tmp_path / "var", contracts_dir=CONTRACTS_DIR))
    initialise(ws)
    generate_demo(ws, 5, seed=2)
    first, made = ensure_research_snapshot(ws, SYSTEM)
    workspace = tmp_path / "var-research"
    assert made and first.parent == workspace / "snapshots"
    research = open_research(first, ws.config)
    assert research.info.pseudonymised and research.info.dates == "month"  # the default date mode
    assert "datoer: måned (dagen sat til den 1.)" in research.describe()
    research.close()
    assert ensure_research_snapshot(ws, SYSTEM) == (first, False)
    # The workspace got the research notebooks; the data folder got no pseudonymised snapshot (and no
    # leftover of the private folder the snapshot was written in).
    assert {"change.ipynb", "dropout.ipynb", "trends.ipynb"} <= {p.name for p in (workspace / "notebooks").iterdir()}
    assert not list((tmp_path / "var").rglob("*-pseudo*")) and not list((tmp_path / "var").glob(".lab-*"))
    with ws.store.read() as conn:  # made once, and the making is in the audit log
        made_entries = audit.entries(conn, action="snapshot.create")
    assert [e["entity_id"] for e in made_entries] == [first.name]
    assert json.loads(made_entries[0]["detail"])["dates"] == "month"
    ws.store.dispose()


def test_the_workspace_keeps_a_researchers_edited_notebook(tmp_path: Path) -> None:
    from hjertekom_core.lab_workspace import Owner, prepare_workspace

    config = Config(data_dir=tmp_path / "var")
    notebooks = prepare_workspace(config, Owner.me()) / "notebooks"
    (notebooks / "change.ipynb").write_text("{}", encoding="utf-8")  # the researcher's own version
    (notebooks / "dropout.ipynb").unlink()  # how to get a fresh copy: remove it and start the lab again
    prepare_workspace(config, Owner.me())
    assert (notebooks / "change.ipynb").read_text(encoding="utf-8") == "{}"
    assert (notebooks / "dropout.ipynb").read_bytes() == (REPO / "notebooks" / "research" / "dropout.ipynb").read_bytes()


@pytest.mark.slow
def test_lab_serves_the_research_notebooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab as its user runs it (folder-only set-up): the workspace, notebooks and kernels on Unix
    sockets. The research account's set-up is tested in tests/security/test_sec_lab.py."""
    from hjertekom_core.cli.lab import lab_launch
    from hjertekom_core.lab_workspace import Owner, prepare_workspace, runtime_folder

    port, token = _free_port(), "test-token-" + os.urandom(8).hex()
    # A runtime folder too deep for kernel sockets (as pytest's are, when not given a short
    # --basetemp): the lab must choose a short private one.
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(deep))
    assert not kernel_sockets.fits(deep)
    config = Config(data_dir=tmp_path / "var")
    workspace = prepare_workspace(config, Owner.me())
    launch = lab_launch(config, port=port, open_browser=False, token=token)
    assert launch.workspace == workspace == tmp_path / "var-research"
    assert launch.env[RESEARCH_DIR_ENV] == str(workspace / "snapshots")
    assert not any(k in launch.env for k in ("HJERTEKOM_DATA_DIR", "HJERTEKOM_DATABASE_URL", "HJERTEKOM_CONFIG"))
    assert token not in " ".join(launch.argv)  # the token is in the environment, not on the command line
    assert launch.private_runtime
    runtime = runtime_folder(Owner.me())
    assert launch.env["JUPYTER_RUNTIME_DIR"] == str(runtime)
    assert kernel_sockets.fits(runtime) and runtime.stat().st_mode & 0o077 == 0  # Jupyter may add the sticky bit
    env = {**launch.env, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    argv = launch.argv + (["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [])
    log = (tmp_path / "lab.log").open("wb")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workspace)  # noqa: S603
    try:
        listing = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}",
                                            timeout=5) as response:
                    listing = json.load(response)
                break
            except urllib.error.HTTPError as refused:  # an answer holds its connection until closed
                refused.close()
                time.sleep(0.5)
            except OSError:
                time.sleep(0.5)
        assert listing is not None, (tmp_path / "lab.log").read_text(errors="replace")[-2000:]
        assert {"change.ipynb", "dropout.ipynb", "trends.ipynb"} <= {f["name"] for f in listing["content"]}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5) as response:
            assert {f["name"] for f in json.load(response)["content"]} == {"notebooks", "snapshots"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5) as response:
            assert "python3" in json.load(response)["kernelspecs"]
        # A researcher's kernel starts, and on Unix sockets in that folder (its connection file says so).
        started = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels", method="POST", data=b"{}",
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(started, timeout=60) as response:  # noqa: S310 - http://127.0.0.1
            kernel_id = json.load(response)["id"]
        connection = json.loads((runtime / f"kernel-{kernel_id}.json").read_text(encoding="utf-8"))
        assert connection["transport"] == "ipc", connection
        assert Path(connection["ip"]).parent == runtime
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_report_command_renders_a_research_notebook(demo_research_snapshot: Path, demo_snapshot: Path,
                                                        tmp_path: Path) -> None:
    from hjertekom_core.cli import main

    env = {"HJERTEKOM_DATA_DIR": str(tmp_path / "var"), "HJERTEKOM_LOG_FILE": str(tmp_path / "log")}
    out = tmp_path / "change.html"
    done = CliRunner().invoke(main, ["report", "research", "change", "--snapshot", str(demo_research_snapshot),
                                     "--out", str(out)], env=env)
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert demo_research_snapshot.name in page and "<script" not in page.lower()

    refused = tmp_path / "refused.html"
    done = CliRunner().invoke(main, ["report", "research", "change", "--snapshot", str(demo_snapshot),
                                     "--out", str(refused)], env=env)
    assert done.exit_code != 0 and not refused.exists()
    assert "Traceback" not in done.output


def test_the_unfinished_and_start_up_periods_are_marked() -> None:
    """The period holding the snapshot's day is not over; leading periods with under half the typical
    number of courses nationally are start-up; a small period later on is not start-up."""
    import datetime as dt

    from hjertekom_core.research.trends import STARTUP, UNFINISHED, period_marks, period_of

    sizes = {"2021-Q1": 3, "2021-Q2": 15, "2021-Q3": 60, "2021-Q4": 70, "2022-Q1": 10, "2022-Q2": 65, "2022-Q3": 9}
    trends = pd.DataFrame({"level": "national", "period": list(sizes), "denominator": list(sizes.values())})
    assert period_of(dt.date(2022, 8, 14), "quarter") == "2022-Q3" and period_of(dt.date(2022, 8, 14), "year") == "2022"
    assert period_marks(trends, "quarter", dt.date(2022, 8, 14)) == {
        "2022-Q3": UNFINISHED, "2021-Q1": STARTUP, "2021-Q2": STARTUP}
    assert period_marks(trends, "quarter", None)["2021-Q1"] == STARTUP
