"""Where municipality reports live, and who may see which.

Layout: ``<reports_dir>/<period>/<code>-<slug>.html|pdf`` and an ``index.html`` per period (a year,
``2025``, or a quarter, ``2025-Q3``). The
municipality code leads the file name, so access is decided from the name alone: a coordinator
lists and downloads the reports of their own municipalities, never another's. The reports are
HjerteKom's management reports (``reports/municipality.py``), so a coordinator sees them where they
act in that programme (``REPORT_PROGRAMME``): one with rights in another programme only does not.

Any programme's reports (``hjertekom report programme-all``, reports/programme.py) live in
``<reports_dir>/<programme>/<period>/<code>-<slug>.html|pdf``: a user sees them where they act in
that programme in the file's municipality (``User.acts_in(code, programme)``), exactly as
HjerteKom's are filtered, and only for the programmes loaded (``programmes``): a folder of another
name is never listed or served.
"""
from __future__ import annotations

import datetime as dt
import html
import math
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_core.reports.periods import CANONICAL, parse_period

if TYPE_CHECKING:
    from hjertekom_core.store import Store

PERIOD = CANONICAL  # a report folder: 2025 or 2025-Q3
_FILE = re.compile(r"^(?P<code>\d{3,4})-(?P<slug>[a-z0-9-]+)\.(?P<format>html|pdf)$")
_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})
FORMATS = ("html", "pdf")
#: The programme whose courses the library's reports count.
REPORT_PROGRAMME = "hjertekom"
#: A programme's folder: its name as the contract schema allows it (``^[a-z][a-z0-9_]*$``).
PROGRAMME_FOLDER = re.compile(r"^[a-z][a-z0-9_]*$")


def check_period(period: str) -> str:
    """The period as its folder is named ('2025', '2025-Q3'); PeriodError (a ValueError with a
    Danish / English message) for anything else."""
    return parse_period(period).text


def slug(name: str) -> str:
    """'Lyngby-Taarbæk' -> 'lyngby-taarbaek': safe in any file system and URL."""
    folded = unicodedata.normalize("NFKD", name.translate(_FOLD)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def report_stem(code: int, name: str) -> str:
    return f"{code}-{slug(name)}"


@dataclass(frozen=True)
class ReportFile:
    period: str
    municipality_code: int
    path: Path
    programme: str = REPORT_PROGRAMME
    #: In the programme's own folder (a programme report, ``<programme>/<period>/``), not one of
    #: HjerteKom's management reports (``<period>/``).
    in_programme_folder: bool = False

    @property
    def format(self) -> str:
        return self.path.suffix.lstrip(".")

    @property
    def relative(self) -> str:
        """``2025/740-silkeborg.pdf`` (``faldforebyggelse/2025/740-silkeborg.pdf`` for a programme
        report): the file's address below the reports folder."""
        return f"{self.programme}/{self.in_period}" if self.in_programme_folder else self.in_period

    @property
    def in_period(self) -> str:
        """``2025/740-silkeborg.pdf``: the file below its programme's folder (what the audit names;
        a programme report's audit row says its programme in ``detail``)."""
        return f"{self.period}/{self.path.name}"


def _files(reports_dir: Path, programme: str | None = None) -> Iterable[ReportFile]:
    """HjerteKom's management reports (``programme`` None), or the reports in ``programme``'s folder."""
    root = reports_dir if programme is None else reports_dir / programme
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and PERIOD.match(p.name)):
        for path in sorted(folder.iterdir()):
            match = _FILE.match(path.name)
            if match and path.is_file():
                if programme is None:
                    yield ReportFile(folder.name, int(match["code"]), path)
                else:
                    yield ReportFile(folder.name, int(match["code"]), path, programme, in_programme_folder=True)


