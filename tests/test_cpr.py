"""Tests for hjertekom_core.cpr.

All CPR numbers here are synthetic, built from a date and a made-up sequence number for the case
under test; none belongs to a known person.
"""
from __future__ import annotations

import datetime
import pickle
import random
import re

import pytest

from hjertekom_core.cpr import (
    CPR_PATTERN,
    CprInfo,
    InvalidCpr,
    generate_cpr,
    looks_like_cpr,
    mask_cpr,
    normalise_cpr,
    parse_cpr,
)
from hjertekom_core.errors import HjerteKomError

WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def weighted_sum(digits: str) -> int:
    """Independent modulus-11 computation, so the tests do not trust the module's own."""
    return sum(int(d) * w for d, w in zip(digits, WEIGHTS))


# The century table of docs/domain.md, written out independently of the implementation:
# digit 7 -> (century for YY 00-36, YY 37-57, YY 58-99).
CENTURY_TABLE: dict[int, tuple[int, int, int]] = {
    0: (1900, 1900, 1900),
    1: (1900, 1900, 1900),
    2: (1900, 1900, 1900),
    3: (1900, 1900, 1900),
    4: (2000, 1900, 1900),
    9: (2000, 1900, 1900),
    5: (2000, 2000, 1800),
    6: (2000, 2000, 1800),
    7: (2000, 2000, 1800),
    8: (2000, 2000, 1800),
}
# Both ends of every YY column.
YY_COLUMNS: dict[int, int] = {0: 0, 36: 0, 37: 1, 57: 1, 58: 2, 99: 2}


# ----------------------------------------------------------------------------------------------
# Century table
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("digit7", sorted(CENTURY_TABLE))
@pytest.mark.parametrize("yy", sorted(YY_COLUMNS))
def test_century_table_every_cell(digit7: int, yy: int) -> None:
    expected_year = CENTURY_TABLE[digit7][YY_COLUMNS[yy]] + yy
    info = parse_cpr(f"0101{yy:02d}-{digit7}000")
    assert info.birth_date == datetime.date(expected_year, 1, 1)


@pytest.mark.parametrize(
    ("cpr", "expected"),
    [
        # row digit 7 = 0-3: always 19YY
        ("150336-0102", datetime.date(1936, 3, 15)),
        ("150345-1102", datetime.date(1945, 3, 15)),
        ("150399-3102", datetime.date(1999, 3, 15)),
        # row digit 7 = 4 or 9: 20YY for 00-36, else 19YY
        ("150305-4102", datetime.date(2005, 3, 15)),
        ("150336-9102", datetime.date(2036, 3, 15)),
        ("150337-4102", datetime.date(1937, 3, 15)),
        ("150357-9102", datetime.date(1957, 3, 15)),
        ("150358-4102", datetime.date(1958, 3, 15)),
        ("150399-9102", datetime.date(1999, 3, 15)),
        # row digit 7 = 5-8: 20YY for 00-57, 18YY for 58-99
        ("150300-5102", datetime.date(2000, 3, 15)),
        ("150336-6102", datetime.date(2036, 3, 15)),
        ("150337-7102", datetime.date(2037, 3, 15)),
        ("150357-8102", datetime.date(2057, 3, 15)),
        ("150358-5102", datetime.date(1858, 3, 15)),
        ("150399-8102", datetime.date(1899, 3, 15)),
    ],
)
def test_century_examples(cpr: str, expected: datetime.date) -> None:
    assert parse_cpr(cpr).birth_date == expected


# ----------------------------------------------------------------------------------------------
# Sex and modulus 11
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("last", range(10))
def test_sex_from_last_digit(last: int) -> None:
    info = parse_cpr(f"010190-200{last}")
    assert info.sex == ("M" if last % 2 else "F")


@pytest.mark.parametrize(
    ("cpr", "ok"),
    [
        ("0101902005", True),  # 64 + 8 + 5 = 77 = 7 x 11
        ("0101902102", True),  # 64 + 8 + 3 + 2 = 77
        ("0101902006", False),  # 78
        ("0101902103", False),  # 78
    ],
)
def test_modulus11(cpr: str, ok: bool) -> None:
    assert (weighted_sum(cpr) % 11 == 0) is ok  # the fixture itself is right
    info = parse_cpr(cpr)
    assert info.modulus11_ok is ok


def test_failing_modulus11_still_parses_fully() -> None:
    info = parse_cpr("010190-2006")
    assert info == CprInfo(
        birth_date=datetime.date(1990, 1, 1), sex="F", modulus11_ok=False, digits="0101902006"
    )


