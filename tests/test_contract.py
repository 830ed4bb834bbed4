"""Contract loading: the shipped contract, broken contracts, and a second programme."""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hjertekom_core.contract import UNKNOWN, ContractRegistry, load_contract
from hjertekom_core.errors import ContractError

from paths import CONTRACTS_DIR


def test_shipped_contract_has_the_three_forms_in_danish_and_english(contract) -> None:
    assert contract.programme == "hjertekom"
    assert list(contract.forms) == ["course", "start", "end"]
    assert contract.form("start").label.da == "Afklarende samtale"
    for form in contract.forms.values():
        for f in form.fields.values():
            assert f.label.da and f.label.en, f"{form.name}.{f.name} lacks a label"


def test_fields_the_indicators_need_exist_with_the_right_types(contract) -> None:
    end, start = contract.form("end").fields, contract.form("start").fields
    assert end["course_status"].codelist.values == ("completed", "dropped_out")
    assert end["training_sessions_planned"].type == "int"
    assert end["training_sessions_attended"].type == "int"
    assert end["diet_dietitian_received"].type == "choice"
    assert "six_minute_walk" in start["fitness_test_type"].codelist and "watt" in end["fitness_test_type"].codelist
    assert start["smoking"].codelist.values == end["smoking"].codelist.values
    assert [f"hads_{i:02d}" in end for i in range(1, 15)] == [True] * 14
    assert end["fitness_change_pct"].derived.function == "fitness_change_pct"


def test_unknown_is_an_explicit_answer_distinct_from_blank(contract) -> None:
    smoking = contract.form("start").field("smoking")
    assert UNKNOWN in smoking.codelist
    assert smoking.codelist.label_of(UNKNOWN) == "Uoplyst"
    assert contract.form("start").field("weight_kg").accepts_unknown()


def test_fields_declare_the_reasons_a_missing_answer_may_have(contract) -> None:
    start = contract.form("start")
    reasons = {name: [c.code for c in start.field(name).missing_reasons]
               for name in ("weight_kg", "waist_cm", "ldl", "alcohol_units_week", "height_cm", "hads_01", "smoking")}
    assert reasons == {"weight_kg": ["UNK", "NA", "DECL"], "waist_cm": ["UNK", "NA", "DECL"], "ldl": ["UNK", "NA"],
                       "alcohol_units_week": ["UNK", "DECL"], "height_cm": [], "hads_01": ["UNK"],  # allow_unknown
                       "smoking": ["UNK"]}                                            # its code list's UNK
    weight = start.field("weight_kg")
    assert [c.label.da for c in weight.missing_reasons] == ["Uoplyst", "Ikke relevant", "Borgeren ønskede ikke"]
    assert weight.allow_unknown and weight.accepts_unknown() and not start.field("height_cm").accepts_unknown()
    assert contract.missing_reasons is not None and contract.missing_reasons.label.da == "Mangler"


def test_a_rule_may_warn_instead_of_refusing(contract) -> None:
    rule = next(r for r in contract.rules if r.name == "dietitian_without_diet_offer")
    assert (rule.kind, rule.severity, rule.values) == ("not_together", "warning", (("yes",), ("no",)))
    assert {r.severity for r in contract.rules if r is not rule} == {"error"}


def test_allow_unknown_keeps_working_without_the_missing_reason_list(contract_copy: Path) -> None:
    """A contract folder from before missing reasons (allow_unknown only, no code list) still loads."""
    def only_allow_unknown(doc: dict) -> None:
        sections = [*doc["blocks"].values(), *(s for f in doc["forms"] for s in f["sections"] if "fields" in s)]
        for field in (f for section in sections for f in section["fields"]):
            if field.pop("missing", None):
                field["allow_unknown"] = True

    _edit(contract_copy, only_allow_unknown)
    (contract_copy / "codelists" / "missing_reason.yaml").unlink()
    registry = ContractRegistry(contract_copy)
    hads = registry["hjertekom"].form("start").field("hads_01")
    assert [(c.code, c.label.da) for c in hads.missing_reasons] == [("UNK", "Uoplyst")]


