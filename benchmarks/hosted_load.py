"""Hosted load: clinicians through nginx against two ``hjertekom serve`` hosts on one PostgreSQL.

The set-up is tests/hosted_stack.py's (imported, not copied): Debian's nginx with the shipped
snippets (sticky per session), two hosts with their own data folders and shared secrets, one
scratch PostgreSQL database. Each emulated clinician is a ``load_client.Browser``: HTTP for the
login, the page and the page script's session check (every 5 s), and the kernel websocket
speaking ipywidgets' comm messages, which is what the browser sends (no Playwright: 100 browsers
do not fit on 2 cores, and the server cannot tell the difference).

One clinician, as in the entry app:

1. logs in (POST /login), opens the app (GET /: a kernel is handed to the page), opens the
   kernel's websocket and gets the widgets' states, reports the page's address;
2. clicks "Åbn" on the worklist row of their own citizen (a course awaiting its start form):
   the time from the click until the kernel is idle again, with the start form shown, is the
   time to an opened form;
3. works in cycles until the measurement ends: four fields, each typed (the page script's typing
   channel, which autosaves) and then left (the field's value, which autosaves again), with
   think time between; then "Gem kladde". The save round trip runs from the click until the
   kernel is idle after it, and the save counts only when the save bar says saved (class
   ``hk-saved`` and a new text);
4. closes the tab (Voilà's shutdown beacon) and logs out.

Levels of 1 (the baseline, in the same run: one field typed per save and a window twice as long,
for enough saves), 10, 25, 50 and 100 clinicians; the clinicians of a level log in one after
another over the ramp, and the saves that started once all of them had
their form open are the ones measured (all N working at once). Per level: p50/p95 save round
trip, p95 time to an opened form, errors, host memory (RSS of each host's process tree: server
and kernels, the largest seen), memory per session (the RSS of the kernels serving the
clinicians), CPU per save (the serving kernel's CPU time from click to idle) and the hosts' CPU
over the measured window (all their processes, and PostgreSQL's) per save.

Targets (issue 17): 100 clinicians, none failing, p95 save round trip at most 3x the single
clinician's.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import CONTRACTS_DIR, REPO, machine_line, percentile, print_table, verdict
from benchmarks.scratch_postgres import connections_needed, scratch_postgres

NAME = "hosted_load"
TARGET_RATIO = 3.0
PASSWORD = "Belastning-kode-2026"  # noqa: S105 - synthetic benchmark accounts in a scratch database
SESSION_CHECK_S = 5.0     # the page script's interval (hjertekom.js)
LAG_TICK_S = 0.05         # how often the load generator checks its own event loop
TYPING_PAUSE_S = 1.2      # the page script sends what was typed after this pause
# Fields typed per cycle: (name, what is typed first, the value left in the field), valid drafts
# without soft-limit warnings, so that "Gem kladde" saves at once.
FIELDS = (("weight_kg", "8", "{w},5"), ("waist_cm", "9", "9{c}"), ("resting_hr", "6", "6{h}"),
          ("walk_6min_m", "4", "4{m}0"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--load-levels", default=None,
                       help="concurrent clinicians per level, comma-separated (default: 10,25,50,100; "
                            "10,25 with --quick); a single clinician is always measured first")
    group.add_argument("--load-window", type=float, default=None,
                       help="seconds measured once all clinicians of a level work (default: 60; 30 with --quick)")
    group.add_argument("--load-ramp", type=float, default=1.0,
                       help="seconds between two clinicians' logins (default: 1.0)")
    group.add_argument("--load-think", type=float, default=2.0,
                       help="mean think time between two field actions in seconds, uniform 0.5..1.5x (default: 2)")
    group.add_argument("--load-pool-size", type=int, default=4, help="preheated kernels per host (default: 4)")
    group.add_argument("--load-hosts", type=int, default=2, help="hjertekom serve hosts (default: 2)")
    group.add_argument("--load-keep", action="store_true", help="keep the work folder (logs)")
    group.add_argument("--load-shared-postgres", action="store_true",
                       help="use the tests' PostgreSQL server as it is (default: a server of the benchmark's own "
                            "with max_connections sized as docs/deployment.md says)")


# --- accounts and their courses --------------------------------------------------------------------

@dataclass(frozen=True)
class Account:
    username: str
    password: str
    display_name: str
    role: str
    municipality: int


@dataclass
class Clinician:
    account: Account
    citizen_name: str
    course_id: int


def _accounts(n: int) -> list[Account]:
    from hjertekom_core.contract import ContractRegistry

    codes = [int(c.code) for c in ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"]).codelists["municipalities"].codes]
    return [Account(f"belast{i:03d}", PASSWORD, f"Belastning {i:03d}", "clinician", codes[i % len(codes)])
            for i in range(n)]


def _courses(store: Any, accounts: list[Account], seed: int) -> list[Clinician]:
    """A citizen of each clinician's municipality with a course awaiting its start form."""
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.cpr import generate_cpr
    from hjertekom_core.errors import CitizenElsewhere
    from hjertekom_core.service import Service
    from hjertekom_core.users import get_user
    from tests.factories import course_data

    contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    rng = random.Random(seed)
    out = []
    for i, account in enumerate(accounts):
        svc = Service(store, contracts, get_user(store, account.username))
        name = f"Belastning Borger {i:03d}"
        while True:
            try:
                citizen = svc.create_citizen(generate_cpr(rng), name, account.municipality)
                break
            except CitizenElsewhere:
                continue
        course = svc.open_course(citizen.id, course_data(municipality=account.municipality), complete=True,
                                 confirm=True)
        out.append(Clinician(account, name, course.course_id))
    return out


