"""The researchers' analyses over pseudonymised snapshots: change, drop-out, indicator trends.

Pure functions over a read-only DuckDB connection that return DataFrames (``change``,
``dropout``, ``trends``), and functions that turn those frames into labelled HTML (``tables``).
The notebooks in notebooks/research/ import, call and display them; ``render`` runs a notebook
and returns its self-contained HTML page.
"""
from __future__ import annotations

from pathlib import Path

from hjertekom_core.contract import Text
from hjertekom_core.research.cohort import (
    RESEARCH_DIR_ENV,
    DiagnosisGroups,
    IdentifiedSnapshot,
    NoResearchSnapshot,
    ResearchSnapshot,
    course_frame,
    load_diagnosis_groups,
    newest_research_snapshot,
    open_research,
    open_snapshot,
    research_dir,
)
from hjertekom_core.research.tables import Labeller, labeller

#: The research notebooks (notebooks/research/<name>.ipynb) and their page titles.
ANALYSES: dict[str, Text] = {
    "change": Text("Ændring fra start til slut", "Change from start to end"),
    "dropout": Text("Ophør før tid", "Drop-out"),
    "trends": Text("Indikatorer over tid", "Indicators over time"),
}


def render(analysis: str, snapshot: str | Path = "", lang: str = "da", **parameters: object) -> str:
    """Run notebooks/research/<analysis>.ipynb on ``snapshot`` and return the HTML page."""
    from hjertekom_core.reports.runner import execute, to_html

    if analysis not in ANALYSES:
        raise ValueError(f"unknown analysis {analysis!r}; choose {', '.join(ANALYSES)}")
    nb = execute(f"research/{analysis}", {"snapshot": str(snapshot), "lang": lang, **parameters})
    return to_html(nb, f"HjerteKom: {ANALYSES[analysis].get(lang)}", lang)


__all__ = ["ANALYSES", "RESEARCH_DIR_ENV", "DiagnosisGroups", "IdentifiedSnapshot", "Labeller",
           "NoResearchSnapshot", "ResearchSnapshot", "course_frame", "labeller", "load_diagnosis_groups",
           "newest_research_snapshot", "open_research", "open_snapshot", "render", "research_dir"]
