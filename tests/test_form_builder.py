"""The entry forms and feedback pages built from the real contract, without a browser or a kernel.

ipywidgets objects are created and their values set in plain Python; setting ``input.value`` is
exactly what the front end does when a person leaves a text field (continuous_update=False) or
makes a choice, so the observers run as they do in Voilà.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import pytest

from hjertekom_core.contract import UNKNOWN, Field, Text
from hjertekom_core.indicators import RESULT_COLUMNS, STATUS_LABELS
from hjertekom_core.validation import validate_form
from hjertekom_widgets.feedback import citizen_feedback, course_criteria, municipality_feedback
from hjertekom_widgets.field_widgets import (
    REGISTRY,
    BoolFieldWidget,
    ChoiceFieldWidget,
    DerivedFieldWidget,
    FieldWidget,
    Kit,
    MultiChoiceFieldWidget,
    ScaleFieldWidget,
    TextareaFieldWidget,
    TextFieldWidget,
    format_number,
    make_field_widget,
    widget_key,
)
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.text import STRINGS, t

from factories import course_data, end_data, start_data
from indicator_fixtures import per_cell_suppression

TODAY = dt.date(2026, 6, 30)


# --- helpers ---------------------------------------------------------------------------------------

def view(contract: Any, form: str = "start", **kwargs: Any) -> FormView:
    return FormView(contract, form, today=TODAY, **kwargs)


def enter(v: FormView, name: str, value: Any) -> None:
    """What the browser does: the input's value arrives (on blur/Enter, or on a choice)."""
    v.fields[name].input.value = value


def cleaned(contract: Any, form: str, data: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, Any]:
    report = validate_form(contract, form, data, context=context or {}, today=TODAY)
    assert report.ok, report.errors
    return report.cleaned


@pytest.fixture(scope="module")
def course_forms(contract: Any) -> dict[str, dict[str, Any]]:
    """The factories' course, as the store holds it (cleaned, derived scores included)."""
    course = cleaned(contract, "course", course_data())
    start = cleaned(contract, "start", start_data(), {"course": course})
    end = cleaned(contract, "end", end_data(), {"course": course, "start": start})
    return {"course": course, "start": start, "end": end}


def _walk(widget: w.Widget):  # type: ignore[no-untyped-def]
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


# --- one widget per field ----------------------------------------------------------------------------

def _expected(f: Field) -> tuple[type, type]:
    """(FieldWidget class, ipywidget class of its input) the spec asks for."""
    if f.is_derived:
        return DerivedFieldWidget, w.HTML
    if f.type == "int" and f.codelist is not None:
        return (ScaleFieldWidget, w.ToggleButtons) if len(f.codelist.codes) <= 7 else (ChoiceFieldWidget, w.Dropdown)
    return {
        "int": (TextFieldWidget, w.Text), "decimal": (TextFieldWidget, w.Text), "date": (TextFieldWidget, w.Text),
        "text": (TextareaFieldWidget, w.Textarea), "choice": (ChoiceFieldWidget, w.Dropdown),
        "multi_choice": (MultiChoiceFieldWidget, w.VBox), "bool": (BoolFieldWidget, w.Dropdown),
    }[f.type]


def test_every_field_of_the_real_contract_gets_the_right_widget(contract: Any) -> None:
    seen_keys = set()
    for form_name, form in contract.forms.items():
        v = view(contract, form_name)
        assert list(v.fields) == list(form.fields), "one widget per field, in contract order"
        for name, f in form.fields.items():
            fw = v.fields[name]
            cls, input_cls = _expected(f)
            assert type(fw) is cls, f"{form_name}.{name}"
            assert type(fw.input) is input_cls, f"{form_name}.{name}"
            seen_keys.add(widget_key(f))
            if isinstance(fw.input, (w.Text, w.Textarea)):
                assert fw.input.continuous_update is False  # the value arrives when the field is left
            if f.type == "date":
                assert fw.input.placeholder == "dd-mm-åååå"
            if f.type in ("int", "decimal") and f.codelist is None and not f.is_derived:
                assert fw.input.placeholder
            if f.type == "choice":
                assert fw.input.options[0] == ("— vælg —", None)
                assert [code for _, code in fw.input.options[1:]] == list(f.codelist.values)
                assert fw.value is None
            if isinstance(fw, ScaleFieldWidget):
                labels = [label for label, _ in fw.input.options]
                assert labels[:len(f.codelist.codes)] == [c.label.da for c in f.codelist.codes]
                assert ("Uoplyst", UNKNOWN) in fw.input.options if f.allow_unknown else True
            if isinstance(fw, TextFieldWidget):
                reasons = [c.code for c in f.missing_reasons]
                assert (fw.missing is not None) == bool(reasons), f"{form_name}.{name}"
                if fw.missing is not None:
                    assert [code for _, code in fw.missing.options] == ["", *reasons]
                    assert fw.row.children[-1] is fw.missing  # beside the input
    assert seen_keys <= set(REGISTRY)
    assert {"int", "decimal", "date", "text", "choice", "multi_choice", "scale", "derived"} <= seen_keys


