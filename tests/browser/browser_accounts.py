"""The browser tests' accounts and timeouts (a plain module: test files import from it, never from
a conftest, whose module name is shared by every conftest of the run)."""
from __future__ import annotations

from dataclasses import dataclass

FIRST_APP_ELEMENT_MS = 60_000   # a kernel may have to start first (CI under load)
ACTION_TIMEOUT_MS = 30_000      # clicks, fills, waits for an element
EXPECT_TIMEOUT_MS = 20_000      # a kernel round trip: validation, saving, feedback

@dataclass(frozen=True)
class Account:
    username: str
    password: str
    display_name: str
    municipality: int
    role: str = "clinician"


#: The users of the browser session (synthetic people, passwords that pass the password policy).
ANNE = Account("anne", "solsikke-bakke-740", "Anne Andersen", 740)
BO = Account("bo", "havtorn-mark-740", "Bo Bertelsen", 740)
CARL = Account("carl", "kastanje-gade-101", "Carl Christensen", 101)
DORTE = Account("dorte", "birkeskov-sti-740", "Dorte Dahl", 740, "coordinator")
ACCOUNTS = (ANNE, BO, CARL, DORTE)
