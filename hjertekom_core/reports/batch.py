"""Municipality reports, one or a whole batch: papermill -> HTML -> PDF, files in place.

A batch runs in a bounded pool of worker processes. Each worker keeps one kernel and one chromium
for all its reports, which is where the time of a naive loop goes (a new kernel, new imports and a
new browser per report). A report that fails is recorded with its cause and the batch goes on.
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.util import Finalize
from pathlib import Path

from hjertekom_core.errors import HjerteKomError
from hjertekom_core.reports.library import FORMATS, check_period, index_html, report_stem
from hjertekom_core.reports.periods import parse_period
from hjertekom_core.reports.pdf import PdfPrinter
from hjertekom_core.reports.runner import KernelSession, execute, to_html, write_atomically
from hjertekom_core.snapshot.reader import open_snapshot

log = logging.getLogger("hjertekom.reports")

NOTEBOOK = "reports/municipality"
#: Added to the file name of a report made for publication (``--publish``).
PUBLISHED_SUFFIX = "-offentlig"
_TITLES = {"da": "Ledelsesinformation", "en": "Management report"}


@dataclass(frozen=True)
class MunicipalityJob:
    code: int
    name: str
    period: str
    snapshot: Path
    out_dir: Path                       # the period's folder
    formats: tuple[str, ...] = FORMATS
    lang: str = "da"
    config_file: str = ""
    publish: bool = False               # the edition for publication (municipality.py)
    comments_file: str = ""             # the coordinator's comments (guidance.load_comments), "" for none

    @property
    def title(self) -> str:
        from hjertekom_core.reports.html_parts import period_label

        return f"{_TITLES.get(self.lang, _TITLES['da'])} {self.name} {period_label(self.period, self.lang)}"

    @property
    def stem(self) -> str:
        """The file name without suffix; the edition for publication is named apart from the
        municipality's own (exact) one, so neither replaces the other."""
        return report_stem(self.code, self.name) + (PUBLISHED_SUFFIX if self.publish else "")


@dataclass(frozen=True)
class Outcome:
    code: int
    name: str
    files: tuple[Path, ...] = ()
    error: str | None = None
    seconds: float = 0.0


@dataclass
class BatchResult:
    period: str
    outcomes: list[Outcome] = field(default_factory=list)
    index: Path | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def made(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.error]


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}, not {', '.join(unknown) or 'none'}")
    return tuple(f for f in FORMATS if f in formats)


def municipality_names(snapshot: Path) -> dict[int, str]:
    with open_snapshot(snapshot)[0] as con:  # checked: a HjerteKom snapshot of a known version
        return dict(con.execute("SELECT code, name FROM municipalities ORDER BY code").fetchall())


def municipalities_with_data(snapshot: Path, period: str) -> list[tuple[int, str]]:
    """Municipalities with a course referred, started or ended in the period (a year or a quarter)."""
    chosen = parse_period(period)
    with open_snapshot(snapshot)[0] as con:
        return con.execute("""
            SELECT DISTINCT m.code, m.name
            FROM courses c
            JOIN municipalities m ON m.code = c.municipality_code
            LEFT JOIN hjertekom_course k ON k.course_id = c.course_id
            LEFT JOIN hjertekom_start s ON s.course_id = c.course_id
            LEFT JOIN hjertekom_end e ON e.course_id = c.course_id
            WHERE (k.referral_date >= $start AND k.referral_date < $end)
               OR (s.meeting_date >= $start AND s.meeting_date < $end)
               OR (e.meeting_date >= $start AND e.meeting_date < $end)
            ORDER BY m.code""", {"start": chosen.start, "end": chosen.end}).fetchall()