# ----------------------------------------------------------------------------------------------
# Formats
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["010190-2005", "0101902005", "  010190-2005 ", "\t0101902005\n"])
def test_accepted_formats(text: str) -> None:
    info = parse_cpr(text)
    assert info.digits == "0101902005"
    assert info.formatted == "010190-2005"
    assert info.birth_date == datetime.date(1990, 1, 1)
    assert info.sex == "M"
    assert normalise_cpr(text) == "0101902005"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abcdefghij",
        "010190-200A",
        "O10190-2005",  # letter O, not zero
        "010190200",  # 9 digits
        "01019020051",  # 11 digits
        "010190-200",
        "010190-20051",
        "0101-902005",  # hyphen in the wrong place
        "01019-02005",
        "0101902-005",
        "010190--2005",
        "-0101902005",
        "010190 2005",  # space instead of hyphen
        "010190\u20132005",  # en dash
        "010190/2005",
        "cpr 010190-2005",
        "010190-2005.",
        "\u0660\u0661\u0660\u0661\u0669\u0660\u0662\u0660\u0660\u0665",  # Arabic-Indic digits
    ],
)
def test_bad_format(text: str) -> None:
    with pytest.raises(InvalidCpr) as info:
        parse_cpr(text)
    assert info.value.reason == "format"


@pytest.mark.parametrize("value", [None, 101902005, b"0101902005"])
def test_non_string_is_bad_format(value: object) -> None:
    with pytest.raises(InvalidCpr) as info:
        parse_cpr(value)  # type: ignore[arg-type]
    assert info.value.reason == "format"


# ----------------------------------------------------------------------------------------------
# Dates
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "310490-2005",  # 31 April
        "310690-2005",  # 31 June
        "300290-2005",  # 30 February
        "000190-2005",  # day 0
        "320190-2005",  # day 32
        "010090-2005",  # month 0
        "011390-2005",  # month 13
        "290200-0005",  # 29 Feb 1900: not a leap year (digit 7 = 0 -> 19YY)
        "290200-3005",  # 29 Feb 1900
        "290299-5005",  # 29 Feb 1899 (digit 7 = 5, YY >= 58 -> 18YY)
        "290259-8005",  # 29 Feb 1859
        "290201-4005",  # 29 Feb 2001
        "290297-0005",  # 29 Feb 1997
    ],
)
def test_impossible_date(text: str) -> None:
    with pytest.raises(InvalidCpr) as info:
        parse_cpr(text)
    assert info.value.reason == "date"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("290200-4005", datetime.date(2000, 2, 29)),  # 2000 is a leap year
        ("290200-5005", datetime.date(2000, 2, 29)),  # YY 00 with digit 7 = 5 is 2000, not 1800
        ("290296-5005", datetime.date(1896, 2, 29)),
        ("290296-0005", datetime.date(1996, 2, 29)),
        ("290204-9005", datetime.date(2004, 2, 29)),
        ("300490-2005", datetime.date(1990, 4, 30)),
        ("311290-2005", datetime.date(1990, 12, 31)),
    ],
)
def test_valid_edge_dates(text: str, expected: datetime.date) -> None:
    assert parse_cpr(text).birth_date == expected


# ----------------------------------------------------------------------------------------------
# InvalidCpr never reveals the number
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["310490-2005", "3104902005", "290200-0005", "01019020051", "010190-200A", "0101-902005"]
)
def test_invalid_cpr_message_does_not_contain_the_number(text: str) -> None:
    with pytest.raises(InvalidCpr) as info:
        parse_cpr(text)
    exc = info.value
    texts = [str(exc), repr(exc), *map(str, exc.args), *exc.messages.values()]
    digits = "".join(c for c in text if c.isdigit())
    for shown in texts:
        assert text not in shown
        assert digits not in shown
        assert digits[:6] not in shown
        # Stronger: the only number in any message is the "10" of "10 digits", so no fragment of
        # the CPR number can leak.
        assert set(re.findall(r"[0-9]+", shown)) <= {"10"}
    # The chained datetime error is suppressed too.
    assert exc.__cause__ is None


def test_invalid_cpr_attributes() -> None:
    with pytest.raises(InvalidCpr) as info:
        parse_cpr("12345")
    exc = info.value
    assert issubclass(InvalidCpr, HjerteKomError)
    assert issubclass(InvalidCpr, ValueError)
    assert exc.reason == "format"
    assert set(exc.messages) == {"da", "en"}
    assert "10 cifre" in exc.messages["da"]
    assert "10 digits" in exc.messages["en"]
    assert str(exc) == exc.messages["da"]
    assert exc.message("en") == exc.messages["en"]

    with pytest.raises(InvalidCpr) as info:
        parse_cpr("310490-2005")
    assert info.value.reason == "date"
    assert set(info.value.messages) == {"da", "en"}


def test_invalid_cpr_pickles() -> None:
    exc = InvalidCpr("date")
    copy = pickle.loads(pickle.dumps(exc))
    assert copy.reason == "date"
    assert copy.messages == exc.messages
    assert str(copy) == str(exc)


# ----------------------------------------------------------------------------------------------
# Masking and repr
# ----------------------------------------------------------------------------------------------


def test_repr_masks_the_number() -> None:
    info = parse_cpr("010190-2005")
    for shown in (repr(info), str(info), f"{info}", repr([info])):
        assert "0101902005" not in shown
        assert "2005" not in shown
        assert "010190-xxxx" in shown