def test_sections_are_titled_boxes_in_contract_order_not_accordions(contract: Any) -> None:
    v = view(contract, "start")
    form = contract.form("start")
    boxes = list(v.widget.children[1:])
    assert len(boxes) == len(form.sections)
    for box, section in zip(boxes, form.sections):
        assert isinstance(box, w.VBox)
        assert section.label.da in box.children[0].value
    assert not any(isinstance(x, (w.Accordion, w.Tab, w.Button)) for x in _walk(v.widget))


def test_a_bool_field_is_a_ja_nej_dropdown(contract: Any) -> None:
    f = Field("consent", "bool", Text("Samtykke", "Consent"), "start", "meeting", allow_unknown=True)
    fw = make_field_widget(f)
    assert isinstance(fw, BoolFieldWidget)
    assert list(fw.input.options) == [("— vælg —", None), ("Ja", True), ("Nej", False), ("Uoplyst", UNKNOWN)]
    fw.input.value = False
    assert fw.value is False
    fw.set_value(True)
    assert fw.value is True


def test_labels_units_and_help_are_danish(contract: Any) -> None:
    v = view(contract, "start")
    weight = v.fields["weight_kg"]
    f = contract.form("start").field("weight_kg")
    assert "Vægt" in weight.label.value and f.help.da in weight.label.value
    assert weight.input.tooltip == f.help.da
    assert weight.unit is not None and weight.unit.value == "kg"
    assert weight.row.children[:3] == (weight.label, weight.input, weight.unit)  # the unit after the input
    assert 'title="Skal udfyldes' in weight.label.value  # required mark
    assert "HADS 1 – angst" in v.fields["hads_01"].label.value
    assert "0 – slet ikke / ingen symptomer" in [label for label, _ in v.fields["hads_01"].input.options]
    assert ("Tidligere ryger", "former") in v.fields["smoking"].input.options
    assert ("Uoplyst", UNKNOWN) in v.fields["smoking"].input.options
    assert "Afklarende samtale" in v.widget.children[0].value
    english = FormView(contract, "start", lang="en", today=TODAY)
    assert "Weight" in english.fields["weight_kg"].label.value
    assert english.fields["smoking"].input.options[0] == ("— choose —", None)


def test_every_ui_string_has_danish_and_english() -> None:
    for key, text in STRINGS.items():
        assert text.da.strip() or key == "text_placeholder", key
        assert text.en.strip() or key == "text_placeholder", key


# --- branching ---------------------------------------------------------------------------------------

def test_show_if_hides_and_shows_live(contract: Any) -> None:
    v = view(contract, "start")
    cessation = v.fields["smoking_cessation_offered"]
    assert not cessation.visible  # unanswered: the question waits for an answer
    enter(v, "smoking", "daily")
    assert cessation.visible and cessation.container.layout.display == ""
    enter(v, "smoking_cessation_offered", "yes")
    assert v.data()["smoking_cessation_offered"] == "yes"
    enter(v, "smoking", "never")
    assert not cessation.visible and cessation.container.layout.display == "none"
    assert "smoking_cessation_offered" not in v.data()  # hidden answers are not saved
    enter(v, "smoking", "occasional")
    assert cessation.visible and cessation.value == "yes"  # the answer comes back with the question


