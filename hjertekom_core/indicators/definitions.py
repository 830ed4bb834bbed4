"""The six municipal quality indicators K1-K6, declared once.

Each indicator is three SQL conditions over one row per course of the ``course_facts`` relation
(see ``facts.py``): who is in the denominator, who of them meets the criterion, and for whom the
criterion is unknown. A citizen whose criterion is unknown stays in the denominator and counts as
not met (domain.md, unconfirmed rule); the number is reported beside the result. Reports, the
entry app's feedback, the CLI and the tests all use these definitions.

The wording of numerators and denominators is reconstructed from the indicator names
(docs/indicators.md); the standards come from configuration.
"""
from __future__ import annotations

from dataclasses import dataclass

from hjertekom_core.contract import Text


@dataclass(frozen=True)
class Indicator:
    id: str
    name: Text
    numerator_text: Text
    denominator_text: Text
    denominator: str        # SQL condition over course_facts
    numerator: str          # SQL condition, evaluated within the denominator
    unknown: str            # SQL condition: the numerator criterion cannot be determined
    period_date: str = "end_date"  # the date that places a course in a period
    #: The facts relation it is computed over (facts.POPULATIONS). "finished_facts" holds only the
    #: courses with both registrations complete: a declaration that the denominator implies that,
    #: which lets the engine join only those courses (a test checks it against course_facts).
    population: str = "course_facts"

    def describe(self, lang: str = "da") -> str:
        return f"{self.id} {self.name.get(lang)}: {self.numerator_text.get(lang)} / {self.denominator_text.get(lang)}"


# A course "counts" once its start and end registrations are complete; the end meeting places it
# in a period (end-of-course indicators belong to the period of the end meeting).
_FINISHED = "started AND ended"
# Same test at both meetings, a capacity test of K3 (watt or 6-minute walk), a start value above 0.
_COMPARABLE = ("start_test = end_test AND start_test IN ('watt', 'six_minute_walk') "
               "AND start_capacity > 0 AND end_capacity IS NOT NULL")

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "K1", Text("Vedholdenhed", "Adherence"),
        Text("gennemførte forløbet (afslutning registreret med status gennemført, under {limit} dage)",
             "completed the course (end registered as completed, within {limit} days)"),
        Text("startede forløbet (afklarende samtale registreret)", "started the course (start meeting registered)"),
        denominator=_FINISHED,
        numerator="course_status = 'completed' AND days_in_course < {limit}",
        unknown="course_status IS NULL OR days_in_course IS NULL",
        population="finished_facts",
    ),
    Indicator(
        "K2", Text("Deltagelse i træning", "Training attendance"),
        Text("deltog i mindst 80 % af de planlagte træningsgange", "attended at least 80 % of planned sessions"),
        Text("startede fysisk træning med planlagte træningsgange", "started physical training with planned sessions"),
        denominator=f"{_FINISHED} AND sessions_planned > 0",
        # 5 x attended >= 4 x planned is 80 % exactly, without floating-point doubt at the edge.
        numerator="5 * sessions_attended >= 4 * sessions_planned",
        unknown="sessions_attended IS NULL",
        population="finished_facts",
    ),
    Indicator(
        "K3", Text("Arbejdskapacitet", "Work capacity"),
        Text("forbedrede arbejdskapacitet (watt) eller 6-minutters gangdistance med mindst 10 %, samme test ved "
             "start og afslutning",
             "improved work capacity (watt) or 6-minute walk distance by at least 10 %, same test at start and end"),
        Text("blev tilbudt træning", "were offered training"),
        denominator=f"{_FINISHED} AND training_offered = 'yes'",
        numerator=f"{_COMPARABLE} AND 10 * (end_capacity - start_capacity) >= start_capacity",
        unknown=f"NOT coalesce({_COMPARABLE}, false)",
        population="finished_facts",
    ),
    Indicator(
        "K4", Text("Rygestop", "Smoking cessation"),
        Text("var røgfri (tidligere ryger) ved afslutning", "were ex-smokers at the end"),
        Text("røg ved forløbets start", "smoked at the start"),
        denominator=f"{_FINISHED} AND start_smoking IN ('daily', 'occasional')",
        numerator="end_smoking = 'former'",
        unknown="end_smoking IS NULL OR end_smoking = 'UNK'",
        population="finished_facts",
    ),
    Indicator(
        "K5", Text("Diætbehandling", "Dietary treatment"),
        Text("fik diætbehandling ved klinisk diætist", "received dietary treatment by a clinical dietitian"),
        Text("var i forløb", "were in the course"),
        denominator=_FINISHED,
        numerator="diet_dietitian = 'yes'",
        unknown="diet_dietitian IS NULL OR diet_dietitian = 'UNK'",
        population="finished_facts",
    ),
    Indicator(
        "K6", Text("Depressionsscreening", "Depression screening"),
        Text("blev screenet for depression (HADS) ved start eller afslutning",
             "were screened for depression (HADS) at the start or the end"),
        Text("var i forløb", "were in the course"),
        denominator=_FINISHED,
        numerator="start_hads_status = 'completed' OR end_hads_status = 'completed'",
        unknown="start_hads_status IS NULL AND end_hads_status IS NULL",
        population="finished_facts",
    ),
)

BY_ID = {i.id: i for i in INDICATORS}

STATUS_LABELS = {
    "met": Text("opfyldt", "met"),
    "not_met": Text("ikke opfyldt", "not met"),
    "below": Text("statistisk under standarden", "statistically below the standard"),
    "no_data": Text("ingen data", "no data"),
    "no_standard": Text("ingen standard", "no standard"),
    "suppressed": Text("for få forløb", "too few courses"),
}
