"""Demo data for any programme, from its contract alone.

``demo.py`` models hjertekom's citizens (ages, smoking, fitness, questionnaires that hang together):
a clinical model of that one contract. A programme without such a model gets this generator: every
course is saved through the service (so the contract's validation, branching, derived scores and
rules decide what is stored, exactly as for the entry form), with values drawn from each field's
declaration alone:

* dates: the course form's date a day in the last two years; the start form's (``Contract.start_and_end``)
  one to six weeks later, the end form's two to five months after that (an end still in the future is
  not registered: the course is running); any other date up to a month before the course form's;
* numbers inside the soft limits (else the hard ones, else 0-100), rounded as declared; a whole
  number with a code list one of its codes;
* a choice one of its codes (its own "uoplyst" rarely), a multiple choice one to two codes, yes/no at
  random, free text left blank (it may identify someone);
* a field that takes missing reasons gets one now and then, as clinicians do;
* a few forms stay drafts and a few courses stop after the start form.

A programme may have an answer model (``ANSWER_MODELS``: MoEva's, ``demo_moeva``) that gives the
start and end forms answers that hang together; the rest is drawn as above.

Deterministic per seed and ``today``. A draw that breaks a rule across fields is drawn again.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.branching import visible_fields_of
from hjertekom_core.contract.model import UNKNOWN, Contract, Field, Form
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.demo import DemoSummary
from hjertekom_core.demo_moeva import MoevaAnswers
from hjertekom_core.errors import ValidationFailed
from hjertekom_core.service import Service
from hjertekom_core.store.schema import citizens

log = logging.getLogger(__name__)

Data = dict[str, Any]
#: Share of answers given as a missing reason where the field takes one.
MISSING_RATE = 0.04
#: Share of forms left as drafts, and of started courses that have no end form.
DRAFT_RATE = 0.03
NO_END_RATE = 0.1
#: Draws of one form before giving up (a rule across fields that random values keep breaking).
MAX_DRAWS = 25
FIRST_NAMES = ("Anne", "Bent", "Camilla", "Dorthe", "Erik", "Freja", "Gert", "Hanne", "Ib", "Jonna", "Karl", "Lise")
SURNAMES = ("Andersen", "Bech", "Christensen", "Dahl", "Eriksen", "Frost", "Gade", "Holm", "Iversen", "Juul")
#: Answer models per programme: made with the citizen's random draws, ``answers(stage, rng)`` gives the
#: start form's ("start") or the end form's ("end") answers, which the generic draws then complete.
ANSWER_MODELS: dict[str, Callable[[random.Random], Any]] = {"moeva": MoevaAnswers}


class GenericDemoError(RuntimeError):
    """A form of the contract could not be filled validly (a rule random values keep breaking)."""


def _number(f: Field, rng: random.Random) -> int | float:
    limits = f.soft or f.hard
    lo = 0.0 if limits is None or limits.min is None else float(limits.min)
    hi = lo + 100.0 if limits is None or limits.max is None else float(limits.max)
    if f.type == "int":
        return rng.randint(math.ceil(lo), math.floor(hi))
    return round(rng.uniform(lo, hi), f.decimals if f.decimals is not None else 2)


def value_for(f: Field, rng: random.Random, day: dt.date) -> Any:
    """One answer to ``f``, drawn from its declaration; ``day`` is the form's own date."""
    if f.accepts_unknown() and f.type not in ("choice", "multi_choice") and rng.random() < MISSING_RATE:
        return rng.choice(f.missing_reasons).code
    codes = [c.code for c in f.codelist.codes] if f.codelist is not None else []
    known = [c for c in codes if c != UNKNOWN]
    if f.type == "choice":
        return UNKNOWN if UNKNOWN in codes and rng.random() < MISSING_RATE else rng.choice(known)
    if f.type == "multi_choice":
        return sorted(rng.sample(known, min(len(known), rng.randint(1, 2))), key=codes.index)
    if f.type == "int" and known:
        return rng.choice(known)
    if f.type in ("int", "decimal"):
        return _number(f, rng)
    if f.type == "bool":
        return rng.random() < 0.5
    if f.type == "date":
        return (day - dt.timedelta(days=rng.randint(0, 30))).isoformat()
    return None  # text: left blank


