"""Bad input at scale: generated payloads for the course, start and end forms, sent to the real
``Service`` (``open_course`` and ``save``) on a real store, with hypothesis.

Each payload starts from a complete, valid registration (tests/factories.py) or from nothing, and
changes a few fields to what people and programs send by mistake: wrong types, the hard and soft
limits of the contract and their neighbours (+-1, +-0.05), numbers as text with a comma, a point,
spaces, an exponent or thousands separators, NaN and infinity, impossible and far-away dates
(2025-02-30, year 0, 9999), huge and unicode strings, control characters, missing-reason codes and
words, unknown keys and derived fields sent anyway. Every call must end in one of three ways:

* saved, and then what is stored is valid: validating it again gives no error and exactly the same
  data (nothing was stored that the rules refuse, nothing was silently changed: a number typed as
  text is stored as exactly that number), and a complete form has every required answer;
* refused with ValidationFailed, ConfirmationRequired or IncompleteForm (or another HjerteKomError),
  and then nothing is written (no row is added to registrations, courses or audit_log), and
  every issue names a field of the form (or the unknown key that was sent) and has a Danish and
  an English message with every placeholder filled in;
* never anything else: any other exception fails the test.

How many payloads: the hypothesis profile ``hjertekom-dev`` (200 per form, the default, part of
every run) or ``hjertekom-ci`` (10,000 per form), chosen with HJERTEKOM_HYPOTHESIS_PROFILE. The
10,000-per-form run also runs as the ``slow`` test ``test_ten_thousand_payloads_per_form`` when
HJERTEKOM_PROPERTY_FULL=1 (docs/data-contract.md, "Property tests").
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import sync_municipalities
from hjertekom_core.contract import Contract, ContractRegistry, Field, Form
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import ConfirmationRequired, FieldIssue, HjerteKomError, ValidationFailed
from hjertekom_core.service import SECOND_COURSE_REASONS, Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, courses, registrations
from hjertekom_core.users import add_user
from hjertekom_core.validation import validate_form

from factories import TEST_PASSWORD
from factories import course_data, end_data, start_data

TODAY = dt.date(2026, 6, 30)
FORMS = ("course", "start", "end")

# --- profiles ------------------------------------------------------------------------------------
_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture]}
settings.register_profile("hjertekom-dev", max_examples=200, **_COMMON)
settings.register_profile("hjertekom-ci", max_examples=10_000, **_COMMON)
PROFILE = os.environ.get("HJERTEKOM_HYPOTHESIS_PROFILE", "hjertekom-dev")
FULL = 10_000
#: Courses opened for one citizen before the next payloads go to a new one.
OPENED_PER_CITIZEN = 100
#: Payloads per form on a fresh store of each backend (SQLite and PostgreSQL, fixture ``store``).
BACKEND_EXAMPLES = 100


def _profile(name: str = PROFILE, **changes: Any) -> settings:
    return settings(settings.get_profile(name), **changes)


# --- the strategies ------------------------------------------------------------------------------

FieldStrategy = Callable[[Field], st.SearchStrategy[Any]]


def per_field(make: FieldStrategy) -> FieldStrategy:
    """Build a field's strategy once (building one per draw is most of a payload's cost)."""
    built: dict[tuple[str, str], st.SearchStrategy[Any]] = {}

    def strategy(f: Field) -> st.SearchStrategy[Any]:
        key = (f.form, f.name)
        if key not in built:
            built[key] = make(f)
        return built[key]

    return strategy


REASON_WORDS = ("UNK", "NA", "DECL", "uoplyst", "Ukendt", "Ikke relevant", "BORGEREN ØNSKEDE IKKE", " unk ",
                "n/a", "declined")
IMPOSSIBLE_DATES = ("2025-02-30", "30-02-2025", "29-02-2023", "0000-01-01", "00-00-0000", "2025-13-01",
                    "2025-02-17garbage", "17-02-25", "20250217", "9999-12-31", "31-12-9999", "0001-01-01",
                    "01-01-0001", "2025-W07-1", "17.02.2025 ", " 2025-02-17", "2025-02-17T25:00")
AWKWARD_TEXT = ("\x00", "a\x1bb", "\ud800", "\ufffe", "Ring\u200b til", "\u202e højre mod venstre",
                "emoji \U0001f49a", "=1+1", "{label}", "«»", "NA", "UNK", "null", "None", "' OR 1=1 --")


def _number_texts(value: float | int | str) -> st.SearchStrategy[str]:
    """``value`` written as people and programs write numbers, the ambiguous ways included."""
    plain = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        value = float(value)
    digits = {ord(d): chr(0x0660 + int(d)) for d in "0123456789"}  # Arabic-Indic digits
    wide = {ord(d): chr(0xFF10 + int(d)) for d in "0123456789"}    # full-width digits
    return st.sampled_from([
        plain, plain.replace(".", ","), f" {plain} ", plain.replace(".", " ", 1), f"{value:e}", plain.translate(wide),
        f"{value:,}", f"{value:,}".replace(",", "\u00a0"), f"{value:,}".replace(",", "X").replace(".", ",")
        .replace("X", "."), plain.translate(digits), "+" + plain, plain.replace("-", "\u2212"),
        plain + ",", "," + plain.lstrip("-"), plain + "0", plain + ".00",
    ])


def _limit_values(f: Field) -> list[float]:
    """The contract's hard and soft limits and their neighbours (+-1, +-0.05)."""
    values: list[float] = []
    for limits in (f.hard, f.soft):
        for limit in (limits.min, limits.max) if limits else ():
            if limit is not None:
                values += [limit + d for d in (-1, -0.05, 0, 0.05, 1)]
    return [round(v, 6) for v in values] or [0.0, 1.0]


