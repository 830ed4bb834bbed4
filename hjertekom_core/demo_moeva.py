"""MoEva's demo answers: questionnaires that hang together, for a report that reads plausibly.

``demo_generic`` fills every field of a programme from its declaration alone, so a questionnaire's
items are independent and the first and last questionnaires are unrelated: no one improves. This
small model gives each synthetic citizen a wellbeing (a standard normal number) and, over the
course, a gain that is positive for most: the citizen's answers to self-rated health, WHO-5,
EQ-5D-5L, PSS-10 and the loneliness scale follow it, and most questionnaires are answered. Only the
answers are modelled; everything else (dates, the offer, drafts, courses without a last
questionnaire) is the generic generator's, and every form is still saved through the service.

The numbers are invented to look plausible, not estimates from any data.
"""
from __future__ import annotations

import random
from typing import Any

#: Share of first and last questionnaires answered (the rest: declined, not possible, not done).
ANSWERED = {"start": 0.95, "end": 0.88}
#: Share of last questionnaires whose citizen completed the offer.
OFFER_COMPLETED = 0.85
#: Mean and spread of the gain in wellbeing (in standard deviations) from first to last questionnaire.
GAIN = (0.45, 0.5)
#: PSS-10 items worded positively (reversed in the score: scoring.pss10).
PSS10_POSITIVE = (4, 5, 7, 8)
SELF_RATED = ("excellent", "very_good", "good", "fair", "poor")
EQ5D = ("eq5d_mobility", "eq5d_selfcare", "eq5d_activities", "eq5d_pain", "eq5d_anxiety")


def _level(rng: random.Random, centre: float, low: int, high: int) -> int:
    """A whole answer from ``low`` to ``high`` around ``centre``, with an answer's own noise."""
    return max(low, min(high, round(centre + rng.gauss(0, 0.6))))


class MoevaAnswers:
    """The answers of one citizen's questionnaires (``answers(stage, rng)``, stage start or end)."""

    def __init__(self, rng: random.Random) -> None:
        self.wellbeing = rng.gauss(0, 1)
        self.gain = rng.gauss(*GAIN)

    def answers(self, stage: str, rng: random.Random) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if stage == "end":
            data["offer_completed"] = "yes" if rng.random() < OFFER_COMPLETED else "no"
        if rng.random() >= ANSWERED[stage]:
            data["questionnaire_status"] = rng.choice(("declined", "not_possible", "not_done"))
            return data
        w = self.wellbeing + (self.gain if stage == "end" else 0.0)
        data["questionnaire_status"] = "completed"
        data["self_rated_health"] = SELF_RATED[_level(rng, 1.9 - 0.9 * w, 0, 4)]
        data.update({f"who5_{i}": _level(rng, 2.6 + 0.9 * w, 0, 5) for i in range(1, 6)})
        data.update({name: _level(rng, 1.7 - 0.6 * w, 1, 5) for name in EQ5D})
        data["eq5d_vas"] = max(0, min(100, round(68 + 12 * w + rng.gauss(0, 8))))
        data.update({f"pss10_{i}": _level(rng, 1.8 + (0.7 if i in PSS10_POSITIVE else -0.7) * w, 0, 4)
                     for i in range(1, 11)})
        data.update({f"loneliness_{i}": _level(rng, 1.5 - 0.5 * w, 1, 3) for i in range(1, 4)})
        return data
