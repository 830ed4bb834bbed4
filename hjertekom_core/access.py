"""Roles, permissions and passwords.

A permission is granted to roles in one registry (``ROLE_PERMISSIONS``); municipality scope is
checked separately, because an administrator acts in all municipalities and everyone else only in
their own.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hjertekom_core.errors import AccessDenied, WeakPassword

ROLES = ("clinician", "coordinator", "researcher", "administrator")

# What each role may do (ARCHITECTURE.md, "Users and what each may do").
_CLINICAL = frozenset({"citizen.read", "citizen.write", "course.read", "course.write", "registration.write"})
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "clinician": _CLINICAL,
    # user.read: the users of their own municipalities, read-only (the "Brugere" page).
    "coordinator": _CLINICAL | {"report.read", "indicator.read", "extract.individual", "user.read"},
    "researcher": frozenset({"snapshot.pseudonymised"}),
    "administrator": _CLINICAL | {"report.read", "indicator.read", "extract.individual", "user.admin", "user.read",
                                  "audit.read", "dhrd.export", "snapshot.identified",
                                  "snapshot.pseudonymised", "import.write",
                                  # a citizen's right of access: everything held about them (citizen_access.py)
                                  "citizen.access_export",
                                  # restriction (art. 18), erasure (art. 17) and retention (citizen_erasure.py)
                                  "citizen.restrict", "citizen.erase"},
}
ROLE_LABELS = {
    "clinician": {"da": "Kliniker", "en": "Clinician"},
    "coordinator": {"da": "Koordinator", "en": "Coordinator"},
    "researcher": {"da": "Forsker", "en": "Researcher"},
    "administrator": {"da": "Administrator", "en": "Administrator"},
}


@dataclass(frozen=True)
class User:
    id: int | None
    username: str
    display_name: str
    role: str
    municipalities: frozenset[int]

    @property
    def all_municipalities(self) -> bool:
        return self.role == "administrator"

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    def acts_in(self, municipality: int) -> bool:
        return self.all_municipalities or municipality in self.municipalities

    def require(self, permission: str, municipality: int | None = None) -> None:
        if not self.can(permission):
            raise AccessDenied(permission, f"role {self.role} lacks it")
        if municipality is not None and not self.acts_in(municipality):
            raise AccessDenied(permission, f"not in municipality {municipality}", municipality=municipality)

    def scope(self) -> frozenset[int] | None:
        """Municipalities this user acts in, or None for all."""
        return None if self.all_municipalities else self.municipalities


#: A system identity for command-line jobs run by the data owner (demo, import with --as-admin).
SYSTEM = User(None, "system", "System", "administrator", frozenset())

# argon2id, the OWASP-recommended KDF; parameters are argon2-cffi's RFC 9106 low-memory profile.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    return _hasher.hash(password)


# --- the password policy ---------------------------------------------------------------------------
#: Shortest password accepted (NIST SP 800-63B asks for at least 8; a registry of health data, 12).
MIN_PASSWORD_LENGTH = 12
#: Fewest different characters: "aaaaaaaaaaaa" is twelve characters, but one guess.
MIN_DISTINCT_CHARACTERS = 5
#: Shortest username looked for inside a password: a two-letter name ("bo") is in many words.
MIN_USERNAME_IN_PASSWORD = 3
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")   # leading and trailing digits and symbols
_NOT_LETTERS = re.compile(r"[\W\d_]+")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower case (data/common-passwords.txt, see its README)."""
    text = files("hjertekom_core").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


_SYMBOLS = re.compile(r"[\W_]+")
_RUNS = ("0123456789" * 3, "9876543210" * 3, "abcdefghijklmnopqrstuvwxyzæøå" * 2)


def _is_common(password: str) -> bool:
    """In the list as it is, without the digits and symbols around it, as its letters alone or
    without its symbols; or a plain run such as 123456789012 or 987654321098."""
    word = password.casefold()
    candidates = {word, _EDGES.sub("", word), _NOT_LETTERS.sub("", word), _SYMBOLS.sub("", word)} - {""}
    if candidates & common_passwords():
        return True
    bare = _SYMBOLS.sub("", word)
    return len(bare) >= 4 and any(bare in run for run in _RUNS)


def check_password(password: str, username: str) -> None:
    """Raise WeakPassword (saying in Danish and English what to fix) unless ``password`` is at least
    12 characters, not a common password (also with digits or symbols added around it), not one
    character over and over, and does not contain the username (case-insensitive)."""
    reasons: list[str] = []
    da: list[str] = []
    en: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        reasons.append("too_short")
        da.append(f"Adgangskoden skal have mindst {MIN_PASSWORD_LENGTH} tegn (den har {len(password)}).")
        en.append(f"The password must have at least {MIN_PASSWORD_LENGTH} characters (it has {len(password)}).")
    if _is_common(password):
        reasons.append("common")
        da.append("Adgangskoden er for almindelig (den står på listen over kendte adgangskoder, evt. med tal "
                  "eller tegn tilføjet). Brug fx tre-fire tilfældige ord.")
        en.append("The password is too common (it is on the list of known passwords, perhaps with digits or "
                  "symbols added). Use, for example, three or four random words.")
    if len(set(password.casefold())) < MIN_DISTINCT_CHARACTERS:
        reasons.append("repetitive")
        da.append(f"Adgangskoden skal have mindst {MIN_DISTINCT_CHARACTERS} forskellige tegn.")
        en.append(f"The password must have at least {MIN_DISTINCT_CHARACTERS} different characters.")
    name = username.strip().casefold()
    if len(name) >= MIN_USERNAME_IN_PASSWORD and name in password.casefold():
        reasons.append("contains_username")
        da.append("Adgangskoden må ikke indeholde brugernavnet.")
        en.append("The password must not contain the username.")
    if reasons:
        raise WeakPassword(reasons, {"da": " ".join(da), "en": " ".join(en)})


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role