def _within(limits: Any, value: float) -> bool:
    return limits is None or ((limits.min is None or value >= limits.min) and (limits.max is None or value <= limits.max))


def _inside(f: Field) -> st.SearchStrategy[Decimal]:
    """Numbers inside the hard limits, with 0-3 decimals: valid but for their decimals or writing."""
    lo = Decimal(str(f.hard.min if f.hard and f.hard.min is not None else -100))
    hi = Decimal(str(f.hard.max if f.hard and f.hard.max is not None else 1000))
    return st.integers(0, 3).flatmap(lambda places: st.decimals(min_value=lo, max_value=hi, places=places))


@per_field
def _numbers(f: Field) -> st.SearchStrategy[Any]:
    """Numbers for ``f``: typed as text in every way (mostly), as Python values, and odd texts."""
    inside = _inside(f)
    limits = st.sampled_from(_limit_values(f))
    typed = st.one_of(inside.map(str), inside.map(float), limits, st.integers(-10**5, 10**5)).flatmap(_number_texts)
    values = st.one_of(
        limits, inside.map(float), inside.map(lambda d: int(d) if d == int(d) else d),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([10**20, -(10**15), 2**63, 1e-7, 85.55, 0.1 + 0.2, -0.0]),
    )
    odd = st.sampled_from(["1e2", "1E-3", "8 5", "1.250", "1,250", "1.250,5", "1,250.5", "12,0", "NaN", "inf",
                           "-Infinity", "0x1A", "1_000", "½", "", "  ", "−5", "٨٥", "９", "1" * 60, "9" * 25,
                           "9" * 5000])
    return st.one_of(typed, typed, values, odd)


def _date_texts(day: dt.date) -> st.SearchStrategy[Any]:
    """``day`` written the ways people and programs write dates, the wrong ways included."""
    iso, danish = day.isoformat(), day.strftime("%d-%m-") + f"{day.year:04d}"
    return st.sampled_from([
        iso, danish, danish.replace("-", "."), danish.replace("-", "/"), f" {danish} ", iso + " 00:00:00",
        iso + "T10:30", iso + "garbage", iso.replace("-", ""), danish[:6] + danish[8:], iso + "T25:00",
        iso[:8], day, dt.datetime.combine(day, dt.time(9, 0)), f"{day.day}-{day.month}-{day.year}",
    ])


@functools.cache
def _dates() -> st.SearchStrategy[Any]:
    anywhere = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
    near = st.dates(min_value=TODAY - dt.timedelta(days=900), max_value=TODAY + dt.timedelta(days=30))
    return st.one_of(
        near.flatmap(_date_texts), near.flatmap(_date_texts), anywhere.flatmap(_date_texts),
        st.datetimes(min_value=dt.datetime(1890, 1, 1), max_value=dt.datetime(2100, 1, 1)),
        st.sampled_from(IMPOSSIBLE_DATES),
    )


