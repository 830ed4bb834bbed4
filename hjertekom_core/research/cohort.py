"""Opening a research snapshot, and the one-row-per-course frame every analysis starts from.

Researchers work on pseudonymised snapshots only: ``open_research`` refuses a snapshot whose
``snapshot_info.pseudonymised`` is false, whatever its file name says.
"""
from __future__ import annotations

import datetime as dt
import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from hjertekom_core.config import Config, load_config
from hjertekom_core.contract import Text
from hjertekom_core.contract.loader import load_codelist
from hjertekom_core.errors import AccessDenied
from hjertekom_core.indicators import IndicatorSettings, settings_from_config
from hjertekom_core.indicators.facts import PROGRAMME
from hjertekom_core.indicators.key_figures import AGE_BANDS
from hjertekom_core.research.labels import VALUE_LABELS
from hjertekom_core.snapshot import SnapshotError, SnapshotInfo, newest_snapshot
from hjertekom_core.snapshot import open_snapshot as open_checked_snapshot

#: Environment variable naming the folder of research snapshots (set by ``hjertekom lab``).
RESEARCH_DIR_ENV = "HJERTEKOM_RESEARCH_SNAPSHOTS"
#: Lower limits of the age bands after the first (<50, 50-59, 60-69, 70-79, 80+): the key figures'
#: bands, applied here to the age at the start meeting.
AGE_CUTS = tuple(low for _, low, _ in AGE_BANDS[1:])
#: How a result names the snapshot's date mode (snapshot/dates.py, docs/research.md).
DATE_MODE_NAMES = {"exact": Text("som registreret", "as registered"),
                   "month": Text("måned (dagen sat til den 1.)", "month (day set to the 1st)"),
                   "shifted": Text("forskudt pr. borger", "shifted per citizen")}
#: HADS subscale bands (docs/domain.md): 0-7 normal, 8-10 borderline, 11-21 case.
HADS_BANDS = ((0, "normal"), (8, "borderline"), (11, "case"))