# --- the host processes ----------------------------------------------------------------------------

class Hosts:
    """psutil views of the hosts' process trees (server and kernels), PostgreSQL and nginx."""

    def __init__(self, stack: Any) -> None:
        import psutil

        self.stack = stack
        self.psutil = psutil
        self._kernel_procs: dict[str, Any] = {}

    def tree(self, host: Any) -> list[Any]:
        try:
            root = self.psutil.Process(host.pid)
            return [root, *root.children(recursive=True)]
        except self.psutil.Error:
            return []

    def rss_mb(self, host: Any) -> float:
        total = 0
        for proc in self.tree(host):
            try:
                total += proc.memory_info().rss
            except self.psutil.Error:
                pass
        return total / 2**20

    def cpu_s(self) -> float:
        """CPU seconds so far of both hosts' trees, nginx and the PostgreSQL server's processes."""
        procs = [p for h in self.stack.hosts for p in self.tree(h)]
        try:
            procs.append(self.psutil.Process(self.stack.nginx.pid))
            procs += self.psutil.Process(self.stack.nginx.pid).children()
        except self.psutil.Error:
            pass
        database = self.stack.database_url.rsplit("/", 1)[-1].split("?")[0]
        for proc in self.psutil.process_iter(["name", "cmdline"]):
            # The backends serving this database only (the server is shared with other work).
            if (proc.info["name"] or "").startswith("postgres") and database in " ".join(proc.info["cmdline"] or ()):
                procs.append(proc)
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except self.psutil.Error:
                pass
        return total

    def kernel(self, kernel_id: str) -> Any:
        proc = self._kernel_procs.get(kernel_id)
        if proc is None:
            for host in self.stack.hosts:
                found = host.kernels().get(kernel_id)
                if found is not None:
                    proc = self._kernel_procs[kernel_id] = found
                    break
        return proc

    def kernel_cpu_s(self, kernel_id: str) -> float | None:
        proc = self.kernel(kernel_id)
        if proc is None:
            return None
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except self.psutil.Error:
            return None

    def kernel_rss_mb(self, kernel_id: str) -> float | None:
        proc = self.kernel(kernel_id)
        try:
            return proc.memory_info().rss / 2**20 if proc is not None else None
        except self.psutil.Error:
            return None

    def kernel_count(self, host: Any) -> int:
        return len(host.kernels())


# --- one clinician -----------------------------------------------------------------------------------

