"""Danish CPR numbers: parsing, validation, masking, leak scanning and synthetic generation.

Rules (see docs/domain.md):

* Format ``DDMMYY-SSSS`` or ``DDMMYYSSSS``; surrounding whitespace is ignored, nothing else is.
* The century comes from digit 7 (the first ``S``) together with ``YY``:

  ========  ========  ========  ========
  digit 7   YY 00-36  YY 37-57  YY 58-99
  ========  ========  ========  ========
  0-3       19YY      19YY      19YY
  4, 9      20YY      19YY      19YY
  5-8       20YY      20YY      18YY
  ========  ========  ========  ========

* Last digit odd = male ("M"), even = female ("F").
* Modulus 11 (weights 4,3,2,7,6,5,4,3,2,1) is *not* required: numbers issued since 1 Oct 2007 may
  fail it and are fully valid. A failed check is reported as ``CprInfo.modulus11_ok = False``.
* The birth date must exist; otherwise :class:`InvalidCpr` with ``reason="date"``.

Privacy: a CPR number is never put into an exception message or a ``repr``. Use
:func:`mask_cpr` for anything that ends up on screen in a list or in a log.
"""
from __future__ import annotations

import datetime
import random
import re
from dataclasses import dataclass
from typing import Literal

from hjertekom_core.errors import HjerteKomError

__all__ = [
    "CPR_PATTERN",
    "CprInfo",
    "InvalidCpr",
    "generate_cpr",
    "looks_like_cpr",
    "mask_cpr",
    "normalise_cpr",
    "parse_cpr",
]

Sex = Literal["M", "F"]
InvalidReason = Literal["format", "date"]

MODULUS11_WEIGHTS: tuple[int, ...] = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)

# [0-9] rather than \d: \d also matches non-ASCII digits (e.g. Arabic-Indic), which are not CPR.
_FULL_RE = re.compile(r"([0-9]{6})-?([0-9]{4})")

#: Finds CPR-shaped substrings: 6 digits, optional hyphen, 4 digits, not inside a longer digit run.
#: Shape only (no date check); see :func:`looks_like_cpr` for the stricter test.
CPR_PATTERN: re.Pattern[str] = re.compile(r"(?<![0-9])(?P<date>[0-9]{6})-?(?P<seq>[0-9]{4})(?![0-9])")

_MESSAGES: dict[str, dict[str, str]] = {
    "format": {
        "da": "CPR-nummeret skal have 10 cifre (DDMMÅÅ-SSSS eller DDMMÅÅSSSS)",
        "en": "The CPR number must have 10 digits (DDMMYY-SSSS or DDMMYYSSSS)",
    },
    "date": {
        "da": "CPR-nummeret indeholder ikke en gyldig fødselsdato (DDMMÅÅ)",
        "en": "The CPR number does not contain a valid date of birth (DDMMYY)",
    },
}


class InvalidCpr(HjerteKomError, ValueError):
    """A CPR number with a bad format or an impossible birth date.

    The message never contains the number (CPR numbers must not reach logs). ``reason`` is
    ``"format"`` or ``"date"``; ``messages`` holds the text in Danish ("da") and English ("en").
    ``str()`` gives the Danish text.
    """

    def __init__(self, reason: InvalidReason, messages: dict[str, str] | None = None) -> None:
        if reason not in _MESSAGES:
            raise ValueError(f"unknown InvalidCpr reason: {reason!r}")
        self.reason: InvalidReason = reason
        self.messages: dict[str, str] = dict(messages) if messages else dict(_MESSAGES[reason])
        super().__init__(self.messages.get("da") or _MESSAGES[reason]["da"])

    def message(self, lang: str = "da") -> str:
        """The text in ``lang``, falling back to Danish."""
        return self.messages.get(lang) or self.messages.get("da") or self.reason

    def __reduce__(self) -> tuple[type[InvalidCpr], tuple[str, dict[str, str]]]:
        # The custom __init__ signature would otherwise break pickling (multiprocessing, caches).
        return (type(self), (self.reason, self.messages))


def _mask_digits(digits: str) -> str:
    return f"{digits[:6]}-xxxx"


@dataclass(frozen=True, repr=False)
class CprInfo:
    """A parsed, date-valid CPR number. ``digits`` is the 10 digits without hyphen."""

    birth_date: datetime.date
    sex: Sex
    modulus11_ok: bool
    digits: str

    @property
    def formatted(self) -> str:
        """The number as ``DDMMYY-SSSS`` (full number: only for the citizen's own record view)."""
        return f"{self.digits[:6]}-{self.digits[6:]}"

    @property
    def masked(self) -> str:
        """The number as ``DDMMYY-xxxx`` for lists and logs."""
        return _mask_digits(self.digits)

    def __repr__(self) -> str:
        # Masked on purpose: reprs end up in logs, tracebacks and debugger output.
        return (
            f"CprInfo(birth_date={self.birth_date!r}, sex={self.sex!r}, "
            f"modulus11_ok={self.modulus11_ok!r}, digits={self.masked!r})"
        )


def _century(digit7: int, yy: int) -> int:
    """The century (1800, 1900 or 2000) given by digit 7 and the two-digit year."""
    if digit7 <= 3:
        return 1900
    if digit7 in (4, 9):
        return 2000 if yy <= 36 else 1900
    # digit 7 in 5-8
    if yy <= 57:
        return 2000
    return 1800


def _modulus11_ok(digits: str) -> bool:
    return sum(int(d) * w for d, w in zip(digits, MODULUS11_WEIGHTS)) % 11 == 0