def test_fitness_test_type_shows_only_its_result_field(contract: Any) -> None:
    v = view(contract, "start")
    results = ("walk_6min_m", "chair_stand_30s", "ergometer_watt", "kondital")
    assert not any(v.fields[n].visible for n in results)
    enter(v, "fitness_test_type", "watt")
    assert [n for n in results if v.fields[n].visible] == ["ergometer_watt"]
    enter(v, "fitness_test_type", "six_minute_walk")
    assert [n for n in results if v.fields[n].visible] == ["walk_6min_m"]
    enter(v, "fitness_test_type", "not_done")
    assert not any(v.fields[n].visible for n in results)


def test_show_if_on_another_form_uses_the_context(contract: Any, course_forms: dict[str, Any]) -> None:
    context = {"course": course_forms["course"], "start": course_forms["start"]}
    v = view(contract, "end", context=context)
    assert v.fields["smoking_cessation_received"].visible  # start: daily smoker
    assert v.fields["return_to_work"].visible  # start: employed
    never = dict(course_forms["start"], smoking="never")
    v.set_context({**context, "start": never})
    assert not v.fields["smoking_cessation_received"].visible


def test_a_section_whose_fields_are_all_hidden_is_hidden(contract: Any) -> None:
    v = view(contract, "end")
    work = v.sections["work"]  # only return_to_work, shown for the employed or sick-listed at start
    assert work.layout.display == "none"
    v.set_context({"start": {"employment": "sick_leave"}})
    assert work.layout.display == ""


# --- derived scores -------------------------------------------------------------------------------------

def test_hads_scores_and_bands_update_live(contract: Any) -> None:
    v = view(contract, "start")
    assert v.fields["hads_anxiety"].score is None
    assert "beregnes" in v.fields["hads_anxiety"].input.value
    enter(v, "hads_status", "completed")
    items = start_data()
    for i in range(1, 15):
        enter(v, f"hads_{i:02d}", items[f"hads_{i:02d}"])
    assert v.fields["hads_anxiety"].text == "9 – grænsetilfælde"
    assert v.fields["hads_depression"].text == "8 – grænsetilfælde"
    assert "9 – grænsetilfælde" in v.fields["hads_anxiety"].input.value
    enter(v, "hads_01", 3)
    enter(v, "hads_03", 3)
    assert v.fields["hads_anxiety"].text == "12 – sandsynlig angst"
    for i in (2, 4, 6, 8, 10, 12, 14):
        enter(v, f"hads_{i:02d}", 0)
    assert v.fields["hads_depression"].text == "0 – normal"
    enter(v, "hads_02", UNKNOWN)   # one missing item: imputed from the others
    assert v.fields["hads_depression"].score == 0
    enter(v, "hads_04", UNKNOWN)   # two missing: no score
    assert v.fields["hads_depression"].score is None


def test_bmi_and_other_scores_equal_what_will_be_saved(contract: Any) -> None:
    v = view(contract, "start")
    enter(v, "weight_kg", "88,4")
    assert v.fields["bmi"].score is None
    enter(v, "height_cm", "178")
    assert v.fields["bmi"].text == "27,9 kg/m²"
    v.load(cleaned(contract, "start", start_data()))
    saved = validate_form(contract, "start", v.data(), today=TODAY).cleaned
    for name in ("bmi", "hads_anxiety", "hads_depression", "eq5d_index", "who5_score", "heartqol_global"):
        assert v.fields[name].score == saved[name], name
    assert v.fields["eq5d_index"].text == format_number(saved["eq5d_index"], 3)  # 3 decimals
    assert v.fields["eq5d_index"].text.count(",") == 1 and len(v.fields["eq5d_index"].text.split(",")[1]) == 3


def test_fitness_change_is_shown_with_sign_in_per_cent(contract: Any, course_forms: dict[str, Any]) -> None:
    v = view(contract, "end", context={"course": course_forms["course"], "start": course_forms["start"]})
    enter(v, "fitness_test_type", "six_minute_walk")
    enter(v, "walk_6min_m", "483")
    assert v.fields["fitness_change_pct"].text == "+15,0 %"
    enter(v, "walk_6min_m", "378")
    assert v.fields["fitness_change_pct"].text == "\u221210,0 %"
    enter(v, "fitness_test_type", "watt")  # another test than at the start: no change
    assert v.fields["fitness_change_pct"].score is None


# --- messages when a field is left --------------------------------------------------------------------

