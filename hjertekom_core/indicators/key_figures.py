"""Key figures: courses referred, started and completed, by diagnosis group, sex and age band.

Declared once for the municipality report and the municipal extracts, so both count alike:
- referred: the course registration's referral date lies in the period;
- started: the start registration (afklarende samtale) is complete and its meeting lies in it;
- completed: the end registration is complete with course status "completed" and its meeting
  lies in it (the registered status; K1 adds the completion limit on top);
- age band: the age at referral; a course with several diagnosis groups counts under each.

``course_events_sql`` gives one row per course and event over a snapshot's tables.
"""
from __future__ import annotations

from hjertekom_core.contract import UNKNOWN, Text
from hjertekom_core.indicators.facts import COURSE_FACTS_SQL, PROGRAMME

#: The course-form fields and the end form's code that the key figures read (as facts.py maps
#: the fields of K1-K6).
REFERRAL_FIELD = "referral_date"
DIAGNOSIS_FIELD = "diagnosis_groups"
COMPLETED = "completed"

#: (event, label, how it is counted)
EVENTS: tuple[tuple[str, Text, Text], ...] = (
    ("referred", Text("Henviste forløb", "Courses referred"),
     Text("Forløb med henvisningsdato i perioden", "Courses with their referral date in the period")),
    ("started", Text("Startede forløb", "Courses started"),
     Text("Forløb med færdig afklarende samtale i perioden", "Courses with a complete start meeting in the period")),
    ("completed", Text("Gennemførte forløb", "Courses completed"),
     Text("Forløb afsluttet som gennemført i perioden", "Courses ended as completed in the period")),
)

#: Age at referral: (code, lowest age, label); each band runs to the next one's lowest age.
AGE_BANDS: tuple[tuple[str, int, Text], ...] = (
    ("under_50", 0, Text("Under 50 år", "Under 50")),
    ("50_59", 50, Text("50-59 år", "50-59")),
    ("60_69", 60, Text("60-69 år", "60-69")),
    ("70_79", 70, Text("70-79 år", "70-79")),
    ("80_plus", 80, Text("80 år og derover", "80 and over")),
)
SEXES: tuple[tuple[str, Text], ...] = (("F", Text("Kvinder", "Women")), ("M", Text("Mænd", "Men")))
UNKNOWN_LABEL = Text("Uoplyst", "Unknown")


def age_band_sql(age: str) -> str:
    """SQL: the AGE_BANDS code of the age in ``age`` (UNKNOWN for NULL)."""
    steps = " ".join(f"WHEN {age} < {low} THEN '{AGE_BANDS[i - 1][0]}'"
                     for i, (_, low, _) in enumerate(AGE_BANDS) if i > 0)
    return f"CASE WHEN {age} IS NULL THEN '{UNKNOWN}' {steps} ELSE '{AGE_BANDS[-1][0]}' END"


def _age_sql(birth_date: bool) -> str:
    """Whole years at referral: exact from the birth date (identified snapshots), else from the
    birth year (pseudonymised snapshots hold only that)."""
    on = f"k.{REFERRAL_FIELD}"
    if birth_date:
        return (f"date_diff('year', p.birth_date, {on}) - CASE WHEN strftime({on}, '%m%d') "
                f"< strftime(p.birth_date, '%m%d') THEN 1 ELSE 0 END")
    return f"year({on}) - p.birth_year"


def course_events_sql(*, birth_date: bool = True) -> str:
    """One row per course and event (referred, started, completed) with its date ``on_date`` and
    the course's municipality_code, sex, diagnoses (a list), age and age_band.

    ``birth_date``: the snapshot's citizens table has birth dates (identified); else birth years.
    """
    key = "citizen_id" if birth_date else "citizen_key"
    return f"""
        WITH base AS (
            SELECT c.course_id, c.municipality_code, p.sex, k.{DIAGNOSIS_FIELD} AS diagnoses,
                   {_age_sql(birth_date)} AS age, k.{REFERRAL_FIELD} AS referred_on,
                   f.started, f.start_date, f.ended, f.end_date, f.course_status
            FROM courses c
            LEFT JOIN citizens p ON p.{key} = c.{key}
            LEFT JOIN {PROGRAMME}_course k ON k.course_id = c.course_id
            LEFT JOIN ({COURSE_FACTS_SQL}) f ON f.course_id = c.course_id
            WHERE c.programme = '{PROGRAMME}'),
        events AS (
            SELECT *, 'referred' AS event, referred_on AS on_date FROM base WHERE referred_on IS NOT NULL
            UNION ALL
            SELECT *, 'started', start_date FROM base WHERE started AND start_date IS NOT NULL
            UNION ALL
            SELECT *, 'completed', end_date FROM base
            WHERE ended AND course_status = '{COMPLETED}' AND end_date IS NOT NULL)
        SELECT course_id, municipality_code, sex, diagnoses, age, {age_band_sql('age')} AS age_band, event, on_date
        FROM events"""
