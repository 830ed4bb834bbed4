"""Missing reasons (uoplyst, ikke relevant, borgeren ønskede ikke) from entry to every consumer, and
the rule that warns about a dietitian without a diet offer, through the real Service and store.

* the store keeps the reason's code; a snapshot has the value NULL, ``<field>_unknown`` true (every
  reason is unknown to indicators and transfers) and ``<field>_missing`` with the code;
* completeness counts every reason with "uoplyst" (an answer, but no value);
* the import takes the reason's code or its words, refuses one the field does not declare;
* the citizen's course report names the reason instead of failing on it;
* a warning rule asks for confirmation and writes nothing until it is given.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hjertekom_core.contract import ContractRegistry
from hjertekom_core.errors import ConfirmationRequired, ImportFailed
from hjertekom_core.importer import import_file
from hjertekom_core.indicators.completeness import field_completeness
from hjertekom_core.indicators.live import live_connection
from hjertekom_core.reports.citizen import course_report_data
from hjertekom_core.snapshot.layout import field_columns
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, registrations

from indicator_fixtures import OWN, add_course, service


def test_the_layout_has_a_reason_column_where_a_field_takes_more_than_uoplyst(contract) -> None:
    def names(form: str, field: str) -> list[str]:
        return [c.name for c in field_columns("hjertekom", contract.form(form).field(field), False)]

    assert names("start", "weight_kg") == ["weight_kg", "weight_kg_unknown", "weight_kg_missing"]
    assert names("start", "ldl") == ["ldl", "ldl_unknown", "ldl_missing"]          # UNK, NA
    assert names("start", "hads_01") == ["hads_01", "hads_01_unknown"]              # uoplyst only
    assert names("start", "height_cm") == ["height_cm"]                             # no reason at all
    assert names("start", "smoking") == ["smoking", "smoking_label"]                # UNK is a code


def test_a_snapshot_keeps_the_reason_and_counts_it_as_unknown(sqlite_store: Store, contracts: ContractRegistry) -> None:
    svc = service(sqlite_store, contracts)
    made = add_course(svc, 1, start_changes={"weight_kg": "Borgeren ønskede ikke", "waist_cm": "NA", "ldl": "UNK"},
                      end_changes={"weight_kg": "uoplyst", "waist_cm": None})
    stored = json.loads(_latest(sqlite_store, made.course_id, "start"))
    assert (stored["weight_kg"], stored["waist_cm"], stored["ldl"]) == ("DECL", "NA", "UNK")
    assert "bmi" not in stored

    with live_connection(sqlite_store, contracts) as con:
        start = con.execute("SELECT weight_kg, weight_kg_unknown, weight_kg_missing, waist_cm, waist_cm_unknown, "
                            "waist_cm_missing, ldl, ldl_unknown, ldl_missing FROM hjertekom_start").fetchall()
        end = con.execute("SELECT weight_kg, weight_kg_unknown, weight_kg_missing, waist_cm, waist_cm_unknown, "
                          "waist_cm_missing FROM hjertekom_end").fetchall()
        completeness = field_completeness(con, contracts)
    assert start == [(None, True, "DECL", None, True, "NA", None, True, "UNK")]
    # uoplyst at the end; the waist left blank there is not answered: no flag, no reason.
    assert end == [(None, True, "UNK", None, False, None)]

    def counted(form: str, field: str) -> tuple[int, int, int]:
        row = completeness[(completeness["form"] == form) & (completeness["field"] == field)].iloc[0]
        return int(row["shown"]), int(row["answered"]), int(row["unknown"])

    # Required fields only: declined and uoplyst both answered, both counted with "uoplyst".
    assert counted("start", "weight_kg") == counted("end", "weight_kg") == (1, 1, 1)


def _latest(store: Store, course_id: int, form: str) -> str:
    with store.read() as conn:
        return conn.execute(select(registrations.c.data).where(
            registrations.c.course_id == course_id, registrations.c.form == form)
            .order_by(registrations.c.revision.desc()).limit(1)).scalar_one()


def test_the_course_report_names_the_reason(sqlite_store: Store, contracts: ContractRegistry) -> None:
    svc = service(sqlite_store, contracts)
    made = add_course(svc, 2, start_changes={"weight_kg": "DECL", "waist_cm": "NA"}, end_changes={"weight_kg": "UNK"})
    measures = json.dumps(course_report_data(svc, made.course_id)["measures"], ensure_ascii=False)
    assert "borgeren ønskede ikke" in measures and "ikke relevant" in measures and "uoplyst" in measures


def _import_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(header)
        writer.writerows([r.get(h, "") for h in header] for r in rows)
    return path


def _row(cpr: str, **cells: str) -> dict[str, str]:
    return {"cpr": cpr, "name": "Inge Import", "course.municipality": str(OWN), "course.referral_date": "03-02-2025",
            "course.diagnosis_groups": "acute_myocardial_infarction", "start.meeting_date": "17-02-2025", **cells}


def test_the_import_takes_a_reason_by_code_or_words(sqlite_store: Store, contracts: ContractRegistry,
                                                    tmp_path: Path) -> None:
    svc = service(sqlite_store, contracts)
    path = _import_csv(tmp_path / "reasons.csv", [_row("0101701235", **{
        "start.weight_kg": "Borgeren ønskede ikke", "start.waist_cm": "ikke relevant", "start.ldl": "Uoplyst",
        "start.bp_systolic": "decl", "start.bp_diastolic": "DECL"})])
    result = import_file(svc, path)
    assert result.courses == 1
    with sqlite_store.read() as conn:
        data = json.loads(conn.execute(select(registrations.c.data).where(registrations.c.form == "start")).scalar_one())
    assert {k: data[k] for k in ("weight_kg", "waist_cm", "ldl", "bp_systolic", "bp_diastolic")} == {
        "weight_kg": "DECL", "waist_cm": "NA", "ldl": "UNK", "bp_systolic": "DECL", "bp_diastolic": "DECL"}


def test_the_import_refuses_a_reason_the_field_does_not_take(sqlite_store: Store, contracts: ContractRegistry,
                                                             tmp_path: Path) -> None:
    svc = service(sqlite_store, contracts)
    path = _import_csv(tmp_path / "reasons.csv", [_row("0101701235", **{"start.height_cm": "uoplyst",
                                                                         "start.ldl": "borgeren ønskede ikke"})])
    with pytest.raises(ImportFailed) as caught:
        import_file(svc, path)
    found = {e.column: e.message for e in caught.value.errors}
    assert found == {
        "start.height_cm": "Højde: 'Uoplyst' kan ikke vælges her. Udfyld feltet med en værdi.",
        "start.ldl": ("LDL-kolesterol: 'Borgeren ønskede ikke' kan ikke vælges her. Udfyld feltet, eller vælg "
                      "hvorfor svaret mangler (Uoplyst, Ikke relevant)."),
    }
    with sqlite_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(registrations)).scalar_one() == 0


def test_a_dietitian_without_a_diet_offer_must_be_confirmed(sqlite_store: Store, contracts: ContractRegistry) -> None:
    svc = service(sqlite_store, contracts)
    made = add_course(svc, 3, start_changes={"diet_offered": "no"}, end=None)
    end = {**_end(), "diet_dietitian_received": "yes"}

    def rows() -> tuple[int, int]:
        with sqlite_store.read() as conn:
            return (conn.execute(select(func.count()).select_from(registrations)).scalar_one(),
                    conn.execute(select(func.count()).select_from(audit_log)).scalar_one())

    before = rows()
    with pytest.raises(ConfirmationRequired) as caught:
        svc.save(made.course_id, "end", end, 0, complete=True)
    assert [(w.field, w.code) for w in caught.value.warnings] == [
        ("diet_dietitian_received", "dietitian_without_diet_offer")]
    assert "Kontrollér begge felter, og bekræft" in caught.value.warnings[0].message("da")
    assert rows() == before, "nothing written before the confirmation"

    saved = svc.save(made.course_id, "end", end, 0, complete=True, confirm=True)
    assert (saved.status, saved.data["diet_dietitian_received"]) == ("complete", "yes")
    assert [w.code for w in saved.warnings] == ["dietitian_without_diet_offer"]


def _end() -> dict[str, object]:
    from factories import end_data

    return end_data()