@per_field
def _codes(f: Field) -> st.SearchStrategy[Any]:
    assert f.codelist is not None
    codes = list(f.codelist.values)
    labels = [c.label.da for c in f.codelist.codes]
    one = st.one_of(st.sampled_from(codes), st.sampled_from(codes).map(lambda c: f" {str(c).upper()} "),
                    st.sampled_from(labels), st.text(max_size=8), st.integers(-5, 1000))
    if f.type != "multi_choice":
        return one
    return st.one_of(st.lists(one, max_size=4), st.lists(st.sampled_from(codes), max_size=4).map(";".join),
                     st.sampled_from([" ; | ", "pci;;pci", ["", " "], ("pci",)]))


@per_field
def _texts(f: Field) -> st.SearchStrategy[Any]:
    limit = f.max_length or 2000
    return st.one_of(
        st.text(max_size=40), st.sampled_from(AWKWARD_TEXT),
        st.integers(limit - 2, limit + 2).map(lambda n: "ø" * n),
        st.integers(10_000, 200_000).map(lambda n: "x" * n),   # huge
    )


@functools.cache
def _junk() -> st.SearchStrategy[Any]:
    """Values of the wrong type for any field."""
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.just(b"88,4"), st.just(object.__name__), st.just("x" * 100_000), st.sampled_from(REASON_WORDS),
    )


@per_field
def plausible_for(f: Field) -> st.SearchStrategy[Any]:
    """What a careful person enters for ``f``: codes, dates of the last years, the limits and their
    neighbours as a clinician types them, the field's own missing reasons."""
    reasons = [str(c.code) for c in f.missing_reasons]
    own: st.SearchStrategy[Any]
    if f.codelist is not None:
        codes = list(f.codelist.values)
        own = st.sampled_from(codes) if f.type != "multi_choice" else st.lists(st.sampled_from(codes), min_size=1,
                                                                                max_size=3)
    elif f.type in ("int", "decimal"):
        places = 0 if f.type == "int" else (f.decimals or 0)
        inside = [v for v in _limit_values(f) if _within(f.hard, v)] or [0.0]   # soft-limit neighbours: warnings
        own = st.sampled_from(inside).map(lambda v: round(v, places)).flatmap(
            lambda v: st.sampled_from([v, str(int(v)) if places == 0 else f"{v:.{places}f}".replace(".", ",")]))
    elif f.type == "date":
        own = st.dates(min_value=TODAY - dt.timedelta(days=700), max_value=TODAY).map(lambda d: d.strftime("%d-%m-%Y"))
    elif f.type == "bool":
        own = st.booleans()
    else:
        own = st.text(max_size=30)
    return st.one_of(own, st.sampled_from(reasons)) if reasons else own


@per_field
def value_for(f: Field) -> st.SearchStrategy[Any]:
    """What may arrive for ``f``: its own kind of trouble mostly, any junk sometimes."""
    own = _own(f)
    return st.one_of(own, own, own, st.sampled_from(REASON_WORDS), _junk())


@per_field
def _own(f: Field) -> st.SearchStrategy[Any]:
    """The trouble of ``f``'s own kind: numbers for a number, dates for a date, ..."""
    if f.codelist is not None:
        own = _codes(f)
    elif f.type in ("int", "decimal"):
        own = _numbers(f)
    elif f.type == "date":
        own = _dates()
    elif f.type == "bool":
        own = st.one_of(st.booleans(), st.sampled_from(["ja", "nej", "1", "0", "2", "yes", "Måske"]))
    else:
        own = _texts(f)
    return own


VALID = {"course": course_data, "start": start_data, "end": end_data}


def _kinds(form: Form) -> dict[str, list[str]]:
    """The form's input fields by kind of trouble (so that the two dates of a form get as much
    attention as its sixty coded answers)."""
    kinds: dict[str, list[str]] = {}
    for f in form.input_fields():
        kind = "coded" if f.codelist is not None else "number" if f.type in ("int", "decimal") else f.type
        kinds.setdefault(kind, []).append(f.name)
    return kinds


