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

from hjertekom_core.errors import AccessDenied, WeakPassword, WeakPin

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


#: The programme of a grant that stands for every programme, also those loaded later: what a user
#: had before rights were per programme (migration 0012), and what ``--programme`` leaves out gives.
ALL_PROGRAMMES = "*"


@dataclass(frozen=True)
class User:
    """Who acts, in which role, and where: ``grants`` are (programme, municipality) pairs, the
    programme ``ALL_PROGRAMMES`` for every programme. ``municipalities`` is their union (where the
    user acts in some programme), kept for the callers that look at municipalities alone.
    ``grants=None`` (a user built by hand) means every programme in each of ``municipalities``."""

    id: int | None
    username: str
    display_name: str
    role: str
    municipalities: frozenset[int]
    grants: frozenset[tuple[str, int]] | None = None

    @classmethod
    def with_grants(cls, id: int | None, username: str, display_name: str, role: str,  # noqa: A002 - the column
                    grants: frozenset[tuple[str, int]] | set[tuple[str, int]]) -> User:
        pairs = frozenset((str(p), int(m)) for p, m in grants)
        return cls(id, username, display_name, role, frozenset(m for _, m in pairs), pairs)

    @property
    def all_municipalities(self) -> bool:
        return self.role == "administrator"

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    def programmes_in(self, municipality: int) -> frozenset[str] | None:
        """The programmes the user acts in in ``municipality``: None for every programme (an
        administrator, or a grant of all programmes there), an empty set for none."""
        if self.all_municipalities:
            return None
        if self.grants is None:
            return None if municipality in self.municipalities else frozenset()
        found = frozenset(p for p, m in self.grants if m == municipality)
        return None if ALL_PROGRAMMES in found else found

    def acts_in(self, municipality: int, programme: str | None = None) -> bool:
        """Whether the user acts in ``municipality``: in ``programme`` there, or (None) in any programme."""
        if self.all_municipalities:
            return True
        if programme is None:
            return municipality in self.municipalities
        programmes = self.programmes_in(municipality)
        return programmes is None or programme in programmes

    def acts_in_programme(self, programme: str) -> bool:
        """Whether the user acts in ``programme`` in some municipality."""
        return self.all_municipalities or any(self.acts_in(m, programme) for m in self.municipalities)

    def require(self, permission: str, municipality: int | None = None, *, programme: str | None = None) -> None:
        """AccessDenied unless the role has ``permission`` and, given them, the user acts in
        ``municipality`` (in ``programme`` there; without a municipality, in ``programme`` somewhere)."""
        if not self.can(permission):
            raise AccessDenied(permission, f"role {self.role} lacks it")
        if municipality is not None and not self.acts_in(municipality, programme):
            if programme is not None and self.acts_in(municipality):
                raise AccessDenied(permission, f"not in programme {programme} in municipality {municipality}",
                                   municipality=municipality)
            raise AccessDenied(permission, f"not in municipality {municipality}", municipality=municipality)
        if municipality is None and programme is not None and not self.acts_in_programme(programme):
            raise AccessDenied(permission, f"not in programme {programme}")

    def scope(self) -> frozenset[int] | None:
        """Municipalities this user acts in (in some programme), or None for all."""
        return None if self.all_municipalities else self.municipalities

    def course_scope(self) -> dict[int, frozenset[str] | None] | None:
        """Per municipality the programmes whose courses the user may see there (None: every
        programme), or None for every course (an administrator). Municipalities not listed: none."""
        if self.all_municipalities:
            return None
        return {m: self.programmes_in(m) for m in sorted(self.municipalities)}

    def granted(self) -> dict[str, tuple[int, ...]]:
        """The grants by programme (``ALL_PROGRAMMES`` for every one), municipalities sorted: for listings."""
        pairs = self.grants if self.grants is not None else {(ALL_PROGRAMMES, m) for m in self.municipalities}
        found: dict[str, set[int]] = {}
        for programme, municipality in pairs:
            found.setdefault(programme, set()).add(municipality)
        return {p: tuple(sorted(found[p])) for p in sorted(found)}


