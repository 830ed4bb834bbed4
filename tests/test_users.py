"""Users: roles, municipalities, password hashing, login."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM
from hjertekom_core.errors import AccessDenied, AuthenticationFailed
from hjertekom_core.store.schema import users
from hjertekom_core.users import UserExists, add_user, authenticate, list_users


def test_passwords_are_stored_as_argon2id_hashes(store) -> None:
    add_user(store, SYSTEM, "anna", "Anna A.", "clinician", "korrekt-hest-batteri", [740, 741])
    with store.read() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "korrekt-hest-batteri" not in stored
    # OWASP's parameters (19 MiB, 2 passes, 1 lane), not argon2-cffi's heavier default.
    assert "$m=19456,t=2,p=1$" in stored


def test_a_hash_of_earlier_parameters_is_made_again_at_the_next_login(store) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import update

    add_user(store, SYSTEM, "anna", "Anna A.", "clinician", "korrekt-hest-batteri", [740])
    earlier = PasswordHasher().hash("korrekt-hest-batteri")   # 64 MiB, 3 passes, 4 lanes
    with store.write() as conn:
        conn.execute(update(users).values(password_hash=earlier))
    with pytest.raises(AuthenticationFailed):          # a wrong password changes nothing
        authenticate(store, "anna", "forkert-hest-batteri")
    with store.read() as conn:
        assert conn.execute(select(users.c.password_hash)).scalar_one() == earlier
    authenticate(store, "anna", "korrekt-hest-batteri")
    with store.read() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored != earlier and "$m=19456,t=2,p=1$" in stored
    assert authenticate(store, "anna", "korrekt-hest-batteri").username == "anna"


def test_login_with_the_right_password_only(store) -> None:
    add_user(store, SYSTEM, "anna", "Anna A.", "coordinator", "korrekt-hest-batteri", [740])
    user = authenticate(store, "anna", "korrekt-hest-batteri")
    assert (user.role, user.municipalities) == ("coordinator", frozenset({740}))
    with pytest.raises(AuthenticationFailed):
        authenticate(store, "anna", "forkert-hest")
    with pytest.raises(AuthenticationFailed):
        authenticate(store, "nobody", "korrekt-hest-batteri")
    with store.read() as conn:
        actions = [e["action"] for e in audit.entries(conn)]
    assert actions[:3] == ["login.failed", "login.failed", "login"]


def test_only_an_administrator_manages_users(store) -> None:
    clinician = add_user(store, SYSTEM, "anna", "Anna", "clinician", "korrekt-hest-batteri", [740])
    with pytest.raises(AccessDenied):
        add_user(store, clinician, "bo", "Bo", "clinician", "korrekt-hest-batteri", [740])
    with pytest.raises(AccessDenied):
        list_users(store, clinician)
    assert [u.username for u in list_users(store, SYSTEM)] == ["anna"]


@pytest.mark.parametrize(("role", "codes", "password", "error"), [
    ("nurse", [740], "korrekt-hest-batteri", ValueError),
    ("clinician", [], "korrekt-hest-batteri", ValueError),
    ("clinician", [999], "korrekt-hest-batteri", ValueError),
    ("clinician", [740], "kort", ValueError),
])
def test_bad_user_input_is_refused(store, role, codes, password, error) -> None:
    with pytest.raises(error):
        add_user(store, SYSTEM, "anna", "Anna", role, password, codes)
    assert list_users(store, SYSTEM) == []


def test_usernames_are_unique(store) -> None:
    add_user(store, SYSTEM, "anna", "Anna", "researcher", "korrekt-hest-batteri", [])
    with pytest.raises(UserExists):
        add_user(store, SYSTEM, "anna", "Anna", "researcher", "korrekt-hest-batteri", [])




def test_a_pin_of_earlier_parameters_is_made_again_when_it_unlocks(store) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import update

    from hjertekom_core.users import unlock_with_pin_or_password

    add_user(store, SYSTEM, "anna", "Anna A.", "clinician", "korrekt-hest-batteri", [740])
    earlier = PasswordHasher().hash("583920")
    with store.write() as conn:
        conn.execute(update(users).values(pin_hash=earlier))
    unlock_with_pin_or_password(store, "anna", "583920", password_allowed=False)
    with store.read() as conn:
        pin_hash, password_hash = conn.execute(select(users.c.pin_hash, users.c.password_hash)).one()
    assert pin_hash != earlier and "$m=19456,t=2,p=1$" in pin_hash
    assert "$m=19456,t=2,p=1$" in password_hash       # the password's own hash is left as it was
    assert unlock_with_pin_or_password(store, "anna", "583920", password_allowed=False).username == "anna"
