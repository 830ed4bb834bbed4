"""Comparing and merging revisions of one registration: pure functions over dicts of values.

A registration's revisions are append-only (``registrations``); these functions say what changed
between two of them (the "Historik" of a form) and merge a clinician's unsaved input with a
colleague's save made since the clinician opened the form (a three-way merge against the revision
both started from). They know nothing of the store, the UI or the contract: a value is whatever the
caller compares (the cleaned values of the store; for unsaved input the cleaned value where it
parses, else the typed text). A missing key and None both mean "blank".
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldChange", "FieldConflict", "MergeResult", "changed_fields", "merge_three_way", "same_value"]

#: Which value a clinician keeps for a field that both sides changed.
MINE, THEIRS = "mine", "theirs"


def _comparable(value: Any) -> Any:
    """A form of ``value`` that compares as a clinician would: the codes of a multiple choice in
    any order are the same answer, and True is not the number 1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        return ("list", tuple(sorted((_comparable(v) for v in value), key=repr))) if value else None
    if isinstance(value, bool):
        return ("bool", value)
    return value


def same_value(a: Any, b: Any) -> bool:
    """Whether two values of one field are the same answer (None and a missing key are blank)."""
    return _comparable(a) == _comparable(b)


def _ordered(fields: Iterable[str] | None, *dicts: Mapping[str, Any]) -> list[str]:
    """The given field order, then any other key of the dicts (sorted), each once."""
    order = list(dict.fromkeys(fields or ()))
    extra = sorted({k for d in dicts for k in d} - set(order))
    return order + extra


@dataclass(frozen=True)
class FieldChange:
    """One field's value before and after a revision (None: blank)."""

    field: str
    old: Any
    new: Any


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any],
                   fields: Sequence[str] | None = None) -> tuple[FieldChange, ...]:
    """The fields whose value differs between ``old`` and ``new`` (every key of either), in
    ``fields`` order (e.g. the contract's), then any other key in sorted order."""
    return tuple(FieldChange(name, old.get(name), new.get(name)) for name in _ordered(fields, old, new)
                 if not same_value(old.get(name), new.get(name)))


@dataclass(frozen=True)
class FieldConflict:
    """A field both sides changed, to different values: the clinician must choose."""

    field: str
    base: Any
    theirs: Any
    mine: Any


@dataclass(frozen=True)
class MergeResult:
    """What a three-way merge found.

    ``merged``: the values the form should hold now: the colleague's where only they changed a
    field, the clinician's everywhere else (for a conflicting field: the clinician's, until a choice
    is made with :meth:`resolve`). ``theirs_taken``: the fields only the colleague changed;
    ``mine_kept``: the fields only the clinician changed (or both, to the same value);
    ``conflicts``: the fields both changed to different values.
    """

    merged: dict[str, Any]
    theirs_taken: tuple[str, ...] = ()
    mine_kept: tuple[str, ...] = ()
    conflicts: tuple[FieldConflict, ...] = field(default=())

    def resolve(self, choices: Mapping[str, str]) -> dict[str, Any]:
        """``merged`` with every conflict decided by ``choices`` (field -> "mine" or "theirs").

        A conflict without a choice is an error: nothing is discarded without an explicit choice.
        """
        undecided = [c.field for c in self.conflicts if choices.get(c.field) not in (MINE, THEIRS)]
        if undecided:
            raise ValueError(f"no choice made for {undecided}")
        out = dict(self.merged)
        for conflict in self.conflicts:
            value = conflict.theirs if choices[conflict.field] == THEIRS else conflict.mine
            if _comparable(value) is None:
                out.pop(conflict.field, None)
            else:
                out[conflict.field] = value
        return out


def merge_three_way(base: Mapping[str, Any], theirs: Mapping[str, Any], mine: Mapping[str, Any],
                    fields: Sequence[str] | None = None) -> MergeResult:
    """Merge ``mine`` (unsaved input started from ``base``) with ``theirs`` (saved since, on top of
    ``base``), field by field, in ``fields`` order then any other key:

    * nobody changed it, or only I did, or both to the same value: mine;
    * only they changed it: theirs (``theirs_taken``);
    * both changed it to different values: a conflict, mine in ``merged`` until resolved.

    Blank values are left out of ``merged``.
    """
    merged: dict[str, Any] = {}
    taken: list[str] = []
    kept: list[str] = []
    conflicts: list[FieldConflict] = []
    for name in _ordered(fields, base, theirs, mine):
        b, t, m = base.get(name), theirs.get(name), mine.get(name)
        they_changed, i_changed = not same_value(b, t), not same_value(b, m)
        value = m
        if they_changed and not i_changed:
            value = t
            taken.append(name)
        elif i_changed and (not they_changed or same_value(t, m)):
            kept.append(name)
        elif i_changed and they_changed:
            conflicts.append(FieldConflict(name, b, t, m))
        if _comparable(value) is not None:
            merged[name] = value
    return MergeResult(merged, tuple(taken), tuple(kept), tuple(conflicts))
