"""Complete, valid registrations of one synthetic course, written out by hand.

Hand-written (not generated) so that a test fails if the contract or the validator starts to
reject what a clinician would enter for an ordinary course.
"""
from __future__ import annotations

from typing import Any


#: The password of every synthetic account the tests make (it passes the password policy).
TEST_PASSWORD = "Lyngbakke-testkode-2026"  # noqa: S105 - a synthetic test account's password

def course_data(municipality: int = 740, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "municipality": municipality,
        "referral_date": "03-02-2025",
        "referral_source": "hospital",
        "diagnosis_groups": ["acute_myocardial_infarction", "pci"],
        "index_event_date": "2025-01-27",
    }
    data.update(changes)
    return data


def _questionnaires(hads: list[int], heartqol: list[int], eq5d: list[int], vas: int, who5: list[int]) -> dict[str, Any]:
    data: dict[str, Any] = {"hads_status": "completed", "heartqol_status": "completed",
                            "eq5d_status": "completed", "who5_status": "completed"}
    data.update({f"hads_{i:02d}": v for i, v in enumerate(hads, start=1)})
    data.update({f"heartqol_{i:02d}": v for i, v in enumerate(heartqol, start=1)})
    data.update(dict(zip(("eq5d_mobility", "eq5d_selfcare", "eq5d_activities", "eq5d_pain", "eq5d_anxiety"), eq5d)))
    data["eq5d_vas"] = vas
    data.update({f"who5_{i}": v for i, v in enumerate(who5, start=1)})
    return data


def start_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "meeting_date": "17-02-2025", "clinician_profession": "nurse",
        "weight_kg": "88,4", "waist_cm": 104, "bp_systolic": 142, "bp_diastolic": 86, "resting_hr": 72, "ldl": "2,1",
        "height_cm": 178,
        "smoking": "daily", "alcohol_units_week": 8, "physical_activity": "light",
        "fitness_test_type": "six_minute_walk", "walk_6min_m": 420,
        "employment": "employed",
        "training_offered": "yes", "patient_education_offered": "yes", "diet_offered": "yes",
        "smoking_cessation_offered": "yes", "psychosocial_offered": "no", "work_retention_offered": "yes",
    }
    # HADS: anxiety items (odd) sum to 9, depression items (even) sum to 8.
    data.update(_questionnaires(hads=[2, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                                heartqol=[2] * 10 + [1, 2, 1, 2], eq5d=[1, 2, 3, 4, 5], vas=60, who5=[3, 3, 2, 2, 3]))
    data.update(changes)
    return data


def end_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "meeting_date": "19-05-2025", "clinician_profession": "physiotherapist",
        "course_status": "completed", "training_sessions_planned": 24, "training_sessions_attended": 21,
        "patient_education_received": "yes", "diet_dietitian_received": "yes", "smoking_cessation_received": "yes",
        "psychosocial_received": "no", "work_retention_received": "yes", "return_to_work": "full_time",
        "weight_kg": "85,0", "waist_cm": 100, "bp_systolic": 132, "bp_diastolic": 82, "resting_hr": 66, "ldl": "1,6",
        "smoking": "former", "alcohol_units_week": 5, "physical_activity": "moderate",
        "fitness_test_type": "six_minute_walk", "walk_6min_m": 483,
    }
    data.update(_questionnaires(hads=[1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1],
                                heartqol=[3] * 10 + [2, 2, 2, 2], eq5d=[1, 1, 2, 2, 2], vas=80, who5=[4, 4, 3, 3, 4]))
    data.update(changes)
    return data
