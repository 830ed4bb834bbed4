"""Attacks on the entry app's server, over HTTP and the kernel websocket, as curl or a script would.

Each test is one finding of the security review (docs/security.md lists them): it failed on the
server as it was, and must keep passing.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest

from live_server import SESSION_COOKIE, WebClient, kernel_message, status_of_refused_websocket
from sec_world import ANNE, CARL, DORTE, FORSKER, SecurityWorld

pytestmark = pytest.mark.slow


def _refused(answer, *, login_redirect_ok: bool = True) -> bool:
    """Refused: 401/403/404, or (for a page) the redirect to the login page."""
    if answer.status in (401, 403, 404):
        return True
    return login_redirect_ok and answer.status == 302 and "/login" in answer.location


# --- every endpoint needs a session --------------------------------------------------------------

def test_without_a_session_no_route_answers_with_content(security_world: SecurityWorld) -> None:
    world = security_world
    kernel_id = next(iter(world.server.wait_for_kernels()))  # a preheated kernel: its id is visible in `ps`
    anonymous = world.client()
    paths = [
        "/", "/voila/static/voila.js", "/voila/templates/hjertekom/static/hjertekom.js",
        "/voila/templates/lab/static/index.css", "/voila/labextensions/@voila-dashboards/widgets-manager8/package.json",
        "/voila/api/themes/@jupyterlab/theme-light-extension/index.css", "/voila/files/entry.ipynb",
        f"/api/kernels/{kernel_id}", "/api/kernels", "/api/sessions", "/api/contents",
        "/hjertekom/rapporter", "/hjertekom/rapporter/2025/740-silkeborg.html", "/hjertekom/forloeb/1/borger.html",
        "/hjertekom/rapporter/faldforebyggelse/2025/740-silkeborg.html",   # a programme report's address (M23)
        "/hjertekom/api/feedback/1", "/hjertekom/profil", "/hjertekom/pin", "/hjertekom/brugere",
        "/hjertekom/revisionsspor",
    ]
    for path in paths:
        answer = anonymous.get(path)
        assert _refused(answer), f"{path} answered {answer.status} without a session"
    session = anonymous.get("/hjertekom/api/session")
    assert session.status == 401 and session.json()["signed_in"] is False
    for path in (f"/voila/api/shutdown/{kernel_id}", f"/api/kernels/{kernel_id}/restart"):
        assert _refused(anonymous.post(path, xsrf=False)), path
    for path in (f"/api/kernels/{kernel_id}/channels", f"/voila/query/{kernel_id}"):
        status = status_of_refused_websocket(lambda path=path: anonymous.websocket(path))
        assert status in (302, 403, 404), f"websocket {path} was accepted without a session"
    assert anonymous.get("/login").status == 200
    assert kernel_id in world.server.kernels()  # nothing of the above touched the kernel


def test_a_route_without_a_security_policy_stops_the_server() -> None:
    from tornado import web

    from hjertekom_widgets.web_handlers import secure_routes

    class Unknown(web.RequestHandler):
        pass

    with pytest.raises(RuntimeError, match="no security policy"):
        secure_routes([(r"/new/(.*)", Unknown)], [])


# --- Voilà's hand-over of a request to a preheated kernel -----------------------------------------

def test_knowing_a_preheated_kernel_id_gives_nothing(security_world: SecurityWorld) -> None:
    """Voilà served /voila/query/<kernel id> on the public port without a login: whoever knew a
    preheated kernel's id received the next user's identity, and two connect/close pairs with a
    made-up id made the next two logins hang forever."""
    world = security_world
    made_up = str(uuid.uuid4())
    for kernel_id in [made_up, made_up, *world.server.kernels()]:
        status = status_of_refused_websocket(lambda k=kernel_id: world.client().websocket(f"/voila/query/{k}"))
        assert status in (302, 403, 404), f"/voila/query/{kernel_id} accepted a websocket"
    signed_in = world.signed_in(ANNE)
    # Even signed in, the hand-over is not on the public port.
    status = status_of_refused_websocket(lambda: signed_in.websocket(f"/voila/query/{made_up}"))
    assert status != 0
    # And the next logins are served (each takes a preheated kernel).
    for account in (ANNE, CARL):
        started = time.monotonic()
        kernel_id = world.signed_in(account).open_app()
        assert kernel_id and time.monotonic() - started < 60


# --- kernels belong to the session that started them ---------------------------------------------

def test_another_users_kernel_is_refused_and_the_refusal_audited(security_world: SecurityWorld) -> None:
    world = security_world
    anne = world.signed_in(ANNE)
    kernel_id = anne.open_app()
    carl = world.signed_in(CARL)  # a clinician of København, signed in properly
    before = len(world.denials("carl"))

    assert carl.get(f"/api/kernels/{kernel_id}").status == 403
    assert status_of_refused_websocket(lambda: carl.websocket(f"/api/kernels/{kernel_id}/channels")) == 403
    assert carl.request("DELETE", f"/api/kernels/{kernel_id}", headers={"X-XSRFToken": carl.xsrf}).status == 403
    assert carl.post(f"/voila/api/shutdown/{kernel_id}").status == 403

    refused = world.denials("carl")[before:]
    assert len(refused) == 4, refused
    assert {r["entity_id"] for r in refused} == {kernel_id}
    assert all(json.loads(r["detail"])["reason"] == "not this session's kernel" for r in refused)
    # Anne's own kernel still answers her.
    assert anne.get(f"/api/kernels/{kernel_id}").status == 200
    assert status_of_refused_websocket(lambda: anne.websocket(f"/api/kernels/{kernel_id}/channels")) == 0

    # The same user in a second login is another session: still refused.
    anne_elsewhere = world.signed_in(ANNE)
    assert anne_elsewhere.get(f"/api/kernels/{kernel_id}").status == 403


def test_closing_a_kernel_needs_the_xsrf_token_and_ownership(security_world: SecurityWorld) -> None:
    world = security_world
    anne = world.signed_in(ANNE)
    kernel_id = anne.open_app()
    assert anne.post(f"/voila/api/shutdown/{kernel_id}", xsrf=False).status == 403  # a forged cross-site POST
    assert kernel_id in world.server.kernels()
    assert anne.post(f"/voila/api/shutdown/{kernel_id}").status == 204            # the page's own beacon
    deadline = time.monotonic() + 30
    while kernel_id in world.server.kernels() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kernel_id not in world.server.kernels()
    assert anne.get(f"/api/kernels/{kernel_id}").status in (403, 404)


def test_only_widget_messages_reach_a_kernel(security_world: SecurityWorld, tmp_path) -> None:
    """No code runs and no restart happens, whatever the page sends (a shutdown_request with
    restart=true on the control channel used to pass and restart the kernel)."""
    from websockets.exceptions import ConnectionClosed

    world = security_world
    anne = world.signed_in(ANNE)
    kernel_id = anne.open_app()
    process = world.server.kernels()[kernel_id]
    marker = tmp_path / "ran"
    received: list[str] = []
    with anne.websocket(f"/api/kernels/{kernel_id}/channels?session_id=x") as ws:
        ws.send(kernel_message("execute_request", {"code": f"open({str(marker)!r}, 'w').write('x')",
                                                   "silent": False, "store_history": False,
                                                   "user_expressions": {}, "allow_stdin": False}))
        ws.send(kernel_message("shutdown_request", {"restart": True}, channel="control"))
        # Listen long enough for a reply, a restart or output to arrive (the kernel restarter
        # notices a dead kernel within a few seconds).
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                received.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))["header"]["msg_type"])
            except TimeoutError:
                break
            except ConnectionClosed:
                received.append("closed")
                break
        assert not {"execute_reply", "execute_input", "shutdown_reply", "closed"} & set(received), received
        ws.send(kernel_message("kernel_info_request"))  # the kernel still answers the page
        while "kernel_info_reply" not in received:
            received.append(json.loads(ws.recv(timeout=30))["header"]["msg_type"])
    assert not marker.exists()
    assert process.is_running() and world.server.kernels()[kernel_id].pid == process.pid  # not restarted


# --- the identity a kernel holds ------------------------------------------------------------------

def _internal_whoami(socket_path, token: str, path: str = "/whoami") -> int:
    import http.client
    import socket as socketlib

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
            self.sock.connect(str(socket_path))

    conn = Unix("localhost", timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": "HjerteKom " + token})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_captured_kernel_identity_dies_with_the_session_and_the_server(
        security_world: SecurityWorld, start_security_server) -> None:
    """The kernel's identity was a 12-hour bearer token: captured once, it read course results
    through /hjertekom/api/feedback/<n> after logout and after a restart."""
    world = security_world
    # The token is in the environment the kernel was started with, which `ps e` shows for a kernel
    # started the normal way (a kernel forked by the zygote gets it after the fork: not in
    # /proc/<pid>/environ); the attacker here captures it that way.
    server = start_security_server("--no-preheat", name="no-preheat", env={"HJERTEKOM_KERNEL_ZYGOTE": "0"})
    anne = world.signed_in(ANNE, server)
    kernel_id = anne.open_app()
    token = server.kernels()[kernel_id].environ()["HTTP_X_HJERTEKOM_IDENTITY"]  # what an attacker captures
    socket_path = server.internal_socket()

    # Not usable on the public port at all.
    for path in ("/hjertekom/api/feedback/1", "/whoami", "/feedback/1"):
        answer = world.client(server).get(path, headers={"Authorization": "HjerteKom " + token})
        assert _refused(answer), (path, answer.status)
    # On the server's private socket it names Anne while her session lives, with her rights only ...
    assert _internal_whoami(socket_path, token) == 200
    assert _internal_whoami(socket_path, token, f"/feedback/{_course_in(world, 740)}") == 200
    assert _internal_whoami(socket_path, token, f"/feedback/{_course_in(world, 101)}") == 404
    # ... and nothing after logout.
    assert anne.post("/logout").status == 302
    assert _internal_whoami(socket_path, token) == 403

    # Nor after a restart: a new login's token is worthless to the restarted server.
    anne = world.signed_in(ANNE, server)
    kernel_id = anne.open_app()
    token = server.kernels()[kernel_id].environ()["HTTP_X_HJERTEKOM_IDENTITY"]
    server.stop()
    again = start_security_server("--no-preheat", name="no-preheat-again")
    assert _internal_whoami(again.internal_socket(), token) == 403


def _course_in(world: SecurityWorld, municipality: int) -> int:
    import random

    from factories import course_data
    from hjertekom_core.access import SYSTEM
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.cpr import generate_cpr
    from hjertekom_core.service import Service
    from paths import CONTRACTS_DIR

    svc = Service(world.store, ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"]), SYSTEM)
    citizen = svc.create_citizen(generate_cpr(random.Random(municipality * 7)), "Feedback Testesen", municipality)
    return svc.open_course(citizen.id, course_data(municipality=municipality), complete=True).course_id


# --- logout ---------------------------------------------------------------------------------------

def test_logout_is_a_post_with_the_token_and_closes_every_kernel_of_the_login(security_world: SecurityWorld) -> None:
    world = security_world
    anne = world.signed_in(ANNE)
    first, second = anne.open_app(), anne.open_app()  # two tabs of one login
    assert {first, second} <= set(world.server.kernels())

    assert anne.get("/logout").status == 200              # a GET (a link, an image) changes nothing
    assert anne.get("/hjertekom/api/session").json()["signed_in"] is True
    assert anne.post("/logout", xsrf=False).status == 403  # a cross-site POST changes nothing
    assert anne.get("/hjertekom/api/session").json()["signed_in"] is True

    cookie = anne.cookies[SESSION_COOKIE]
    assert anne.post("/logout").status == 302
    deadline = time.monotonic() + 30
    while {first, second} & set(world.server.kernels()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not {first, second} & set(world.server.kernels()), "kernels of the ended login still run"
    copy = WebClient(world.server.base_url, cookies={SESSION_COOKIE: cookie})
    answer = copy.get("/hjertekom/api/session")
    assert answer.status == 401 and answer.json()["reason"] == "logout"


# --- researchers ----------------------------------------------------------------------------------

def test_a_researchers_right_password_gets_the_same_answer_as_a_wrong_one(security_world: SecurityWorld) -> None:
    world = security_world
    right = world.client().login(FORSKER.username, FORSKER.password)
    wrong = world.client().login(FORSKER.username, FORSKER.password + "x")
    assert right.status == wrong.status == 403
    assert _error_text(right.text) == _error_text(wrong.text)
    assert SESSION_COOKIE not in world.client().cookies


def _error_text(page: str) -> str:
    import re

    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page)
    assert found, page[:1000]
    return found.group(1)


# --- behind an authenticating proxy ---------------------------------------------------------------

def _proxy_secret(world: SecurityWorld) -> str:
    return (world.data_dir / "proxy.secret").read_text(encoding="ascii").strip()


def test_the_proxy_header_is_believed_only_from_the_proxy_with_its_secret(
        security_world: SecurityWorld, start_security_server) -> None:
    """`curl -H "X-Forwarded-User: admin"` against the port got the administrator's pages."""
    world = security_world
    server = start_security_server("--trusted-header", "X-Forwarded-User", "--pool-size", "1",
                                   login_status=403, name="hosted")
    secret = _proxy_secret(world)
    before = len(world.denials("admin"))

    curl = world.client(server, headers={"X-Forwarded-User": "admin"})
    assert _refused(curl.get("/"))
    assert _refused(curl.get("/hjertekom/rapporter"))
    wrong = world.client(server, headers={"X-Forwarded-User": "admin", "X-HjerteKom-Proxy-Secret": "0" * 64})
    assert _refused(wrong.get("/"))
    elsewhere = world.client(server, headers={"X-Forwarded-User": "admin", "X-HjerteKom-Proxy-Secret": secret},
                             source_address="127.0.0.3")  # another machine on the network, with the secret
    assert _refused(elsewhere.get("/"))
    reasons = [json.loads(r["detail"])["reason"] for r in world.denials("admin")[before:]]
    assert reasons.count("wrong or missing proxy secret") >= 3 and "not from a trusted proxy" in reasons

    # The proxy itself: the user it names is signed in, with a session of the server's own.
    proxy = world.client(server, headers={"X-Forwarded-User": ANNE.username, "X-HjerteKom-Proxy-Secret": secret})
    kernel_id = proxy.open_app()
    assert SESSION_COOKIE in proxy.cookies and proxy.get(f"/api/kernels/{kernel_id}").status == 200
    # The proxy naming someone else on the same connection's cookie: that is another session.
    proxy.headers["X-Forwarded-User"] = CARL.username
    assert proxy.get(f"/api/kernels/{kernel_id}").status == 403


