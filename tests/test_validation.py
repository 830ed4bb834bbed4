"""Field validation: types, hard and soft limits, unknown, branching, cross-field rules, completeness."""
from __future__ import annotations

import datetime as dt

import pytest

from hjertekom_core.validation import missing_required, validate_form

from factories import course_data, end_data, start_data

TODAY = dt.date(2026, 11, 25)


def check(contract, form: str, data: dict, *, context: dict | None = None, complete: bool = False):
    return validate_form(contract, form, data, context=context or {}, complete=complete, today=TODAY)


def codes(issues) -> dict[str, str]:
    return {i.field: i.code for i in issues}


def test_a_complete_course_is_valid_and_gets_its_derived_scores(contract) -> None:
    course = check(contract, "course", course_data(), complete=True)
    start = check(contract, "start", start_data(), context={"course": course.cleaned}, complete=True)
    end = check(contract, "end", end_data(), context={"course": course.cleaned, "start": start.cleaned}, complete=True)
    for report in (course, start, end):
        assert (report.errors, report.warnings, report.missing) == ([], [], [])
    assert start.cleaned["weight_kg"] == 88.4            # decimal comma accepted
    assert start.cleaned["meeting_date"] == "2025-02-17"  # Danish date accepted, stored as ISO
    assert start.cleaned["bmi"] == 27.9                   # 88.4 / 1.78^2
    assert (start.cleaned["hads_anxiety"], start.cleaned["hads_depression"]) == (9, 8)
    assert start.cleaned["eq5d_index"] == -0.074           # profile 12345
    assert end.cleaned["fitness_change_pct"] == 15.0       # 420 m -> 483 m
    assert end.cleaned["bmi"] == 26.8                      # end weight with the start height


@pytest.mark.parametrize(("field", "value", "code"), [
    ("weight_kg", "tung", "not_decimal"),
    ("weight_kg", "72,5.1", "not_decimal"),
    ("bp_systolic", "120.5", "not_int"),
    ("meeting_date", "31-02-2025", "not_date"),
    ("meeting_date", "2027-01-01", "future_date"),
    ("meeting_date", "01-01-2027", "future_date"),
    ("smoking", "chain", "not_in_codelist"),
    ("hads_01", 4, "not_in_codelist"),
    ("weight_kg", 400, "hard_max"),
    ("height_cm", 90, "hard_min"),
    ("bp_systolic", "UNK", "unknown_not_allowed"),
    ("shoe_size", 43, "unknown_field"),
])
def test_hard_errors_name_the_field_and_what_to_do(contract, field: str, value: object, code: str) -> None:
    report = check(contract, "start", start_data(**{field: value}))
    assert codes(report.errors) == {field: code}
    assert field not in report.cleaned
    message = report.errors[0].message("da")
    if code != "unknown_field":
        assert contract.form("start").field(field).label.da in message
    assert report.errors[0].message("en") != message


def test_hard_limit_message_in_danish_says_the_limit_and_unit(contract) -> None:
    report = check(contract, "start", start_data(weight_kg=400))
    assert report.errors[0].message("da") == (
        "Vægt: 400 kg er over den højeste mulige værdi (350 kg). Ret værdien.")


@pytest.mark.parametrize(("field", "value", "code"), [
    ("weight_kg", 210, "soft_max"), ("resting_hr", 30, "soft_min"), ("ldl", "0,2", "soft_min"),
])
def test_soft_limits_warn_but_keep_the_value(contract, field: str, value: object, code: str) -> None:
    report = check(contract, "start", start_data(**{field: value}))
    assert report.errors == []
    assert codes(report.warnings) == {field: code}
    assert field in report.cleaned


def test_unknown_is_accepted_where_allowed_and_counts_as_an_answer(contract) -> None:
    report = check(contract, "start", start_data(weight_kg="UNK", smoking="UNK"), complete=True)
    assert report.errors == [] and report.missing == []
    assert report.cleaned["weight_kg"] == "UNK"
    assert "bmi" not in report.cleaned  # no score from an unknown weight


def test_blank_is_not_answered_and_blocks_completion(contract) -> None:
    report = check(contract, "start", start_data(weight_kg="", smoking=None), complete=True)
    assert report.errors == []
    assert {i.field for i in report.missing} == {"weight_kg", "smoking"}
    assert "Vægt mangler" in next(i for i in report.missing if i.field == "weight_kg").message()


