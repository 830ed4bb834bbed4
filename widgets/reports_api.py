"""Reports in the web app, behind the same login as the entry forms.

- ``/hjertekom/rapporter``: a coordinator's list of their own municipality's reports (never
  another municipality's), with links to download them: HjerteKom's management reports and every
  loaded programme's reports (``hjertekom report programme-all``) where the user acts in that
  programme, grouped by programme under its Danish label.
- ``/hjertekom/rapporter/<period>/<file>``: one of HjerteKom's management reports, if the user may read it.
- ``/hjertekom/rapporter/<programme>/<period>/<file>``: one programme report, likewise (the
  programme checked with the municipality).
- ``/hjertekom/forloeb/<id>/<borger|opsummering>.<html|pdf>``: the citizen sheet or the course
  summary of a course in the user's municipalities, made on request (papermill, then chromium).

Every download and every sheet is audited. Rendering runs outside the event loop so that other
users' forms are not held up.
"""
from __future__ import annotations

import html
import logging
import re
import threading

from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.ioloop import IOLoop

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.reports.library import (
    PERIOD,
    PROGRAMME_FOLDER,
    REPORT_PROGRAMME,
    ReportFile,
    list_reports,
    open_programme_report,
    open_report,
)
from hjertekom_widgets.auth import HjerteKomIdentityProvider
from hjertekom_widgets.text import t

log = logging.getLogger(__name__)

LIST_ROUTE = r"/hjertekom/rapporter/?"
# Everything below the list, so that a malformed address (..%2F, other names) gets this handler's
# Danish 404 rather than a redirect to Voilà's file handler; open_report accepts exact names only.
FILE_ROUTE = r"/hjertekom/rapporter/([^/]*)/?(.*)"
COURSE_ROUTE = r"/hjertekom/forloeb/(.*)"  # likewise: checked by _COURSE_PATH in the handler
_COURSE_PATH = re.compile(r"^(\d{1,12})/(borger|opsummering)\.(html|pdf)$")

# URL word -> report kind of hjertekom_core.reports.citizen
COURSE_KINDS = {"borger": "citizen", "opsummering": "summary"}
_CONTENT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
# Reports are static pages: no script may run in them, nothing may be fetched for them.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


