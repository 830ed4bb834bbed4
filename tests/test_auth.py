"""The entry app's identity pieces that need no browser: the signed identity and safe redirects."""
from __future__ import annotations

import pytest

from hjertekom_widgets.auth import _safe_next, sign_identity, verify_identity

KEY = bytes(range(32))


def test_a_signed_identity_is_accepted_until_it_expires() -> None:
    token = sign_identity(KEY, "anne", now=1_000_000)
    assert verify_identity(KEY, token, now=1_000_001) == "anne"
    assert verify_identity(KEY, token, now=1_000_000 + 13 * 3600) is None   # expired


@pytest.mark.parametrize("forged", [
    None, "", "anne", "anne|99999999999|" + "0" * 64,                  # no or a made-up signature
    "admin" + sign_identity(KEY, "anne", now=1_000_000)[4:],           # another name, anne's signature
])
def test_a_forged_identity_is_refused(forged: str | None) -> None:
    assert verify_identity(KEY, forged, now=1_000_001) is None


def test_another_key_does_not_verify() -> None:
    assert verify_identity(bytes(32), sign_identity(KEY, "anne", now=1_000_000), now=1_000_001) is None


@pytest.mark.parametrize(("target", "expected"), [
    ("/", "/"), ("/?x=1", "/?x=1"), (None, "/"),
    ("https://evil.example/", "/"), ("//evil.example/", "/"), ("javascript:alert(1)", "/"), ("relative", "/"),
])
def test_after_login_only_paths_on_this_server(target: str | None, expected: str) -> None:
    assert _safe_next(target, "/") == expected