@dataclass
class Outcome:
    host: str = ""
    kernel_id: str = ""
    form_s: float | None = None
    saves: list[tuple[float, float, float, float | None]] = field(default_factory=list)
    # (start, seconds to 'saved' shown, seconds to the kernel idle, kernel CPU seconds)
    error: str = ""
    kernel_rss_mb: float | None = None


@dataclass
class Level:
    clinicians: int
    opened: asyncio.Event
    stop: asyncio.Event
    opened_count: int = 0
    all_open_at: float | None = None


async def clinician(c: Clinician, stack: Any, hosts: Hosts, level: Level, delay: float, think: float,
                    rng: random.Random, fields: int = len(FIELDS)) -> Outcome:
    from benchmarks.load_client import Browser, ClientError

    out = Outcome()
    await asyncio.sleep(delay)
    browser = Browser(stack.url)
    checker: asyncio.Task[None] | None = None
    counted = False
    try:
        await browser.login(c.account.username, c.account.password)
        await browser.open_page()
        out.kernel_id = browser.kernel_id
        await browser.connect()

        async def check() -> None:
            while True:
                await asyncio.sleep(SESSION_CHECK_S)
                if not await browser.check_session():
                    raise ClientError("the session check says signed out or kernel gone")

        checker = asyncio.ensure_future(check())
        await browser.go_to("")   # the page script's first report: where the browser is
        link = browser.link_in_row_of("hk-worklist", c.citizen_name)
        if link is None:
            raise ClientError("the clinician's course is not on the worklist")
        out.form_s = await browser.go_to(link)   # a click on the row's "Åbn" link
        form = browser.with_class("hk-form-start")
        if not form or not browser.shown(form[0]) or not browser.with_class(f"hk-of-course-{c.course_id}"):
            raise ClientError("the start form of the course did not open")
        host = stack.host_of_kernel(browser.kernel_id)
        out.host = host.data_dir.name if host is not None else "?"
        level.opened_count += 1
        counted = True
        if level.opened_count == level.clinicians:
            level.all_open_at = time.perf_counter()
            level.opened.set()
        cycle = 0
        while not level.stop.is_set():
            cycle += 1
            values = {"w": str(70 + (cycle + rng.randint(0, 20)) % 30), "c": str(rng.randint(0, 9)),
                      "h": str(rng.randint(0, 9)), "m": str(rng.randint(0, 9))}
            typing = browser.one("hk-typing-channel")
            for seq, (name, typed, left) in enumerate(FIELDS[:fields], start=1):
                await asyncio.sleep(think * rng.uniform(0.5, 1.5) + TYPING_PAUSE_S)
                payload = ('{"form": "start", "course": "%d", "seq": %d, "values": {"%s": "%s"}}'
                           % (c.course_id, cycle * 10 + seq, name, typed))
                await browser.set_value(typing, payload)
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                box = browser.with_class(f"hk-field-{name}")
                if not box:
                    raise ClientError(f"no field {name}")
                field_row = browser.children(box[0])[0]
                await browser.set_value(browser.children(field_row)[1], left.format(**values))
            if level.stop.is_set():
                break
            status = browser.one("hk-status")
            before = browser.models[status].get("value")
            cpu0 = hosts.kernel_cpu_s(browser.kernel_id)
            started = time.perf_counter()
            saved, idle = await browser.click_until(
                browser.one("hk-save-draft"), status,
                lambda s: "hk-saved" in (s.get("_dom_classes") or ()) and s.get("value") != before)
            cpu1 = hosts.kernel_cpu_s(browser.kernel_id)
            if saved is None:
                raise ClientError(f"save not confirmed: {str(browser.models[status].get('value'))[:200]}")
            out.saves.append((started, saved, idle, None if cpu0 is None or cpu1 is None else cpu1 - cpu0))
        out.kernel_rss_mb = hosts.kernel_rss_mb(browser.kernel_id)
        if checker.done() and checker.exception() is not None:
            raise checker.exception()  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - counted and shown, the others go on
        out.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if not counted:
            level.opened_count += 1  # a clinician who failed before the form does not hold the others back
            if level.opened_count == level.clinicians:
                level.all_open_at = time.perf_counter()
                level.opened.set()
        if checker is not None:
            checker.cancel()
        try:
            await browser.close_tab()
            await browser.logout()
        except Exception:  # noqa: BLE001 - the tab is gone either way
            pass
    return out


