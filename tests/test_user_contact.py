"""Contact details on the user profile (migration 0010): set by the user or an administrator,
checked before anything is stored, audited without the values."""
from __future__ import annotations

import json

import pytest

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM
from hjertekom_core.errors import AccessDenied
from hjertekom_core.store import Store
from hjertekom_core.users import ContactDetails, UserAdminRefused, contact_of, set_contact


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def test_a_user_sets_their_own_phone_and_email(make_user, store: Store) -> None:
    nurse = make_user("sygeplejerske")
    change = set_contact(store, nurse, "sygeplejerske", " 87 22 33 44 ", "hjerte@silkeborg.dk")
    assert change.changed
    with store.read() as conn:
        assert contact_of(conn, nurse.id) == ContactDetails("87 22 33 44", "hjerte@silkeborg.dk")
        entry = [e for e in audit.entries(conn) if e["action"] == "user.change"][-1]
    detail = json.loads(entry["detail"])
    assert detail == {"field": "contact", "phone": True, "email": True}
    assert "87 22 33 44" not in entry["detail"] and "silkeborg" not in entry["detail"]
    assert not set_contact(store, nurse, "sygeplejerske", "87 22 33 44", "hjerte@silkeborg.dk").changed
    set_contact(store, SYSTEM, "sygeplejerske", "", None)  # an administrator clears them
    with store.read() as conn:
        assert contact_of(conn, nurse.id) == ContactDetails()


def test_bad_values_and_other_users_are_refused_and_nothing_changes(make_user, store: Store) -> None:
    nurse, other = make_user("sygeplejerske"), make_user("kollega")
    with pytest.raises(UserAdminRefused, match="E-mailadressen"):
        set_contact(store, nurse, "sygeplejerske", "87 22 33 44", "ikke en adresse")
    with pytest.raises(UserAdminRefused, match="Telefonnummeret"):
        set_contact(store, nurse, "sygeplejerske", "ring til mig", None)
    with pytest.raises(AccessDenied):
        set_contact(store, other, "sygeplejerske", "87 22 33 44", None)
    with store.read() as conn:
        assert contact_of(conn, nurse.id) == ContactDetails()