def test_a_hard_limit_shows_the_danish_error_next_to_the_field(contract: Any) -> None:
    v = view(contract, "start")
    weight = v.fields["weight_kg"]
    enter(v, "weight_kg", "400")
    assert weight.message is not None
    severity, text = weight.message
    assert severity == "error"
    assert text.startswith("Vægt: 400 kg er over den højeste mulige værdi (350 kg)")
    assert len(weight.container.children) == 2  # the message line under the field
    assert "#b00020" in weight.container.children[1].value and "Vægt: 400 kg" in weight.container.children[1].value
    assert v.fields["height_cm"].message is None  # fields not yet reached stay quiet
    enter(v, "weight_kg", "88,4")
    assert weight.message is None and len(weight.container.children) == 1


def test_a_soft_limit_shows_a_warning(contract: Any) -> None:
    v = view(contract, "start")
    enter(v, "weight_kg", "210")
    assert v.fields["weight_kg"].message[0] == "warning"
    assert "usædvanligt højt" in v.fields["weight_kg"].message[1]
    assert "#8a4b00" in v.fields["weight_kg"].container.children[1].value


def test_text_that_is_not_a_number_or_date_is_explained(contract: Any) -> None:
    v = view(contract, "start")
    enter(v, "weight_kg", "abc")
    assert v.fields["weight_kg"].message == ("error", "Vægt: «abc» er ikke et tal. Skriv et tal kg, fx 72,5.")
    enter(v, "meeting_date", "31-02-2025")
    assert "dd-mm-åååå" in v.fields["meeting_date"].message[1]
    enter(v, "meeting_date", "17-02-2025")
    assert v.fields["meeting_date"].message is None


def test_a_cross_field_rule_shows_on_a_visited_field(contract: Any) -> None:
    v = view(contract, "start")
    enter(v, "bp_systolic", "80")
    enter(v, "bp_diastolic", "90")
    assert v.fields["bp_systolic"].message[0] == "error"
    assert "systoliske blodtryk skal være højere" in v.fields["bp_systolic"].message[1]
    enter(v, "bp_diastolic", "70")
    assert v.fields["bp_systolic"].message is None


def test_uoplyst_yields_unk(contract: Any) -> None:
    v = view(contract, "start")
    weight = v.fields["weight_kg"]
    weight.input.value = "88,4"
    weight.missing.value = UNKNOWN
    assert weight.value == UNKNOWN and weight.input.disabled
    assert v.data()["weight_kg"] == UNKNOWN
    weight.missing.value = ""
    assert weight.value == "88,4" and not weight.input.disabled
    weight.set_value(UNKNOWN)
    assert weight.missing.value == UNKNOWN and weight.value == UNKNOWN
    enter(v, "hads_status", "completed")
    enter(v, "hads_05", UNKNOWN)
    assert v.data()["hads_05"] == UNKNOWN
    enter(v, "smoking", UNKNOWN)
    assert v.fields["smoking"].value == UNKNOWN
    assert validate_form(contract, "start", v.data(), today=TODAY).cleaned["weight_kg"] == UNKNOWN


def test_blank_fields_are_left_out_of_data(contract: Any) -> None:
    v = view(contract, "start")
    assert v.data() == {}
    enter(v, "waist_cm", "  ")
    assert v.data() == {}


# --- load and data round trip ----------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["course", "start", "end"])
def test_data_round_trips_through_load(contract: Any, course_forms: dict[str, Any], form: str) -> None:
    context = {name: data for name, data in course_forms.items() if name != form}
    stored = course_forms[form]
    v = view(contract, form, context=context)
    v.load(stored)
    raw = v.data()
    assert validate_form(contract, form, raw, context=context, today=TODAY).cleaned == stored
    assert not v.dirty
    assert all(fw.message is None for fw in v.fields.values())


def test_loaded_values_are_shown_the_danish_way(contract: Any, course_forms: dict[str, Any]) -> None:
    v = view(contract, "start")
    v.load(course_forms["start"])
    raw = v.data()
    assert raw["meeting_date"] == "17-02-2025"
    assert raw["weight_kg"] == "88,4" and raw["ldl"] == "2,1" and raw["waist_cm"] == "104,0"
    assert raw["bp_systolic"] == "142" and raw["hads_01"] == 2
    c = view(contract, "course")
    c.load(course_forms["course"])
    assert c.data()["diagnosis_groups"] == ["acute_myocardial_infarction", "pci"]
    assert c.data()["municipality"] == 740 and c.fields["municipality"].input.label == "Silkeborg"
    assert c.data()["index_event_date"] == "27-01-2025"