# --- one level -----------------------------------------------------------------------------------------

@dataclass
class LevelResult:
    clinicians: int
    outcomes: list[Outcome]
    window_s: float
    host_rss_mb: dict[str, float]
    idle_rss_mb: dict[str, float]
    system_cpu_s: float
    saves_in_window: int
    client_cpu_s: float
    client_lag_s: list[float] = field(default_factory=list)   # the load generator's own event-loop lag

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error]

    def measured(self, start: float) -> list[tuple[float, float, float, float | None]]:
        return [s for o in self.outcomes for s in o.saves if s[0] >= start]


async def run_level(stack: Any, hosts: Hosts, clinicians: list[Clinician], ramp: float, window: float,
                    think: float, seed: int) -> tuple[LevelResult, float]:
    from tornado.httpclient import AsyncHTTPClient

    AsyncHTTPClient.configure(None, max_clients=1000)
    n = len(clinicians)
    level = Level(n, asyncio.Event(), asyncio.Event())
    idle = {h.data_dir.name: hosts.rss_mb(h) for h in stack.hosts}
    peak = dict(idle)
    rng = random.Random(seed)
    # One clinician alone (the baseline) types one field per save instead of four, so that the
    # window holds enough saves: alone, the typing between two saves does not change a save's time.
    fields = 1 if n == 1 else len(FIELDS)
    tasks = [asyncio.ensure_future(clinician(c, stack, hosts, level, i * ramp, think, random.Random(rng.random()),
                                             fields))
             for i, c in enumerate(clinicians)]

    async def sample() -> None:
        while True:
            for h in stack.hosts:
                peak[h.data_dir.name] = max(peak[h.data_dir.name], hosts.rss_mb(h))
            await asyncio.sleep(2.0)

    lags: list[float] = []

    async def lag() -> None:
        # How late this process's event loop wakes: a save's confirmation waits as long before the
        # client reads it, so a lag this large is the load generator's, not the service's.
        while True:
            due = time.perf_counter() + LAG_TICK_S
            await asyncio.sleep(LAG_TICK_S)
            lags.append(max(0.0, time.perf_counter() - due))

    sampler = asyncio.ensure_future(sample())
    await level.opened.wait()
    lagger = asyncio.ensure_future(lag())  # a clinician who fails before the form counts as there
    start = level.all_open_at or time.perf_counter()
    cpu0, client0 = hosts.cpu_s(), time.process_time()
    await asyncio.sleep(window)
    cpu1, client1 = hosts.cpu_s(), time.process_time()
    lagger.cancel()
    level.stop.set()
    outcomes = await asyncio.gather(*tasks)
    sampler.cancel()
    end = start + window
    in_window = sum(1 for o in outcomes for s in o.saves if start <= s[0] <= end)
    return LevelResult(n, list(outcomes), window, peak, idle, cpu1 - cpu0, in_window, client1 - client0,
                       lags), start


