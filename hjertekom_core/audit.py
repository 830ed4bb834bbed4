"""The audit log: every read of identified data and every write, by whom and when.

Entries name the user, the action and the record's id, never a CPR number or a name: ``record``
refuses details that look like either, so a careless caller fails in tests, not in production.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from hjertekom_core.access import User
from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.errors import AccessDenied
from hjertekom_core.store.schema import audit_log

if TYPE_CHECKING:
    from hjertekom_core.store import Store

_FORBIDDEN_KEYS = frozenset({"cpr", "name", "navn", "password"})


#: ``json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)`` without building its
#: encoder at every call (the same text; a third of the CPU on every audit row).
_ENCODE_DETAIL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


def _check_detail(detail: Mapping[str, Any]) -> str:
    bad = _FORBIDDEN_KEYS & {k.lower() for k in detail}
    if bad:
        raise ValueError(f"audit detail must not hold {sorted(bad)}")
    text = _ENCODE_DETAIL(detail)
    if CPR_PATTERN.search(text):
        raise ValueError("audit detail must not hold anything CPR-shaped")
    return text


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


#: The INSERT of an ``entry`` row. Built once: executing it with a dict skips .values() and its cache key.
INSERT = insert(audit_log)


def entry(user: User, action: str, entity: str, entity_id: object = None,
          municipality: int | None = None, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The audit row, checked and ready to insert (build it before taking a write lock)."""
    return {"at": now(), "user_id": user.id, "username": user.username, "action": action, "entity": entity,
            "entity_id": None if entity_id is None else str(entity_id), "municipality_code": municipality,
            "detail": _check_detail(detail or {})}


def insert_entry(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(INSERT, row)


def record(conn: Connection, user: User, action: str, entity: str, entity_id: object = None,
           municipality: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
    conn.execute(INSERT, entry(user, action, entity, entity_id, municipality, detail))


#: The action of every refused access; ``detail`` says what was attempted and why it was refused.
DENIED = "access.denied"
#: Who is named when nobody is signed in (a request without a valid session).
ANONYMOUS = User(None, "anonym", "", "", frozenset())


def deny(store: "Store", user: User | None, attempted: str, entity: str, entity_id: object = None,
         municipality: int | None = None, reason: str = "", detail: Mapping[str, Any] | None = None) -> None:
    """Record a refused access in a transaction of its own (the refused one writes nothing).

    ``attempted`` names what was tried (a permission or an endpoint); ``reason`` why it was refused.
    """
    extra = {"attempted": attempted, **({"reason": reason} if reason else {}), **dict(detail or {})}
    row = entry(user or ANONYMOUS, DENIED, entity, entity_id, municipality, extra)
    with store.write() as conn:
        insert_entry(conn, row)


def require(store: "Store", user: User, permission: str, entity: str, entity_id: object = None,
            municipality: int | None = None) -> None:
    """``user.require(permission, municipality)``, with a refusal recorded (``deny``) before it is raised."""
    try:
        user.require(permission, municipality)
    except AccessDenied as refused:
        deny(store, user, permission, entity, entity_id, municipality, refused.reason)
        raise


def entries(conn: Connection, *, action: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        query = query.where(audit_log.c.action == action)
    return [dict(row._mapping) for row in conn.execute(query)]
