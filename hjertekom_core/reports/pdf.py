"""A4 PDF from a report's HTML, printed by the system chromium through Playwright.

nbconvert's webpdf exporter looks for a browser that Playwright downloaded itself, which a closed
municipal network (and this project's CI) cannot do; Playwright can drive Debian's chromium when
told where it is. One browser serves many reports: a batch keeps a ``PdfPrinter`` open.
"""
from __future__ import annotations

import html
from pathlib import Path
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from hjertekom_core.errors import ReportError

# Chromium fills these templates' classes (pageNumber, totalPages) at print time.
_FOOTER = ('<div style="font-size:7.5pt;width:100%;padding:0 14mm;color:#444;display:flex;'
           'justify-content:space-between;font-family:DejaVu Sans,Arial,sans-serif">'
           '<span>{title}</span><span>{page} <span class="pageNumber"></span> {of} '
           '<span class="totalPages"></span></span></div>')
_WORDS = {"da": ("Side", "af"), "en": ("Page", "of")}
T = TypeVar("T")


class PdfPrinter:
    """Prints HTML pages to A4 PDF in one running chromium (use as a context manager).

    Playwright's sync API refuses to start in a thread with a running asyncio loop (a Jupyter
    kernel, a Tornado server, another Playwright session), and its objects belong to the thread
    that made them; so the printer keeps a thread of its own and does all its work there.
    """

    def __init__(self, chromium: Path = Path("/usr/bin/chromium")) -> None:
        if not Path(chromium).exists():
            raise ReportError(f"chromium not found at {chromium}; install Debian's package 'chromium' "
                              "or set HJERTEKOM_CHROMIUM")
        self._chromium = Path(chromium)
        self._thread: ThreadPoolExecutor | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._page: Any = None

    def _run(self, func: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            raise RuntimeError("PdfPrinter used outside its 'with' block")
        return self._thread.submit(func, *args).result()

    def __enter__(self) -> PdfPrinter:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hjertekom-pdf")
        try:
            self._run(self._start)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=str(self._chromium), headless=True)

    def _stop(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()  # closes its contexts and pages too
        finally:
            if self._playwright is not None:
                self._playwright.stop()
            self._browser = self._playwright = self._page = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread is None:
            return
        try:
            self._run(self._stop)
        finally:
            self._thread.shutdown(wait=True)
            self._thread = None

    def _ready_page(self) -> Any:
        # One page for every report: a new browser context per report costs a renderer process
        # (0.4 s against 0.17 s a page). Reports are static HTML without script, and the context is
        # offline, so nothing of one report can reach the next; a page that failed is replaced.
        if self._page is None or self._page.is_closed():
            context = self._browser.new_context(offline=True)
            self._page = context.new_page()
            self._page.emulate_media(media="print")
        return self._page

    def pdf(self, page_html: str, title: str, lang: str = "da") -> bytes:
        """The page as A4 PDF bytes, with the title and page numbers in the footer."""
        return self._run(self._print, page_html, title, lang)

    def _print(self, page_html: str, title: str, lang: str) -> bytes:
        page = self._ready_page()
        word_page, word_of = _WORDS.get(lang, _WORDS["da"])
        try:
            page.set_content(page_html, wait_until="load")
            return page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                            display_header_footer=True, header_template="<span></span>",
                            footer_template=_FOOTER.format(title=html.escape(title), page=word_page, of=word_of),
                            margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
        except Exception:
            page.context.close()
            self._page = None
            raise