def test_raw_data_loads_too_for_autosave(contract: Any, course_forms: dict[str, Any]) -> None:
    """An autosave holds ``data()`` (typed text, not cleaned values); loading it shows the same."""
    v = view(contract, "start")
    v.load(course_forms["start"])
    enter(v, "weight_kg", "87,9")
    raw = v.data()
    again = view(contract, "start")
    again.load(raw)
    assert again.data() == raw


def test_load_blanks_what_the_stored_data_lacks(contract: Any, course_forms: dict[str, Any]) -> None:
    v = view(contract, "start")
    v.load(course_forms["start"])
    v.load({"weight_kg": 80.0})
    assert v.data() == {"weight_kg": "80,0"}


# --- validate, missing, dirty --------------------------------------------------------------------------

def test_validate_complete_marks_missing_fields_and_summarises_them(contract: Any) -> None:
    v = view(contract, "start")
    enter(v, "weight_kg", "88,4")
    report = v.validate(complete=True)
    assert not report.complete
    assert v.fields["meeting_date"].message[0] == "error"
    assert v.fields["meeting_date"].message[1].startswith("Dato for afklarende samtale mangler")
    assert v.fields["weight_kg"].message is None
    assert v.fields["waist_cm"].message is None  # not required
    summary = v.missing_summary(report)
    lines = summary.split("\n")
    assert lines[0] == f"Mangler, før skemaet kan markeres som færdigt ({len(report.missing)}):"
    assert "• Samtale: Dato for afklarende samtale" in lines
    assert "• Højde og BMI: Højde" in lines
    assert "• Levevaner: Rygning" in lines
    assert "• Målinger: Vægt" not in lines
    assert "<li>Samtale: Dato for afklarende samtale</li>" in v.missing_html(report)
    enter(v, "height_cm", "178")  # answering clears its missing message; others stay
    assert v.fields["height_cm"].message is None
    assert v.fields["meeting_date"].message is not None
    enter(v, "smoking", "never")
    assert v.fields["smoking"].message is None


def test_a_complete_form_has_nothing_missing(contract: Any, course_forms: dict[str, Any]) -> None:
    v = view(contract, "start", context={"course": course_forms["course"]})
    v.load(course_forms["start"])
    report = v.validate(complete=True)
    assert report.complete
    assert v.missing_summary(report) == t("nothing_missing")


def test_validate_clears_old_messages(contract: Any) -> None:
    v = view(contract, "start")
    enter(v, "weight_kg", "400")
    assert v.validate().errors
    v.fields["weight_kg"].set_value(88.4)
    report = v.validate()
    assert report.ok and v.fields["weight_kg"].message is None


def test_dirty_flag_and_change_hook(contract: Any, course_forms: dict[str, Any]) -> None:
    calls: list[str] = []
    v = view(contract, "start", on_change=lambda form, name: calls.append(name))
    v.load(course_forms["start"])
    assert not v.dirty and calls == []  # loading is not a change
    enter(v, "waist_cm", "101,5")
    assert v.dirty and calls == ["waist_cm"]
    enter(v, "waist_cm", "101,5")  # same value: nothing happened
    assert calls == ["waist_cm"]
    v.mark_saved()
    assert not v.dirty


# --- one set of widgets for every course ---------------------------------------------------------------

def test_a_form_reset_for_the_next_course_keeps_nothing_of_the_last(contract: Any,
                                                                   course_forms: dict[str, Any]) -> None:
    """The course view builds a form's widgets once per kernel and resets them for the next course:
    nothing of the citizen before may show through (values, reasons, messages, scores, start values,
    the lock), and the widgets are the same ones (nothing rebuilt)."""
    end = view(contract, "end", context={"course": course_forms["course"], "start": course_forms["start"]})
    end.load(course_forms["end"])
    scores = [name for name, fw in end.fields.items() if fw.field.is_derived and fw.score is not None]
    assert len(scores) >= 5
    widgets_before = {id(x) for x in _walk(end.widget)}
    enter(end, "weight_kg", "999")                       # an error under the field
    end.fields["waist_cm"].missing.value = "NA"          # a missing reason: the input is switched off
    end.set_locked(True)
    assert end.fields["weight_kg"].message is not None
    assert "Start" in end.fields["weight_kg"].reference

    report = end.reset({"course": course_forms["course"]})   # the next citizen's course, no start form yet

    answers = {name: fw.value for name, fw in end.fields.items() if fw.value is not None}
    assert answers == {}
    assert [name for name in scores if end.fields[name].score is not None] == []
    assert [name for name, fw in end.fields.items() if fw.message is not None] == []
    assert not end.locked and not end.dirty and report.errors == []
    assert not end.fields["waist_cm"].input.disabled and end.fields["waist_cm"].missing.value == ""
    assert end.fields["weight_kg"].reference == ""           # no start value of the citizen before
    enter(end, "weight_kg", "81,5")
    assert end.dirty and end.data()["weight_kg"] == "81,5"
    assert {id(x) for x in _walk(end.widget)} <= widgets_before | {id(end.fields["weight_kg"].container)}