class GenericDemo:
    """Courses of one programme, saved through ``service``."""

    def __init__(self, service: Service, contract: Contract, seed: int, today: dt.date) -> None:
        self.service, self.contract, self.seed, self.today = service, contract, seed, today
        self.municipalities = [int(c.code) for c in contract.form(contract.course_form)
                               .field(contract.municipality_field).codelist.codes]  # type: ignore[union-attr]

    def _form(self, form: Form, rng: random.Random, day: dt.date, fixed: Data, context: dict[str, Data]) -> Data:
        data: Data = {}
        for f in form.input_fields():
            data[f.name] = fixed[f.name] if f.name in fixed else value_for(f, rng, day)
        if form.date_field:
            data[form.date_field] = day.isoformat()
        shown = visible_fields_of(form, data, context)
        return {name: value for name, value in data.items() if shown.get(name, True) and value is not None}

    def _save(self, rng: random.Random, form: Form, day: dt.date, fixed: Data, context: dict[str, Data],
              save: Callable[[Data, bool], Any]) -> Data:
        """Draw the form until the service takes it (a rule across fields may refuse a draw)."""
        complete = rng.random() >= DRAFT_RATE
        for _ in range(MAX_DRAWS):
            data = self._form(form, rng, day, fixed, context)
            try:
                save(data, complete)
            except ValidationFailed:
                continue
            return data
        raise GenericDemoError(f"{self.contract.programme}: the form {form.name} could not be filled validly "
                               f"in {MAX_DRAWS} draws / formen kunne ikke udfyldes gyldigt")

    def citizen(self, index: int, taken: set[str], summary: DemoSummary) -> None:
        """Citizen number ``index`` and one course, counted in ``summary``."""
        # Synthetic people, reproducible per seed: nothing here is secret.
        rng = random.Random(f"generic-demo/{self.contract.programme}/{self.seed}/{index}")  # noqa: S311
        contract, service = self.contract, self.service
        municipality = rng.choice(self.municipalities)
        referral = self.today - dt.timedelta(days=rng.randint(1, 730))
        cpr = generate_cpr(rng)
        while cpr in taken:
            cpr = generate_cpr(rng)
        taken.add(cpr)
        citizen = service.create_citizen(cpr, f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}", municipality)
        course_form = contract.form(contract.course_form)
        context: dict[str, Data] = {}
        opened: list[int] = []

        def open_course(data: Data, complete: bool) -> None:
            result = service.open_course(citizen.id, data, programme=contract.programme, complete=complete,
                                         confirm=True)
            opened.append(result.course_id)
            summary.registrations[(result.form, result.status)] += 1

        context[course_form.name] = self._save(rng, course_form, referral, {contract.municipality_field: municipality},
                                               context, open_course)
        summary.citizens += 1
        summary.courses += 1
        stages = contract.start_and_end()
        if stages is None:
            return
        model = ANSWER_MODELS.get(contract.programme)
        person = model(rng) if model is not None else None
        start_day = referral + dt.timedelta(days=rng.randint(7, 42))
        end_day = start_day + dt.timedelta(days=rng.randint(60, 150))
        for name, day in ((stages[0], start_day), (stages[1], end_day)):
            if day > self.today or (name == stages[1] and rng.random() < NO_END_RATE):
                break
            form = contract.form(name)

            def save(data: Data, complete: bool, form_name: str = name) -> None:
                result = service.save(opened[-1], form_name, data, 0, complete=complete, confirm=True)
                summary.registrations[(result.form, result.status)] += 1

            fixed = person.answers("start" if name == stages[0] else "end", rng) if person is not None else {}
            context[name] = self._save(rng, form, day, fixed, context, save)


def generate_generic_demo(workspace: Workspace, n_citizens: int, seed: int, programme: str, *,
                          today: dt.date | None = None, progress: Callable[[int], Any] | None = None) -> DemoSummary:
    """``n_citizens`` synthetic citizens with one course each of ``programme``."""
    service = Service(workspace.store, workspace.contracts, SYSTEM)
    generator = GenericDemo(service, workspace.contracts[programme], seed, today or dt.date.today())
    with workspace.store.read() as conn:
        taken = set(conn.execute(select(citizens.c.cpr)).scalars())
    summary = DemoSummary()
    for i in range(n_citizens):
        generator.citizen(i, taken, summary)
        if progress is not None:
            progress(1)
    log.info("generic demo data written for %s: %d citizens, %d courses", programme, summary.citizens,
             summary.courses)
    return summary
