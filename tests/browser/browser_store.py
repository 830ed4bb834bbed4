"""What the browser tests read back from the session server's store."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hjertekom_core.store.schema import audit_log


def audit_rows(server: Any, **where: Any) -> list[dict[str, Any]]:
    """Audit entries matching ``where`` (column=value), oldest first."""
    query = select(audit_log).order_by(audit_log.c.id)
    for column, value in where.items():
        query = query.where(audit_log.c[column] == value)
    with server.store.read() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
