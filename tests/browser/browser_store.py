"""What the browser tests read back from the session server's store."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from sqlalchemy import select

from factories import course_data
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log
from hjertekom_core.users import get_user


def audit_rows(server: Any, **where: Any) -> list[dict[str, Any]]:
    """Audit entries matching ``where`` (column=value), oldest first."""
    query = select(audit_log).order_by(audit_log.c.id)
    for column, value in where.items():
        query = query.where(audit_log.c[column] == value)
    with server.store.read() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def new_course(server: Any, seed: int, name: str, *, start: dict[str, Any] | None = None,
               start_complete: bool = True, end: dict[str, Any] | None = None,
               end_complete: bool = False) -> tuple[str, int]:
    """A synthetic citizen of Anne's (Silkeborg) with a complete course form, and the given start
    and end forms, saved through the Service; (CPR, course id)."""
    svc = Service(server.store, server.contracts, get_user(server.store, "anne"))
    cpr = generate_cpr(random.Random(seed))  # noqa: S311 - synthetic people only
    citizen = svc.create_citizen(cpr, name, 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    if start is not None:
        svc.save(course_id, "start", start, 0, complete=start_complete, confirm=True)
    if end is not None:
        svc.save(course_id, "end", end, 0, complete=end_complete, confirm=True)
    return cpr, course_id


def wait_for_store(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll until ``check()`` holds, for effects that show nothing on the page (in the store, or in a
    server's metrics)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout_s:.0f} s")
