"""The entry app's identity pieces that need no browser: the kernels' registry and safe redirects."""
from __future__ import annotations

import pytest

from hjertekom_widgets.auth import _safe_next
from hjertekom_widgets.kernel_registry import PAGE_GONE_SECONDS, SILENT_PAGE_SECONDS, UNBOUND_TOKEN_SECONDS, KernelRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> KernelRegistry:
    return KernelRegistry(clock=clock)


def test_a_token_names_its_session_until_the_session_ends(registry: KernelRegistry) -> None:
    token = registry.issue("s1", "anne")
    assert registry.identity(token) == ("s1", "anne", None)
    assert registry.assign("k1", token)
    assert registry.identity(token) == ("s1", "anne", "k1")
    assert registry.owner("k1") == "s1"
    assert registry.end_session("s1") == ["k1"]
    assert registry.identity(token) is None and registry.owner("k1") is None


@pytest.mark.parametrize("forged", [None, "", "anne", "x" * 43])
def test_a_made_up_token_names_nobody(registry: KernelRegistry, forged: str | None) -> None:
    registry.issue("s1", "anne")
    assert registry.identity(forged) is None


def test_an_unused_token_expires_and_a_kernel_is_never_handed_over(registry: KernelRegistry, clock: Clock) -> None:
    stale = registry.issue("s1", "anne")
    clock.now += UNBOUND_TOKEN_SECONDS + 1
    assert registry.identity(stale) is None and not registry.assign("k1", stale)
    first, second = registry.issue("s1", "anne"), registry.issue("s2", "carl")
    assert registry.assign("k1", first)
    assert not registry.assign("k1", second)          # already anne's
    assert registry.owner("k1") == "s1"


def test_a_kernel_whose_page_has_gone_is_found(registry: KernelRegistry, clock: Clock) -> None:
    registry.assign("open", registry.issue("s1", "anne"))
    registry.assign("closed", registry.issue("s1", "anne"))
    registry.assign("half-open", registry.issue("s1", "anne"))
    for kernel in ("open", "closed", "half-open"):
        registry.connected(kernel)
    registry.disconnected("closed")  # its websocket closed, and no heartbeat comes any more
    clock.now += PAGE_GONE_SECONDS + 1
    assert not registry.heartbeat("open", "s2")        # another session's heartbeat does not count
    assert registry.heartbeat("open", "s1")
    assert registry.pages_gone() == ["closed"]
    clock.now += SILENT_PAGE_SECONDS                   # a websocket that never closed, but no heartbeat
    registry.heartbeat("open", "s1")
    assert sorted(registry.pages_gone()) == ["closed", "half-open"]


@pytest.mark.parametrize(("target", "expected"), [
    ("/", "/"), ("/?x=1", "/?x=1"), (None, "/"),
    ("https://evil.example/", "/"), ("//evil.example/", "/"), ("javascript:alert(1)", "/"), ("relative", "/"),
])
def test_after_login_only_paths_on_this_server(target: str | None, expected: str) -> None:
    assert _safe_next(target, "/") == expected