def test_every_error_is_reported_at_once(contract) -> None:
    report = check(contract, "start", start_data(weight_kg=1000, height_cm="høj", meeting_date="2099-01-01"))
    assert codes(report.errors) == {"weight_kg": "hard_max", "height_cm": "not_int", "meeting_date": "future_date"}


def test_branching_hides_dependent_fields_and_drops_their_values(contract) -> None:
    # A non-smoker is not offered smoking cessation; a value sent anyway is not kept.
    report = check(contract, "start", start_data(smoking="never", smoking_cessation_offered="yes"), complete=True)
    assert report.visible["smoking_cessation_offered"] is False
    assert "smoking_cessation_offered" not in report.cleaned
    assert report.missing == []
    # A smoker must answer it.
    data = start_data(smoking="daily")
    del data["smoking_cessation_offered"]
    report = check(contract, "start", data, complete=True)
    assert codes(report.missing) == {"smoking_cessation_offered": "required"}


def test_branching_across_forms_uses_the_start_registration(contract) -> None:
    start = check(contract, "start", start_data(smoking="never")).cleaned
    end = end_data()
    del end["smoking_cessation_received"]
    report = check(contract, "end", end, context={"start": start}, complete=True)
    assert report.visible["smoking_cessation_received"] is False
    assert report.missing == []


def test_only_the_result_field_of_the_chosen_fitness_test_is_shown(contract) -> None:
    report = check(contract, "start", start_data(fitness_test_type="watt", walk_6min_m=None, ergometer_watt=None),
                   complete=True)
    assert codes(report.missing) == {"ergometer_watt": "required"}


def test_an_invalid_value_in_a_hidden_field_does_not_block(contract) -> None:
    report = check(contract, "start", start_data(fitness_test_type="not_done", walk_6min_m=5000))
    assert report.errors == []


def test_multi_choice_accepts_a_list_or_semicolons(contract) -> None:
    report = check(contract, "course", course_data(diagnosis_groups="heart_failure; pci"))
    assert report.cleaned["diagnosis_groups"] == ["heart_failure", "pci"]
    assert report.visible["nyha_class"] is True  # heart failure asks for the NYHA class
    report = check(contract, "course", course_data(diagnosis_groups=["pci", "bogus"]))
    assert codes(report.errors) == {"diagnosis_groups": "not_in_codelist"}


def test_cross_field_rules(contract) -> None:
    start = check(contract, "start", start_data()).cleaned
    report = check(contract, "end", end_data(meeting_date="16-02-2025"), context={"start": start})
    assert codes(report.errors) == {"meeting_date": "end_not_before_start"}
    assert "afslutning" in report.errors[0].message("da").lower()

    report = check(contract, "end", end_data(training_sessions_attended=25), context={"start": start})
    assert codes(report.errors) == {"training_sessions_attended": "attended_not_above_planned"}

    report = check(contract, "start", start_data(bp_systolic=80, bp_diastolic=80))
    assert codes(report.errors) == {"bp_systolic": "systolic_above_diastolic"}

    report = check(contract, "course", course_data(referral_date="2025-01-01", index_event_date="2025-01-27"))
    assert codes(report.errors) == {"referral_date": "referral_not_before_index_event"}


def test_a_rule_is_checked_from_the_other_side_too(contract) -> None:
    end = check(contract, "end", end_data()).cleaned
    report = check(contract, "start", start_data(meeting_date="2025-06-01"), context={"end": end})
    assert codes(report.errors) == {"meeting_date": "end_not_before_start"}


def test_rules_wait_for_both_values(contract) -> None:
    report = check(contract, "end", end_data(training_sessions_planned="UNK"))
    assert report.errors == []


def test_a_draft_need_not_be_complete(contract) -> None:
    report = check(contract, "start", {"meeting_date": "17-02-2025", "weight_kg": 80})
    assert report.ok and report.errors == []
    assert report.missing == []
    assert "smoking" in missing_required(contract, "start", report.cleaned)


def test_derived_values_sent_by_a_client_are_ignored_and_recomputed(contract) -> None:
    report = check(contract, "start", start_data(bmi=99.9))
    assert report.cleaned["bmi"] == 27.9
