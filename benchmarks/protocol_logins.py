"""Logins at once, as the server sees them: clients that speak the page's HTTP and kernel websocket
(load_client.py) instead of 20 chromium pages on the server's own two cores (entry_app.py, issue 16).

Why both: a clinician's browser runs on the clinician's own PC. On the benchmark machine, chromium
takes 2.5 to 3.4 CPU-seconds to load the app's page once (102 requests, 5 MB of JavaScript and
styles, parsed and run; measured 2026-12-07), so 20 chromium logins at once need 25 to 34 s of the
machine's two cores whatever the server does: about 10x a single 3 s login before the server has
done anything. The chromium wave stays in the table as information; the server's part is judged on
these clients, which do all the server-side work of a login (the password check, the session, the
page with its preheated or forked kernel, the widget states of the worklist) and nothing of the
browser's.

A login here: GET /login, POST the name and password, GET / (Voilà hands over a kernel, which runs
the app's start), open the kernel websocket and fetch every widget's state (``request_states``, as
the page's widget manager does), send the page script's first address (the worklist), and find the
worklist's search field in the app's tree. Timed from the POST's start to that moment.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from benchmarks.load_client import Browser, ClientError


async def one_login(base_url: str, username: str, password: str) -> float:
    """Seconds from sending the login to a worklist with its search field; the tab is then closed."""
    browser = Browser(base_url.rstrip("/"))
    t0 = time.perf_counter()
    try:
        await browser.login(username, password)
        await browser.open_page()
        await browser.connect()
        await browser.go_to("")   # the page script's first report: where the browser is
        search = browser.with_class("hk-search")
        if not search or not browser.shown(search[0]):
            raise ClientError("no worklist search field on the page")
        return time.perf_counter() - t0
    finally:
        await browser.close_tab()


T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def single_login(base_url: str, username: str, password: str) -> float:
    return _run(one_login(base_url, username, password))


def logins_at_once(base_url: str, username: str, password: str, n: int) -> tuple[list[float], list[str]]:
    """``n`` logins started together: the seconds of those that reached the worklist, and the errors."""
    async def wave() -> list[float | BaseException]:
        return await asyncio.gather(*(one_login(base_url, username, password) for _ in range(n)),
                                    return_exceptions=True)

    results = _run(wave())
    times = [r for r in results if isinstance(r, float)]
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return times, errors
