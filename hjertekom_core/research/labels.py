"""Texts the research tables and charts show, in Danish and English.

Field labels (6-minute walk, HADS ...) come from the snapshot's codebook and code labels from its
``codelists`` table; only the words the contract does not hold live here.
"""
from __future__ import annotations

from hjertekom_core.contract import Text

#: Values of the grouping columns that are not contract codes.
VALUE_LABELS: dict[str, dict[str, Text]] = {
    "all": {"all": Text("Alle", "All")},
    "sex": {"M": Text("Mand", "Male"), "F": Text("Kvinde", "Female")},
    "diagnosis_group": {
        # The other groups are named by their single code's label (diagnosis_group code list).
        "ischaemic_heart_disease": Text("Iskæmisk hjertesygdom", "Ischaemic heart disease"),
    },
    "hads_band": {
        "normal": Text("0-7 (normal)", "0-7 (normal)"),
        "borderline": Text("8-10 (grænsetilfælde)", "8-10 (borderline)"),
        "case": Text("11-21 (sandsynlig)", "11-21 (probable case)"),
    },
}

#: The grouping variables ("by") of the change and drop-out tables.
FACTOR_LABELS: dict[str, Text] = {
    "all": Text("Alle", "All"),
    "diagnosis_group": Text("Diagnosegruppe", "Diagnosis group"),
    "sex": Text("Køn", "Sex"),
    "age_band": Text("Aldersgruppe", "Age band"),
    "municipality": Text("Kommune", "Municipality"),
    "start_hads_anxiety_band": Text("HADS angst ved start", "HADS anxiety at start"),
    "start_hads_depression_band": Text("HADS depression ved start", "HADS depression at start"),
    "start_smoking": Text("Rygning ved start", "Smoking at start"),
}

#: A grouping value that was not registered (NULL), unlike the explicit answer "uoplyst" (UNK).
MISSING_TEXT = Text("Ikke registreret", "Not registered")

#: Column headings of the tables shown in the notebooks.
COLUMN_LABELS: dict[str, Text] = {
    "outcome": Text("Mål", "Outcome"),
    "by": Text("Opdelt efter", "By"),
    "group": Text("Gruppe", "Group"),
    "n": Text("n", "n"),
    "mean_start": Text("Gns. start", "Mean start"),
    "mean_end": Text("Gns. slut", "Mean end"),
    "mean_change": Text("Gns. ændring", "Mean change"),
    "ci": Text("95 % KI", "95 % CI"),
    "sd_change": Text("SD", "SD"),
    "cohens_dz": Text("dz", "dz"),
    "dropped_out": Text("Ophørt", "Dropped out"),
    "proportion": Text("Andel ophørt", "Proportion dropped out"),
    "term": Text("Forklarende variabel", "Term"),
    "odds_ratio": Text("Odds ratio", "Odds ratio"),
    "p_value": Text("p", "p"),
    "reason": Text("Årsag", "Reason"),
    "indicator": Text("Indikator", "Indicator"),
    "unit_name": Text("Enhed", "Unit"),
    "period": Text("Periode", "Period"),
    "numerator": Text("Tæller", "Numerator"),
    "denominator": Text("Nævner", "Denominator"),
    "status": Text("Status", "Status"),
}


def text(key: str, lang: str, table: dict[str, Text] = COLUMN_LABELS) -> str:
    found = table.get(key)
    return found.get(lang) if found else key
