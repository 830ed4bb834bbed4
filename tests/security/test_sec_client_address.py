"""The client's address behind the shipped nginx (issue 17): every login reached the hosts from
nginx's address, so a few wrong passwords by anyone locked the login for the whole region, and the
audit named nginx instead of the client.

What an operator relies on: behind the real nginx of tests/hosted_stack.py the lockout is per
client address, and the audit row and the log of a login name the client; a header that claims
another address is believed only from a trusted proxy, so a client talking to a host directly
(or through nginx, which overwrites the header) is counted under its real address.

The clients are "machines" on loopback (127.0.0.2, 127.0.0.3, ...); nginx and the trusted proxy
are 127.0.0.1.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from hjertekom_core.store.schema import audit_log, login_failures
from hjertekom_widgets.client_address import address_from
from hosted_stack import HostedStack, Person, hosted_stack
from live_server import WebClient

NGINX = ("127.0.0.1",)


ANNE = Person("anne", "Lyngbakke-Hjerte-57", "Anne Andersen")


# --- the rule itself -------------------------------------------------------------------------------

def test_the_header_is_believed_only_from_a_trusted_proxy() -> None:
    forged = {"X-Real-IP": "198.51.100.7", "X-Forwarded-For": "198.51.100.7"}
    assert address_from("127.0.0.1", forged, NGINX) == "198.51.100.7"   # nginx says so
    assert address_from("203.0.113.9", forged, NGINX) == "203.0.113.9"   # anyone else: the peer
    assert address_from("203.0.113.9", forged, ()) == "203.0.113.9"      # no proxy configured
    assert address_from("::ffff:127.0.0.1", forged, NGINX) == "198.51.100.7"  # a dual-stack socket


def test_a_header_that_is_not_an_address_gives_the_peer() -> None:
    for value in ("unknown", "198.51.100.7, 10.0.0.1", "198.51.100.7:4711", "", "1" * 2000,
                  "010190-1234", "<script>"):
        assert address_from("127.0.0.1", {"X-Real-IP": value}, NGINX) == "127.0.0.1", value
    assert address_from("127.0.0.1", {"X-Real-IP": " 2001:db8::1 "}, NGINX) == "2001:db8::1"


def test_x_forwarded_for_gives_its_right_most_entry_not_added_by_a_trusted_proxy() -> None:
    """Without X-Real-IP: entries left of the first untrusted hop were written by the client."""
    chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 127.0.0.1"}
    assert address_from("127.0.0.1", chain, NGINX) == "198.51.100.7"
    assert address_from("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, nonsense"}, NGINX) == "127.0.0.1"
    assert address_from("127.0.0.1", {}, NGINX) == "127.0.0.1"
    # X-Real-IP (our nginx's) wins over the chain.
    assert address_from("127.0.0.1", {"X-Real-IP": "203.0.113.4", **chain}, NGINX) == "203.0.113.4"


# --- behind the real nginx -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostedStack]:
    """One host behind the shipped nginx on PostgreSQL; the login locks after 3 failures in a row."""
    with hosted_stack(tmp_path_factory.mktemp("client-address"), users=[ANNE], hosts=1,
                      env={"HJERTEKOM_LOGIN_MAX_FAILURES": "3"}) as running:
        yield running


def _login_rows(stack: HostedStack, action: str) -> list[dict[str, Any]]:
    store = stack.store()
    with store.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.username, audit_log.c.detail)
                            .where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [{"username": r.username, **json.loads(r.detail or "{}")} for r in rows]


def _counted_addresses(stack: HostedStack) -> set[str]:
    store = stack.store()
    with store.read() as conn:
        rows = conn.execute(select(login_failures.c.key).where(login_failures.c.scope == "address")
                            .order_by(login_failures.c.key)).all()
    return {r.key for r in rows}


def _through_nginx(stack: HostedStack, source: str, **kwargs: Any) -> WebClient:
    return WebClient(stack.url, source_address=source, **kwargs)


def _login_claiming(client: WebClient, username: str, claimed: str) -> int:
    """A wrong password, sent with headers that claim the address ``claimed``; the status."""
    client.get("/login")
    forged = {"X-Real-IP": claimed, "X-Forwarded-For": claimed}
    return client.post("/login?next=%2F", {"username": username, "password": "forkert-kodeord-2"},
                       headers=forged).status


@pytest.mark.slow
@pytest.mark.postgres
def test_failures_from_one_client_lock_that_client_only(stack: HostedStack) -> None:
    """Before: three wrong passwords by anyone locked the login for everyone behind nginx."""
    typist = _through_nginx(stack, "127.0.0.2")
    answers = [typist.login(f"kollega{i}", "forkert-kodeord-1").status for i in range(3)]
    assert answers == [403, 403, 429]    # the third failure from this address locks it
    assert typist.login(ANNE.username, ANNE.password).status == 429   # even the right password, from there
    # Anne at another machine signs in through the same nginx.
    assert _through_nginx(stack, "127.0.0.3").login(ANNE.username, ANNE.password).status == 302
    # The audit names the machines, not nginx.
    failed = _login_rows(stack, "login.failed")
    assert [row["address"] for row in failed[-3:]] == ["127.0.0.2"] * 3
    assert _login_rows(stack, "login")[-1] == {"username": ANNE.username, "address": "127.0.0.3"}
    assert "127.0.0.1" not in _counted_addresses(stack)
    # So does the host's log (never the name typed).
    log = stack.hosts[0].log_file.read_text(encoding="utf-8")
    assert "login failed from 127.0.0.2" in log and "login refused from 127.0.0.2: locked until" in log
    assert "kollega" not in log


@pytest.mark.slow
@pytest.mark.postgres
def test_a_forged_address_header_is_not_believed(stack: HostedStack) -> None:
    """A client that names another address in X-Real-IP / X-Forwarded-For is counted under its own."""
    claims = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    # Straight to the host (not a trusted proxy): each attempt claims another address, to dodge the lock.
    direct = WebClient(stack.hosts[0].base_url, source_address="127.0.0.5")
    answers = [_login_claiming(direct, f"gaet{i}", claim) for i, claim in enumerate(claims)]
    assert answers == [403, 403, 429]    # one address, locked all the same
    # Through nginx, which replaces both headers with the address it sees.
    assert _login_claiming(_through_nginx(stack, "127.0.0.6"), "gaet9", "127.0.0.3") == 403
    addresses = [row["address"] for row in _login_rows(stack, "login.failed")[-4:]]
    assert addresses == ["127.0.0.5"] * 3 + ["127.0.0.6"]
    counted = _counted_addresses(stack)
    assert {"127.0.0.5", "127.0.0.6"} <= counted
    assert not counted & set(claims) and "127.0.0.3" not in counted   # nobody else's counter moved