# --- feedback ---------------------------------------------------------------------------------------------

def test_citizen_feedback_shows_start_end_and_change(contract: Any, course_forms: dict[str, Any]) -> None:
    page = citizen_feedback(contract, course_forms)
    assert isinstance(page, w.HTML)
    text = page.value
    assert "Dine resultater" in text
    for expected in ("Vægt", "88,4 kg", "85,0 kg", "\u22123,4 kg",          # weight
                     "Taljeomkreds", "104,0 cm", "100,0 cm",
                     "Systolisk blodtryk", "142 mmHg", "132 mmHg", "\u221210 mmHg",
                     "Hvilepuls", "72 /min", "66 /min",
                     "LDL-kolesterol", "2,1 mmol/L", "1,6 mmol/L",
                     "6 minutters gangtest, distance", "420 m", "483 m", "+63 m (+15,0 %)",
                     "HADS angstscore (0-21)", "9 – grænsetilfælde", "6 – normal",
                     "EQ-5D-5L indeks", "Helbred i dag (EQ VAS)", "WHO-5 trivselsscore (0-100)",
                     "HeartQoL global score (0-3)"):
        assert expected in text, expected
    assert "http" not in text  # nothing fetched


def test_citizen_feedback_marks_the_indicators_of_the_factories_course(contract: Any,
                                                                      course_forms: dict[str, Any]) -> None:
    # 21 of 24 sessions (K2), 420 -> 483 m = +15 % (K3), daily smoker -> former (K4), dietitian yes
    # (K5), HADS completed (K6), completed within 180 days (K1)
    assert course_criteria(contract, course_forms) == {k: "met" for k in ("K1", "K2", "K3", "K4", "K5", "K6")}
    text = citizen_feedback(contract, course_forms).value
    for k in ("K1", "K2", "K3", "K4", "K5", "K6"):
        assert f'data-indicator="{k}" data-state="met"' in text
    assert text.count("opfyldt") >= 6 and "ikke opfyldt" not in text


def _course_with(contract: Any, course_forms: dict[str, Any], start: dict[str, Any] | None = None,
                 end: dict[str, Any] | None = None) -> dict[str, Any]:
    s = cleaned(contract, "start", start_data(**(start or {})), {"course": course_forms["course"]})
    e = cleaned(contract, "end", end_data(**(end or {})), {"course": course_forms["course"], "start": s})
    return {"course": course_forms["course"], "start": s, "end": e}


def test_citizen_feedback_marks_criteria_not_met_unknown_and_not_applicable(contract: Any,
                                                                            course_forms: dict[str, Any]) -> None:
    forms = _course_with(contract, course_forms, start={"smoking": "never"},
                         end={"training_sessions_attended": 10, "diet_dietitian_received": "no",
                              "walk_6min_m": 440, "smoking": "never"})
    assert course_criteria(contract, forms) == {"K1": "met", "K2": "not_met", "K3": "not_met",
                                                "K4": "not_applicable", "K5": "not_met", "K6": "met"}
    text = citizen_feedback(contract, forms).value
    assert 'data-indicator="K4" data-state="not_applicable"' in text and "ikke relevant for forløbet" in text
    assert 'data-indicator="K2" data-state="not_met"' in text and "ikke opfyldt" in text
    unknown = _course_with(contract, course_forms, end={"smoking": "UNK", "fitness_test_type": "not_done"})
    criteria = course_criteria(contract, unknown)
    assert criteria["K4"] == "unknown" and criteria["K3"] == "unknown"
    assert "kan ikke afgøres" in citizen_feedback(contract, unknown).value
    watt = _course_with(contract, course_forms, end={"fitness_test_type": "watt", "ergometer_watt": 110})
    assert "forskellig test" in citizen_feedback(contract, watt).value