class Renderer:
    """One kernel (and one browser when PDFs are wanted) that renders report after report."""

    def __init__(self, chromium: Path | None) -> None:
        self._chromium = chromium
        self._stack = ExitStack()
        self.session: KernelSession | None = None
        self.printer: PdfPrinter | None = None

    def __enter__(self) -> Renderer:
        self.session = self._stack.enter_context(KernelSession())
        if self._chromium is not None:
            self.printer = self._stack.enter_context(PdfPrinter(self._chromium))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def municipality(self, job: MunicipalityJob) -> Outcome:
        """Render one report; raises on failure (the batch turns that into an Outcome)."""
        started = time.perf_counter()
        if self.session is None or not self.session.alive():
            raise HjerteKomError("the report kernel has stopped")
        nb = execute(NOTEBOOK, {"snapshot": str(job.snapshot), "municipality": job.code, "period": job.period,
                                "lang": job.lang, "config_file": job.config_file, "publish": job.publish,
                                "comments_file": job.comments_file},
                     session=self.session)
        page = to_html(nb, job.title, job.lang)
        stem = job.out_dir / job.stem
        files = []
        if "html" in job.formats:
            write_atomically(stem.with_suffix(".html"), page)
            files.append(stem.with_suffix(".html"))
        if "pdf" in job.formats:
            if self.printer is None:
                raise HjerteKomError("PDF asked for, but no printer was started")
            write_atomically(stem.with_suffix(".pdf"), self.printer.pdf(page, job.title, job.lang))
            files.append(stem.with_suffix(".pdf"))
        return Outcome(job.code, job.name, tuple(files), seconds=time.perf_counter() - started)


# --- the worker processes of a batch --------------------------------------------------------------
_worker: Renderer | None = None


def _start_worker(chromium: Path | None) -> None:
    global _worker
    _worker = Renderer(chromium).__enter__()
    # Runs when the pool shuts the worker down: no kernel or browser outlives its worker.
    Finalize(_worker, _worker.__exit__, exitpriority=10)


def _render_in_worker(job: MunicipalityJob) -> Outcome:
    assert _worker is not None
    try:
        return _worker.municipality(job)
    except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the batch
        log.warning("report %s %s failed: %s", job.code, job.period, exc)
        return Outcome(job.code, job.name, error=f"{type(exc).__name__}: {exc}")


@contextmanager
def _pool(workers: int, chromium: Path | None) -> Iterator[ProcessPoolExecutor]:
    # spawn, not fork: a forked copy of a process with threads (Playwright, the kernel client's
    # loops) can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(chromium,)) as pool:
        yield pool


