"""Finding a citizen as a clinician types: a CPR number with a dash, a space or neither; a name in
any word order and case, æ/ø/å typed as ae/oe/aa or o/a, one wrong letter forgiven. Only in the
user's municipalities; the audit log gets the number of hits, never the name or the number."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import select

from hjertekom_core.cpr import InvalidCpr, generate_cpr
from hjertekom_core.name_search import NameQuery, fold, looks_like_number, one_edit_apart, typed_cpr
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log

CPR = generate_cpr(random.Random(2208), birth_date=dt.date(1942, 8, 22), sex="M")


# --- the rules, without a store ---------------------------------------------------------------------------

@pytest.mark.parametrize("typed", [f"{CPR[:6]}-{CPR[6:]}", CPR, f"{CPR[:6]} {CPR[6:]}", f" {CPR[:6]}  {CPR[6:]} ",
                                   f"{CPR[:6]} - {CPR[6:]}"])
def test_a_cpr_number_is_read_with_a_dash_a_space_or_neither(typed: str) -> None:
    assert looks_like_number(typed)
    assert typed_cpr(typed) == f"{CPR[:6]}-{CPR[6:]}"


@pytest.mark.parametrize("typed", ["22084 2653", "220842-26533", "22O842-2653", "220842--2653", "Jens 220842"])
def test_anything_else_is_no_cpr_number(typed: str) -> None:
    assert typed_cpr(typed) is None


def test_digits_spaces_and_dashes_are_meant_as_a_number_and_a_name_is_not() -> None:
    assert looks_like_number("22084 2") and looks_like_number("220842-")
    assert not looks_like_number("Jens Hansen") and not looks_like_number("Jens 2") and not looks_like_number(" - ")


def test_danish_letters_fold_to_what_is_typed_without_them() -> None:
    assert fold("Søren") == fold("Soeren") == fold("soren") == "soren"
    assert fold("Ågård") == fold("Aagaard") == fold("agard") == "agard"
    assert fold("Ærø") == fold("AERO") == fold("aeroe") == "aero"
    assert fold("Émile") == "emile"


def test_one_letter_wrong_missing_extra_or_swapped_is_one_edit() -> None:
    assert one_edit_apart("mortensn", "mortensen") and one_edit_apart("mortenssen", "mortensen")
    assert one_edit_apart("mortemsen", "mortensen") and one_edit_apart("mortesnen", "mortensen")
    assert not one_edit_apart("mortnsn", "mortensen") and not one_edit_apart("mortensen", "mortensen")


def _scores(text: str, *names: str) -> list[int | None]:
    query = NameQuery.parse(text)
    assert query is not None
    return [query.score(name) for name in names]


def test_each_typed_word_must_match_a_different_word_of_the_name() -> None:
    assert _scores("hansen jens", "Jens Hansen", "Jens Peter Hansen", "Hansen Jensen", "Jens Jensen") \
        == [0, 0, 1, None]
    assert _scores("hansen hansen", "Jens Hansen", "Hans Hansen Hansen") == [None, 0]
    assert _scores("Pedersen-Holm", "Ida Holm Pedersen") == [0]


def test_short_words_are_not_forgiven_a_letter() -> None:
    assert _scores("Ole", "Ove Berg", "Oles Berg") == [None, 1]
    assert _scores("Ove", "Ole Berg") == [None]


def test_nothing_to_search_for_below_two_letters() -> None:
    assert NameQuery.parse("j") is None and NameQuery.parse("  - ") is None
    assert NameQuery.parse("jo") is not None


# --- the service ---------------------------------------------------------------------------------------

PEOPLE = {
    "Anders Mortensen": 1, "Mette Mortensen": 2, "Morten Hansen": 3, "Søren Ærbo Ågård": 4,
    "Jens Hansen": 5, "Jens Hanssen": 6, "Bodil Østergaard": 7,
}


@pytest.fixture
def svc(service_for, make_user) -> Service:
    nurse = service_for(make_user("sygeplejerske", "clinician", (740,)))
    for name, seed in PEOPLE.items():
        nurse.create_citizen(generate_cpr(random.Random(seed)), name, 740)
    nurse.create_citizen(CPR, "Kaj Kommunesen", 740)
    return nurse


def names(svc: Service, text: str) -> list[str]:
    return [c.name for c in svc.search_citizens(text)]


def test_a_cpr_number_typed_with_a_space_is_found(svc: Service) -> None:
    for typed in (f"{CPR[:6]} {CPR[6:]}", f"{CPR[:6]}-{CPR[6:]}", CPR):
        found = svc.find_citizen(typed)
        assert found is not None and found.name == "Kaj Kommunesen"
    with pytest.raises(InvalidCpr):
        svc.find_citizen(f"{CPR[:5]} {CPR[6:]}")


def test_a_name_is_found_in_any_word_order_and_case(svc: Service) -> None:
    assert names(svc, "mortensen anders") == ["Anders Mortensen"]
    assert names(svc, "ANDERS mORTENSEN") == ["Anders Mortensen"]
    assert names(svc, "  Mortensen  ") == ["Anders Mortensen", "Mette Mortensen"]


def test_danish_letters_may_be_typed_as_ae_oe_aa_or_o_and_a(svc: Service) -> None:
    for typed in ("Soeren", "soren", "Søren", "aagaard", "Agard", "aerbo soren", "ÅGÅRD SØREN", "Ostergaard bodil"):
        found = names(svc, typed)
        assert found and found[0] in ("Søren Ærbo Ågård", "Bodil Østergaard"), (typed, found)
    assert names(svc, "Østergård") == ["Bodil Østergaard"]


def test_one_wrong_letter_is_forgiven_and_the_exact_name_comes_first(svc: Service) -> None:
    assert names(svc, "Mortensn") == ["Anders Mortensen", "Mette Mortensen"]
    assert names(svc, "Anders Mortesnen") == ["Anders Mortensen"]
    assert names(svc, "Hansen") == ["Jens Hansen", "Morten Hansen", "Jens Hanssen"]
    assert names(svc, "Mortensn Hansen") == []


def test_the_search_stays_in_the_users_municipalities(svc: Service, service_for, make_user) -> None:
    other = service_for(make_user("kbh", "clinician", (101,)))
    other.create_citizen(generate_cpr(random.Random(99)), "Anders Mortensen", 101)
    assert [(c.name, c.municipality_code) for c in other.search_citizens("Mortensn")] == \
        [("Anders Mortensen", 101)]
    assert [c.municipality_code for c in svc.search_citizens("anders mortensen")] == [740]
    assert other.find_citizen(f"{CPR[:6]} {CPR[6:]}") is None


def test_the_audit_log_holds_the_number_of_hits_never_the_name_or_number(svc: Service, store) -> None:
    svc.search_citizens("Mortensn")
    svc.find_citizen(f"{CPR[:6]} {CPR[6:]}")
    with store.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.detail).where(
            audit_log.c.action.in_(["citizen.search", "citizen.find"])).order_by(audit_log.c.id)).all()
    assert [(r.action, json.loads(r.detail)) for r in rows] == [
        ("citizen.search", {"hits": 2}), ("citizen.find", {"found": True})]
    everything = " ".join(str(tuple(r)) for r in rows)
    assert "Mortens" not in everything and CPR[:6] not in everything
