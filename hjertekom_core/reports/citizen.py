"""One course, prepared for the citizen sheet (borgerens resultater) and the course summary
(forløbsopsummering til sygehus og egen læge).

``course_report_data`` reads the course through the service (authorised and audited there) and
returns a JSON-serialisable dict: labels, units and code-list texts resolved from the data
contract, every value as a *cell* that says whether it was measured, answered "uoplyst", left
blank, not done (with the questionnaire status) or not registered yet, and what a value means in
plain language. ``render_course_report`` runs the report notebook on that dict; the notebooks
only lay it out (``citizen_parts``).

Only the form's latest *complete* revision counts: a draft end registration is not a result yet.
Nothing here compares the citizen with anyone else.

HjerteKom's courses show its chosen cardiac measures (``MEASURES``) with their scales. A course of
another programme shows what its contract measures at both start and end
(``hjertekom_core.measures``, as the entry app's feedback picks them), with the contract's labels
and no scales. The citizen sheet also shows the citizen's courses of the other programmes the user
acts in, in the course's municipality (``User.acts_in``), each with those measures
(``other_programmes``); a programme the user does not act in there is absent.
"""
from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hjertekom_core import audit, scoring
from hjertekom_core.branching import make_lookup, visible_fields_of
from hjertekom_core.config import DEFAULT_FOLLOWUP_TARGETS, Config, load_config
from hjertekom_core.contract import UNKNOWN, Contract, Field, Form, Text
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.errors import AccessDenied, NotFound, ReportError
from hjertekom_core.formatting import format_number
from hjertekom_core.measures import declared_measures
from hjertekom_core.reports import gp_summary
from hjertekom_core.service import Course, Service

LANGS = ("da", "en")
#: The questionnaire_status code under which a questionnaire's items and score are shown.
QUESTIONNAIRE_DONE = "completed"
QUESTIONNAIRE_STATUS_CODELIST = "questionnaire_status"
#: Smoking codes that mean "smokes" (as in K4's denominator).
SMOKER_CODES = frozenset({"daily", "occasional"})
SMOKING_FORMER = "former"


class UnknownReportKind(ReportError):
    """``kind`` names no course report; ``known`` lists the ones that exist."""

    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        self.kind = kind
        self.known = known
        super().__init__(f"unknown course report {kind!r}; choose one of {', '.join(known)}")


class UnsupportedLanguage(ReportError):
    def __init__(self, lang: str) -> None:
        self.lang = lang
        super().__init__(f"language must be one of {', '.join(LANGS)}, not {lang!r}")


# ------------------------------------------------------------------------------------------------
# Texts of this module (labels of fields and codes come from the contract)
# ------------------------------------------------------------------------------------------------
STATE_TEXTS: dict[str, Text] = {
    "unknown": Text("uoplyst", "unknown"),
    "not_answered": Text("ikke besvaret", "not answered"),
    "not_calculable": Text("kan ikke beregnes", "cannot be calculated"),
    "not_relevant": Text("ikke relevant", "not applicable"),
    "not_registered": Text("ikke registreret endnu", "not registered yet"),
    "not_recorded": Text("registreres ikke", "not recorded"),
}
NOTICE_NO_END = Text("Afslutning ikke registreret endnu. Arket viser værdierne fra den afklarende samtale.",
                     "End of course not registered yet. The sheet shows the values from the start meeting.")
