"""``course_facts``: one row per hjertekom course with what the indicators need, in DuckDB SQL.

Regions are looked up after counting per municipality (engine.py), not here: a join per course
with the municipality table cost a hash join over every course.

This is the one place that maps contract fields (``start.smoking``, ``end.course_status`` ...)
to the indicator vocabulary. It runs over a snapshot's tables, and over the same tables built in
memory from the live store (``live.py``), so the snapshot and the entry app agree.
"""
from __future__ import annotations

#: The programme whose courses the indicators K1-K6 describe.
PROGRAMME = "hjertekom"

_COLUMNS = """
    c.course_id,
    c.municipality_code,
    c.age_at_start,
    coalesce(s.status = 'complete', false)                    AS started,
    coalesce(e.status = 'complete', false)                    AS ended,
    s.meeting_date                                            AS start_date,
    e.meeting_date                                            AS end_date,
    date_diff('day', s.meeting_date, e.meeting_date)          AS days_in_course,
    e.course_status,
    e.dropout_reason,
    s.training_offered,
    e.training_sessions_planned                               AS sessions_planned,
    e.training_sessions_attended                              AS sessions_attended,
    s.fitness_test_type                                       AS start_test,
    e.fitness_test_type                                       AS end_test,
    CASE s.fitness_test_type WHEN 'watt' THEN s.ergometer_watt
                             WHEN 'six_minute_walk' THEN s.walk_6min_m END AS start_capacity,
    CASE e.fitness_test_type WHEN 'watt' THEN e.ergometer_watt
                             WHEN 'six_minute_walk' THEN e.walk_6min_m END AS end_capacity,
    s.smoking                                                 AS start_smoking,
    e.smoking                                                 AS end_smoking,
    e.diet_dietitian_received                                 AS diet_dietitian,
    s.hads_status                                             AS start_hads_status,
    e.hads_status                                             AS end_hads_status"""

#: How each population joins the tables. ``{c}``, ``{s}`` and ``{e}`` take a course id range
#: (see ``facts_sql``): in the ON clauses of the left joins, so that they cut the scans without
#: turning the left joins into inner ones.
_FROM = {
    # Every course of the programme, with its start and end registration where there is one.
    "course_facts": f"""
FROM courses c
LEFT JOIN hjertekom_start s ON s.course_id = c.course_id{{s}}
LEFT JOIN hjertekom_end e ON e.course_id = c.course_id{{e}}
WHERE c.programme = '{PROGRAMME}'{{c}}
""",
    # Finished courses only (start and end registrations complete): inner joins with the status
    # filters in the scans, so the hash tables hold only these courses. (Measured: 15 % faster than
    # course_facts at 200,000 courses, 7 % at 2,000,000; starting the joins from the end table
    # instead made DuckDB build on the courses and was 40 % slower.)
    "finished_facts": f"""
FROM courses c
JOIN hjertekom_start s ON s.course_id = c.course_id{{s}}
JOIN hjertekom_end e ON e.course_id = c.course_id{{e}}
WHERE c.programme = '{PROGRAMME}' AND s.status = 'complete' AND e.status = 'complete'{{c}}
""",
}


def facts_sql(population: str, course_ids: tuple[int, int] | None = None) -> str:
    """The facts of a population (``course_facts`` or ``finished_facts``); with ``course_ids``
    ``(low, high)`` only the courses with low <= course_id < high, the range written on every
    table so that each scan is cut, not just the joins' output."""
    cut = dict.fromkeys("cse", "")
    if course_ids is not None:
        low, high = (int(v) for v in course_ids)
        cut = {t: f" AND {t}.course_id >= {low} AND {t}.course_id < {high}" for t in "cse"}
    return f"SELECT {_COLUMNS}" + _FROM[population].format(**cut)


COURSE_FACTS_SQL = facts_sql("course_facts")
FINISHED_FACTS_SQL = facts_sql("finished_facts")

#: The populations an indicator can be computed over (Indicator.population): relation -> SQL.
POPULATIONS = {"course_facts": COURSE_FACTS_SQL, "finished_facts": FINISHED_FACTS_SQL}