def _birth_date(digits: str) -> datetime.date | None:
    """The birth date encoded in ``digits`` (10 ASCII digits), or None if it does not exist."""
    day, month, yy = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    year = _century(int(digits[6]), yy) + yy
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def parse_cpr(text: str) -> CprInfo:
    """Parse and validate a CPR number given as ``DDMMYY-SSSS`` or ``DDMMYYSSSS``.

    Raises :class:`InvalidCpr` (``reason="format"``) for anything that is not exactly that shape
    after stripping surrounding whitespace, and (``reason="date"``) when the date does not exist.
    A failed modulus-11 check is not an error: see ``CprInfo.modulus11_ok``.
    """
    if not isinstance(text, str):
        raise InvalidCpr("format")
    match = _FULL_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidCpr("format")
    digits = match.group(1) + match.group(2)
    birth_date = _birth_date(digits)
    if birth_date is None:
        # "from None": keep datetime's exception out of the traceback chain.
        raise InvalidCpr("date") from None
    sex: Sex = "M" if int(digits[9]) % 2 == 1 else "F"
    return CprInfo(birth_date=birth_date, sex=sex, modulus11_ok=_modulus11_ok(digits), digits=digits)


def normalise_cpr(text: str) -> str:
    """The 10 digits of a valid CPR number (validated via :func:`parse_cpr`)."""
    return parse_cpr(text).digits


def mask_cpr(text_or_digits: str) -> str:
    """``DDMMYY-xxxx`` for display and logs.

    Only the shape is checked (not the date), so that even a malformed-date number can be logged
    safely; input that is not CPR-shaped raises :class:`InvalidCpr` (``reason="format"``).
    """
    if not isinstance(text_or_digits, str):
        raise InvalidCpr("format")
    match = _FULL_RE.fullmatch(text_or_digits.strip())
    if match is None:
        raise InvalidCpr("format")
    return _mask_digits(match.group(1) + match.group(2))


def looks_like_cpr(text: str) -> bool:
    """True if ``text`` contains a CPR-shaped substring whose first six digits form a real date.

    Meant for leak scanning: the date check (century rules included) removes most false hits such
    as order numbers or timestamps, while the modulus-11 check is deliberately not applied because
    valid CPR numbers may fail it.
    """
    if not isinstance(text, str):
        return False
    for match in CPR_PATTERN.finditer(text):
        if _birth_date(match.group("date") + match.group("seq")) is not None:
            return True
    return False


# Earliest and latest birth dates the century table can express (18YY needs YY >= 58, 20YY needs
# YY <= 57).
_MIN_DATE = datetime.date(1858, 1, 1)
_MAX_DATE = datetime.date(2057, 12, 31)
_DEFAULT_FROM = datetime.date(1925, 1, 1)
_DEFAULT_TO = datetime.date(2005, 12, 31)


def _digit7_choices(year: int) -> list[int]:
    """Values of digit 7 that make :func:`_century` give back ``year``'s century."""
    century, yy = divmod(year, 100)
    century *= 100
    return [d for d in range(10) if _century(d, yy) == century]


def generate_cpr(
    rng: random.Random,
    *,
    birth_date: datetime.date | None = None,
    sex: str | None = None,
    modulus11: bool = True,
) -> str:
    """A synthetic 10-digit CPR number (no hyphen) for test and demo data.

    * ``birth_date``: if None, a random date from 1925-01-01 to 2005-12-31. Must lie in
      1858-2057 (the range the century table covers), else ValueError.
    * ``sex``: "M" or "F"; if None, chosen at random.
    * ``modulus11``: True gives a number that passes the modulus-11 check, False one that fails it.

    Digit 7 is chosen so that :func:`parse_cpr` returns the same birth date. Deterministic for a
    seeded ``rng``. Note: "synthetic" means made up, not guaranteed unused by a real person; keep
    generated numbers out of production systems.
    """
    if birth_date is None:
        offset = rng.randint(0, (_DEFAULT_TO - _DEFAULT_FROM).days)
        birth_date = _DEFAULT_FROM + datetime.timedelta(days=offset)
    elif isinstance(birth_date, datetime.datetime):
        # datetime is a date subclass; drop the time so it cannot leak into the comparison.
        birth_date = birth_date.date()
    if not _MIN_DATE <= birth_date <= _MAX_DATE:
        raise ValueError("birth_date must lie between 1858-01-01 and 2057-12-31 for a CPR number")
    if sex is None:
        sex = rng.choice(("M", "F"))
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be 'M' or 'F', not {sex!r}")

    date_part = birth_date.strftime("%d%m") + f"{birth_date.year % 100:02d}"
    digit7_choices = _digit7_choices(birth_date.year)
    parity = 1 if sex == "M" else 0
    last_choices = [d for d in range(10) if d % 2 == parity]

    # With modulus 11 the last digit is forced, and for about 6 in 11 prefixes it is 10 or has the
    # wrong parity for the sex: draw another sequence. Each try succeeds with p ~ 5/11, so the cap
    # is only a guard against a programming error.
    for _ in range(10_000):
        prefix = date_part + str(rng.choice(digit7_choices)) + f"{rng.randrange(100):02d}"
        partial = sum(int(d) * w for d, w in zip(prefix, MODULUS11_WEIGHTS))
        if modulus11:
            check = (-partial) % 11
            if check <= 9 and check % 2 == parity:
                return prefix + str(check)
        else:
            # At most one digit of the right parity makes the sum divisible by 11: skip it.
            bad = [d for d in last_choices if (partial + d) % 11 != 0]
            return prefix + str(rng.choice(bad))
    raise RuntimeError("could not generate a CPR number")  # pragma: no cover
