"""Reports in the web app, behind the same login as the entry forms.

- ``/hjertekom/rapporter``: a coordinator's list of their own municipality's reports (never
  another municipality's), with links to download them.
- ``/hjertekom/rapporter/<period>/<file>``: one report file, if the user may read it.
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
from hjertekom_core.reports.library import list_reports, open_report
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


class ReportListHandler(ReportHandler):
    @web.authenticated
    def get(self) -> None:
        user, lang = self.account(), self.lang()
        try:
            files = list_reports(self.ws().config.reports_dir, user, store=self.ws().store)
        except AccessDenied:
            return self.refuse(403, t("reports.no_access", lang))
        names = self.ws().contracts.codelists["municipalities"]  # shared by every programme
        if not files:
            body = f"<p>{html.escape(t('reports.none', lang))}</p>"
        else:
            rows = "\n".join(
                f"<tr><td>{f.period}</td><td>{html.escape(names.label_of(f.municipality_code))}</td>"
                f'<td><a class="hk-report-link" href="{self.base_url}hjertekom/rapporter/{f.relative}">'
                f"{html.escape(f.path.name)}</a></td><td>{f.format.upper()}</td></tr>"
                for f in files)
            body = (f"<table><tr><th>{t('reports.period', lang)}</th><th>{t('reports.municipality', lang)}</th>"
                    f"<th>{t('reports.file', lang)}</th><th></th></tr>\n{rows}\n</table>")
        self.set_header("Cache-Control", "no-store")
        self.finish(_page(t("reports.title", lang), body, back=(self.base_url, t("reports.back", lang))))


class ReportFileHandler(ReportHandler):
    @web.authenticated
    def get(self, period: str, filename: str) -> None:
        user = self.account()
        try:
            found = open_report(self.ws().config.reports_dir, user, period, filename, store=self.ws().store)
        except (AccessDenied, NotFound):
            # The same answer for "not yours" and "not there": no probing for other municipalities.
            return self.refuse(404, t("reports.not_found", self.lang()))
        with self.ws().store.write() as conn:
            audit.record(conn, user, "report.download", "report", found.relative, found.municipality_code)
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
        from hjertekom_core.reports.citizen import REPORTS, render_course_report
        from hjertekom_core.reports.pdf import PdfPrinter
        from hjertekom_core.service import Service

        ws = self.ws()
        with self._lock:
            page = render_course_report(Service(ws.store, ws.contracts, user), course_id, kind, lang,
                                        config=ws.config)
            if fmt == "html":
                return page
            with PdfPrinter(ws.config.chromium) as printer:
                return printer.pdf(page, REPORTS[kind].title.get(lang), lang)


def _page(title: str, body: str, back: tuple[str, str] | None = None) -> str:
    link = f'<p><a href="{html.escape(back[0])}">{html.escape(back[1])}</a></p>' if back else ""
    return (f'<!DOCTYPE html>\n<html lang="da"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            "<style>body{font-family:system-ui,Arial,sans-serif;max-width:56em;margin:1.5em auto;padding:0 1em}"
            "h1{color:#8b1e2d}td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #ddd}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{link}{body}</body></html>")


ROUTES: list[tuple[str, type[ReportHandler]]] = [
    (LIST_ROUTE, ReportListHandler), (FILE_ROUTE, ReportFileHandler), (COURSE_ROUTE, CourseReportHandler)]
