"""Citizens' names (and CPR numbers) as a Danish clinician types and reads them: search and sorting.

A CPR number may be typed with a dash, a space or neither (``typed_cpr``); anything made of digits,
spaces and dashes only is meant as a CPR number (``looks_like_number``), never as a name.

Search (``NameQuery``): what is typed is matched word by word, in any order and any case, against
the words of each name (a hyphen separates words too). Before comparing, both sides are folded
(``fold``): accents dropped (é -> e), æ/ä -> ae, ø/ö and oe -> o, å and aa -> a; so "Soeren",
"Soren" and "Søren" are one name, as are "Aagaard", "Ågård" and "Agard". A typed word matches a
word of the name when it is

1. the same word,
2. its beginning ("Mort" for "Mortensen"),
3. the same but for one wrong, missing, extra or swapped letter ("Mortensn"), for typed words of
   four letters or more, or
4. a part of it ("gaard" in "Østergaard"), for typed words of three letters or more.

Every typed word must match a different word of the name. Names are ranked by how well they match
(every word the same first), then in Danish alphabetical order. No name or query is ever logged.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Danish letters (and their Swedish/German neighbours) sort after z, in this order.
_AFTER_Z = str.maketrans({"æ": "{", "ä": "{", "ø": "|", "ö": "|", "å": "}"})
#: The letters spelt out as they are typed on a keyboard without them.
_SPELT = str.maketrans({"æ": "ae", "ä": "ae", "ø": "o", "ö": "o", "å": "a", "ß": "ss"})
#: Typed words shorter than this only match the same word or a name word's beginning.
FUZZY_FROM = 4
INFIX_FROM = 3
#: The shortest query that is searched for at all.
MIN_QUERY = 2

# How well a typed word matches a word of the name (lower is better).
SAME, START, ONE_OFF, INSIDE = 0, 1, 2, 3


_CPR_TYPED = re.compile(r"([0-9]{6})-?([0-9]{4})")


def looks_like_number(text: str) -> bool:
    """Digits, spaces and dashes only (at least one digit): a CPR number, perhaps incomplete."""
    stripped = text.strip()
    return bool(stripped) and any(ch.isdigit() for ch in stripped) and all(
        ch in "0123456789- " for ch in stripped)


def typed_cpr(text: str) -> str | None:
    """The CPR number in ``text`` as typed ("220842-2653", "2208422653", "220842 2653") as
    "DDMMYY-SSSS", or None when it is not ten digits with at most a dash or spaces between."""
    match = _CPR_TYPED.fullmatch("".join(text.split()))
    return f"{match.group(1)}-{match.group(2)}" if match else None


def _without_accents(text: str) -> str:
    """é -> e, ü -> u (combining marks dropped); æ, ø and å are letters of their own and stay."""
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch == "\u030a")
    return unicodedata.normalize("NFC", kept)


def danish_sort_key(name: str) -> tuple[str, str]:
    """Sort key for names in Danish alphabetical order: case-insensitive, æ/ø/å after z
    (``"Åse" > "Øster" > "Ærø" > "Zorn"``), accents ignored, the name itself as the tie-break."""
    return _without_accents(name.casefold()).translate(_AFTER_Z), name


@functools.lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """One word as it is compared: lower case, no accents, æ -> ae, ø and oe -> o, å and aa -> a."""
    text = _without_accents(word.casefold()).translate(_SPELT)
    return "".join(ch for ch in text.replace("aa", "a").replace("oe", "o") if ch.isalnum())


@functools.lru_cache(maxsize=65536)
def name_words(name: str) -> tuple[str, ...]:
    """The folded words of a name (spaces and hyphens separate words)."""
    return tuple(w for w in (fold(part) for part in name.replace("-", " ").split()) if w)


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by one substituted, inserted, deleted or swapped letter."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        if a[i + 1:] == b[i + 1:]:
            return True                                   # one letter replaced
        return a[i:i + 2] == b[i:i + 2][::-1] and a[i + 2:] == b[i + 2:]   # two letters swapped
    if len(a) > len(b):
        return a[i + 1:] == b[i:]                          # one letter too many
    return a[i:] == b[i + 1:]                              # one letter missing


def word_match(typed: str, word: str) -> int | None:
    """How well one folded typed word matches one folded word of a name; None: not at all."""
    if typed == word:
        return SAME
    if word.startswith(typed):
        return START
    if len(typed) >= FUZZY_FROM and one_edit_apart(typed, word):
        return ONE_OFF
    if len(typed) >= INFIX_FROM and typed in word:
        return INSIDE
    return None


@dataclass(frozen=True)
class NameQuery:
    """A name as typed in the search box, ready to be matched against many names."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> NameQuery | None:
        """The query, or None when there is nothing to search for (fewer than MIN_QUERY letters)."""
        words = name_words(" ".join(text.split()))
        if len("".join(words)) < MIN_QUERY:
            return None
        return cls(words)

    def score(self, name: str, _memo: dict[str, tuple[int | None, ...]] | None = None) -> int | None:
        """How well ``name`` matches (the sum over the typed words; lower is better), or None.

        Each typed word must match a different word of the name; the best such pairing counts.
        Names have few words, so every pairing is tried. ``_memo`` keeps each name word's match
        with the typed words over many names (names share their words)."""
        words = name_words(name)
        if len(words) < len(self.words):
            return None
        memo = {} if _memo is None else _memo
        qualities = []
        for word in words:
            found = memo.get(word)
            if found is None:
                found = memo[word] = tuple(word_match(typed, word) for typed in self.words)
            qualities.append(found)
        options = []
        for t in range(len(self.words)):
            matches = sorted((q[t], i) for i, q in enumerate(qualities) if q[t] is not None)
            if not matches:
                return None
            options.append(matches)
        return _best_pairing(options, frozenset())

    def rank(self, names: Iterable[tuple[int, str]], limit: int) -> list[int]:
        """The ids of the best-matching ``(id, name)`` pairs, best first (then in Danish
        alphabetical order), at most ``limit``."""
        memo: dict[str, tuple[int | None, ...]] = {}
        scored = []
        for key, name in names:
            score = self.score(name, memo)
            if score is not None:
                scored.append((score, danish_sort_key(name), key))
        scored.sort()
        return [key for _, _, key in scored[:limit]]


def _best_pairing(options: Sequence[list[tuple[int, int]]], used: frozenset[int]) -> int | None:
    """The lowest total of one (quality, word index) per typed word, no word used twice."""
    if not options:
        return 0
    best = None
    for quality, index in options[0]:
        if index in used:
            continue
        rest = _best_pairing(options[1:], used | {index})
        if rest is not None and (best is None or quality + rest < best):
            best = quality + rest
    return best