def test_serve_on_another_address_for_a_proxy_on_another_host(
        security_world: SecurityWorld, start_security_server) -> None:
    world = security_world
    server = start_security_server("--ip", "127.0.0.2", "--trusted-header", "X-Forwarded-User", "--pool-size", "1",
                                   env={"HJERTEKOM_TRUSTED_PROXIES": "127.0.0.5"}, host="127.0.0.2",
                                   login_status=403, name="proxy-elsewhere")
    headers = {"X-Forwarded-User": ANNE.username, "X-HjerteKom-Proxy-Secret": _proxy_secret(world)}
    assert _refused(world.client(server, headers=headers).get("/"))  # from 127.0.0.1: not the proxy
    assert world.client(server, headers=headers, source_address="127.0.0.5").open_app()


# --- the login page -------------------------------------------------------------------------------

def test_the_login_page_slows_down_then_locks_and_says_until_when(security_world: SecurityWorld,
                                                                  start_security_server) -> None:
    """30 wrong passwords in a row met no slowdown; now answers slow down after the third failure and
    the login locks (the user is told until when), even for the right password."""
    world = security_world
    server = start_security_server("--pool-size", "1", env={"HJERTEKOM_LOGIN_MAX_FAILURES": "5"},
                                   name="throttled")
    client = world.client(server, source_address="127.0.0.21")  # an address with no failures of other tests
    timings, answers = [], []
    for _ in range(4):
        started = time.monotonic()
        answers.append(client.login(DORTE.username, "wrong-password-" + uuid.uuid4().hex[:6]))
        timings.append(time.monotonic() - started)
    assert {a.status for a in answers} == {403}
    assert len({_error_text(a.text) for a in answers}) == 1
    # The fourth failure is answered only after the throttle's delay (0.5 s): a lower bound, which a
    # busy machine can only make longer.
    assert timings[3] >= 0.5, timings
    fifth = client.login(DORTE.username, "wrong-password-5")
    locked = client.login(DORTE.username, DORTE.password)  # the right password, too late
    for answer in (fifth, locked):
        assert answer.status == 429
        assert "For mange forkerte forsøg. Du kan prøve igen kl." in _error_text(answer.text)
    assert SESSION_COOKIE not in client.cookies
    # Another user, from another address, is not locked out by this.
    assert world.client(server, source_address="127.0.0.9").login(CARL.username, CARL.password).status == 302


def test_a_wrong_name_and_a_wrong_password_get_the_same_answer(security_world: SecurityWorld) -> None:
    world = security_world
    unknown = world.client(source_address="127.0.0.11").login("no-such-user", "wrong-password-1")
    wrong = world.client(source_address="127.0.0.12").login(CARL.username, "wrong-password-1")
    assert unknown.status == wrong.status == 403
    assert _error_text(unknown.text) == _error_text(wrong.text) == "Forkert brugernavn eller adgangskode. Prøv igen."
