"""Password policy (issue 12: "`password1` is accepted for an administrator").

What an administrator adding a user sees: short, common and name-containing passwords are refused
with a message in Danish and English saying what to fix, and nothing is stored.
"""
from __future__ import annotations

import pytest

from hjertekom_core.access import SYSTEM, check_password
from hjertekom_core.demo import DEMO_USERS, demo_password
from hjertekom_core.errors import WeakPassword
from hjertekom_core.users import add_user, list_users


@pytest.mark.parametrize("password", [
    "password1", "Password1!", "kort-kode",                           # too short
    "123456789012", "qwertyuiopas", "QWERTYUIOPAS",                   # common, in any case
    "password123456", "Password2025!", "sommer2024!!", "Sommer2025##", "kodeord123456",
    "Velkommen1234", "hjertekom2025", "Danmark12345!", "1q2w3e4r5t6y",  # common word + digits/symbols
    "aaaaaaaaaaaaaaaa",                                               # one character over and over
])
def test_weak_passwords_are_refused_for_an_administrator(store, password: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        add_user(store, SYSTEM, "birgit", "Birgit B.", "administrator", password, [])
    message = str(caught.value)
    assert "adgangskode" in message.lower() and "password" in message.lower()  # Danish and English
    assert list_users(store, SYSTEM) == []


def test_a_password_holding_the_username_is_refused(store) -> None:
    with pytest.raises(WeakPassword) as caught:
        add_user(store, SYSTEM, "birgit", "Birgit B.", "clinician", "Birgit-har-en-lang-kode", [740])
    assert "brugernavn" in str(caught.value) and "username" in str(caught.value)
    assert list_users(store, SYSTEM) == []


def test_the_messages_say_what_to_fix() -> None:
    with pytest.raises(WeakPassword) as short:
        check_password("kort", "birgit")
    assert "12" in str(short.value)
    with pytest.raises(WeakPassword) as common:
        check_password("password123456", "birgit")
    assert "almindelig" in str(common.value) and "common" in str(common.value)
    assert isinstance(common.value, ValueError)  # callers that catch ValueError keep working


@pytest.mark.parametrize("password", ["korrekt-hest-batteri", "Xk9#mQ2$vL7!pR", "solsikke-bakke-740",
                                      "tre gamle cykler i regnvejr"])
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    check_password(password, "birgit")


def test_the_documented_demo_passwords_pass_the_policy() -> None:
    for username, role, _ in DEMO_USERS:
        check_password(demo_password(role), username)