@st.composite
def payloads(draw: st.DrawFn, form: Form) -> dict[Any, Any]:
    """A registration of ``form``: a valid one with a few fields changed or dropped, or a few
    fields alone, plus now and then an unknown key or a derived field sent anyway."""
    names = [f.name for f in form.input_fields()]
    # focused: one field of a valid registration gets trouble of its own kind, so that whatever
    # the field lets through is saved and checked; careful: plausible values (saved, or to be
    # confirmed); anything: up to six fields of anything, from a valid registration or from nothing.
    mode = draw(st.sampled_from(["focused", "careful", "anything"]))
    if mode == "focused":
        data: dict[Any, Any] = dict(VALID[form.name]())
        kinds = _kinds(form)
        name = draw(st.sampled_from(kinds[draw(st.sampled_from(sorted(kinds)))]))
        data[name] = draw(_own(form.fields[name]))
        return data
    data = dict(VALID[form.name]()) if draw(st.integers(0, 3)) else {}
    careful = mode == "careful"
    for name in draw(st.lists(st.sampled_from(names), max_size=6, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            data.pop(name, None)
        else:
            data[name] = draw((plausible_for if careful else value_for)(form.fields[name]))
    unusual = [f for f in form.input_fields() if f.soft is not None and f.show_if is None]
    if careful and unusual and draw(st.booleans()):   # one unusual but possible value: to be confirmed
        f = draw(st.sampled_from(unusual))
        data[f.name] = draw(st.sampled_from([v for v in _limit_values(f) if _within(f.hard, v)
                                             and not _within(f.soft, v)] or [None]))
    if draw(st.integers(0, 9)) == 0:
        key = draw(st.one_of(st.text(min_size=1, max_size=15), st.sampled_from(["Weight_kg", "weight kg", "cpr",
                                                                                 "start.weight_kg", "__proto__"])))
        if key not in form.fields:
            data[key] = draw(_junk())
    derived = [f.name for f in form.fields.values() if f.is_derived]
    if derived and draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(derived))] = draw(_junk())
    return data


# --- the world: a store, a clinician, courses to save into ------------------------------------------

