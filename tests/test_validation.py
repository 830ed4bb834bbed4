"""Field validation: types, hard and soft limits, unknown, branching, cross-field rules, completeness;
numbers, dates and text that are refused rather than guessed; missing reasons; rules that warn."""
from __future__ import annotations

import datetime as dt

import pytest

from hjertekom_core.validation import EARLIEST_DATE, missing_required, validate_form

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
    ("bp_systolic", "120.5", "int_decimals"),
    ("bp_systolic", "høj", "not_int"),
    ("meeting_date", "31-02-2025", "not_date"),
    ("meeting_date", "2027-01-01", "future_date"),
    ("meeting_date", "01-01-2027", "future_date"),
    ("smoking", "chain", "not_in_codelist"),
    ("hads_01", 4, "not_in_codelist"),
    ("weight_kg", 400, "hard_max"),
    ("height_cm", 90, "hard_min"),
    ("height_cm", "UNK", "missing_not_allowed"),
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


# --- numbers: what is refused rather than guessed ---------------------------------------------------

@pytest.mark.parametrize(("field", "typed", "code"), [
    ("weight_kg", "85,55", "too_many_decimals"),     # was stored as 85,5 without a word
    ("weight_kg", "85.55", "too_many_decimals"),
    ("weight_kg", 85.55, "too_many_decimals"),       # a Python or spreadsheet float as well
    ("weight_kg", "1e2", "number_exponent"),         # was accepted as 100
    ("height_cm", "1E2", "number_exponent"),
    ("weight_kg", "8 5", "number_space"),            # was accepted as 85
    ("weight_kg", "85\u00a05", "number_space"),      # a no-break space from a copied number
    ("height_cm", "1 78", "number_space"),
    ("weight_kg", "1.250,5", "number_grouped"),
    ("weight_kg", "1,250.5", "number_grouped"),
    ("weight_kg", "1.250", "number_ambiguous"),      # 1250 or 1,25?
    ("height_cm", "1.780", "number_ambiguous"),
    ("height_cm", "178,0", "int_decimals"),          # a whole-number field takes no decimal mark
    ("height_cm", 178.5, "int_decimals"),
    ("weight_kg", "NaN", "not_decimal"),
    ("weight_kg", "inf", "not_decimal"),
    ("weight_kg", float("nan"), "not_decimal"),
    ("weight_kg", float("inf"), "not_decimal"),
    ("weight_kg", "\u0668\u0665", "not_decimal"),     # Arabic-Indic digits: not what the field shows
    ("height_cm", "\uff11\uff17\uff18", "not_int"),   # full-width digits
    ("weight_kg", "1" * 40, "not_decimal"),
    ("height_cm", 10**20, "number_too_large"),
    ("height_cm", "9" * 25, "number_too_large"),
    ("weight_kg", [85], "not_decimal"),
    ("weight_kg", True, "not_decimal"),
])
def test_numbers_that_would_be_guessed_are_refused_with_the_reason(contract, field: str, typed: object,
                                                                    code: str) -> None:
    report = check(contract, "start", start_data(**{field: typed}))
    assert codes(report.errors) == {field: code}
    assert field not in report.cleaned
    label = contract.form("start").field(field).label
    for lang in ("da", "en"):
        text = report.errors[0].message(lang)
        assert text.startswith(label.get(lang) + ":") and "{" not in text, text


@pytest.mark.parametrize(("field", "typed", "stored"), [
    ("weight_kg", "85,5", 85.5), ("weight_kg", "85.5", 85.5), ("weight_kg", " 85,5 ", 85.5),
    ("weight_kg", "85,50", 85.5),    # a trailing zero changes nothing
    ("weight_kg", "85", 85.0), ("weight_kg", 85, 85.0), ("weight_kg", 85.5, 85.5), ("weight_kg", "085,5", 85.5),
    ("ldl", ",5", 0.5), ("ldl", "0,200", 0.2),   # a leading 0 cannot be a thousands group
    ("height_cm", "+178", 178), ("height_cm", 178.0, 178), ("height_cm", "1780", None),
])
def test_numbers_people_write_are_kept_exactly(contract, field: str, typed: object, stored: object) -> None:
    report = check(contract, "start", start_data(**{field: typed}))
    if stored is None:   # 1780 cm parses, and then meets the hard limit
        assert codes(report.errors) == {field: "hard_max"}
        return
    assert report.errors == [] and report.cleaned[field] == stored
    assert type(report.cleaned[field]) is type(stored)


def test_too_many_decimals_says_how_many_the_field_takes(contract) -> None:
    report = check(contract, "start", start_data(weight_kg="85,55"))
    assert report.errors[0].message("da") == "Vægt: «85,55» har for mange decimaler. Højst 1 decimal. Ret værdien."
    assert report.errors[0].message("en") == "Weight: «85,55» has too many decimals. At most 1 decimal. Correct the value."