def test_declared_reasons_need_the_missing_reason_list(contract_copy: Path) -> None:
    (contract_copy / "codelists" / "missing_reason.yaml").unlink()
    with pytest.raises(ContractError, match="missing_reason"):
        ContractRegistry(contract_copy)


def test_municipalities_come_from_the_official_list(contract) -> None:
    municipalities = contract.codelists["municipalities"]
    assert len(municipalities.codes) == 98
    assert municipalities.label_of(740) == "Silkeborg"
    assert municipalities.get(101).attributes["region"] == "Hovedstaden"


# --- broken contracts ----------------------------------------------------------------------------

@pytest.fixture
def contract_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data_contracts"
    shutil.copytree(CONTRACTS_DIR, target)
    return target


def _edit(root: Path, change: Callable[[dict], None]) -> Path:
    path = root / "hjertekom" / "contract.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _field(doc: dict, form: str, name: str) -> dict:
    for f in doc["forms"]:
        if f["name"] == form:
            for s in f["sections"]:
                section = doc["blocks"][s["block"]] if "block" in s else s
                for field in section["fields"]:
                    if field["name"] == name:
                        return field
    raise KeyError(name)


BROKEN = {
    "unknown type": (lambda d: _field(d, "start", "height_cm").update(type="float"), "height_cm", "float"),
    "missing English label": (lambda d: _field(d, "start", "height_cm")["label"].pop("en"), "height_cm", "'en'"),
    "unknown code list": (lambda d: _field(d, "start", "smoking").update(codelist="smokes"), "smoking", "smokes"),
    "show-if on a missing field": (lambda d: _field(d, "start", "walk_6min_m")["show_if"].update(field="nope"),
                                   "walk_6min_m", "nope"),
    "show-if value not in the code list": (
        lambda d: _field(d, "start", "walk_6min_m")["show_if"].update(equals="walking"), "walk_6min_m", "walking"),
    "soft limits outside hard": (lambda d: _field(d, "start", "height_cm").update(soft={"min": 50, "max": 210}),
                                 "height_cm", "soft limits"),
    "derivation unknown": (lambda d: _field(d, "start", "bmi")["derived"].update(function="quetelet"), "bmi", "quetelet"),
    "derived and required": (lambda d: _field(d, "start", "bmi").update(required=True), "bmi", "derived"),
    "rule on a missing field": (lambda d: d["rules"][0].update(fields=["end.meeting_day", "start.meeting_date"]),
                                "rule", "meeting_day"),
    "limits on text": (lambda d: _field(d, "course", "note").update(hard={"max": 3}), "note", "int and decimal"),
    "bad version": (lambda d: d.update(version="one"), "version", "does not match"),
    "unknown missing reason": (lambda d: _field(d, "start", "weight_kg").update(missing=["UNK", "GONE"]),
                               "weight_kg", "GONE"),
    "missing reasons on a choice": (lambda d: _field(d, "start", "smoking").update(missing=["NA"]),
                                    "smoking", "code of its code list"),
    "allow_unknown and missing": (lambda d: _field(d, "start", "height_cm").update(allow_unknown=True,
                                                                                     missing=["UNK"]),
                                  "height_cm", "not both"),
    "missing reason on a derived field": (lambda d: _field(d, "start", "bmi").update(missing=["UNK"]),
                                          "bmi", "computed"),
    "rule severity unknown": (lambda d: d["rules"][0].update(severity="maybe"), "rule", "maybe"),
    "not_together without values": (lambda d: d["rules"][-1].pop("values"), "rule", "values"),
    "not_together value not a code": (lambda d: d["rules"][-1].update(values=["yes", "perhaps"]),
                                      "dietitian_without_diet_offer", "perhaps"),
    "not_together on dates": (lambda d: d["rules"][-1].update(fields=["end.meeting_date", "start.meeting_date"]),
                              "dietitian_without_diet_offer", "not_together needs"),
    "values on a comparison": (lambda d: d["rules"][0].update(values=["a", "b"]), "rule", "values"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_contract_fails_at_load_naming_file_field_and_reason(contract_copy: Path, name: str) -> None:
    change, where, reason = BROKEN[name]
    path = _edit(contract_copy, change)
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    err = caught.value
    assert err.file == str(path)
    assert where in err.where or where in err.reason
    assert reason in err.reason or reason in err.where
    assert str(path) in str(err)


def test_a_duplicate_field_in_a_form_is_refused(contract_copy: Path) -> None:
    def duplicate(doc: dict) -> None:
        start = next(f for f in doc["forms"] if f["name"] == "start")
        own = next(s for s in start["sections"] if "fields" in s)
        own["fields"].append(dict(own["fields"][0]))

    with pytest.raises(ContractError, match="used twice"):
        load_contract(_edit(contract_copy, duplicate))


def test_invalid_yaml_names_the_line(contract_copy: Path) -> None:
    path = contract_copy / "hjertekom" / "contract.yaml"
    path.write_text("programme: hjertekom\nforms: [\n  - name: x\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"line \d+"):
        load_contract(path)


def test_a_broken_code_list_names_its_file(contract_copy: Path) -> None:
    path = contract_copy / "codelists" / "smoking.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["codes"].append(dict(doc["codes"][0]))
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        ContractRegistry(contract_copy)
    assert caught.value.file == str(path) and "twice" in caught.value.reason


# --- a second programme by a contract file alone -------------------------------------------------

#: A made-up second programme (MoEva itself ships in data_contracts/: test_moeva_programme.py).
SECOND = """
programme: trivsel
version: "0.1.0"
label: {da: "Trivsel", en: "Wellbeing"}
forms:
  - name: course
    label: {da: "Forløb", en: "Course"}
    date_field: referral_date
    sections:
      - name: referral
        label: {da: "Henvisning", en: "Referral"}
        fields:
          - {name: municipality, type: int, codelist: municipalities, required: true,
             label: {da: "Kommune", en: "Municipality"}}
          - {name: referral_date, type: date, required: true, label: {da: "Henvisningsdato", en: "Referral date"}}
  - name: baseline
    label: {da: "Første måling", en: "Baseline"}
    sections:
      - name: wellbeing
        label: {da: "Trivsel", en: "Wellbeing"}
        fields:
          - {name: who5_1, type: int, codelist: who5_item, required: true, label: {da: "WHO-5 1", en: "WHO-5 1"}}
          - {name: who5_2, type: int, codelist: who5_item, required: true, label: {da: "WHO-5 2", en: "WHO-5 2"}}
          - {name: who5_3, type: int, codelist: who5_item, required: true, label: {da: "WHO-5 3", en: "WHO-5 3"}}
          - {name: who5_4, type: int, codelist: who5_item, required: true, label: {da: "WHO-5 4", en: "WHO-5 4"}}
          - {name: who5_5, type: int, codelist: who5_item, required: true, label: {da: "WHO-5 5", en: "WHO-5 5"}}
          - name: who5_score
            type: int
            label: {da: "WHO-5 trivselsscore", en: "WHO-5 wellbeing score"}
            derived: {function: who5, inputs: {items: [who5_1, who5_2, who5_3, who5_4, who5_5]}}
"""


def test_a_second_programme_is_added_by_a_contract_file_alone(contract_copy: Path) -> None:
    (contract_copy / "trivsel").mkdir()
    (contract_copy / "trivsel" / "contract.yaml").write_text(SECOND, encoding="utf-8")
    registry = ContractRegistry(contract_copy, programmes=["hjertekom", "trivsel"])
    assert registry.programmes == ["hjertekom", "trivsel"]
    second = registry["trivsel"]
    assert list(second.forms) == ["course", "baseline"]
    assert second.form("baseline").field("who5_score").is_derived


def test_a_schema_error_is_placed_in_the_words_of_the_file() -> None:
    """Data contracts, code lists and export contracts name a place the same way."""
    from hjertekom_core.contract.schema_paths import describe_path

    contract = {"forms": [{"name": "course"}, {"name": "start", "sections": [
        {"name": "measures", "fields": [{"name": "weight_kg", "type": "decimal"}]}]}]}
    assert describe_path(contract, ["forms", 1, "sections", 0, "fields", 0, "type"]) == \
        "form start, section measures, field weight_kg, type"
    assert describe_path({"codes": [{"code": "a"}, {"code": "b"}]}, ["codes", 1, "label"]) == "item 2, label"
    assert describe_path({"columns": [{"name": "end_date"}]}, ["columns", 0, "type"]) == "column end_date, type"
    assert describe_path({"columns": [{}]}, ["columns", 0]) == "item 1"
    assert describe_path({"version": "x"}, ["version"]) == "version"
    assert describe_path({}, []) == "top level"
    assert describe_path({"forms": []}, ["forms", 3, "name"]) == "forms/3/name"  # a place the document lacks


# --- the schema check a kernel may skip ------------------------------------------------------------

def _add_unknown_key(doc: dict) -> None:
    """A mistake only the JSON Schema catches: a key no field may have."""
    start = next(f for f in doc["forms"] if f["name"] == "start")
    next(s for s in start["sections"] if "fields" in s)["fields"][0]["colour"] = "red"


def test_a_kernel_skips_the_schema_check_only_for_the_files_its_server_checked(contract_copy: Path) -> None:
    checked = ContractRegistry(contract_copy)        # what `hjertekom serve` does before its kernels start
    same = ContractRegistry(contract_copy, checked_digest=checked.digest)
    assert same["hjertekom"].form("start").field("weight_kg").unit == "kg"
    _edit(contract_copy, _add_unknown_key)           # changed since the server checked it
    with pytest.raises(ContractError, match="colour"):
        ContractRegistry(contract_copy, checked_digest=checked.digest)
    with pytest.raises(ContractError, match="colour"):
        ContractRegistry(contract_copy)


def test_a_checked_registry_loads_without_importing_jsonschema(contract_copy: Path) -> None:
    """The point of skipping: about 20 MB less in every entry-form kernel."""
    digest = ContractRegistry(contract_copy).digest
    code = ("import sys; from hjertekom_core.contract import ContractRegistry; "
            f"r = ContractRegistry({str(contract_copy)!r}, checked_digest={digest!r}); "
            "print(len(r['hjertekom'].forms), 'jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["3", "False"]
    code = code.replace(f"checked_digest={digest!r}", "checked_digest=None")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["3", "True"]


def test_a_folder_loaded_again_is_reused_until_a_file_of_it_changes(tmp_path: Path) -> None:
    """The loader keeps what it loaded (entry kernels forked from a zygote find the contracts
    parsed); an edited contract file must be read again, never served from what was kept."""
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    first = ContractRegistry(folder, programmes=["hjertekom"])
    again = ContractRegistry(folder, programmes=["hjertekom"])
    assert again["hjertekom"] is first["hjertekom"]
    path = folder / "hjertekom" / "contract.yaml"
    old, new = 'label: {da: "Vægt", en: "Weight"}', 'label: {da: "Vægt (ændret)", en: "Weight"}'
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def weight_labels(registry: ContractRegistry) -> set[str]:
        return {f.label.da for form in registry["hjertekom"].forms.values() for f in form.fields.values()
                if f.name == "weight_kg"}

    assert "Vægt (ændret)" in weight_labels(ContractRegistry(folder, programmes=["hjertekom"]))
    assert "Vægt (ændret)" not in weight_labels(first)   # what was handed out earlier is unchanged