@dataclass
class World:
    store: Store
    contract: Contract
    service: Service
    citizen_id: int
    course_ids: dict[str, int]                     # form -> the course whose form is saved again and again
    revisions: dict[tuple[int, str], int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    opened: int = 0                                # courses opened for the current citizen

    def citizen_for_a_new_course(self) -> int:
        """The citizen to open the next course for: a new one every OPENED_PER_CITIZEN courses, so
        that the service's look at a citizen's open courses stays as cheap as for a real citizen."""
        if self.opened >= OPENED_PER_CITIZEN:
            cpr = generate_cpr(random.Random(self.citizen_id + 1))
            self.citizen_id = self.service.create_citizen(cpr, "Egenskab Borger", 740).id
            self.opened = 0
        return self.citizen_id

    def counts(self) -> tuple[int, int, int]:
        """The highest id of registrations, courses and audit_log: it changes exactly when a row is
        added, since none is ever deleted (and, unlike count(*), costs the same at 30 000 rows)."""
        with self.store.read() as conn:
            row = conn.execute(select(
                select(func.max(registrations.c.id)).scalar_subquery(),
                select(func.max(courses.c.id)).scalar_subquery(),
                select(func.max(audit_log.c.id)).scalar_subquery())).one()
        return tuple(row)  # type: ignore[return-value]

    def latest(self, course_id: int) -> dict[str, tuple[int, str, dict[str, Any]]]:
        """form -> (revision, status, data) of the course's latest revisions, read from the table
        (only the latest: a course here collects thousands of revisions)."""
        newest = (select(registrations.c.form, func.max(registrations.c.revision).label("revision"))
                  .where(registrations.c.course_id == course_id).group_by(registrations.c.form).subquery())
        query = (select(registrations.c.form, registrations.c.revision, registrations.c.status, registrations.c.data)
                 .join(newest, (newest.c.form == registrations.c.form) & (newest.c.revision == registrations.c.revision))
                 .where(registrations.c.course_id == course_id))
        with self.store.read() as conn:
            return {r.form: (r.revision, r.status, json.loads(r.data)) for r in conn.execute(query)}


def _clinician_everywhere(store: Store, contract: Contract) -> User:
    """A clinician of every municipality: no payload is refused for where, only for what."""
    codes = [int(c.code) for c in contract.codelists["municipalities"].codes]
    return add_user(store, SYSTEM, "egenskab", "Egenskab Test", "clinician", TEST_PASSWORD, codes)


def make_world(store: Store, contracts: ContractRegistry) -> World:
    contract = contracts["hjertekom"]
    svc = Service(store, contracts, _clinician_everywhere(store, contract), today=TODAY)
    citizen = svc.create_citizen(generate_cpr(random.Random(13)), "Egenskab Borger", 740)
    reason = next(iter(SECOND_COURSE_REASONS))
    ids = {}
    for form in FORMS:
        course_id = svc.open_course(citizen.id, course_data(), complete=True, second_open_reason=reason).course_id
        if form == "end":
            svc.save(course_id, "start", start_data(), 0, complete=True, confirm=True)
        ids[form] = course_id
    world = World(store, contract, svc, citizen.id, ids)
    for form, course_id in ids.items():
        for name, (revision, _, _) in world.latest(course_id).items():
            world.revisions[(course_id, name)] = revision
    return world


# --- the properties ---------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# The only ways a number or a date may be written and still be saved (docs/data-contract.md).
_PLAIN_NUMBER = re.compile(r"\s*([+\-\u2212]?)(\d*)(?:[.,](\d*))?\s*", re.ASCII)
_PLAIN_DATE = re.compile(r"\s*(?:(\d{1,2})[-./](\d{1,2})[-./](\d{4})|(\d{4})-(\d{2})-(\d{2})"
                         r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?)\s*", re.ASCII)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _typed_number(value: Any) -> Decimal | None:
    """The exact number ``value`` stands for, if it is a number or plain number text; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    m = _PLAIN_NUMBER.fullmatch(value) if isinstance(value, str) else None
    if m is None or not (m.group(2) or m.group(3)):
        return None
    sign = "-" if m.group(1) in ("-", "\u2212") else ""
    return Decimal(f"{sign}{m.group(2) or '0'}.{m.group(3) or '0'}")


def check_kept_exactly(f: Field, value: Any, stored: Any) -> None:
    """A value that was saved is what was typed: the same number (no rounding, no guessing at
    "1e2" or "8 5"), the same day (no ignored tail), the same text (no "['a']", no control
    characters)."""
    if f.missing_reason(stored) is not None:
        return  # a missing reason, given by its code or its words
    if f.type in ("int", "decimal") and f.codelist is None:
        typed = _typed_number(value)
        assert typed is not None, f"{f.name}: {value!r} is no plain number, yet stored as {stored!r}"
        assert Decimal(repr(stored) if isinstance(stored, float) else stored) == typed, (f.name, value, stored)
        places = max(0, -typed.normalize().as_tuple().exponent)  # type: ignore[operator]
        assert places <= (0 if f.type == "int" else (f.decimals if f.decimals is not None else 99)), (f.name, value)
    elif f.type == "date":
        if isinstance(value, str):
            m = _PLAIN_DATE.fullmatch(value)
            assert m is not None, f"{f.name}: {value!r} is no plain date, yet stored as {stored!r}"
            d, mo, y, iy, imo, idd = m.groups()
            day = dt.date(int(y), int(mo), int(d)) if y else dt.date(int(iy), int(imo), int(idd))
        else:
            day = value.date() if isinstance(value, dt.datetime) else value
        assert stored == day.isoformat(), (f.name, value, stored)
    elif f.type == "text":
        assert isinstance(value, (str, int, float)) and not isinstance(value, bool), (f.name, value, stored)
        assert stored == (value.strip() if isinstance(value, str) else str(value)), (f.name, value, stored)
        assert not _CONTROL.search(stored), (f.name, stored)


def check_issues(world: World, form: Form, issues: list[FieldIssue], payload: Mapping[Any, Any]) -> None:
    """Every issue names its field and says, in Danish and English, what is wrong."""
    rule_fields = {rule.name: {left.field, right.field} for rule, left, right in world.contract.rules_for(form.name)}
    for issue in issues:
        assert issue.form == form.name, issue
        if issue.code == "unknown_field":
            assert issue.field in payload and issue.field not in form.fields, issue
        elif issue.code in rule_fields:
            assert issue.field in rule_fields[issue.code], issue
        else:
            assert issue.field in form.fields, issue
        for lang in ("da", "en"):
            text = issue.messages.get(lang)
            assert text and text != f"{issue.field}: {issue.code}", (issue, lang)
            assert not _PLACEHOLDER.search(text), (issue, lang, text)
        assert issue.messages["da"] != issue.messages["en"], issue


def _blank(f: Field, value: Any) -> bool:
    if value is None or value == [] or value == ():
        return True
    if isinstance(value, str):
        return not value.strip() or (f.type == "multi_choice" and not re.sub(r"[;|\s]", "", value))
    if f.type == "multi_choice" and isinstance(value, (list, tuple)):
        return all(v is None or (isinstance(v, str) and not v.strip()) for v in value)
    return False


def check_stored(world: World, form: Form, course_id: int, payload: Mapping[Any, Any], complete: bool,
                 confirmed: bool) -> None:
    """What was saved is valid, complete when marked so, and exactly what was entered."""
    latest = world.latest(course_id)
    revision, status, stored = latest[form.name]
    world.revisions[(course_id, form.name)] = revision   # first: a failing example must replay alike
    assert status == ("complete" if complete else "draft")
    context = {name: data for name, (_, _, data) in latest.items() if name != form.name}
    entered = {k: v for k, v in stored.items() if not form.fields[k].is_derived}
    again = validate_form(world.contract, form.name, entered, context=context, complete=complete, today=TODAY)
    assert again.errors == [], again.errors
    assert again.cleaned == stored, "validating the stored data again changes it"
    if complete:
        assert again.missing == [], again.missing
    if not confirmed:
        assert again.warnings == [], again.warnings
    for name, value in payload.items():
        f = form.fields.get(name) if isinstance(name, str) else None
        if f is None or f.is_derived:
            continue
        if again.visible.get(name, True) and not _blank(f, value):
            assert name in stored, f"{name}={value!r} was shown and answered but not stored"
        if name in stored:
            check_kept_exactly(f, value, stored[name])
    for name in entered:
        assert name in payload, f"{name} stored but never sent"


def send(world: World, form_name: str, payload: dict[Any, Any], complete: bool, via_open: bool) -> str:
    """Send one payload and check the outcome; returns what happened (saved, refused, confirmed)."""
    form = world.contract.form(form_name)
    course_id = world.course_ids[form_name]
    world.calls[form_name] = world.calls.get(form_name, 0) + 1

    citizen_id = world.citizen_for_a_new_course() if via_open else world.citizen_id

    def call(confirm: bool) -> int:
        if via_open:
            opened = world.service.open_course(citizen_id, payload, complete=complete, confirm=confirm,
                                               second_open_reason=next(iter(SECOND_COURSE_REASONS))).course_id
            world.opened += 1
            return opened
        base = world.revisions.get((course_id, form_name), 0)
        world.service.save(course_id, form_name, payload, base, complete=complete, confirm=confirm,
                           reason="Egenskabstest", reopen=not complete)
        return course_id

    confirmed = False
    for confirm in (False, True):
        before = world.counts()
        try:
            saved_in = call(confirm)
        except ConfirmationRequired as exc:
            assert not confirm, "confirmed, and still asked to confirm"
            assert world.counts() == before, "written before the confirmation"
            assert exc.warnings and all(w.severity == "warning" for w in exc.warnings)
            check_issues(world, form, exc.warnings, payload)
            confirmed = True
            continue
        except ValidationFailed as exc:   # IncompleteForm and RegistrationLocked too
            assert world.counts() == before, "a refused registration left rows behind"
            assert exc.errors, exc
            check_issues(world, form, exc.errors + exc.warnings, payload)
            return ("confirmed, " if confirmed else "") + f"refused:{type(exc).__name__}"
        except HjerteKomError as exc:
            assert world.counts() == before, f"{type(exc).__name__} left rows behind"
            return ("confirmed, " if confirmed else "") + f"refused:{type(exc).__name__}"
        check_stored(world, form, saved_in, payload, complete, confirmed)
        return "saved after confirming" if confirmed else "saved"
    raise AssertionError("unreachable")


def _record(world: World, form: str, outcome: str) -> None:
    key = f"{form}:{outcome}"
    world.outcomes[key] = world.outcomes.get(key, 0) + 1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, contracts: ContractRegistry) -> Iterator[World]:
    """A SQLite store of its own for the module: payloads accumulate revisions and courses in it."""
    store = _sqlite(tmp_path_factory.mktemp("properties"), contracts)
    yield make_world(store, contracts)
    store.dispose()


def _sqlite(folder: Path, contracts: ContractRegistry) -> Store:
    store = Store(f"sqlite:///{folder / 'store.sqlite'}")
    store.migrate()
    sync_municipalities(store, contracts)
    return store


def _strategy(contract: Contract, form: str) -> st.SearchStrategy[tuple[dict[Any, Any], bool, bool]]:
    via_open = st.booleans() if form == "course" else st.just(False)
    return st.tuples(payloads(contract.form(form)), st.booleans(), via_open)


def _run(world: World, form: str, examples: settings) -> None:
    @examples
    @given(case=_strategy(world.contract, form))
    def one(case: tuple[dict[Any, Any], bool, bool]) -> None:
        payload, complete, via_open = case
        _record(world, form, send(world, form, payload, complete, via_open))

    one()


@pytest.mark.parametrize("form", FORMS)
def test_generated_payloads_are_saved_valid_or_refused_cleanly(world: World, form: str) -> None:
    examples = _profile()
    _run(world, form, examples)
    assert world.calls[form] >= examples.max_examples
    saved = sum(n for k, n in world.outcomes.items() if k.startswith(f"{form}:saved"))
    refused = sum(n for k, n in world.outcomes.items() if k.startswith(form) and "refused" in k)
    confirmed = sum(n for k, n in world.outcomes.items() if k.startswith(form) and "confirm" in k)
    assert saved and refused, world.outcomes   # both paths were taken
    assert confirmed or form == "course", world.outcomes   # the course form has no soft limit or warning rule


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("HJERTEKOM_PROPERTY_FULL") != "1",
                    reason="10,000 payloads per form: set HJERTEKOM_PROPERTY_FULL=1 (CI does)")
@pytest.mark.parametrize("form", FORMS)
def test_ten_thousand_payloads_per_form(tmp_path: Path, contracts: ContractRegistry, form: str) -> None:
    world = make_world(_sqlite(tmp_path, contracts), contracts)
    try:
        _run(world, form, _profile("hjertekom-ci", max_examples=FULL))
        assert world.calls[form] >= FULL
    finally:
        world.store.dispose()


@pytest.mark.parametrize("form", FORMS)
def test_generated_payloads_on_each_backend(store: Store, contracts: ContractRegistry, form: str) -> None:
    """The same properties on a fresh store of each backend (PostgreSQL: its own text, integer and
    transaction handling), with fewer payloads."""
    world = make_world(store, contracts)
    _run(world, form, _profile(max_examples=min(BACKEND_EXAMPLES, settings.get_profile(PROFILE).max_examples)))


# --- plain regression tests for what the properties found ------------------------------------------

def test_a_huge_number_is_refused_not_a_crash(world: World) -> None:
    """int("9" * 5000) raises ValueError in Python (the digit limit); it was not caught."""
    payload = dict(start_data(), height_cm="9" * 5000)
    assert send(world, "start", payload, False, False) == "refused:ValidationFailed"


@pytest.mark.parametrize("value", [12, ["pci", ["nested"]], {"code": "pci"}, 4.5])
def test_a_multi_choice_of_the_wrong_type_is_refused_not_a_crash(world: World, value: Any) -> None:
    """list(12) raised TypeError, and an unhashable code raised TypeError in the code-list lookup."""
    payload = dict(course_data(), diagnosis_groups=value)
    assert send(world, "course", payload, True, False) == "refused:ValidationFailed"


def test_an_empty_multi_choice_is_not_an_answer(world: World) -> None:
    """"; |" was stored as [] and counted as answered when completing."""
    payload = dict(course_data(), diagnosis_groups=" ; | ")
    assert send(world, "course", payload, True, False) == "refused:IncompleteForm"


def test_text_with_a_nul_character_is_refused(world: World) -> None:
    """A NUL (from a broken copy or a program, never typed) was stored and passed on to snapshots
    and extracts; control characters are refused with a message saying so."""
    payload = dict(course_data(), note="Ring\x00 til datteren")
    assert send(world, "course", payload, False, False) == "refused:ValidationFailed"


def test_a_list_in_a_free_text_field_is_refused(world: World) -> None:
    """str(["a"]) used to be stored as the note "['a']"."""
    payload = dict(course_data(), note=["a"])
    assert send(world, "course", payload, False, False) == "refused:ValidationFailed"


def test_a_negative_zero_is_stored_as_zero() -> None:
    from hjertekom_core.validation import COERCERS

    ldl = Field("ldl", "decimal", _text("LDL"), "start", "m", decimals=1)
    stored = COERCERS["decimal"]("-0,0", ldl, TODAY)
    assert stored == 0.0 and math.copysign(1, stored) == 1.0


def _text(label: str) -> Any:
    from hjertekom_core.contract import Text

    return Text(label, label)
