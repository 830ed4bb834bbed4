"""Plans are made once per contract object and found again by identity (hjertekom_core/plan_cache.py)."""
from __future__ import annotations

from hjertekom_core.plan_cache import PlanCache


class Form:
    """Stands for a contract's form: compared by identity only."""


def test_a_plan_is_made_once_for_the_same_objects_and_anew_for_others() -> None:
    cache: PlanCache[list[str]] = PlanCache()
    made: list[str] = []
    contract, form, other = Form(), Form(), Form()

    def build(name: str) -> list[str]:
        made.append(name)
        return [name]

    first = cache.get((contract, form), lambda: build("first"))
    assert cache.get((contract, form), lambda: build("again")) is first
    assert cache.get((contract, other), lambda: build("other")) == ["other"]
    assert made == ["first", "other"]


def test_the_cache_forgets_everything_past_its_limit() -> None:
    cache: PlanCache[int] = PlanCache(limit=3)
    forms = [Form() for _ in range(4)]   # kept alive: their ids stay theirs
    for i, form in enumerate(forms):
        cache.get((form,), lambda i=i: i)
    assert len(cache) == 1   # the fourth plan found three and started again
    assert cache.get((forms[3],), lambda: -1) == 3 and cache.get((forms[0],), lambda: -1) == -1