def test_indicators_wait_until_start_and_end_are_complete(contract: Any, course_forms: dict[str, Any]) -> None:
    # Started a month ago: within the completion limit, so not yet K1's "never ended" either.
    recent = {**course_forms, "start": {**course_forms["start"],
                                        "meeting_date": (dt.date.today() - dt.timedelta(days=30)).isoformat()}}
    draft = citizen_feedback(contract, recent, statuses={"end": "draft"}).value
    assert "Indikatorerne vurderes, når" in draft and "data-indicator" not in draft
    assert "88,4 kg" in draft  # the results are shown all the same
    no_end = {k: v for k, v in recent.items() if k != "end"}
    assert set(course_criteria(contract, no_end).values()) == {"not_applicable"}


def _result_frame() -> pd.DataFrame:
    rows = []
    for ind, (num, den, unk, std, status) in {
        "K1": (6, 8, 0, 0.75, "met"), "K2": (3, 6, 1, np.nan, "no_standard"), "K3": (2, 7, 4, 0.5, "below"),
        "K4": (3, 6, 1, 0.5, "met"), "K5": (5, 8, 1, np.nan, "no_standard"), "K6": (7, 8, 0, 0.9, "not_met"),
    }.items():
        rows.append({"indicator": ind, "level": "municipality", "unit": "740", "unit_name": "Silkeborg",
                     "period": "2025", "numerator": num, "denominator": den, "unknown": unk,
                     "proportion": num / den, "ci_low": 0.1, "ci_high": 0.95, "standard": std, "status": status})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def test_municipality_feedback_renders_k1_to_k6(contract: Any) -> None:
    page = municipality_feedback(_result_frame())
    assert isinstance(page, w.HTML)
    text = page.value
    assert "Silkeborg – 2025" in text
    assert "<b>K1</b> Vedholdenhed" in text and "<b>K6</b> Depressionsscreening" in text
    assert "6 / 8" in text and "75,0 %" in text and "≥ 75,0 %" in text and "10,0–95,0 %" in text
    assert text.index('data-indicator="K1"') < text.index('data-indicator="K2"') < text.index('data-indicator="K6"')
    for status in ("met", "no_standard", "below", "not_met"):
        assert STATUS_LABELS[status].da in text
    hidden = municipality_feedback(per_cell_suppression(_result_frame(), own=(), threshold=5)).value
    assert "&lt; 5 / 6" in hidden and STATUS_LABELS["suppressed"].da in hidden
    assert "Der er ingen indikatorresultater" in municipality_feedback(pd.DataFrame(columns=RESULT_COLUMNS)).value


def test_kit_is_shared_by_the_fields_of_a_form(contract: Any) -> None:
    v = view(contract, "start")
    kit = v.kit
    assert isinstance(kit, Kit)
    assert all(fw.kit is kit and fw.label.layout is kit.label_layout for fw in v.fields.values())
    assert all(isinstance(fw, FieldWidget) for fw in v.fields.values())


# --- missing reasons and number messages -------------------------------------------------------------

def test_a_measurement_offers_the_reasons_its_field_declares(contract: Any) -> None:
    v = view(contract, "start")
    weight, ldl = v.fields["weight_kg"].missing, v.fields["ldl"].missing
    assert list(weight.options) == [("Nej", ""), ("Uoplyst", "UNK"), ("Ikke relevant", "NA"),
                                    ("Borgeren ønskede ikke", "DECL")]
    assert list(ldl.options) == [("Nej", ""), ("Uoplyst", "UNK"), ("Ikke relevant", "NA")]
    assert v.fields["height_cm"].missing is None   # no missing reason: nothing to choose
    # Visibly "Mangler"; for a screen reader named after its field.
    assert weight.description_allow_html
    assert '<span aria-hidden="true">Mangler</span>' in weight.description
    assert "Vægt: årsag til, at svaret mangler" in weight.description
    assert weight.tooltip == t("missing_tooltip")
    english = FormView(contract, "start", lang="en", today=TODAY).fields["weight_kg"].missing
    assert ("Citizen declined", "DECL") in english.options and "Weight: reason the answer is missing" in \
        english.description