def test_an_ambiguous_thousands_separator_names_both_readings(contract) -> None:
    report = check(contract, "start", start_data(weight_kg="1.250"))
    da = report.errors[0].message("da")
    assert "1250" in da and "1,25" in da
    assert "1.25" in report.errors[0].message("en")


def test_negative_numbers_may_use_the_typographic_minus(contract) -> None:
    field = contract.form("start").field("weight_kg")
    assert field.hard.min > 0   # so check the parse itself through the limit message
    report = check(contract, "start", start_data(weight_kg="\u221285,5"))
    assert codes(report.errors) == {"weight_kg": "hard_min"}
    assert report.errors[0].message("da").startswith("Vægt: -85,5 kg er under den laveste mulige værdi")


# --- dates and text -------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "code"), [
    ("2025-02-30", "not_date"), ("30-02-2025", "not_date"), ("0000-01-01", "not_date"), ("2025-13-01", "not_date"),
    ("2025-02-17garbage", "not_date"),   # was taken as 2025-02-17, the rest dropped without a word
    ("20250217", "not_date"), ("17-02-25", "not_date"), ("2025-W07-1", "not_date"),
    ("0025-02-17", "date_too_early"), ("31-12-1899", "date_too_early"),
    ("9999-12-31", "future_date"), (dt.date(2026, 11, 26), "future_date"),
    (20250217, "not_date"), (["2025-02-17"], "not_date"),
])
def test_impossible_dates_are_refused(contract, typed: object, code: str) -> None:
    report = check(contract, "start", start_data(meeting_date=typed))
    assert codes(report.errors) == {"meeting_date": code}


def test_a_date_before_1900_says_the_earliest_date(contract) -> None:
    report = check(contract, "start", start_data(meeting_date="31-12-1899"))
    assert report.errors[0].message("da") == (
        f"Dato for afklarende samtale: datoen 31-12-1899 ligger før {EARLIEST_DATE:%d-%m-%Y}. Ret datoen.")


@pytest.mark.parametrize(("typed", "stored"), [
    ("17-02-2025", "2025-02-17"), ("17.02.2025", "2025-02-17"), ("17/2/2025", "2025-02-17"),
    ("2025-02-17", "2025-02-17"), ("2025-02-17 00:00:00", "2025-02-17"), ("2025-02-17T10:30", "2025-02-17"),
    (dt.date(2025, 2, 17), "2025-02-17"), (dt.datetime(2025, 2, 17, 9, 0), "2025-02-17"),
])
def test_dates_people_write_are_kept(contract, typed: object, stored: str) -> None:
    report = check(contract, "start", start_data(meeting_date=typed))
    assert report.errors == [] and report.cleaned["meeting_date"] == stored


@pytest.mark.parametrize(("typed", "code"), [
    ("Ring til borgeren\x00", "text_characters"), ("\ud800", "text_characters"), ("a\x1bb", "text_characters"),
    (["a note"], "not_text"), ({"a": 1}, "not_text"), (True, "not_text"), ("x" * 2001, "too_long"),
])
def test_text_that_cannot_be_kept_faithfully_is_refused(contract, typed: object, code: str) -> None:
    report = check(contract, "course", course_data(note=typed))
    assert codes(report.errors) == {"note": code}


def test_text_keeps_line_breaks_and_a_word_that_reads_like_a_reason(contract) -> None:
    report = check(contract, "course", course_data(note="NA"))
    assert report.cleaned["note"] == "NA"   # free text has no missing reasons: taken as written
    report = check(contract, "course", course_data(note="Linje 1\nLinje 2\tmed tab"))
    assert report.cleaned["note"] == "Linje 1\nLinje 2\tmed tab"


@pytest.mark.parametrize("typed", [12, 4.5, None, [], {"code": "pci"}, ["pci", ["nested"]]])
def test_odd_python_values_in_coded_fields_are_errors_not_crashes(contract, typed: object) -> None:
    for field, form, make in (("diagnosis_groups", "course", course_data), ("smoking", "start", start_data),
                              ("hads_01", "start", start_data)):
        report = check(contract, form, make(**{field: typed}))
        assert set(codes(report.errors)) <= {field}, (field, typed)


def test_a_multi_choice_of_only_separators_is_blank(contract) -> None:
    report = check(contract, "course", course_data(diagnosis_groups=" ; | "), complete=True)
    assert "diagnosis_groups" not in report.cleaned
    assert codes(report.missing) == {"diagnosis_groups": "required"}