def _deny(store: Store | None, user: User, name: str | None, municipality: int | None, reason: str,
          programme: str | None = None) -> None:
    """Audit a refusal (when the caller gave the store). ``name`` was typed by someone: it is kept
    only if it fits the column and holds nothing CPR-shaped; ``programme`` only when it is a loaded one."""
    if store is None:
        return
    if name is not None and (len(name) > 40 or CPR_PATTERN.search(name)):
        name = None
    audit.deny(store, user, "report.read", "report", name, municipality, reason,
               {"programme": programme} if programme else None)


def _newest_first(files: Iterable[ReportFile]) -> list[ReportFile]:
    # Newest first; a year before its quarters (2025, 2025-Q4, ..., 2025-Q1, 2024, ...).
    return sorted(files, key=lambda f: (-parse_period(f.period).year, -(parse_period(f.period).quarter or 5),
                                        f.municipality_code, f.format))


def list_reports(reports_dir: Path, user: User, *, store: Store | None = None,
                 programmes: Iterable[str] = ()) -> list[ReportFile]:
    """The reports this user may download (own municipalities; all for an administrator), newest
    period first: HjerteKom's management reports, then for each of ``programmes`` (the loaded ones,
    in the order given) the reports in its folder that the user may see (``acts_in(code, programme)``).
    With ``store``, a refusal is audited."""
    try:
        user.require("report.read")
    except AccessDenied as exc:
        _deny(store, user, None, None, exc.reason)
        raise
    found = _newest_first(f for f in _files(reports_dir) if user.acts_in(f.municipality_code, REPORT_PROGRAMME))
    for programme in programmes:
        if not PROGRAMME_FOLDER.match(programme):
            continue
        found += _newest_first(f for f in _files(reports_dir, programme) if user.acts_in(f.municipality_code, programme))
    return found


def open_report(reports_dir: Path, user: User, period: str, filename: str, *,
                store: Store | None = None) -> ReportFile:
    """The report file ``period/filename`` if it exists and this user may read it.

    The name must match the layout exactly, so no path (``..``, ``/``) can reach outside the folder.
    With ``store``, a refusal (not allowed, or not found) is audited.
    """
    match = _FILE.match(filename)
    laid_out = bool(PERIOD.match(period) and match)
    code = int(match["code"]) if match else None
    try:
        user.require("report.read")
        if not laid_out or code is None:
            raise NotFound("report", f"{period}/{filename}")
        user.require("report.read", code, programme=REPORT_PROGRAMME)
        path = reports_dir / period / filename
        if not path.is_file():
            raise NotFound("report", f"{period}/{filename}")
    except (AccessDenied, NotFound) as exc:
        reason = exc.reason if isinstance(exc, AccessDenied) else "not found"
        _deny(store, user, f"{period}/{filename}" if laid_out else None, code if laid_out else None, reason)
        raise
    return ReportFile(period, code, path)


def open_programme_report(reports_dir: Path, user: User, programme: str, period: str, filename: str, *,
                          programmes: Iterable[str], store: Store | None = None) -> ReportFile:
    """The report ``<programme>/<period>/<filename>`` if ``programme`` is one of ``programmes`` (the
    loaded ones), the file exists and this user may read it: ``report.read`` where they act in
    ``programme`` in the file's municipality. Exact names only, as ``open_report``; with ``store``, a
    refusal (not allowed, not found, not a loaded programme) is audited."""
    match = _FILE.match(filename)
    known = bool(PROGRAMME_FOLDER.match(programme)) and programme in set(programmes)
    laid_out = bool(known and PERIOD.match(period) and match)
    code = int(match["code"]) if match else None
    try:
        user.require("report.read")
        if not laid_out or code is None:
            raise NotFound("report", f"{programme}/{period}/{filename}")
        user.require("report.read", code, programme=programme)
        path = reports_dir / programme / period / filename
        if not path.is_file():
            raise NotFound("report", f"{programme}/{period}/{filename}")
    except (AccessDenied, NotFound) as exc:
        reason = exc.reason if isinstance(exc, AccessDenied) else "not found"
        _deny(store, user, f"{period}/{filename}" if laid_out else None, code if laid_out else None, reason,
              programme if known else None)
        raise
    return ReportFile(period, code, path, programme, in_programme_folder=True)