#: A system identity for command-line jobs run by the data owner (demo, import with --as-admin).
SYSTEM = User(None, "system", "System", "administrator", frozenset())

# argon2id with the parameters of OWASP's Password Storage Cheat Sheet (19 MiB, 2 passes, 1 lane).
# argon2-cffi's default, RFC 9106's low-memory profile (64 MiB, 3 passes, 4 lanes), took about 8x the
# CPU and 3.4x the memory per check: at 20 logins at once on a 2-core host the hashing alone held
# the cores for seconds and 1.3 GB of memory (issue 16). The login lockout and the password policy
# (12 characters, not a common one) stand in front of it online. Hashes made with other parameters
# still verify, and are made again with these at the user's next login (``needs_rehash``).
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


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


def hash_again(secret: str) -> str:
    """A password or PIN already checked (it matched its stored hash), hashed with today's parameters."""
    return _hasher.hash(secret)


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with other parameters than today's (made again at the next login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# --- the PIN of the questionnaire mode -----------------------------------------------------------------
#: A PIN is 4 to 8 digits (only the questionnaire mode takes it: it never logs anyone in).
MIN_PIN_LENGTH, MAX_PIN_LENGTH = 4, 8
_PIN = re.compile(r"[0-9]{%d,%d}" % (MIN_PIN_LENGTH, MAX_PIN_LENGTH))
#: Among the most used four-digit PINs that no rule below catches (keypad lines, 1004, 6969 ...).
_COMMON_PINS = frozenset({"2580", "0852", "1397", "7931", "1004", "6969", "2468", "8642", "1357", "7531",
                          "1470", "0741", "3690", "0963", "147258", "258369", "159753", "112233", "123123",
                          "2020", "1010", "1122", "1313", "4545", "5683", "0007", "1998", "2001"})
_DIGIT_RUNS = ("01234567890123456789", "98765432109876543210")


def is_pin_shape(text: str) -> bool:
    """Whether ``text`` has the shape of a PIN: 4 to 8 digits."""
    return bool(_PIN.fullmatch(text))


def check_pin(pin: str) -> None:
    """Raise WeakPin (saying in Danish and English what to choose) unless ``pin`` is 4-8 digits and
    not trivial: one digit over and over (0000), a run up or down (1234, 9876, 8901), a repeated
    pair or triple (1212, 123123), a year 1900-2099 (a birth year) or a very common PIN (2580)."""
    what_da = ("Vælg 4-8 cifre uden mønster, som kun du kender: ikke det samme ciffer gentaget (0000), "
               "ikke tal i rækkefølge (1234, 9876), ikke en gentagelse (1212) og ikke et årstal.")
    what_en = ("Choose 4-8 digits without a pattern that only you know: not one digit repeated (0000), not "
               "digits in order (1234, 9876), not a repetition (1212) and not a year.")
    if not is_pin_shape(pin):
        raise WeakPin("format", {"da": f"PIN-koden skal være 4-8 cifre (kun tal). {what_da}",
                                 "en": f"The PIN must be 4-8 digits (numbers only). {what_en}"})
    trivial = (len(set(pin)) == 1 or any(pin in run for run in _DIGIT_RUNS) or pin in _COMMON_PINS
               or any(len(pin) % n == 0 and pin == pin[:n] * (len(pin) // n) for n in (2, 3, 4) if n < len(pin))
               or (len(pin) == 4 and 1900 <= int(pin) <= 2099))
    if trivial:
        raise WeakPin("trivial", {"da": f"PIN-koden er for let at gætte. {what_da}",
                                  "en": f"The PIN is too easy to guess. {what_en}"})


def hash_pin(pin: str) -> str:
    """The PIN hashed with the passwords' hasher (argon2id); checked first (ValueError if weak)."""
    check_pin(pin)
    return _hasher.hash(pin)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role