def test_a_chosen_reason_is_the_answer_and_is_shown_again(contract: Any) -> None:
    v = view(contract, "start")
    waist = v.fields["waist_cm"]
    changes: list[str] = []
    v.on_change = lambda _view, name: changes.append(name)
    waist.input.value = "104"
    waist.missing.value = "NA"
    assert changes == ["waist_cm", "waist_cm"]       # choosing a reason is a change like typing
    assert waist.value == "NA" and waist.input.disabled
    assert validate_form(contract, "start", v.data(), today=TODAY).cleaned["waist_cm"] == "NA"
    stored = cleaned(contract, "start", start_data(waist_cm="DECL", weight_kg="Borgeren ønskede ikke"))
    v.load(stored)
    assert (v.fields["waist_cm"].missing.value, v.fields["waist_cm"].input.value) == ("DECL", "")
    assert v.fields["weight_kg"].missing.value == "DECL" and v.fields["weight_kg"].input.disabled
    v.load(cleaned(contract, "start", start_data()))
    assert v.fields["waist_cm"].missing.value == "" and v.fields["waist_cm"].input.value == "104,0"
    assert not v.fields["waist_cm"].input.disabled


def test_a_reason_reads_as_its_label(contract: Any) -> None:
    from hjertekom_widgets.field_widgets import format_value

    weight = contract.form("start").field("weight_kg")
    assert [format_value(weight, code) for code in ("UNK", "NA", "DECL")] == [
        "uoplyst", "ikke relevant", "borgeren ønskede ikke"]
    assert format_value(weight, "NA", "en") == "not applicable"


def test_a_scale_or_yes_no_offers_its_reasons_as_options() -> None:
    from hjertekom_core.contract import Code, CodeList

    reasons = (Code("UNK", Text("Uoplyst", "Unknown")), Code("DECL", Text("Borgeren ønskede ikke", "Citizen declined"),
                                                           Text("Ville ikke svare", "Would not answer")))
    scale = CodeList("item", Text("Punkt", "Item"), tuple(Code(i, Text(str(i), str(i))) for i in range(4)))
    item = Field("item_1", "int", Text("Punkt 1", "Item 1"), "start", "q", codelist=scale, missing=reasons)
    fw = make_field_widget(item)
    assert isinstance(fw, ScaleFieldWidget)
    assert list(fw.input.options)[-2:] == [("Uoplyst", "UNK"), ("Borgeren ønskede ikke", "DECL")]
    assert list(fw.input.tooltips)[-1] == "Ville ikke svare"
    consent = make_field_widget(Field("consent", "bool", Text("Samtykke", "Consent"), "start", "m", missing=reasons))
    assert list(consent.input.options)[-2:] == [("Uoplyst", "UNK"), ("Borgeren ønskede ikke", "DECL")]


@pytest.mark.parametrize(("field", "typed", "shown"), [
    ("weight_kg", "85,55", "Vægt: «85,55» har for mange decimaler. Højst 1 decimal. Ret værdien."),
    ("weight_kg", "1e2", "Vægt: «1e2» er skrevet med eksponent (e). Skriv tallet helt ud, fx 100 i stedet for 1e2."),
    ("weight_kg", "8 5", "Vægt: «8 5» har et mellemrum inde i tallet. Skriv tallet uden mellemrum."),
    ("height_cm", "178,0", "Højde: «178,0» har decimaler, men feltet tager kun hele tal. Skriv et helt tal cm uden "
                           "decimaler."),
])
def test_a_number_that_is_refused_says_why_next_to_the_field(contract: Any, field: str, typed: str,
                                                              shown: str) -> None:
    v = view(contract, "start")
    enter(v, field, typed)
    assert v.fields[field].message == ("error", shown)
    assert field not in v.report.cleaned


def test_the_missing_message_offers_reasons_only_where_the_field_has_them(contract: Any) -> None:
    v = view(contract, "start")
    report = v.validate(complete=True)
    assert v.fields["height_cm"].message == ("error", "Højde mangler. Udfyld feltet, før skemaet kan markeres "
                                                       "som færdigt.")
    assert "(Uoplyst, Ikke relevant, Borgeren ønskede ikke)" in v.fields["weight_kg"].message[1]
    assert {i.code for i in report.missing} == {"required"}