async def _settle(stack: Any, hosts: Hosts, pool_size: int, timeout: float = 120) -> None:
    """Wait until each host is back to its preheated pool (the closed tabs' kernels shut down)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(hosts.kernel_count(h) <= pool_size for h in stack.hosts):
            return
        await asyncio.sleep(2.0)


# --- report ---------------------------------------------------------------------------------------------

def _p(values: list[float], q: float) -> float:
    return percentile(sorted(values), q) if values else float("nan")


def _fmt_ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.0f}"


def _row(r: LevelResult, start: float) -> dict[str, Any]:
    saves = r.measured(start)
    rtts = [s[1] for s in saves]
    idles = [s[2] for s in saves]
    cpus = [s[3] for s in saves if s[3] is not None]
    forms = [o.form_s for o in r.outcomes if o.form_s is not None]
    sessions = [o.kernel_rss_mb for o in r.outcomes if o.kernel_rss_mb is not None]
    per_host: dict[str, int] = {}
    for o in r.outcomes:
        if o.host:
            per_host[o.host] = per_host.get(o.host, 0) + 1
    return {"n": r.clinicians, "saves": len(rtts), "p50": _p(rtts, 50), "p95": _p(rtts, 95),
            "idle95": _p(idles, 95), "form95": _p(forms, 95),
            "errors": len(r.errors), "rss": r.host_rss_mb, "idle": r.idle_rss_mb, "per_host": per_host,
            "session_mb": sum(sessions) / len(sessions) if sessions else float("nan"),
            "cpu_save_ms": 1000 * sum(cpus) / len(cpus) if cpus else float("nan"),
            "system_cpu_save_ms": 1000 * r.system_cpu_s / r.saves_in_window if r.saves_in_window else float("nan"),
            "cpu_busy": r.system_cpu_s / r.window_s, "client_busy": r.client_cpu_s / r.window_s,
            "lag95": _p(r.client_lag_s, 95)}


def report(rows: list[dict[str, Any]], errors: dict[int, list[str]], ncpu: int) -> bool:
    base = rows[0]
    table = []
    for r in rows:
        hosts = ", ".join(f"{name[-1]} {r['rss'][name]:.0f} ({r['per_host'].get(name, 0)})" for name in sorted(r["rss"]))
        table.append([r["n"], r["saves"], _fmt_ms(r["p50"]), _fmt_ms(r["p95"]),
                      "n/a" if base["p95"] != base["p95"] else f"{r['p95'] / base['p95']:.1f}x",
                      _fmt_ms(r["idle95"]), _fmt_ms(r["form95"]), r["errors"], hosts, f"{r['session_mb']:.0f}",
                      f"{r['cpu_save_ms']:.0f}", f"{r['system_cpu_save_ms']:.0f}",
                      f"{r['cpu_busy']:.2f}/{ncpu}", f"{r['client_busy']:.2f}", _fmt_ms(r["lag95"])])
    print_table(["clinicians", "saves", "save p50 ms", "save p95 ms", "p95 / 1", "idle p95 ms", "form p95 ms", "errors",
                 "host MB (clinicians)", "MB/session", "kernel CPU ms/save", "all CPU ms/save", "CPU busy", "client CPU",
                 "client lag p95 ms"],
                table, title="save round trip = click on 'Gem kladde' until the save bar says saved (class hk-saved, "
                             "new text; as entry_app measures it); idle = until the kernel is idle after the click "
                             "(the course feedback, rendered by the server, comes after 'saved'); saves measured while all clinicians of the level work; host MB = largest RSS "
                             "of a host's server and kernels; MB/session = RSS of a clinician's kernel; kernel CPU = "
                             "the serving kernel's CPU from click to idle; all CPU = hosts + nginx + PostgreSQL over "
                             "the window per save (typing, autosaves and session checks included); CPU busy = cores "
                             "they used on average; client CPU = cores used by this load generator (same machine); client "
                             "lag = how late the load generator's own event loop woke (p95, every 50 ms): a save's "
                             "confirmation waits that long in its socket before it is read")
    for n, errs in errors.items():
        if errs:
            distinct = sorted(set(errs))
            print(f"errors at {n}: " + "; ".join(distinct[:3]) + (f" (+{len(distinct) - 3} kinds)" if len(distinct) > 3 else ""))
    ok = True
    verdicts = []
    for r in rows[1:]:
        good = r["errors"] == 0 and r["saves"] > 0 and r["p95"] <= TARGET_RATIO * base["p95"]
        verdicts.append(f"{r['n']}: {'PASS' if good else 'MISS'}")
        if r["n"] >= 100:
            ok = ok and good
    top = max((r for r in rows[1:] if r["errors"] == 0 and r["p95"] <= TARGET_RATIO * base["p95"]),
              key=lambda r: r["n"], default=None)
    print(f"target: no errors and p95 save round trip <= {TARGET_RATIO:g}x the single clinician's "
          f"({_fmt_ms(base['p95'])} ms) -> " + ", ".join(verdicts))
    if top is not None:
        print(f"largest level within the target: {top['n']} clinicians on the hosts "
              f"({', '.join(f'{k[-1]}: {v}' for k, v in sorted(top['per_host'].items()))})")
    if not any(r["n"] >= 100 for r in rows):
        print(f"100 concurrent clinicians: not measured in this run -> {verdict(1, 0)}")
        ok = False
    return ok


def run(options: argparse.Namespace) -> bool:
    levels = [int(x) for x in (options.load_levels or ("10,25" if options.quick else "10,25,50,100")).split(",")]
    window = options.load_window or (30.0 if options.quick else 60.0)
    tests_dir = str(REPO / "tests")
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)

    print("\n== hosted_load: clinicians through nginx against two hosts on one PostgreSQL ==")
    print(machine_line())
    print(f"levels 1 (baseline) + {', '.join(map(str, levels))}; logins {options.load_ramp:g} s apart; measured "
          f"window {window:g} s; think time {options.load_think:g} s (0.5..1.5x) + the page's typing pause "
          f"{TYPING_PAUSE_S:g} s; {options.load_hosts} hosts, pool of {options.load_pool_size} preheated kernels each")
    accounts = _accounts(max(levels + [1]) + 1)
    folder = Path(tempfile.mkdtemp(prefix="hjertekom_load_"))
    rows: list[dict[str, Any]] = []
    errors: dict[int, list[str]] = {}
    needed = connections_needed(options.load_hosts, max(levels), options.load_pool_size)
    with ExitStack() as server:
        postgres_url = None
        if not options.load_shared_postgres:
            postgres_url = server.enter_context(scratch_postgres(needed))
            print(f"PostgreSQL of its own: max_connections {needed} (docs/deployment.md)")
        return _run_levels(options, levels, window, accounts, folder, rows, errors, postgres_url)


def _run_levels(options: argparse.Namespace, levels: list[int], window: float, accounts: list[Account],
                folder: Path, rows: list[dict[str, Any]], errors: dict[int, list[str]],
                postgres_url: str | None) -> bool:
    from hosted_stack import hosted_stack  # tests/hosted_stack.py: nginx + hosts + PostgreSQL

    try:
        try:
            stack_cm = hosted_stack(folder, users=accounts, hosts=options.load_hosts,
                                    pool_size=options.load_pool_size, postgres_url=postgres_url)
            stack = stack_cm.__enter__()
        except BaseException as exc:  # pytest.fail/skip from the launcher are BaseExceptions
            raise RuntimeError(f"the hosted stack did not come up: {exc}") from None
        try:
            store = stack.store()
            clinicians = _courses(store, accounts, options.seed)
            hosts = Hosts(stack)
            print(f"nginx {stack.url} -> " + ", ".join(h.base_url for h in stack.hosts)
                  + f"; {len(clinicians)} clinicians with a course each")

            async def all_levels() -> None:
                # The baseline uses the last account, so that no level reuses its session.
                for n in [1, *levels]:
                    await _settle(stack, hosts, options.load_pool_size)
                    chosen = clinicians[-1:] if n == 1 else clinicians[:n]
                    result, start = await run_level(stack, hosts, chosen, options.load_ramp,
                                                    2 * window if n == 1 else window, options.load_think,
                                                    options.seed + n)
                    rows.append(_row(result, start))
                    errors[n] = result.errors
                    r = rows[-1]
                    print(f"  {n:>3} clinicians: {r['saves']} saves, p95 {_fmt_ms(r['p95'])} ms, "
                          f"form p95 {_fmt_ms(r['form95'])} ms, errors {r['errors']}"
                          + (f" (first: {result.errors[0]})" if result.errors else ""), flush=True)

            asyncio.run(all_levels())
        finally:
            stack_cm.__exit__(None, None, None)
    finally:
        if options.load_keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return report(rows, errors, os.cpu_count() or 1)