NOTICE_NO_START = Text("Den afklarende samtale er ikke registreret endnu.", "The start meeting is not registered yet.")
DIFFERENT_TESTS = Text("forskellige test – kan ikke sammenlignes", "different tests – cannot be compared")
YES_NO = {True: Text("Ja", "Yes"), False: Text("Nej", "No")}
TRAINING_TEXT = Text("{attended} af {planned} planlagte træningsgange", "{attended} of {planned} planned sessions")
TRAINING_PARTS = Text("planlagte: {planned}; gennemførte: {attended}", "planned: {planned}; attended: {attended}")
_MONTHS = {
    "da": ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
           "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def format_date(value: dt.date | str | None, lang: str = "da") -> str:
    """17. februar 2025 / 17 February 2025; '' for None."""
    if value is None:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    month = _MONTHS[lang][day.month - 1]
    return f"{day.day}. {month} {day.year}" if lang == "da" else f"{day.day} {month} {day.year}"


def with_unit(number: str, unit: str | None) -> str:
    if not unit:
        return number
    return f"{number}{unit}" if unit.startswith("/") else f"{number} {unit}"


# ------------------------------------------------------------------------------------------------
# How to read a measure: bands with plain-language meaning, which direction is better
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Zone:
    """A range shaded in the charts (e.g. HADS 8-10), with a short label."""

    low: float
    high: float
    label: Text
    level: int = 2  # 1 = borderline, 2 = worth talking about: hatched differently in the charts


@dataclass(frozen=True)
class Scale:
    band: Callable[[Any], str | None] | None = None     # value -> band code
    texts: Mapping[str, Text] = field(default_factory=dict)  # band code -> meaning
    better: str | None = None                            # "higher", "lower" or None (no judgement)
    axis: tuple[float, float] | None = None               # fixed chart axis (the instrument's range)
    zones: tuple[Zone, ...] = ()
    reading: Text | None = None                           # how to read the scale, for the sheet's key

    def meaning(self, value: Any, lang: str) -> str | None:
        if self.band is None or value is None or isinstance(value, str):
            return None
        code = self.band(value)
        return self.texts[code].get(lang) if code in self.texts else None


def _bmi_band(value: float) -> str:
    # WHO's adult classification.
    return "under" if value < 18.5 else "normal" if value < 25 else "over" if value < 30 else "obese"


def _low_below(limit: float) -> Callable[[float], str]:
    return lambda value: "low" if value < limit else "ok"


def _above(limit: float) -> Callable[[float], str]:
    return lambda value: "above" if value > limit else "within"


def _hads_scale(what: Text) -> Scale:
    return Scale(
        band=scoring.hads_band, better="lower", axis=(0, 21),
        texts={"normal": Text("normalområdet (0-7)", "normal range (0-7)"),
               "borderline": Text("grænseområdet (8-10)", "borderline (8-10)"),
               "case": Text(f"tegn på {what.da} (11-21)", f"signs of {what.en} (11-21)")},
        zones=(Zone(7.5, 10.5, Text("grænseområde", "borderline"), 1), Zone(10.5, 21, Text(what.da, what.en))),
        reading=Text(f"HADS {what.da} går fra 0 til 21. Lavere er bedre. 0-7 er normalt. 8-10 er på grænsen. "
                     f"Fra 11 kan det være tegn på {what.da}. Tal med os om det.",
                     f"HADS {what.en} runs from 0 to 21. Lower is better. 0-7 is normal, 8-10 borderline. "
                     f"From 11 it may be a sign of {what.en}. Talk to us about it."))


#: Field name -> how to read it. A measure without an entry is shown without judgement.
SCALES: dict[str, Scale] = {
    "bmi": Scale(band=_bmi_band, texts={
        "under": Text("undervægt (under 18,5)", "underweight (below 18.5)"),
        "normal": Text("normalvægt (18,5-24,9)", "normal weight (18.5-24.9)"),
        "over": Text("overvægt (25-29,9)", "overweight (25-29.9)"),
        "obese": Text("svær overvægt (30 eller derover)", "obesity (30 or more)")},
        axis=(0, 40), zones=(Zone(25, 30, Text("overvægt", "overweight"), 1),
                             Zone(30, 60, Text("svær overvægt", "obesity"))),
        reading=Text("BMI er din vægt i forhold til din højde. Fra 18,5 til 25 er normal vægt.",
                     "BMI is your weight for your height. From 18.5 to 25 is normal weight.")),
    "hads_anxiety": _hads_scale(Text("angst", "anxiety")),
    "hads_depression": _hads_scale(Text("depression", "depression")),
    "heartqol_global": Scale(better="higher", axis=(0, 3), reading=Text(
        "HeartQoL viser, hvor meget dit hjerte fylder i dit liv. Tallet går fra 0 til 3. Jo højere, jo "
        "bedre har du det.",
        "HeartQoL shows how much your heart affects your life. It runs from 0 to 3. The higher, the better.")),
    "eq5d_index": Scale(better="higher", axis=(-0.2, 1), reading=Text(
        "EQ-5D er fem spørgsmål om at gå, klare sig selv, gøre sine ting, smerter og humør. Det giver et tal. "
        "1 er fuldt helbred. Jo højere, jo bedre.",
        "EQ-5D is five questions about walking, self-care, usual activities, pain and mood. They give one "
        "number. 1 is full health. The higher, the better.")),
    "eq5d_vas": Scale(better="higher", axis=(0, 100), reading=Text(
        "EQ VAS er dit eget tal for, hvordan du har det i dag. 0 er det værste og 100 det bedste.",
        "EQ VAS is your own number for how you feel today. 0 is the worst and 100 the best.")),
    "who5_score": Scale(
        band=scoring.who5_band, better="higher", axis=(0, 100),
        texts={"ok": Text("almindelig trivsel (over 50)", "normal wellbeing (above 50)"),
               "poor": Text("tegn på nedsat trivsel (50 eller derunder)", "signs of poor wellbeing (50 or below)")},
        zones=(Zone(0, 50, Text("nedsat trivsel", "poor wellbeing")),),
        reading=Text("WHO-5 viser, hvordan du trives. Tallet går fra 0 til 100. Jo højere, jo bedre. "
                     "Ved 50 eller mindre trives du ikke godt nok.",
                     "WHO-5 shows your wellbeing, from 0 to 100. The higher, the better. "
                     "At 50 or below you are not doing well enough.")),
    "chair_stand_30s": Scale(band=_low_below(8), better="higher", texts={
        "low": Text("under 8: nedsat funktion", "below 8: reduced function"),
        "ok": Text("8 eller flere", "8 or more")}),
    "walk_6min_m": Scale(better="higher"),
    "ergometer_watt": Scale(better="higher"),
    "kondital": Scale(better="higher"),
    "alcohol_units_week": Scale(band=_above(10), texts={
        "within": Text("inden for anbefalingen (højst 10 om ugen)", "within the recommendation (at most 10 a week)"),
        "above": Text("over anbefalingen (højst 10 om ugen)", "above the recommendation (at most 10 a week)")}),
    "physical_activity": Scale(better="higher"),  # the code list is ordered from least to most active
}


def _at_or_above(limit: float) -> Callable[[float], str]:
    return lambda value: "above" if value >= limit else "within"


def target_scales(targets: Mapping[str, float]) -> dict[str, Scale]:
    """Blood pressure and LDL read against the treatment targets for heart patients (``followup_targets``,
    the same the course summary flags), in words a citizen understands."""
    def num(key: str, lang: str) -> str:
        return format_number(targets[key], 1 if key == "ldl" else 0, lang)

    over = Text("over målet", "above the target")
    bp = f"{num('bp_systolic', 'da')}/{num('bp_diastolic', 'da')}"
    bp_en = f"{num('bp_systolic', 'en')}/{num('bp_diastolic', 'en')}"
    bp_reading = Text(
        f"Blodtryk: Et højt blodtryk slider på hjertet og på dine blodårer. For en hjertepatient er målet "
        f"under {bp}. Medicin, motion og mindre salt kan sænke det.",
        f"Blood pressure: high blood pressure wears on the heart and blood vessels. For a heart patient the "
        f"target is below {bp_en}. Medicine, exercise and less salt can lower it.")

    def bp_scale(key: str, axis: float) -> Scale:
        target_da, target_en = num(key, "da"), num(key, "en")
        return Scale(band=_at_or_above(targets[key]), better="lower", axis=(0, axis),
                     texts={"within": Text(f"under målet på {target_da}", f"below the target of {target_en}"),
                            "above": Text(f"over målet på {target_da} – tal med din læge",
                                          f"above the target of {target_en} – talk to your doctor")},
                     zones=(Zone(targets[key], 400, over),), reading=bp_reading)

    ldl_da, ldl_en = num("ldl", "da"), num("ldl", "en")
    return {
        "bp_systolic": bp_scale("bp_systolic", 200),
        "bp_diastolic": bp_scale("bp_diastolic", 120),
        "ldl": Scale(band=_at_or_above(targets["ldl"]), better="lower", axis=(0, 5), zones=(Zone(targets["ldl"], 20, over),),
                     texts={"within": Text(f"under målet på {ldl_da}", f"below the target of {ldl_en}"),
                            "above": Text(f"over målet på {ldl_da} – tal med din læge",
                                          f"above the target of {ldl_en} – talk to your doctor")},
                     reading=Text(f"LDL er det fedt i blodet, som kan sætte sig i dine blodårer og lukke dem. For en "
                                  f"hjertepatient er målet under {ldl_da}. Medicin og sund mad kan sænke det.",
                                  f"LDL is the fat in the blood that can clog your blood vessels. For a heart patient "
                                  f"the target is below {ldl_en}. Medicine and healthy food can lower it.")),
    }


VERDICTS = {"better": Text("bedre", "better"), "worse": Text("dårligere", "worse"), "same": Text("uændret", "unchanged")}
SMOKING_MEANING = {
    "quit": Text("holdt op med at ryge", "stopped smoking"),
    "still": Text("ryger fortsat – der er hjælp at få til rygestop", "still smoking – help to stop is available"),
    "started": Text("ryger igen", "smoking again"),
}
SMOKING_VERDICTS = {"quit": "better", "started": "worse"}
CHANGED = Text("ændret", "changed")


# ------------------------------------------------------------------------------------------------
# What the reports show: measures and interventions, by contract field name
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    field: str
    group: str             # body, fitness, mind, lifestyle: a table block and a chart on the sheet
    summary: bool = False  # one of the key results in the course summary


FITNESS = "fitness"          # the fitness row: the result field depends on the test type (code list)
FITNESS_TYPE_FIELD = "fitness_test_type"
FITNESS_CHANGE_FIELD = "fitness_change_pct"

MEASURES: tuple[Measure, ...] = (
    Measure("weight_kg", "body", True),
    Measure("waist_cm", "body"),
    Measure("bmi", "body", True),
    Measure("bp_systolic", "body", True),
    Measure("bp_diastolic", "body", True),
    Measure("resting_hr", "body", True),
    Measure("ldl", "body", True),
    Measure(FITNESS, "fitness", True),
    Measure("hads_anxiety", "mind", True),
    Measure("hads_depression", "mind", True),
    Measure("heartqol_global", "mind", True),
    Measure("eq5d_index", "mind", True),
    Measure("eq5d_vas", "mind"),
    Measure("who5_score", "mind", True),
    Measure("smoking", "lifestyle", True),
    Measure("physical_activity", "lifestyle"),
    Measure("alcohol_units_week", "lifestyle"),
)
GROUPS: dict[str, Text] = {
    "body": Text("Krop og kredsløb", "Body and circulation"),
    "fitness": Text("Kondition og styrke", "Fitness and strength"),
    "mind": Text("Trivsel og livskvalitet", "Wellbeing and quality of life"),
    "lifestyle": Text("Levevaner", "Lifestyle"),
    "declared": Text("Målinger ved start og afslutning", "Measures at start and end"),
}
#: The programme whose sheet is written for it (MEASURES, scales, interventions, follow-up).
HJERTEKOM = "hjertekom"
#: Another programme's measures (declared_measures) form one block of the sheet.
DECLARED_GROUP = "declared"


@dataclass(frozen=True)
class Intervention:
    key: str
    offered: str | None                  # start-form field (yes_no_unknown); None: the contract has none
    received: str | None = None          # end-form field (yes_no_unknown)
    sessions: tuple[str, str] | None = None  # end-form (planned, attended) instead of ``received``
    label_section: str | None = None     # take the label from this end-form section, not a field
    label: Text | None = None            # or this label


#: Dietary advice (any profession, offered in the plan) and dietary treatment by a clinical dietitian
#: (K5, recorded as received at the end) are different things: each has its own row, and the column
#: the contract does not record says so instead of pairing one with the other.
INTERVENTIONS: tuple[Intervention, ...] = (
    Intervention("training", "training_offered", sessions=("training_sessions_planned", "training_sessions_attended"),
                 label_section="training"),
    Intervention("patient_education", "patient_education_offered", "patient_education_received"),
    Intervention("diet_advice", "diet_offered", None, label=Text("Kostvejledning", "Dietary advice")),
    Intervention("diet", None, "diet_dietitian_received"),
    Intervention("smoking_cessation", "smoking_cessation_offered", "smoking_cessation_received"),
    Intervention("psychosocial", "psychosocial_offered", "psychosocial_received"),
    Intervention("work_retention", "work_retention_offered", "work_retention_received"),
)

#: Facts about the course shown in the summary, as (form role, field) with form role course/start/end.
REFERRAL_FACTS = (("course", "referral_date"), ("course", "referral_source"), ("course", "diagnosis_groups"),
                  ("course", "index_event_date"), ("course", "nyha_class"))
COURSE_FACTS = (("start", "meeting_date"), ("end", "meeting_date"), ("end", "course_status"),
                ("end", "dropout_reason"))
WORK_FACTS = (("start", "employment"), ("start", "sick_leave_extent"), ("end", "return_to_work"))


# ------------------------------------------------------------------------------------------------
# Reading one course
# ------------------------------------------------------------------------------------------------
def _cell(state: str, text: str, value: Any = None) -> dict[str, Any]:
    return {"state": state, "value": value, "text": text}


class _Reader:
    """The course's registered forms and how to turn one field into a cell."""

    def __init__(self, contract: Contract, course: Course, lang: str,
                 targets: Mapping[str, float] | None = None) -> None:
        self.contract = contract
        self.lang = lang
        # The scales are HjerteKom's (cardiac targets, its instruments' bands); a contract declares none.
        self.scales = {**SCALES, **target_scales(targets or DEFAULT_FOLLOWUP_TARGETS)} \
            if contract.programme == HJERTEKOM else {}
        others = [name for name in contract.forms if name != contract.course_form]
        if not others:
            raise ReportError(f"programme {contract.programme!r} has no start or end form to report on")
        # Same convention as the worklist: the first form after the course form is the start,
        # the last the end of the course.
        self.roles = {"course": contract.course_form, "start": others[0], "end": others[-1]}
        self.data: dict[str, Mapping[str, Any] | None] = {}
        for role, form in self.roles.items():
            complete = [r for r in course.history if r.form == form and r.status == "complete"]
            self.data[role] = complete[-1].data if complete else None
        if self.data["course"] is None:  # referral facts from a draft are better than none
            self.data["course"] = course.data_of(contract.course_form)
        context = {self.roles[r]: d for r, d in self.data.items() if d is not None}
        self._visible = {role: visible_fields_of(contract.form(self.roles[role]), d, context)
                         for role, d in self.data.items() if d is not None}

    def form(self, role: str) -> Form:
        return self.contract.form(self.roles[role])

    def registered(self, role: str) -> bool:
        return self.data[role] is not None

    def field(self, role: str, name: str) -> Field | None:
        return self.form(role).fields.get(name)

    def raw(self, role: str, name: str) -> Any:
        data = self.data[role]
        return None if data is None else data.get(name)

    def _status_field(self, role: str, f: Field) -> Field | None:
        """The questionnaire's status field in the same section as ``f`` (HADS, HeartQoL, ...)."""
        section = next(s for s in self.form(role).sections if s.name == f.section)
        return next((s for s in section.fields if s.codelist is not None
                     and s.codelist.name == QUESTIONNAIRE_STATUS_CODELIST and s.name != f.name), None)

    def cell(self, role: str, name: str) -> dict[str, Any]:
        t = STATE_TEXTS
        data = self.data[role]
        if data is None:
            return _cell("not_registered", t["not_registered"].get(self.lang))
        f = self.field(role, name)
        if f is None:
            return _cell("not_relevant", t["not_relevant"].get(self.lang))
        value = data.get(name)
        reason = f.missing_reason(value)  # uoplyst, or another missing reason (ikke relevant, ...)
        if reason is not None:
            text = t["unknown"].get(self.lang) if value == UNKNOWN else reason.label.get(self.lang).lower()
            return _cell("unknown", text, value)
        if value is not None and value != "" and value != []:
            return _cell("value", self.text_of(f, value), value)
        status = self._status_field(role, f)
        if status is not None:
            code = data.get(status.name)
            if code is None:
                return _cell("not_answered", t["not_answered"].get(self.lang))
            if code != QUESTIONNAIRE_DONE:
                assert status.codelist is not None
                return _cell("not_done", status.codelist.label_of(code, self.lang).lower(), None)
        if f.is_derived:
            return _cell("not_calculable", t["not_calculable"].get(self.lang))
        if not self._visible.get(role, {}).get(name, True):
            return _cell("not_relevant", t["not_relevant"].get(self.lang))
        return _cell("not_answered", t["not_answered"].get(self.lang))

    def text_of(self, f: Field, value: Any) -> str:
        lang = self.lang
        if f.type in ("int", "decimal") and f.codelist is None:
            return with_unit(format_number(value, f.decimals or 0, lang), f.unit)
        if f.type == "date":
            return format_date(value, lang)
        if f.type == "bool":
            return YES_NO[bool(value)].get(lang)
        if f.codelist is not None:
            values = value if isinstance(value, list) else [value]
            return ", ".join(f.codelist.label_of(v, lang) for v in values)
        return str(value)

    def fact(self, role: str, name: str) -> dict[str, Any] | None:
        """Label and cell of one field, or None when the field is hidden (not relevant)."""
        f = self.field(role, name)
        if f is None:
            return None
        cell = self.cell(role, name)
        # A conditional field (drop-out reason, extent of sick leave) is left out when it does not
        # apply, or cannot be known to apply because its form is not registered yet.
        if cell["state"] == "not_relevant" or (cell["state"] == "not_registered" and f.show_if is not None):
            return None
        return {"key": f"{role}.{name}", "label": f.label.get(self.lang), **cell}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _verdict(scale: Scale | None, diff: float) -> str | None:
    if scale is None or scale.better is None:
        return None
    if diff == 0:
        return "same"
    return "better" if (diff > 0) == (scale.better == "higher") else "worse"


def _numeric_change(start: dict[str, Any], end: dict[str, Any], decimals: int, unit: str | None,
                    scale: Scale | None, lang: str) -> dict[str, Any] | None:
    if not (_is_number(start["value"]) and _is_number(end["value"])):
        return None
    # Exact decimal arithmetic: 85.0 - 88.4 is -3.4, not -3.4000000000000057.
    diff = Decimal(repr(end["value"])) - Decimal(repr(start["value"]))
    verdict = _verdict(scale, float(diff))
    return {"value": float(diff), "text": with_unit(format_number(diff, decimals, lang, sign=True), unit),
            "verdict": verdict, "verdict_text": VERDICTS[verdict].get(lang) if verdict else None, "note": None}


def _meanings(scale: Scale | None, start: dict[str, Any], end: dict[str, Any], lang: str) -> dict[str, str | None]:
    if scale is None:
        return {"start": None, "end": None}
    return {"start": scale.meaning(start["value"], lang), "end": scale.meaning(end["value"], lang)}


def _scale_data(scale: Scale | None, lang: str) -> dict[str, Any]:
    if scale is None:
        return {"axis": None, "zones": [], "reading": None, "better": None}
    return {"axis": list(scale.axis) if scale.axis else None,
            "zones": [{"low": z.low, "high": z.high, "label": z.label.get(lang), "level": z.level}
                      for z in scale.zones],
            "reading": scale.reading.get(lang) if scale.reading else None, "better": scale.better}


def _measure_row(r: _Reader, m: Measure) -> dict[str, Any] | None:
    f = r.field("start", m.field) or r.field("end", m.field)
    if f is None:
        return None
    lang = r.lang
    scale = r.scales.get(m.field)
    start, end = r.cell("start", m.field), r.cell("end", m.field)
    numeric = f.type in ("int", "decimal") and f.codelist is None
    row = {"key": m.field, "group": m.group, "summary": m.summary, "label": f.label.get(lang),
           "unit": f.unit if numeric else None, "decimals": f.decimals or 0, "numeric": numeric,
           "start": start, "end": end, "change": None, "meaning": _meanings(scale, start, end, lang),
           "scale": _scale_data(scale, lang)}
    if numeric:
        row["change"] = _numeric_change(start, end, f.decimals or 0, f.unit, scale, lang)
    elif f.codelist is not None and start["state"] == end["state"] == "value":
        row["change"] = _categorical_change(m.field, f, start["value"], end["value"], scale, lang)
        if m.field == "smoking":
            row["meaning"]["end"] = _smoking_meaning(start["value"], end["value"], lang)
    return row


def _categorical_change(name: str, f: Field, start: Any, end: Any, scale: Scale | None,
                        lang: str) -> dict[str, Any]:
    """Same / better / worse for an answer from a code list (the columns already show both)."""
    assert f.codelist is not None
    if start == end:
        verdict: str | None = "same"
    elif name == "smoking":
        verdict = SMOKING_VERDICTS.get(_smoking_transition(start, end) or "")
    elif scale is not None and scale.better is not None and UNKNOWN not in (start, end):
        order = [c for c in f.codelist.values if c != UNKNOWN]  # the code list runs from least to most
        verdict = _verdict(scale, order.index(end) - order.index(start))
    else:
        verdict = None
    text = VERDICTS[verdict].get(lang) if verdict else CHANGED.get(lang)
    return {"value": None, "text": text, "verdict": verdict, "verdict_text": None, "note": None}


def _smoking_transition(start: Any, end: Any) -> str | None:
    if start in SMOKER_CODES and end == SMOKING_FORMER:
        return "quit"
    if start in SMOKER_CODES and end in SMOKER_CODES:
        return "still"
    if start == SMOKING_FORMER and end in SMOKER_CODES:
        return "started"
    return None


def _smoking_meaning(start: Any, end: Any, lang: str) -> str | None:
    transition = _smoking_transition(start, end)
    return SMOKING_MEANING[transition].get(lang) if transition else None


def _fitness_cell(r: _Reader, role: str) -> tuple[dict[str, Any], str | None, Field | None]:
    """The fitness result of one meeting, the test code and the result field."""
    type_field = r.field(role, FITNESS_TYPE_FIELD)
    if type_field is None or type_field.codelist is None:
        return r.cell(role, FITNESS_TYPE_FIELD), None, None
    kind = r.cell(role, FITNESS_TYPE_FIELD)
    if kind["state"] != "value":
        return kind, None, None
    code = type_field.codelist.get(kind["value"])
    result_name = code.attributes.get("result_field") if code is not None else None
    if result_name is None:  # "not done": the test's own label says so
        return _cell("not_done", type_field.codelist.label_of(kind["value"], r.lang).lower()), kind["value"], None
    result_field = r.field(role, result_name)
    return r.cell(role, result_name), kind["value"], result_field


def _fitness_row(r: _Reader, m: Measure) -> dict[str, Any] | None:
    type_field = r.field("start", FITNESS_TYPE_FIELD)
    if type_field is None or type_field.codelist is None:
        return None
    lang = r.lang
    tests = type_field.codelist
    start, start_test, start_field = _fitness_cell(r, "start")
    end, end_test, end_field = _fitness_cell(r, "end")
    same = start_field is not None and end_field is not None and start_test == end_test
    shown = end_field or start_field
    label, unit, decimals, scale = tests.label.get(lang), None, 0, None
    if shown is not None and (same or start_field is None or end_field is None):
        label = tests.label_of(end_test if end_field else start_test, lang)
        unit, decimals, scale = shown.unit, shown.decimals or 0, r.scales.get(shown.name)
    elif start_field is not None and end_field is not None:  # two different tests: name each one
        for cell, test in ((start, start_test), (end, end_test)):
            if cell["state"] == "value":
                cell["text"] = f"{cell['text']}, {tests.label_of(test, lang).lower()}"
    row = {"key": m.field, "group": m.group, "summary": m.summary, "label": label, "unit": unit,
           "decimals": decimals, "numeric": True, "start": start, "end": end, "change": None,
           "meaning": _meanings(scale, start, end, lang), "scale": _scale_data(scale, lang),
           # False only when both meetings have a result, from different tests: never drawn together.
           "comparable": None if start_field is None or end_field is None else same}
    if same:
        change = _numeric_change(start, end, decimals, unit, scale, lang)
        pct = r.raw("end", FITNESS_CHANGE_FIELD)
        if change is not None and _is_number(pct):
            change["percent"] = pct
            change["text"] += f" ({format_number(pct, 1, lang, sign=True)} %)"
        row["change"] = change
    elif start_field is not None and end_field is not None:
        row["change"] = {"value": None, "text": "", "verdict": None, "verdict_text": None,
                         "note": DIFFERENT_TESTS.get(lang)}
    return row


def _row(r: _Reader, m: Measure) -> dict[str, Any] | None:
    return _fitness_row(r, m) if m.field == FITNESS else _measure_row(r, m)


def _training_text(r: _Reader, planned_name: str, attended_name: str) -> dict[str, Any]:
    planned, attended = r.cell("end", planned_name), r.cell("end", attended_name)
    lang = r.lang
    if planned["state"] == "not_registered":
        return {**planned, "planned": None, "attended": None, "attendance_pct": None}
    pct = None
    if _is_number(planned["value"]) and _is_number(attended["value"]):
        text = TRAINING_TEXT.get(lang).format(planned=planned["text"], attended=attended["text"])
        if planned["value"] > 0:
            share = Fraction(attended["value"]) / Fraction(planned["value"]) * 100
            pct = math.floor(share + Fraction(1, 2))  # half up, like every score in the project
            text += f" ({pct} %)"
        state = "value"
    else:
        text = TRAINING_PARTS.get(lang).format(planned=planned["text"], attended=attended["text"])
        state = "partial"
    return {"state": state, "value": attended["value"], "text": text, "planned": planned["value"],
            "attended": attended["value"], "attendance_pct": pct}


def _interventions(r: _Reader) -> list[dict[str, Any]]:
    lang = r.lang
    rows = []
    not_recorded = _cell("not_recorded", STATE_TEXTS["not_recorded"].get(lang))
    for item in INTERVENTIONS:
        offered_field = r.field("start", item.offered) if item.offered else None
        received_field = r.field("end", item.received) if item.received else None
        if (item.offered and offered_field is None) or (item.received and received_field is None) \
                or (offered_field or received_field) is None:
            continue
        if item.label is not None:
            label = item.label.get(lang)
        elif item.label_section is not None:
            section = next(s for s in r.form("end").sections if s.name == item.label_section)
            label = section.label.get(lang)
        else:
            label = (received_field or offered_field).label.get(lang)  # type: ignore[union-attr]
        offered = r.cell("start", item.offered) if item.offered else not_recorded
        if item.sessions is not None:
            received = _training_text(r, *item.sessions)
        elif item.received:
            received = r.cell("end", item.received)
        else:
            received = not_recorded
        if offered["state"] == "not_relevant" and received["state"] in ("not_relevant", "not_registered"):
            continue  # e.g. smoking cessation for a never-smoker
        rows.append({"key": item.key, "label": label, "offered": offered, "received": received})
    return rows


def _municipality(contract: Contract, code: int, lang: str) -> dict[str, Any]:
    f = contract.form(contract.course_form).field(contract.municipality_field)
    name = f.codelist.label_of(code, lang) if f.codelist is not None else str(code)
    return {"code": code, "name": name, "label": f.label.get(lang)}


def _citizen(course: Course) -> dict[str, Any]:
    try:
        cpr = parse_cpr(course.citizen.cpr).formatted
    except InvalidCpr:  # stored numbers are validated; keep the digits rather than fail the sheet
        cpr = course.citizen.cpr
    return {"name": course.citizen.name, "cpr": cpr, "birth_date": course.citizen.birth_date.isoformat()}


def _date_name(r: _Reader, role: str) -> str:
    """The field dating the start or end meeting: HjerteKom's ``meeting_date``, else the form's
    declared ``date_field``."""
    if r.contract.programme == HJERTEKOM:
        return "meeting_date"
    return r.form(role).date_field or ""


def _days(r: _Reader) -> int | None:
    first, last = r.raw("start", _date_name(r, "start")), r.raw("end", _date_name(r, "end"))
    if not (isinstance(first, str) and isinstance(last, str) and UNKNOWN not in (first, last)):
        return None
    return (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days


def _facts(r: _Reader, wanted: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    found = (r.fact(role, name) for role, name in wanted)
    return [f for f in found if f is not None]


def _measure_rows(r: _Reader) -> list[dict[str, Any]]:
    """HjerteKom's chosen measures, or another programme's declared ones (one block, each a key result)."""
    if r.contract.programme == HJERTEKOM:
        return [row for row in (_row(r, m) for m in MEASURES) if row is not None]
    rows = (_measure_row(r, Measure(name, DECLARED_GROUP, True)) for name in declared_measures(r.contract))
    return [row for row in rows if row is not None]


def _groups(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    return [{"key": key, "label": label.get(lang)} for key, label in GROUPS.items()
            if any(row["group"] == key for row in rows)]


def _role_data(r: _Reader, role: str) -> dict[str, Any]:
    return {"registered": r.registered(role), "label": r.form(role).label.get(r.lang),
            "date": r.raw(role, _date_name(r, role))}


def other_programmes(service: Service, course: Course, lang: str = "da",
                     config: Config | None = None) -> list[dict[str, Any]]:
    """The citizen's courses of programmes other than ``course``'s that the user may see (acts in
    the course's programme and municipality, ``User.acts_in``), in course order: each with its
    programme, its start and end forms and its measures at start and end (as ``measures`` of
    ``course_report_data``). Read through the service (scoped and audited there)."""
    config = config if config is not None else load_config()
    out = []
    for other in service.courses_of(course.citizen.id):
        if other.programme == course.programme or other.programme not in service.contracts \
                or not service.user.acts_in(other.municipality_code, other.programme):
            continue
        contract = service.contracts[other.programme]
        if contract.start_and_end() is None:
            continue
        full = service.get_course(other.id, with_history=True)
        r = _Reader(contract, full, lang, config.followup_targets)
        rows = _measure_rows(r)
        out.append({
            "course_id": other.id,
            "programme": {"code": contract.programme, "label": contract.label.get(lang),
                          "version": contract.version},
            "municipality": _municipality(contract, other.municipality_code, lang),
            "start": _role_data(r, "start"), "end": _role_data(r, "end"),
            "duration_days": _days(r),
            "groups": _groups(rows, lang),
            "measures": rows,
        })
    return out


def _load(service: Service, course_id: int) -> Course:
    try:
        course = service.get_course(course_id, with_history=True)
    except NotFound:
        if service.user.scope() is None:
            raise  # sees every municipality: the course really does not exist
        # The same answer whether the course is elsewhere or nowhere: nobody learns what
        # another municipality holds.
        raise AccessDenied("course.read", "no such course in the user's municipalities") from None
    service.user.require("course.read", course.municipality_code, programme=course.programme)
    return course


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise UnsupportedLanguage(lang)


def course_report_data(service: Service, course_id: int, lang: str = "da",
                       config: Config | None = None, *, others: bool = False) -> dict[str, Any]:
    """Everything the citizen sheet and the course summary show, for one course (JSON-serialisable).

    ``config`` gives the follow-up targets and the municipalities' contacts (default: ``load_config()``).
    ``others``: also the citizen's courses of the other programmes the user may see
    (``other_programmes``; the citizen sheet asks for them, the course summary does not).
    AccessDenied when the course is not in the user's municipalities (or does not exist). The read
    is audited by ``Service.get_course``.
    """
    _check_lang(lang)
    config = config if config is not None else load_config()
    course = _load(service, course_id)
    contract = service.contracts[course.programme]
    r = _Reader(contract, course, lang, config.followup_targets)
    notices = []
    if not r.registered("start"):
        notices.append(NOTICE_NO_START.get(lang))
    if not r.registered("end"):
        notices.append(NOTICE_NO_END.get(lang))
    rows = _measure_rows(r)
    groups = _groups(rows, lang)
    end_form, start_form = r.form("end"), r.form("start")
    municipality = _municipality(contract, course.municipality_code, lang)
    responsible = gp_summary.responsible(service, course, r.roles, municipality, config.municipality_contacts, lang)
    return {
        "lang": lang,
        "course_id": course.id,
        "programme": {"code": contract.programme, "label": contract.label.get(lang), "version": contract.version},
        "generated_on": service.today.isoformat(),
        # A person, never the system account: whoever answers for the course when a job prints it.
        "prepared_by": service.user.display_name if service.user.id is not None
        else responsible["name"] or responsible["team"],
        "citizen": _citizen(course),
        "municipality": municipality,
        "start": {"registered": r.registered("start"), "label": start_form.label.get(lang),
                  "date": r.raw("start", _date_name(r, "start"))},
        "end": {"registered": r.registered("end"), "label": end_form.label.get(lang),
                "date": r.raw("end", _date_name(r, "end")), "course_status": r.raw("end", "course_status")},
        "duration_days": _days(r),
        "notices": notices,
        "referral": _facts(r, REFERRAL_FACTS),
        "course_facts": _facts(r, COURSE_FACTS),
        "work": _facts(r, WORK_FACTS),
        "groups": groups,
        "measures": rows,
        "interventions": _interventions(r),
        "follow_up": gp_summary.follow_up(rows, r.registered("end"), config.followup_targets, lang),
        "responsible": responsible,
        "other_programmes": other_programmes(service, course, lang, config) if others else [],
    }


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CourseReport:
    notebook: str
    title: Text
    audit_action: str


#: The citizen sheet's title for a course of another programme (HjerteKom's is its own).
SHEET_TITLE_PROGRAMME = Text("Dine resultater – {programme}", "Your results – {programme}")

REPORTS: dict[str, CourseReport] = {
    "citizen": CourseReport("reports/citizen", Text("Dine resultater fra hjerterehabiliteringen",
                                                    "Your results from cardiac rehabilitation"), "report.citizen"),
    "summary": CourseReport("reports/summary", Text("Forløbsopsummering – kommunal hjerterehabilitering",
                                                    "Course summary – municipal cardiac rehabilitation"),
                            "report.summary"),
}


_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def rendered_title(page: str, kind: str, lang: str = "da") -> str:
    """The title of a rendered course report (its ``<title>``: another programme's citizen sheet is
    "Dine resultater – <programme>"), for the PDF's footer; the kind's own title if it has none."""
    found = _TITLE.search(page)
    text = html.unescape(found.group(1)).strip() if found else ""
    return text or REPORTS[kind].title.get(lang)


def render_course_report(service: Service, course_id: int, kind: str, lang: str = "da",
                         session: Any = None, config: Config | None = None) -> str:
    """The citizen sheet (``kind="citizen"``) or the course summary (``"summary"``) as one
    self-contained HTML page. The personal data go to the notebook as a parameter; the executed
    notebook stays in memory (``runner.execute``). Audited as ``report.<kind>``."""
    from hjertekom_core.reports import runner  # nbconvert and papermill only when rendering

    report = REPORTS.get(kind)
    if report is None:
        raise UnknownReportKind(kind, tuple(REPORTS))
    _check_lang(lang)
    data = course_report_data(service, course_id, lang, config, others=kind == "citizen")
    if kind == "summary" and data["programme"]["code"] != HJERTEKOM:
        # The summary for hospital and GP is HjerteKom's (cardiac measures, follow-up): another
        # programme's course has none, the same answer as a course that is not there.
        raise NotFound("course summary", course_id)
    nb = runner.execute(report.notebook, {"course": data, "lang": lang}, session=session)
    title = report.title.get(lang)
    if kind == "citizen" and data["programme"]["code"] != HJERTEKOM:
        title = SHEET_TITLE_PROGRAMME.get(lang).format(programme=data["programme"]["label"])
    page = runner.to_html(nb, title, lang)
    with service.store.write() as conn:
        audit.record(conn, service.user, report.audit_action, "course", course_id,
                     data["municipality"]["code"], {"kind": kind, "lang": lang})
    return page
