"""Which citizens may be processed, and what is left of the erased ones.

* Restricted (GDPR art. 18, ``citizens.restricted_at``): kept, but out of entry, reports,
  indicators, extracts, transfers and snapshots until lifted (``not_restricted``).
* Anonymised (retention's anonymise mode, ``citizens.anonymised_at``): statistics only, no longer
  a person anyone registers for: out of entry (``open_for_entry``), in snapshots.
* Erased: gone, but for a tombstone holding a keyed hash of the CPR number (``tombstone_hash``),
  so that a later registration or import of the same number is flagged (``tombstones_of``).

A small module of SQL conditions and hashing that the service, the importer and the snapshot
writer all use; it imports none of them.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, ColumnElement, and_, select

from hjertekom_core.store.schema import citizens, tombstones

if TYPE_CHECKING:
    from hjertekom_core.store import Store

log = logging.getLogger(__name__)

#: What a clinician is told about a restricted citizen looked up by CPR number or opened by id.
RESTRICTED_MESSAGE = {
    "da": "Borgeren er begrænset (GDPR art. 18): oplysningerne må ikke ses, ændres eller bruges, før "
          "begrænsningen er ophævet. Der kan heller ikke oprettes nye forløb. Kontakt en administrator.",
    "en": "The citizen's data are restricted (GDPR art. 18): they may not be viewed, changed or used until the "
          "restriction is lifted, and no new course can be created. Contact an administrator.",
}

#: What a clinician is told when a CPR number they register was erased before.
PREVIOUSLY_ERASED_MESSAGE = {
    "da": "Bemærk: Et CPR-nummer som dette er tidligere slettet fra HjerteKom efter anmodning eller udløbet "
          "opbevaringsperiode. Kontrollér, at borgeren skal registreres igen (fx en ny henvisning), og at "
          "oplysningerne ikke stammer fra de slettede.",
    "en": "Note: this CPR number was erased from HjerteKom before, on request or at the end of its retention "
          "period. Check that the citizen is to be registered again (e.g. a new referral) and that the data "
          "do not come from what was erased.",
}


def not_restricted(citizen_id: Any = None) -> ColumnElement[bool]:
    """SQL: the citizen is not restricted. ``citizen_id``: a column holding a citizen's id where
    ``citizens`` is not in the query (e.g. ``courses.c.citizen_id``); None: ``citizens`` itself."""
    if citizen_id is None:
        return citizens.c.restricted_at.is_(None)
    return citizen_id.not_in(select(citizens.c.id).where(citizens.c.restricted_at.is_not(None)))


def open_for_entry(citizen_id: Any = None) -> ColumnElement[bool]:
    """SQL: the citizen may be found, shown and registered for in entry: neither restricted nor
    anonymised (``citizen_id`` as in ``not_restricted``)."""
    if citizen_id is None:
        return and_(citizens.c.restricted_at.is_(None), citizens.c.anonymised_at.is_(None))
    closed = select(citizens.c.id).where((citizens.c.restricted_at.is_not(None))
                                         | (citizens.c.anonymised_at.is_not(None)))
    return citizen_id.not_in(closed)


# --- tombstones ---------------------------------------------------------------------------------------
#: Letters only (as the research pseudonyms): a hash can never look like a CPR number.
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEF"
#: The tombstone hash's own key is derived from the pseudonymisation key with this label, so that
#: no tombstone can be matched with a research pseudonym of the same person (domain separation).
_TOMBSTONE_LABEL = b"hjertekom tombstone cpr hash v1"


def tombstone_hash(key: bytes, cpr_digits: str) -> str:
    """The keyed hash of a CPR number (10 digits) kept in a tombstone: HMAC-SHA256 under a key
    derived from the pseudonymisation key, written as 52 letters."""
    subkey = hmac.new(key, _TOMBSTONE_LABEL, hashlib.sha256).digest()
    number = int.from_bytes(hmac.new(subkey, cpr_digits.encode("ascii"), hashlib.sha256).digest(), "big")
    chars = []
    for _ in range(52):  # 256 bits in 5-bit letters
        number, index = divmod(number, 32)
        chars.append(_ALPHABET[index])
    return "".join(chars)


def read_tombstone_key(path: Path | None) -> bytes | None:
    """The pseudonymisation key from ``path``, or None when there is no such file."""
    if path is None:
        return None
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return None


def tombstones_of(conn: Connection, store: Store, cpr_digits: list[str]) -> dict[str, list[Any]]:
    """CPR digits -> the tombstones of earlier erasures of that number (only numbers that have one).

    Needs the key (``store.key_file``) only when the store holds tombstones at all. Without the key
    the check cannot be made: that is logged as an error and nothing is flagged (the clinician's
    registration is not blocked by a missing file; `hjertekom init` makes the key)."""
    if not cpr_digits or conn.execute(select(tombstones.c.id).limit(1)).first() is None:
        return {}
    key = read_tombstone_key(store.key_file)
    if key is None:
        log.error("tombstones exist but the pseudonymisation key is missing (%s): a CPR number erased before "
                  "cannot be recognised", store.key_file)
        return {}
    hashes = {tombstone_hash(key, digits): digits for digits in set(cpr_digits)}
    found: dict[str, list[Any]] = {}
    names = sorted(hashes)
    for start in range(0, len(names), 500):
        for row in conn.execute(select(tombstones).where(tombstones.c.cpr_hash.in_(names[start:start + 500]))
                                .order_by(tombstones.c.id)):
            found.setdefault(hashes[row.cpr_hash], []).append(row)
    return found