@pytest.mark.parametrize("text", ["010190-2005", "0101902005", " 010190-2005 "])
def test_mask_cpr(text: str) -> None:
    assert mask_cpr(text) == "010190-xxxx"


def test_mask_cpr_does_not_need_a_valid_date() -> None:
    # Logging a rejected number must still be possible without showing it in full.
    assert mask_cpr("310490-2005") == "310490-xxxx"


@pytest.mark.parametrize("text", ["", "01019020", "abc", "010190-20055"])
def test_mask_cpr_rejects_non_cpr(text: str) -> None:
    with pytest.raises(InvalidCpr) as info:
        mask_cpr(text)
    assert info.value.reason == "format"


# ----------------------------------------------------------------------------------------------
# Leak scanning
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Borger 010190-2005 mødte op", ["010190-2005"]),
        ("id=0101902005;", ["0101902005"]),
        ("010190-2005,020290-3006", ["010190-2005", "020290-3006"]),
        ("010190-2005\n0101902102", ["010190-2005", "0101902102"]),
        ("12010190200512", []),  # inside a longer digit run
        ("0101902005123", []),
        ("9010190-2005", []),
        ("010190-20051", []),
        ("010190--2005", []),
        ("01019-02005", []),
        ("tlf 12345678", []),
    ],
)
def test_cpr_pattern(text: str, found: list[str]) -> None:
    assert [m.group(0) for m in CPR_PATTERN.finditer(text)] == found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("010190-2005", True),
        ("see 0101902006 (fails modulus 11, still a CPR)", True),
        ("sag 290200-4005 oprettet", True),
        ("9999999999", False),  # no such date
        ("310490-2005", False),  # 31 April
        ("290200-0005", False),  # 29 Feb 1900
        ("ordre 12010190200512", False),
        ("20240101123456", False),
        ("", False),
    ],
)
def test_looks_like_cpr(text: str, expected: bool) -> None:
    assert looks_like_cpr(text) is expected


# ----------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(50))
def test_generate_defaults_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        digits = generate_cpr(rng)
        assert len(digits) == 10 and digits.isdigit()
        info = parse_cpr(digits)
        assert info.modulus11_ok
        assert weighted_sum(digits) % 11 == 0
        assert datetime.date(1925, 1, 1) <= info.birth_date <= datetime.date(2005, 12, 31)


@pytest.mark.parametrize(
    "birth_date",
    [
        datetime.date(1858, 1, 1),
        datetime.date(1896, 2, 29),
        datetime.date(1899, 12, 31),
        datetime.date(1900, 1, 1),
        datetime.date(1936, 6, 15),
        datetime.date(1937, 6, 15),
        datetime.date(1957, 6, 15),
        datetime.date(1958, 6, 15),
        datetime.date(1999, 12, 31),
        datetime.date(2000, 2, 29),
        datetime.date(2036, 12, 31),
        datetime.date(2037, 1, 1),
        datetime.date(2057, 12, 31),
    ],
)
@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("modulus11", [True, False])
def test_generate_round_trips_date_sex_and_modulus(
    birth_date: datetime.date, sex: str, modulus11: bool
) -> None:
    for seed in range(25):
        digits = generate_cpr(random.Random(seed), birth_date=birth_date, sex=sex, modulus11=modulus11)
        info = parse_cpr(digits)
        assert info.birth_date == birth_date
        assert info.sex == sex
        assert info.modulus11_ok is modulus11
        assert (weighted_sum(digits) % 11 == 0) is modulus11


@pytest.mark.parametrize("seed", range(100))
def test_generate_random_date_and_sex_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    sex = rng.choice(["M", "F"])
    birth_date = datetime.date(1925, 1, 1) + datetime.timedelta(days=rng.randrange(29_000))
    digits = generate_cpr(rng, birth_date=birth_date, sex=sex)
    info = parse_cpr(digits)
    assert (info.birth_date, info.sex, info.modulus11_ok) == (birth_date, sex, True)


def test_generate_is_deterministic_per_seed() -> None:
    def batch(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [generate_cpr(rng, modulus11=bool(i % 3)) for i in range(30)]

    assert batch(42) == batch(42)
    assert batch(42) != batch(43)


def test_generate_varies_and_covers_both_sexes() -> None:
    rng = random.Random(7)
    numbers = [generate_cpr(rng) for _ in range(500)]
    assert len(set(numbers)) > 490
    sexes = {parse_cpr(n).sex for n in numbers}
    assert sexes == {"M", "F"}


@pytest.mark.parametrize("birth_date", [datetime.date(1857, 12, 31), datetime.date(2058, 1, 1)])
def test_generate_rejects_dates_outside_the_table(birth_date: datetime.date) -> None:
    with pytest.raises(ValueError):
        generate_cpr(random.Random(1), birth_date=birth_date)


@pytest.mark.parametrize("sex", ["m", "K", "X", ""])
def test_generate_rejects_bad_sex(sex: str) -> None:
    with pytest.raises(ValueError):
        generate_cpr(random.Random(1), sex=sex)
