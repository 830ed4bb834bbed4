"""The indicators as readers see them: id, name and the numerator and denominator texts.

The definitions are data (``data_contracts/hjertekom/indicators.yaml``); the texts are composed
from the labels of the conditions the computation uses, so what a report says an indicator counts
is what it counts (a test checks that every condition's label is in the text). ``{limit}`` in a
text stands for ``completion_limit_days``: ``describe(settings=...)`` fills it in.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hjertekom_core.contract import Text
from hjertekom_core.indicators.declarations import (
    TEXT_PLACEHOLDERS,
    Condition,
    Declarations,
    IndicatorDeclaration,
    declarations_for,
)
from hjertekom_core.indicators.facts import PROGRAMME

#: How the labels of a text's conditions are joined, per language.
_AND = Text(" og ", " and ")
_OR = Text(" eller ", " or ")


def condition_text(cond: Condition, lang: str) -> str:
    """A condition in words: its label, else its parts' labels joined."""
    if cond.label is not None:
        return cond.label.get(lang)
    joiner = (_OR if cond.op == "any" else _AND).get(lang)
    return joiner.join(condition_text(c, lang) for c in cond.children)


def conditions_text(conditions: Sequence[Condition], lang: str) -> str:
    return ", ".join(condition_text(c, lang) for c in conditions)


def _compose(parts: Sequence[str]) -> str:
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Indicator:
    """One declared indicator, with its texts composed from the declaration."""

    declaration: IndicatorDeclaration
    population_label: Text

    @property
    def id(self) -> str:
        return self.declaration.id

    @property
    def name(self) -> Text:
        return self.declaration.name

    @property
    def standard_key(self) -> str:
        return self.declaration.standard

    @property
    def population(self) -> str:
        return self.declaration.population

    @property
    def period_date(self) -> str:
        return self.declaration.period_date

    @property
    def denominator_text(self) -> Text:
        """The population and every denominator condition."""
        return Text(*(_compose([self.population_label.get(lang), conditions_text(self.declaration.denominator, lang)])
                      for lang in ("da", "en")))

    @property
    def numerator_text(self) -> Text:
        """Every numerator condition, after the conditions under which the criterion can be told."""
        d = self.declaration
        return Text(*(_compose([conditions_text(d.determinable_when, lang), conditions_text(d.numerator, lang)])
                      for lang in ("da", "en")))

    def describe(self, lang: str = "da", settings: object | None = None) -> str:
        """``K1 Name: numerator / denominator``; with ``settings`` the placeholders are filled in."""
        text = f"{self.id} {self.name.get(lang)}: {self.numerator_text.get(lang)} / {self.denominator_text.get(lang)}"
        return fill(text, settings) if settings is not None else text


def fill(text: str, settings: object) -> str:
    """``text`` with its placeholders ({limit}) replaced by the settings' values."""
    for placeholder, setting in TEXT_PLACEHOLDERS.items():
        text = text.replace("{" + placeholder + "}", str(getattr(settings, setting)))
    return text


def indicators_of(decl: Declarations) -> tuple[Indicator, ...]:
    return tuple(Indicator(d, decl.populations[d.population].label) for d in decl.indicators)


INDICATORS: tuple[Indicator, ...] = indicators_of(declarations_for(PROGRAMME))
BY_ID = {i.id: i for i in INDICATORS}

STATUS_LABELS = {
    "met": Text("opfyldt", "met"),
    "not_met": Text("ikke opfyldt", "not met"),
    "below": Text("statistisk under standarden", "statistically below the standard"),
    "no_data": Text("ingen data", "no data"),
    "no_standard": Text("ingen standard", "no standard"),
    "suppressed": Text("for få forløb", "too few courses"),
}
