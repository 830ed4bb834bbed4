"""Plans worked out once per contract object and reused at every save (validation, branching).

A plan is kept by the ids of the objects it was made for, together with the objects themselves:
kept alive, their ids are not reused while the plan is cached, and a hit is checked by identity.
The cache forgets everything past ``limit`` entries (contracts loaded again and again, as in the
tests), so it never grows without bound.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

P = TypeVar("P")


class PlanCache(Generic[P]):
    def __init__(self, limit: int = 256) -> None:
        self._plans: dict[tuple[int, ...], tuple[tuple[object, ...], P]] = {}
        self._limit = limit

    def get(self, objects: tuple[object, ...], build: Callable[[], P]) -> P:
        """The plan made for exactly ``objects`` (by identity); ``build()`` makes it the first time."""
        key = tuple(map(id, objects))
        found = self._plans.get(key)
        if found is not None and all(kept is given for kept, given in zip(found[0], objects)):
            return found[1]
        if len(self._plans) >= self._limit:
            self._plans.clear()
        plan = build()
        self._plans[key] = (objects, plan)
        return plan

    def __len__(self) -> int:
        return len(self._plans)