#: Status symbols that read in black and white (shape, not colour); the reports and the index use them.
STATUS_SYMBOLS = {"met": "✓", "not_met": "!", "below": "✗", "no_data": "–", "no_standard": "·",
                  "suppressed": "..", "withheld": ".."}
_INDICATORS = ("K1", "K2", "K3", "K4", "K5", "K6")
_DANISH_TIME = zoneinfo.ZoneInfo("Europe/Copenhagen")


def _share(value: tuple[float, str] | None) -> str:
    """(0.832, 'met') -> '✓ 83,2 %'; a hidden share '..', none '–'."""
    if value is None:
        return "–"
    share, status = value
    if math.isnan(share):
        return ".." if status in ("suppressed", "withheld") else "–"
    symbol = STATUS_SYMBOLS.get(status, "")
    return f"{symbol} {share * 100:.1f} %".replace(".", ",").strip()


def index_html(period: str, rows: Sequence[tuple[int, str, Sequence[str]]], snapshot: str,
               failed: Sequence[tuple[int, str, str]] = (), *,
               figures: Mapping[int, Mapping[str, tuple[float, str]]] | None = None,
               now: dt.datetime | None = None) -> str:
    """The period's index page: one line per municipality with its K1-K6 and links to its files.

    ``rows`` holds (code, name, file names); ``failed`` holds (code, name, cause); ``figures`` per
    municipality and indicator (share, status) as published (batch.index_figures). The time is
    Danish local time.
    """
    def links(files: Sequence[str]) -> str:
        def label(f: str) -> str:
            kind = Path(f).suffix.lstrip(".").upper()
            return f"{kind} (offentlig)" if Path(f).stem.endswith("-offentlig") else kind
        return " ".join(f'<a href="{html.escape(f)}">{html.escape(label(f))}</a>' for f in files)

    figures = figures or {}
    head = "".join(f"<th class=num>{k}</th>" for k in _INDICATORS)
    body = "\n".join(
        f"<tr><td class=num>{code}</td><td>{html.escape(name)}</td>"
        + "".join(f'<td class=num data-indicator="{k}" data-unit="{code}">{html.escape(_share(figures.get(code, {}).get(k)))}'
                  "</td>" for k in _INDICATORS)
        + f"<td>{links(files)}</td></tr>"
        for code, name, files in rows)
    failures = ""
    if failed:
        items = "\n".join(f"<li>{code} {html.escape(name)}: {html.escape(cause)}</li>" for code, name, cause in failed)
        failures = f"<h2>Ikke lavet</h2>\n<ul>\n{items}\n</ul>\n"
    made = (now or dt.datetime.now(dt.timezone.utc)).astimezone(_DANISH_TIME).strftime("%d.%m.%Y kl. %H:%M")
    title = f"Ledelsesinformation {html.escape(period)}"
    return (f'<!DOCTYPE html>\n<html lang="da">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title}</title>\n<style>body{{font-family:DejaVu Sans,Arial,sans-serif;"
            f"max-width:70em;margin:2em auto}}td,th{{padding:.2em .6em;text-align:left;"
            f"border-bottom:1px solid #bbb}}.num{{text-align:right;white-space:nowrap}}</style>\n</head>\n<body>\n"
            f"<h1>{title}</h1>\n<p>Lavet {made} (dansk tid) fra snapshot {html.escape(snapshot)}; "
            f"{len(rows)} kommuner.</p>\n"
            "<p>Andel pr. indikator som i udgaven til offentliggørelse: ✓ opfyldt, ! ikke opfyldt, ✗ statistisk "
            "under standarden, · ingen standard, – ingen data, .. ikke vist (for få forløb).</p>\n"
            f"<table>\n<tr><th class=num>Kode</th><th>Kommune</th>{head}<th>Filer</th></tr>\n"
            f"{body}\n</table>\n{failures}</body>\n</html>\n")
