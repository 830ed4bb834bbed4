"""Where municipality reports live, and who may see which.

Layout: ``<reports_dir>/<period>/<code>-<slug>.html|pdf`` and an ``index.html`` per period. The
municipality code leads the file name, so access is decided from the name alone: a coordinator
lists and downloads the reports of their own municipalities, never another's.
"""
from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.errors import AccessDenied, NotFound

if TYPE_CHECKING:
    from hjertekom_core.store import Store

PERIOD = re.compile(r"^\d{4}$")
_FILE = re.compile(r"^(?P<code>\d{3,4})-(?P<slug>[a-z0-9-]+)\.(?P<format>html|pdf)$")
_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})
FORMATS = ("html", "pdf")


def check_period(period: str) -> str:
    if not PERIOD.match(period):
        raise ValueError(f"period must be a year such as 2025, not {period!r}")
    return period


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

    @property
    def format(self) -> str:
        return self.path.suffix.lstrip(".")

    @property
    def relative(self) -> str:
        """``2025/740-silkeborg.pdf``: the file's address below the reports folder."""
        return f"{self.period}/{self.path.name}"


def _files(reports_dir: Path) -> Iterable[ReportFile]:
    if not reports_dir.is_dir():
        return
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir() and PERIOD.match(p.name)):
        for path in sorted(folder.iterdir()):
            match = _FILE.match(path.name)
            if match and path.is_file():
                yield ReportFile(folder.name, int(match["code"]), path)


def _deny(store: Store | None, user: User, name: str | None, municipality: int | None, reason: str) -> None:
    """Audit a refusal (when the caller gave the store). ``name`` was typed by someone: it is kept
    only if it fits the column and holds nothing CPR-shaped."""
    if store is None:
        return
    if name is not None and (len(name) > 40 or CPR_PATTERN.search(name)):
        name = None
    audit.deny(store, user, "report.read", "report", name, municipality, reason)


def list_reports(reports_dir: Path, user: User, *, store: Store | None = None) -> list[ReportFile]:
    """The reports this user may download (own municipalities; all for an administrator), newest
    period first. With ``store``, a refusal is audited."""
    try:
        user.require("report.read")
    except AccessDenied as exc:
        _deny(store, user, None, None, exc.reason)
        raise
    mine = [f for f in _files(reports_dir) if user.acts_in(f.municipality_code)]
    return sorted(mine, key=lambda f: (-int(f.period), f.municipality_code, f.format))


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
        user.require("report.read", code)
        path = reports_dir / period / filename
        if not path.is_file():
            raise NotFound("report", f"{period}/{filename}")
    except (AccessDenied, NotFound) as exc:
        reason = exc.reason if isinstance(exc, AccessDenied) else "not found"
        _deny(store, user, f"{period}/{filename}" if laid_out else None, code if laid_out else None, reason)
        raise
    return ReportFile(period, code, path)


def index_html(period: str, rows: Sequence[tuple[int, str, Sequence[str]]], snapshot: str,
               failed: Sequence[tuple[int, str, str]] = ()) -> str:
    """The period's index page: one line per municipality with links to its files.

    ``rows`` holds (code, name, file names); ``failed`` holds (code, name, cause).
    """
    def links(files: Sequence[str]) -> str:
        return " ".join(f'<a href="{html.escape(f)}">{Path(f).suffix.lstrip(".").upper()}</a>' for f in files)

    body = "\n".join(f"<tr><td class=num>{code}</td><td>{html.escape(name)}</td><td>{links(files)}</td></tr>"
                     for code, name, files in rows)
    failures = ""
    if failed:
        items = "\n".join(f"<li>{code} {html.escape(name)}: {html.escape(cause)}</li>" for code, name, cause in failed)
        failures = f"<h2>Ikke lavet</h2>\n<ul>\n{items}\n</ul>\n"
    made = dt.datetime.now().astimezone().strftime("%d-%m-%Y %H:%M")
    return (f'<!DOCTYPE html>\n<html lang="da">\n<head>\n<meta charset="utf-8">\n'
            f"<title>Ledelsesinformation {period}</title>\n<style>body{{font-family:DejaVu Sans,Arial,sans-serif;"
            f"max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em;text-align:left}}"
            f".num{{text-align:right}}</style>\n</head>\n<body>\n"
            f"<h1>Ledelsesinformation {period}</h1>\n<p>Lavet {made} fra snapshot {html.escape(snapshot)}; "
            f"{len(rows)} kommuner.</p>\n<table>\n<tr><th class=num>Kode</th><th>Kommune</th><th>Filer</th></tr>\n"
            f"{body}\n</table>\n{failures}</body>\n</html>\n")