class ReportHandler(JupyterHandler):
    workspace: Workspace | None = None  # set by server.serve()

    def ws(self) -> Workspace:
        if self.workspace is None:
            raise RuntimeError("the report pages have no workspace: start them with hjertekom serve")
        return self.workspace

    def account(self) -> User:
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        who = self.current_user
        user = provider.guard.accounts.get(who.username) if who is not None and provider.guard else None
        if user is None or self.workspace is None:
            raise web.HTTPError(403)
        return user

    def lang(self) -> str:
        return self.workspace.config.language if self.workspace else "da"

    def send(self, body: bytes | str, fmt: str, filename: str) -> None:
        self.set_header("Content-Type", _CONTENT_TYPES[fmt])
        self.set_header("Cache-Control", "no-store")  # personal or municipal data: never cached
        self.set_header("Content-Security-Policy", _CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        disposition = "attachment" if fmt == "pdf" else "inline"
        self.set_header("Content-Disposition", f'{disposition}; filename="{filename}"')
        self.finish(body)

    def refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(_page(t("reports.title", self.lang()), f'<p class="hk-refused">{html.escape(message)}</p>',
                          back=(self.base_url, t("reports.back", self.lang()))))


def report_programmes(contracts: ContractRegistry) -> list[str]:
    """The loaded programmes whose report folders the list shows: HjerteKom first, then by name."""
    return sorted(contracts.programmes, key=lambda p: (p != REPORT_PROGRAMME, p))


def visible_reports(ws: Workspace, user: User) -> list[ReportFile]:
    """The report files ``user`` may download (AccessDenied, audited, for a role without reports)."""
    return list_reports(ws.config.reports_dir, user, store=ws.store, programmes=report_programmes(ws.contracts))


def report_sections(contracts: ContractRegistry, files: list[ReportFile],
                    lang: str = "da") -> list[tuple[str, str, list[ReportFile]]]:
    """``files`` grouped as the list shows them: (programme, its Danish label, files), in the order
    of ``files``. HjerteKom's own programme reports (its folder, beside its management reports)
    are a group of their own, named so."""
    groups: dict[tuple[str, bool], list[ReportFile]] = {}
    for f in files:
        groups.setdefault((f.programme, f.in_programme_folder), []).append(f)
    sections = []
    for (programme, in_folder), found in groups.items():
        label = contracts[programme].label.get(lang) if programme in contracts else programme
        if programme == REPORT_PROGRAMME and in_folder:
            label = f"{label} ({t('reports.programme_report', lang)})"
        sections.append((programme, label, found))
    return sections


def listing_html(contracts: ContractRegistry, files: list[ReportFile], base_url: str, lang: str = "da") -> str:
    """The body of the "Rapporter" page: one table per programme, with a heading of its label when
    more than one programme is loaded or listed (with HjerteKom alone the page is as it always was)."""
    if not files:
        return f"<p>{html.escape(t('reports.none', lang))}</p>"
    names = contracts.codelists["municipalities"]  # shared by every programme
    sections = report_sections(contracts, files, lang)
    headed = len(contracts.programmes) > 1 or len(sections) > 1
    parts = []
    for programme, label, found in sections:
        rows = "\n".join(
            f"<tr><td>{f.period}</td><td>{html.escape(names.label_of(f.municipality_code))}</td>"
            f'<td><a class="hk-report-link" href="{base_url}hjertekom/rapporter/{f.relative}">'
            f"{html.escape(f.path.name)}</a></td><td>{f.format.upper()}</td></tr>"
            for f in found)
        heading = (f'<h2 class="hk-reports-programme" data-programme="{html.escape(programme)}">'
                   f"{html.escape(label)}</h2>\n" if headed else "")
        parts.append(f'{heading}<table class="hk-reports-table" data-programme="{html.escape(programme)}">'
                     f"<tr><th>{t('reports.period', lang)}</th><th>{t('reports.municipality', lang)}</th>"
                     f"<th>{t('reports.file', lang)}</th><th></th></tr>\n{rows}\n</table>")
    return "\n".join(parts)


def find_report(ws: Workspace, user: User, first: str, rest: str) -> ReportFile:
    """The file at ``/hjertekom/rapporter/<first>/<rest>``: a period first is one of HjerteKom's
    management reports (``<period>/<file>``), a programme's name one of its reports
    (``<programme>/<period>/<file>``). AccessDenied or NotFound, audited, for anything else."""
    if PERIOD.match(first) or not PROGRAMME_FOLDER.match(first):
        return open_report(ws.config.reports_dir, user, first, rest, store=ws.store)
    period, _, filename = rest.partition("/")
    return open_programme_report(ws.config.reports_dir, user, first, period, filename,
                                 programmes=ws.contracts.programmes, store=ws.store)


def record_download(ws: Workspace, user: User, found: ReportFile) -> None:
    """Audit one download: the file below its programme's folder, and the programme of a programme report."""
    with ws.store.write() as conn:
        audit.record(conn, user, "report.download", "report", found.in_period, found.municipality_code,
                     {"programme": found.programme} if found.in_programme_folder else None)


class ReportListHandler(ReportHandler):
    @web.authenticated
    def get(self) -> None:
        user, lang = self.account(), self.lang()
        try:
            files = visible_reports(self.ws(), user)
        except AccessDenied:
            return self.refuse(403, t("reports.no_access", lang))
        body = listing_html(self.ws().contracts, files, self.base_url, lang)
        self.set_header("Cache-Control", "no-store")
        self.finish(_page(t("reports.title", lang), body, back=(self.base_url, t("reports.back", lang))))


class ReportFileHandler(ReportHandler):
    @web.authenticated
    def get(self, first: str, rest: str) -> None:
        user = self.account()
        try:
            found = find_report(self.ws(), user, first, rest)
        except (AccessDenied, NotFound):
            # The same answer for "not yours" and "not there": no probing for other municipalities.
            return self.refuse(404, t("reports.not_found", self.lang()))
        record_download(self.ws(), user, found)
        self.send(found.path.read_bytes(), found.format, found.path.name)


class CourseReportHandler(ReportHandler):
    """The citizen sheet or course summary of one course, rendered on request."""

    _lock = threading.Lock()  # one rendering at a time: each starts a kernel and a browser

    @web.authenticated
    async def get(self, path: str) -> None:
        user = self.account()
        lang = self.lang()
        match = _COURSE_PATH.match(path)
        if match is None:
            return self.refuse(404, t("reports.course_not_found", lang))
        course_id, word, fmt = match.groups()
        try:
            body = await IOLoop.current().run_in_executor(None, self._render, user, int(course_id),
                                                          COURSE_KINDS[word], fmt, lang)
        except (AccessDenied, NotFound):
            return self.refuse(404, t("reports.course_not_found", lang))
        except Exception:  # noqa: BLE001 - logged with context, never shown as a traceback
            log.exception("course report %s for course %s failed", word, course_id)
            return self.refuse(500, t("reports.failed", lang))
        self.send(body, fmt, f"{word}-{course_id}.{fmt}")

    def _render(self, user: User, course_id: int, kind: str, fmt: str, lang: str) -> bytes | str:
        from hjertekom_core.reports.citizen import render_course_report, rendered_title
        from hjertekom_core.reports.pdf import PdfPrinter
        from hjertekom_core.service import Service

        ws = self.ws()
        with self._lock:
            page = render_course_report(Service(ws.store, ws.contracts, user), course_id, kind, lang,
                                        config=ws.config)
            if fmt == "html":
                return page
            with PdfPrinter(ws.config.chromium) as printer:
                return printer.pdf(page, rendered_title(page, kind, lang), lang)


def _page(title: str, body: str, back: tuple[str, str] | None = None) -> str:
    link = f'<p><a href="{html.escape(back[0])}">{html.escape(back[1])}</a></p>' if back else ""
    return (f'<!DOCTYPE html>\n<html lang="da"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            "<style>body{font-family:system-ui,Arial,sans-serif;max-width:56em;margin:1.5em auto;padding:0 1em}"
            "h1{color:#8b1e2d}td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #ddd}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{link}{body}</body></html>")


ROUTES: list[tuple[str, type[ReportHandler]]] = [
    (LIST_ROUTE, ReportListHandler), (FILE_ROUTE, ReportFileHandler), (COURSE_ROUTE, CourseReportHandler)]
