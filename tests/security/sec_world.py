"""The security tests' world: a data folder with users of different roles and municipalities
(synthetic people) and the server on it (fixtures in conftest.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log
from live_server import RunningServer, WebClient


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str
    municipalities: tuple[int, ...]


#: Passwords of at least 12 characters that hold neither the username nor a common word pattern.
ANNE = Account("anne", "Lyngbakke-Hjerte-57", "clinician", (740,))   # Silkeborg
CARL = Account("carl", "Amager-Strand-Fyr-19", "clinician", (101,))  # København
FORSKER = Account("forsker", "Stikprove-Regression-88", "researcher", ())
ADMIN = Account("admin", "Tilsyn-Revision-Forvaltning-4", "administrator", ())
DORTE = Account("dorte", "Gudenaa-Kano-Tur-2031", "clinician", (740,))  # locked out on purpose by a test
ACCOUNTS = (ANNE, CARL, FORSKER, ADMIN, DORTE)


@dataclass(frozen=True)
class SecurityWorld:
    data_dir: Path
    store: Store
    server: RunningServer

    def client(self, server: RunningServer | None = None, **kwargs: Any) -> WebClient:
        return WebClient((server or self.server).base_url, **kwargs)

    def signed_in(self, account: Account, server: RunningServer | None = None, **kwargs: Any) -> WebClient:
        client = self.client(server, **kwargs)
        answer = client.login(account.username, account.password)
        assert answer.status == 302, (answer.status, answer.text[:500])
        return client

    def denials(self, username: str | None = None) -> list[dict[str, Any]]:
        """access.denied rows of the audit log (optionally of one user), oldest first."""
        query = select(audit_log).where(audit_log.c.action == "access.denied").order_by(audit_log.c.id)
        if username is not None:
            query = query.where(audit_log.c.username == username)
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