# --- missing reasons ------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "stored"), [
    ("UNK", "UNK"), ("uoplyst", "UNK"), ("Ukendt", "UNK"), ("NA", "NA"), ("Ikke relevant", "NA"),
    ("DECL", "DECL"), ("Borgeren ønskede ikke", "DECL"), ("declined", "DECL"), (" decl ", "DECL"),
])
def test_a_declared_missing_reason_is_stored_as_its_code_and_is_an_answer(contract, typed: str, stored: str) -> None:
    report = check(contract, "start", start_data(weight_kg=typed), complete=True)
    assert report.errors == [] and report.missing == []
    assert report.cleaned["weight_kg"] == stored
    assert "bmi" not in report.cleaned   # no score from a missing weight


def test_a_reason_the_field_does_not_declare_is_refused_naming_the_ones_it_does(contract) -> None:
    report = check(contract, "start", start_data(ldl="Borgeren ønskede ikke"))
    assert codes(report.errors) == {"ldl": "missing_not_allowed"}
    assert report.errors[0].message("da") == ("LDL-kolesterol: 'Borgeren ønskede ikke' kan ikke vælges her. "
                                              "Udfyld feltet, eller vælg hvorfor svaret mangler (Uoplyst, Ikke relevant).")
    report = check(contract, "start", start_data(height_cm="uoplyst"))
    assert report.errors[0].message("da") == "Højde: 'Uoplyst' kan ikke vælges her. Udfyld feltet med en værdi."


def test_a_code_that_reads_like_a_reason_stays_a_code(contract) -> None:
    report = check(contract, "start", start_data(hads_status="declined"))
    assert report.errors == [] and report.cleaned["hads_status"] == "declined"


def test_the_required_message_offers_only_the_reasons_the_field_takes(contract) -> None:
    data = start_data()
    for name in ("height_cm", "weight_kg", "smoking"):
        del data[name]
    report = check(contract, "start", data, complete=True)
    message = {i.field: i.message("da") for i in report.missing}
    assert "Uoplyst" not in message["height_cm"]                     # Højde has no missing reason
    assert message["height_cm"] == "Højde mangler. Udfyld feltet, før skemaet kan markeres som færdigt."
    assert "(Uoplyst, Ikke relevant, Borgeren ønskede ikke)" in message["weight_kg"]
    assert "vælg 'Uoplyst'" in message["smoking"]                     # its code list's own Uoplyst
    assert {i.code for i in report.missing} == {"required"}


def test_every_reason_counts_as_unknown_in_scores(contract) -> None:
    items = [2, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    items[1] = "UNK"   # one depression item unanswered: imputed from the other six
    data = start_data(**{f"hads_{i:02d}": v for i, v in enumerate(items, start=1)})
    assert check(contract, "start", data).cleaned["hads_depression"] == 8
    end = check(contract, "end", end_data(weight_kg="NA"), context={"start": check(contract, "start", start_data()).cleaned})
    assert end.errors == [] and "bmi" not in end.cleaned


def test_a_yes_no_condition_is_not_decided_by_a_missing_reason() -> None:
    from hjertekom_core.branching import holds
    from hjertekom_core.contract.model import Condition, Ref

    cond = Condition("is_true", Ref(None, "consent"), False)
    assert holds(cond, lambda ref: False) is True
    for reason in ("UNK", "NA", "DECL", None):
        assert holds(cond, lambda ref, r=reason: r) is False


# --- rules that warn ------------------------------------------------------------------------------

def test_a_dietitian_without_a_diet_offer_is_a_warning_to_confirm(contract) -> None:
    start = check(contract, "start", start_data(diet_offered="no")).cleaned
    report = check(contract, "end", end_data(diet_dietitian_received="yes"), context={"start": start})
    assert report.errors == []
    assert codes(report.warnings) == {"diet_dietitian_received": "dietitian_without_diet_offer"}
    assert report.warnings[0].severity == "warning"
    assert "kostvejledning blev ikke tilbudt" in report.warnings[0].message("da")
    assert report.cleaned["diet_dietitian_received"] == "yes"   # kept: saved once confirmed


def test_the_dietitian_rule_is_checked_from_the_start_form_too(contract) -> None:
    end = check(contract, "end", end_data(diet_dietitian_received="yes")).cleaned
    report = check(contract, "start", start_data(diet_offered="no"), context={"end": end})
    assert codes(report.warnings) == {"diet_offered": "dietitian_without_diet_offer"}


@pytest.mark.parametrize(("offered", "received"), [("yes", "yes"), ("UNK", "yes"), ("no", "no"), ("no", "UNK")])
def test_the_dietitian_rule_is_quiet_otherwise(contract, offered: str, received: str) -> None:
    start = check(contract, "start", start_data(diet_offered=offered)).cleaned
    report = check(contract, "end", end_data(diet_dietitian_received=received), context={"start": start})
    assert report.warnings == [] and report.errors == []