class IdentifiedSnapshot(AccessDenied):
    """A research analysis was pointed at an identified snapshot (CPR numbers and names)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            "snapshot.pseudonymised",
            f"{path.name} er et identificeret snapshot (CPR-numre og navne); forskning bruger kun "
            "pseudonymiserede snapshots: kør `hjertekom snapshot --pseudonymise` / "
            f"{path.name} is an identified snapshot; research uses pseudonymised snapshots only")


class NoResearchSnapshot(SnapshotError):
    """No pseudonymised snapshot was found (or the named file does not exist)."""


def research_dir(config: Config | None = None) -> Path:
    """The folder of research snapshots: $HJERTEKOM_RESEARCH_SNAPSHOTS, else the research workspace's
    ``snapshots`` folder (``<research_workspace>/snapshots``), never the data folder."""
    env = os.environ.get(RESEARCH_DIR_ENV)
    if env:
        return Path(env).resolve()
    config = config or load_config()
    workspace = config.research_workspace or config.data_dir.parent / f"{config.data_dir.name or 'var'}-research"
    return (workspace / "snapshots").resolve()


def newest_research_snapshot(folder: Path) -> Path:
    """The newest pseudonymised snapshot in ``folder``; NoResearchSnapshot if there is none."""
    found = newest_snapshot(folder, pseudonymised=True)
    if found is None:
        raise NoResearchSnapshot(
            f"ingen pseudonymiseret snapshot i {folder}: kør `hjertekom snapshot --pseudonymise` "
            f"(eller `hjertekom lab`) / no pseudonymised snapshot in {folder}")
    return found


def open_snapshot(path: Path) -> tuple[duckdb.DuckDBPyConnection, SnapshotInfo]:
    """A read-only connection to a pseudonymised snapshot; IdentifiedSnapshot for any other."""
    if not path.is_file():
        raise NoResearchSnapshot(f"snapshot {path} findes ikke / does not exist")
    con, info = open_checked_snapshot(path)  # NotASnapshot, UnknownSnapshotVersion: one clear line
    if not info.pseudonymised:
        con.close()
        raise IdentifiedSnapshot(path)
    return con, info


# --- diagnosis groups --------------------------------------------------------------------------

@dataclass(frozen=True)
class DiagnosisGroups:
    """The ``group`` attribute of the diagnosis_group code list: code -> group, in code-list order.

    A course with several codes belongs to the first group in this order (ischaemic heart disease
    before heart failure, valve surgery, arrhythmia, other): its *primary* group.
    """

    of_code: Mapping[str, str]
    order: tuple[str, ...]
    labels: Mapping[str, Text] = field(default_factory=dict)

    def primary(self, codes: Sequence[str] | None) -> str | None:
        if codes is None:
            return None
        groups = {self.of_code[c] for c in codes if c in self.of_code}
        return next((g for g in self.order if g in groups), None)

    def label(self, group: str, lang: str = "da") -> str:
        found = self.labels.get(group)
        return found.get(lang) if found else group


def load_diagnosis_groups(contracts_dir: Path) -> DiagnosisGroups:
    codelist = load_codelist(contracts_dir / "codelists" / "diagnosis_group.yaml")
    of_code: dict[str, str] = {}
    members: dict[str, list[Text]] = {}
    for code in codelist.codes:
        group = str(code.attributes.get("group", code.code))
        of_code[str(code.code)] = group
        members.setdefault(group, []).append(code.label)
    own = VALUE_LABELS["diagnosis_group"]
    # A group of one code is named by that code's label; larger groups need a name of their own.
    labels = {g: own.get(g) or (texts[0] if len(texts) == 1 else Text(g, g)) for g, texts in members.items()}
    return DiagnosisGroups(of_code, tuple(members), labels)


# --- the research snapshot -----------------------------------------------------------------------

@dataclass
class ResearchSnapshot:
    """An open pseudonymised snapshot with what the analyses need from configuration."""

    path: Path
    info: SnapshotInfo
    con: duckdb.DuckDBPyConnection
    groups: DiagnosisGroups
    settings: IndicatorSettings
    suppress_below: int = 5

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ResearchSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self, lang: str = "da") -> str:
        """One HTML line naming the snapshot, so a result can be traced to its data."""
        words = {"da": ("Snapshot", "lavet", "indholdshash", "pseudonymiseret", "datoer"),
                 "en": ("Snapshot", "created", "content hash", "pseudonymised", "dates")
                 }[lang if lang == "en" else "da"]
        created = dt.datetime.fromisoformat(self.info.created_at).astimezone(dt.timezone.utc)
        dates = DATE_MODE_NAMES.get(self.info.dates, Text(self.info.dates, self.info.dates)).get(lang)
        return (f'<p class="hk-muted">{words[0]}: <code>{html.escape(self.path.name)}</code>, '
                f"{words[1]} {created:%Y-%m-%d %H:%M:%S} UTC, "
                f"{words[2]} <code>{html.escape(self.info.content_hash[:19])}</code> "
                f"({words[3]}; {words[4]}: {html.escape(dates)})</p>")


def open_research(snapshot: str | Path = "", config: Config | None = None) -> ResearchSnapshot:
    """Open ``snapshot`` (default: the newest in the research folder) for analysis."""
    config = config or load_config()
    path = Path(snapshot).resolve() if str(snapshot) else newest_research_snapshot(research_dir(config))
    con, info = open_snapshot(path)
    return ResearchSnapshot(path, info, con, load_diagnosis_groups(config.contracts_dir),
                            settings_from_config(config), config.suppress_below)


# --- one row per course --------------------------------------------------------------------------

def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
        [table]).fetchall()}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def age_band(age: pd.Series, cuts: Sequence[int] = AGE_CUTS) -> pd.Series:
    """'<50', '50-59', ..., '80+' (None where the age is unknown)."""
    labels = [f"<{cuts[0]}"] + [f"{lo}-{hi - 1}" for lo, hi in zip(cuts, cuts[1:])] + [f"{cuts[-1]}+"]
    bins = [-float("inf"), *cuts, float("inf")]
    banded = pd.cut(age.astype("Float64"), bins=bins, labels=labels, right=False)
    return banded.astype(object).where(banded.notna(), None)


def hads_band(score: pd.Series) -> pd.Series:
    out = pd.Series([None] * len(score), index=score.index, dtype=object)
    values = score.astype("Float64")
    for lower, name in HADS_BANDS:
        out[(values >= lower).fillna(False).to_numpy()] = name
    return out


def _codes(value: object) -> list[str] | None:
    """A multi_choice cell (list or array from DuckDB; None or NaN when not registered) as a list."""
    if value is None or value is pd.NA or isinstance(value, float):
        return None
    return [str(v) for v in value]  # type: ignore[attr-defined]


def _band_key(value: object) -> tuple[int, float, str]:
    """'<50' < '50-59' < ... < '80+'; numbers by value; anything else after, alphabetically."""
    text_ = str(value)
    match = re.match(r"<?(\d+)", text_)
    if match:
        return 0, -1.0 if text_.startswith("<") else float(match[1]), text_
    return 1, 0.0, text_


#: Fixed orders of grouping values (others: bands and numbers by value, then alphabetically).
VALUE_ORDER = {"sex": ("M", "F"), "start_smoking": ("daily", "occasional", "former", "never", "UNK"),
               "start_hads_anxiety_band": tuple(b for _, b in HADS_BANDS),
               "start_hads_depression_band": tuple(b for _, b in HADS_BANDS)}


def group_order(values: pd.Series, factor: str, groups: DiagnosisGroups) -> list[object]:
    """The distinct values of a grouping variable in reading order; None (not registered) last."""
    present = list(values.dropna().unique())
    fixed = groups.order if factor == "diagnosis_group" else VALUE_ORDER.get(factor)
    if fixed is not None:
        rank = {v: i for i, v in enumerate(fixed)}
        present = sorted(present, key=lambda v: (rank.get(v, len(rank)), str(v)))
    else:
        present = sorted(present, key=_band_key)
    return present + ([None] if values.isna().any() else [])


def course_frame(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                 measures: Sequence[str] = ()) -> pd.DataFrame:
    """One row per course of the programme: who (sex, age band, diagnosis group, municipality),
    whether start and end are registered complete, how the course ended, baseline HADS and
    smoking, and ``start_<m>``/``end_<m>`` for each measure ``m`` (a column of both forms)."""
    start_cols, end_cols = _columns(con, f"{PROGRAMME}_start"), _columns(con, f"{PROGRAMME}_end")
    missing = [m for m in measures if m not in start_cols or m not in end_cols]
    if missing:
        raise ValueError(f"not measured at both start and end: {', '.join(missing)}")
    course_columns = _columns(con, "courses")
    key = "citizen_key" if "citizen_key" in course_columns else "citizen_id"
    citizen_key = key if key == "citizen_key" else "id AS citizen_id"
    # course_key in a pseudonymised snapshot; course_id in one written before it had course keys.
    course = "course_key" if "course_key" in course_columns else "course_id"
    pairs = "".join(f", s.{_q(m)} AS {_q('start_' + m)}, e.{_q(m)} AS {_q('end_' + m)}" for m in measures)
    frame = con.execute(f"""
        SELECT c.{course}, c.municipality_code, mu.name AS municipality, ci.sex, c.age_at_start,
               co.diagnosis_groups,
               coalesce(s.status = 'complete', false) AS start_complete,
               coalesce(e.status = 'complete', false) AS end_complete,
               s.meeting_date AS start_date, e.meeting_date AS end_date,
               e.course_status, e.dropout_reason,
               s.smoking AS start_smoking, s.hads_anxiety AS start_hads_anxiety,
               s.hads_depression AS start_hads_depression{pairs}
        FROM courses c
        LEFT JOIN (SELECT {citizen_key}, sex FROM citizens) ci USING ({key})
        LEFT JOIN municipalities mu ON mu.code = c.municipality_code
        LEFT JOIN {PROGRAMME}_course co ON co.{course} = c.{course}
        LEFT JOIN {PROGRAMME}_start s ON s.{course} = c.{course}
        LEFT JOIN {PROGRAMME}_end e ON e.{course} = c.{course}
        WHERE c.programme = ?
        ORDER BY c.{course}""", [PROGRAMME]).df()
    frame["age_band"] = age_band(frame["age_at_start"])
    frame["diagnosis_group"] = [groups.primary(_codes(v)) for v in frame.pop("diagnosis_groups")]
    for scale in ("anxiety", "depression"):
        frame[f"start_hads_{scale}_band"] = hads_band(frame[f"start_hads_{scale}"])
    return frame