def run_batch(jobs: Sequence[MunicipalityJob], *, workers: int, chromium: Path | None,
              progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Render every job in a pool of ``workers`` processes; outcomes in the jobs' order."""
    if not jobs:
        return []
    outcomes: dict[int, Outcome] = {}
    with _pool(min(workers, len(jobs)), chromium) as pool:
        futures = {pool.submit(_render_in_worker, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died (e.g. killed) fails its job only
                outcome = Outcome(job.code, job.name, error=f"{type(exc).__name__}: {exc}")
            outcomes[job.code] = outcome
            if progress is not None:
                progress(outcome)
    return [outcomes[job.code] for job in jobs]


def render_all(snapshot: Path, period: str, reports_dir: Path, *, formats: Sequence[str] = FORMATS,
               workers: int = 2, chromium: Path = Path("/usr/bin/chromium"), lang: str = "da",
               config_file: str = "", codes: Sequence[int] | None = None,
               progress: Callable[[Outcome], None] | None = None, publish: bool = False) -> BatchResult:
    """Every municipality with data in the period (or ``codes``), then the period's index page.

    A municipality's comments are read from ``<reports_dir>/<period>/kommentarer/<code>.yaml`` when
    that file exists (``comments_path``)."""
    formats = check_formats(formats)
    period = check_period(period)
    out_dir = reports_dir / period
    names = municipality_names(snapshot)
    chosen = ([(c, names[c]) for c in codes if c in names] if codes is not None
              else municipalities_with_data(snapshot, period))
    jobs = [MunicipalityJob(code, name, period, snapshot, out_dir, formats, lang, config_file, publish,
                            _existing(comments_path(reports_dir, period, code)))
            for code, name in chosen]
    result = BatchResult(period, run_batch(jobs, workers=workers, chromium=chromium if "pdf" in formats else None,
                                           progress=progress))
    result.index = write_index(out_dir, period, snapshot, result.failed, config_file=config_file)
    return result


#: The folder, inside a period's report folder, where coordinators put their comments files.
COMMENTS_DIR = "kommentarer"


def comments_path(reports_dir: Path, period: str, code: int) -> Path:
    """Where a municipality's comments for a period are looked for: ``<reports_dir>/<period>/kommentarer/<code>.yaml``."""
    return reports_dir / period / COMMENTS_DIR / f"{code}.yaml"


def _existing(path: Path) -> str:
    return str(path.resolve()) if path.is_file() else ""


def render_one(snapshot: Path, code: int, period: str, reports_dir: Path, *, formats: Sequence[str] = FORMATS,
               chromium: Path = Path("/usr/bin/chromium"), lang: str = "da", config_file: str = "",
               publish: bool = False, comments_file: Path | None = None) -> Outcome:
    """One municipality's report, in this process; raises if it cannot be made.

    ``comments_file``: the coordinator's comments; default ``comments_path`` when it exists. The
    file is checked here, so a bad one is a clear message before a kernel starts."""
    from hjertekom_core.reports.guidance import load_comments

    formats = check_formats(formats)
    period = check_period(period)
    out_dir = reports_dir / period
    names = municipality_names(snapshot)
    if code not in names:
        raise ValueError(f"no municipality with code {code}")
    comments = str(comments_file.resolve()) if comments_file is not None else _existing(
        comments_path(reports_dir, period, code))
    if comments:
        load_comments(comments, municipality=code, period=period)
    job = MunicipalityJob(code, names[code], period, snapshot, out_dir, formats, lang, config_file, publish, comments)
    with Renderer(chromium if "pdf" in formats else None) as renderer:
        outcome = renderer.municipality(job)
    write_index(out_dir, period, snapshot, config_file=config_file)
    return outcome


def write_index(out_dir: Path, period: str, snapshot: Path, failed: Sequence[Outcome] = (), *,
                config_file: str = "") -> Path:
    """index.html listing every report now in the period's folder (earlier runs' included), with each
    municipality's K1-K6 (``index_figures``)."""
    names = municipality_names(snapshot)
    by_code: dict[int, list[str]] = {}
    for path in sorted(out_dir.glob("*-*.*")) if out_dir.is_dir() else []:
        code = path.name.split("-", 1)[0]
        if code.isdigit() and path.suffix in (".html", ".pdf"):
            by_code.setdefault(int(code), []).append(path.name)
    rows = [(code, names.get(code, str(code)), files) for code, files in sorted(by_code.items())]
    index = out_dir / "index.html"
    figures = index_figures(snapshot, period, config_file) if rows else {}
    write_atomically(index, index_html(period, rows, snapshot.name,
                                       [(o.code, o.name, o.error or "") for o in failed], figures=figures))
    return index


def index_figures(snapshot: Path, period: str, config_file: str = "") -> dict[int, dict[str, tuple[float, str]]]:
    """Per municipality and indicator: (share, status) as a published page may show them.

    The index lists every municipality side by side and may be put online, so it follows the
    publication rules: one protected table of every municipality's numerator and denominator in
    the period (disclosure.protect, nobody's own numbers exact); a hidden share is NaN.
    """
    import math

    import pandas as pd

    from hjertekom_core import disclosure
    from hjertekom_core.config import load_config
    from hjertekom_core.indicators import compute, settings_from_config

    chosen = parse_period(period)
    config = load_config(config_file or None)
    settings = settings_from_config(config)
    with open_snapshot(snapshot)[0] as con:
        table = compute(con, settings, period=chosen.kind, levels=("municipality",))
        hierarchy = disclosure.Hierarchy.from_snapshot(con, settings.clusters)
    rows = table["period"].astype(str) == chosen.text
    counts = ["numerator", "denominator", "unknown"]
    published = {c: rows & (c != "unknown") for c in counts}

    shown = disclosure.protect(table, hierarchy, threshold=config.suppress_below, published=pd.DataFrame(published),
                               complete=[("municipality", chosen.kind)], linked=rows)
    out: dict[int, dict[str, tuple[float, str]]] = {}
    for row in shown.itertuples():
        share = float(row.proportion) if row.proportion is not None and not pd.isna(row.proportion) else math.nan
        out.setdefault(int(row.unit), {})[str(row.indicator)] = (share, str(row.status))
    return out
