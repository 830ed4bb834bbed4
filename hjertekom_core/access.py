"""Roles, permissions and passwords.

A permission is granted to roles in one registry (``ROLE_PERMISSIONS``); municipality scope is
checked separately, because an administrator acts in all municipalities and everyone else only in
their own.
"""
from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hjertekom_core.errors import AccessDenied

ROLES = ("clinician", "coordinator", "researcher", "administrator")

# What each role may do (ARCHITECTURE.md, "Users and what each may do").
_CLINICAL = frozenset({"citizen.read", "citizen.write", "course.read", "course.write", "registration.write"})
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "clinician": _CLINICAL,
    "coordinator": _CLINICAL | {"report.read", "indicator.read", "extract.individual"},
    "researcher": frozenset({"snapshot.pseudonymised"}),
    "administrator": _CLINICAL | {"report.read", "indicator.read", "extract.individual", "user.admin",
                                  "audit.read", "dhrd.export", "snapshot.identified",
                                  "snapshot.pseudonymised", "import.write"},
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
            raise AccessDenied(permission, f"not in municipality {municipality}")

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


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role
