"""Synthetic, realistic demo data: citizens, courses and registrations (``hjertekom demo``).

Every person is made up: CPR numbers come from :func:`hjertekom_core.cpr.generate_cpr`, names
from lists of common Danish first names and surnames. The data are deterministic for a seed (and
the date taken as "today"): citizen *i* draws from its own random stream seeded by (seed, i), so
the same seed gives the same CPR numbers, names and values.

What the data look like (plausible rates, see docs/domain.md):

* citizens spread over the municipalities in proportion to their size, with HjerteKom's own
  users (Central Denmark Region, Lolland, Guldborgsund, Vordingborg, Copenhagen) weighted up;
  age at referral about 45-90 (mean about 67), about 70 % men, mixed diagnosis groups;
* referrals spread from 2021 to today; about 25 % of referred citizens never start (course form
  only); about 29 % of starters drop out (end form with a dropout reason and few measurements),
  smokers and the youngest more often (``DROPOUT_LOGIT``; death as the reason more often at 80+);
  the rest complete with plausible improvements (6-minute walk +10-20 %, HADS down, EQ-5D and
  WHO-5 up, weight and blood pressure slightly down, 40-50 % of smokers quit);
* a few unknowns ("UNK") and other missing reasons (a citizen who declined to be weighed, a waist
  not measured because it was not relevant), a few drafts, courses still open at the end of the
  period, a few courses longer than 180 days and a few changes of fitness test between start and end;
* interventions received only where the start plan allows them: dietary treatment by a clinical
  dietitian only when dietary advice was offered (the contract's rule dietitian_without_diet_offer
  warns otherwise), at the same overall share.

Speed: rows are generated in memory, their derived scores computed with the core's own
:func:`hjertekom_core.validation.compute_derived`, and written with SQLAlchemy Core executemany in
chunks (one transaction per chunk), not through :class:`~hjertekom_core.service.Service` per
registration. One audit entry records the whole run. The generated values stay inside the
contract's soft limits, rules and branching, so that every complete registration passes
``validate_form(..., complete=True)`` without errors or warnings (tests check this on a small run).
"""
from __future__ import annotations

import bisect
import datetime as dt
import itertools
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update

from hjertekom_core import audit
from hjertekom_core.access import ROLE_LABELS, SYSTEM
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.branching import visible_fields_of
from hjertekom_core.contract.model import UNKNOWN, CodeList, Contract, Field, Form, Ref, Section
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import ContractError
from hjertekom_core.service import dump_data
from hjertekom_core.store import Store
from hjertekom_core.store.schema import citizens, courses, municipalities, registrations, users
from hjertekom_core.users import UserExists, add_user
from hjertekom_core.validation import compute_derived

log = logging.getLogger(__name__)

Data = dict[str, Any]
Progress = Callable[[int], Any]

#: Citizens written per transaction: small enough to keep the SQLite write lock short, big
#: enough that executemany amortises the round trips.
CHUNK_SIZE = 2000


# =================================================================================================
# What the generator knows about the contract: the ONE place that names fields and codes.
#
# Types, code lists, limits, branching, rules and derived scores are read from the contract; the
# generator only needs to know what the key fields *mean* (which date is the meeting, which code
# means a daily smoker, which way a questionnaire scores). ``_check_vocabulary`` verifies at start
# that every name below exists in the contract, so a renamed field fails loudly, not silently.
# A required input field the generator does not know is filled generically (a code from its code
# list, a number inside its soft limits), so that a new contract field does not break the demo.
# =================================================================================================
class Vocabulary:
    """Field and code names of the ``hjertekom`` contract that the demo generator understands."""

    start_form = "start"
    end_form = "end"
    # course (referral)
    referral_date = "referral_date"
    referral_source = "referral_source"
    diagnosis_groups = "diagnosis_groups"
    index_event_date = "index_event_date"
    nyha_class = "nyha_class"
    heart_failure = "heart_failure"
    # start and end meetings
    meeting_date = "meeting_date"
    profession = "clinician_profession"
    height_cm = "height_cm"
    weight_kg = "weight_kg"
    waist_cm = "waist_cm"
    bp_systolic = "bp_systolic"
    bp_diastolic = "bp_diastolic"
    resting_hr = "resting_hr"
    ldl = "ldl"
    smoking = "smoking"
    smokers = ("daily", "occasional")
    former_smoker = "former"
    alcohol = "alcohol_units_week"
    physical_activity = "physical_activity"
    fitness_test_type = "fitness_test_type"
    fitness_not_done = "not_done"
    #: fitness test code -> (result field, typical result at age 67 for men, for women,
    #: relative spread, mean relative improvement for completers)
    fitness_tests: Mapping[str, tuple[str, float, float, float, float]] = {
        "six_minute_walk": ("walk_6min_m", 460, 420, 0.18, 0.15),
        "chair_stand_30s": ("chair_stand_30s", 13, 12, 0.25, 0.18),
        "watt": ("ergometer_watt", 125, 90, 0.25, 0.14),
        "kondital": ("kondital", 24, 21, 0.22, 0.12),
    }
    employment = "employment"
    working = ("employed", "sick_leave")
    sick_leave = "sick_leave"
    sick_leave_extent = "sick_leave_extent"
    sick_leave_start_date = "sick_leave_start_date"
    yes, no = "yes", "no"
    #: start-form plan fields and the share of citizens offered each (yes)
    offers: Mapping[str, float] = {
        "training_offered": 0.92, "patient_education_offered": 0.86, "diet_offered": 0.62,
        "smoking_cessation_offered": 0.80, "psychosocial_offered": 0.55, "work_retention_offered": 0.60,
    }
    training_offered = "training_offered"
    # end of course
    course_status = "course_status"
    completed = "completed"
    dropped_out = "dropped_out"
    dropout_reason = "dropout_reason"
    training_planned = "training_sessions_planned"
    training_attended = "training_sessions_attended"
    #: end-form interventions and the share received (yes) by completers and by dropouts
    received: Mapping[str, tuple[float, float]] = {
        "patient_education_received": (0.85, 0.35), "diet_dietitian_received": (0.55, 0.15),
        "smoking_cessation_received": (0.60, 0.25), "psychosocial_received": (0.45, 0.20),
        "work_retention_received": (0.50, 0.20),
    }
    #: received -> the start-plan offer it needs (a contract rule warns about "yes" after "no")
    received_needs_offer: Mapping[str, str] = {"diet_dietitian_received": "diet_offered"}
    #: missing reasons the generator gives (codes of the missing_reason list)
    declined, not_applicable = "DECL", "NA"
    return_to_work = "return_to_work"
    #: questionnaire status field -> True when a higher item score is better
    questionnaires: Mapping[str, bool] = {
        "hads_status": False, "heartqol_status": True, "eq5d_status": False, "who5_status": True,
    }
    questionnaire_completed = "completed"
    #: a numeric (non-code) questionnaire item, as a share of its range, e.g. EQ VAS 0-100
    questionnaire_scales: Mapping[str, bool] = {"eq5d_vas": True}


V = Vocabulary

# Code weights (relative frequencies) for the code lists the generator draws from.
REFERRAL_SOURCE = {"hospital": 82, "general_practitioner": 10, "other_municipality": 2, "self": 1, "other": 2,
                   UNKNOWN: 3}
PROFESSION = {"nurse": 62, "physiotherapist": 30, "occupational_therapist": 3, "dietitian": 2, "other": 3}
NYHA = {"I": 15, "II": 45, "III": 30, "IV": 5, UNKNOWN: 5}
SMOKING = {"daily": 17, "occasional": 4, "former": 45, "never": 32, UNKNOWN: 2}
ACTIVITY = {"sedentary": 30, "light": 40, "moderate": 22, "vigorous": 5, UNKNOWN: 3}
FITNESS_TEST = {"six_minute_walk": 62, "watt": 14, "chair_stand_30s": 10, "kondital": 7, "not_done": 7}
QUESTIONNAIRE_STATUS_START = {"completed": 86, "declined": 5, "not_possible": 3, "not_done": 6}
QUESTIONNAIRE_STATUS_END = {"completed": 88, "declined": 5, "not_possible": 2, "not_done": 5}
QUESTIONNAIRE_STATUS_DROPOUT = {"completed": 10, "declined": 10, "not_possible": 10, "not_done": 70}
EMPLOYMENT_UNDER_65 = {"employed": 45, "sick_leave": 20, "unemployed": 5, "early_retirement": 10, "retired": 10,
                       "other": 5, UNKNOWN: 5}
EMPLOYMENT_65_PLUS = {"retired": 88, "employed": 7, "other": 3, UNKNOWN: 2}
SICK_LEAVE_EXTENT = {"full_time": 70, "part_time": 25, UNKNOWN: 5}
RETURN_TO_WORK = {"full_time": 55, "part_time": 20, "sick_leave": 12, "not_employed": 5, "retired": 5, UNKNOWN: 3}
DROPOUT_REASON = {"illness": 30, "lack_of_motivation": 20, "work": 10, "transport": 5, "moved": 3, "death": 4,
                  "other": 13, UNKNOWN: 15}
#: The same for citizens of 80 or more at the start: death three times as likely (one draw either way).
DROPOUT_REASON_OLD = {**DROPOUT_REASON, "death": 12}
#: main diagnosis -> (weight, {added procedure or diagnosis: probability})
DIAGNOSES: Mapping[str, tuple[float, Mapping[str, float]]] = {
    "acute_myocardial_infarction": (34, {"pci": 0.70, "cabg": 0.08, "heart_failure": 0.08}),
    "angina_pectoris": (18, {"pci": 0.50, "cabg": 0.12}),
    "heart_failure": (18, {"atrial_fibrillation": 0.15}),
    "valve_surgery": (8, {"cabg": 0.15, "atrial_fibrillation": 0.10}),
    "atrial_fibrillation": (12, {"heart_failure": 0.10}),
    "other": (10, {}),
}

# Plausible rates (docs/domain.md, "Rates the demo data follow"); the tests check the generated shares.
NEVER_START_RATE = 0.25
DROPOUT_RATE = 0.29
#: Who drops out (docs/import-and-demo.md): log-odds of a finished course ending as a drop-out, so
#: that smokers (OR about 2.5) and the youngest (under 55: OR about 2.2; 55-64: about 1.4) drop out
#: more, about DROPOUT_RATE on average over the demo's ages and smoking.
DROPOUT_LOGIT = {"base": -1.4, "smoker": 0.9, "under_55": 0.8, "under_65": 0.35}
SMOKING_QUIT_RATE = 0.45
MALE_SHARE = 0.70
SECOND_COURSE_RATE = 0.04
LONG_COURSE_RATE = 0.04      # more than 180 days between start and end meeting
OTHER_TEST_AT_END_RATE = 0.05
DRAFT_RATE = {"course": 0.01, "start": 0.02, "end": 0.03}
FIRST_REFERRAL = dt.date(2021, 1, 1)
#: Questionnaire answers come from pools of patterns per burden level (see _pattern_pool).
PATTERN_LEVELS = 20
PATTERNS_PER_LEVEL = 40

#: HjerteKom's own user municipalities weigh heavier: code -> (weight factor, first referral).
#: The Central Denmark Region (region code 1082) joined in 2017, the rest as noted.
HJERTEKOM_REGION = (1082, 5.0)
HJERTEKOM_MEMBERS: Mapping[int, tuple[float, dt.date]] = {
    360: (4.0, FIRST_REFERRAL), 376: (4.0, FIRST_REFERRAL), 390: (4.0, FIRST_REFERRAL),  # from 2018
    101: (3.0, dt.date(2023, 1, 1)),                                                    # Copenhagen, 2023
}

#: Approximate population in thousands (Statistics Denmark, about 2024, rounded): weights only.
#: A municipality missing here (a new code list entry) gets DEFAULT_POPULATION.
POPULATION_K: Mapping[int, float] = {
    101: 660, 147: 105, 151: 52, 153: 37, 155: 14, 157: 75, 159: 70, 161: 24, 163: 30, 165: 28, 167: 55,
    169: 58, 173: 57, 175: 41, 183: 24, 185: 44, 187: 17, 190: 41, 201: 26, 210: 41, 217: 63, 219: 52,
    223: 25, 230: 57, 240: 44, 250: 46, 260: 32, 270: 41, 400: 39, 253: 51, 259: 62, 265: 90, 269: 23,
    306: 33, 316: 73, 320: 38, 326: 49, 329: 36, 330: 80, 336: 23, 340: 30, 350: 28, 360: 40, 370: 84,
    376: 60, 390: 46, 410: 40, 420: 41, 430: 52, 440: 24, 450: 32, 461: 208, 479: 59, 480: 30, 482: 12,
    492: 6, 510: 56, 530: 27, 540: 74, 550: 37, 561: 116, 563: 3.5, 573: 50, 575: 43, 580: 59, 607: 52,
    621: 95, 630: 121, 615: 99, 657: 90, 661: 59, 665: 19, 671: 21, 706: 43, 707: 37, 710: 50, 727: 24,
    730: 99, 740: 101, 741: 3.7, 746: 65, 751: 367, 756: 42, 760: 56, 766: 48, 779: 46, 791: 98, 773: 20,
    787: 43, 810: 36, 813: 58, 820: 36, 825: 1.7, 840: 30, 846: 42, 849: 38, 851: 222, 860: 64,
}
DEFAULT_POPULATION = 30.0

MALE_NAMES = (
    "Jens", "Peter", "Hans", "Niels", "Søren", "Lars", "Jørgen", "Henrik", "Michael", "Poul", "Ole", "Thomas",
    "Bent", "Erik", "Per", "Torben", "Kim", "Carsten", "Anders", "Morten", "Preben", "Flemming", "Leif", "Steen",
    "Knud", "Finn", "Svend", "John", "Jan", "Kurt", "Allan", "Frank", "Bjarne", "Arne", "Kaj", "Karl", "Palle",
    "Jesper", "Brian", "Claus", "Martin", "Erling", "Mogens", "Jørn", "Bo", "Keld", "Ove", "Gunnar", "Aage",
    "Benny", "Holger", "Frede", "Viggo", "Johannes", "Christian", "Kristian", "Jakob", "Rasmus", "Mads", "Tage",
)
FEMALE_NAMES = (
    "Anne", "Kirsten", "Hanne", "Mette", "Inge", "Karen", "Susanne", "Lene", "Marianne", "Birgit", "Bente",
    "Grethe", "Lone", "Else", "Ruth", "Jytte", "Pia", "Tove", "Lis", "Ingrid", "Annette", "Gitte", "Helle",
    "Dorthe", "Merete", "Birthe", "Ulla", "Jette", "Lise", "Gerda", "Inger", "Margit", "Ellen", "Bodil",
    "Vibeke", "Charlotte", "Tina", "Camilla", "Rikke", "Maria", "Lisbeth", "Connie", "Annie", "Winnie", "Jane",
    "Karin", "Solveig", "Edith", "Erna", "Agnete", "Aase", "Hanna", "Britta", "Kamma", "Ida", "Anna", "Eva",
)
SURNAMES = (
    "Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
    "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Christiansen", "Poulsen", "Johansen",
    "Møller", "Mortensen", "Knudsen", "Jakobsen", "Mikkelsen", "Jacobsen", "Olesen", "Frederiksen", "Laursen",
    "Henriksen", "Lund", "Schmidt", "Eriksen", "Holm", "Kristiansen", "Clausen", "Simonsen", "Svendsen",
    "Andreasen", "Jeppesen", "Iversen", "Østergaard", "Vestergaard", "Jepsen", "Nissen", "Lauridsen", "Kjær",
    "Dam", "Mogensen", "Bertelsen", "Nørgaard", "Thygesen", "Bach", "Kjeldsen", "Søndergaard", "Bruun",
    "Lassen", "Berg", "Friis", "Dahl", "Brandt", "Winther", "Bak", "Juhl", "Krogh", "Skov", "Overgaard",
)

#: Demo users: username, role, municipalities. Password: see ``demo_password``.
DEMO_USERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("kliniker", "clinician", (740,)),
    ("koordinator", "coordinator", (740,)),
    ("klinik101", "clinician", (101,)),
    ("forsker", "researcher", ()),
    ("admin", "administrator", ()),
)


def demo_password(role: str) -> str:
    """"demo-<role>", except the administrator's: "demo-administrator" holds the username "admin",
    which the password policy refuses (access.check_password)."""
    return "demo-systemansvarlig" if role == "administrator" else f"demo-{role}"


# =================================================================================================
# Public API
# =================================================================================================
@dataclass
class DemoSummary:
    """What a demo run wrote."""

    citizens: int = 0
    courses: int = 0
    registrations: Counter[tuple[str, str]] = field(default_factory=Counter)  # (form, status) -> n

    def describe(self) -> str:
        parts = []
        for form in dict.fromkeys(f for f, _ in self.registrations):  # written course, start, end
            complete = self.registrations.get((form, "complete"), 0)
            draft = self.registrations.get((form, "draft"), 0)
            parts.append(f"{form} {complete} færdige/complete + {draft} kladder/drafts")
        total = sum(self.registrations.values())
        return (f"Demodata / demo data: {self.citizens} borgere/citizens, {self.courses} forløb/courses, "
                f"{total} registreringer/registrations ({'; '.join(parts) or '-'})")


def store_is_empty(store: Store) -> bool:
    """True when the store holds no citizens."""
    with store.read() as conn:
        return conn.execute(select(citizens.c.id).limit(1)).first() is None


def create_demo_users(store: Store) -> list[str]:
    """One demo user per role (see DEMO_USERS); existing usernames are left alone.

    Returns one printable line per user (username, role, municipalities, password).
    """
    with store.read() as conn:
        names = {r.code: r.name for r in conn.execute(select(municipalities.c.code, municipalities.c.name))}
    lines = []
    for username, role, codes in DEMO_USERS:
        where = ", ".join(f"{c} {names.get(c, '')}".strip() for c in codes) or (
            "alle/all" if role == "administrator" else "-")
        try:
            add_user(store, SYSTEM, username, f"Demo-{ROLE_LABELS[role]['da'].lower()}", role, demo_password(role), codes)
        except UserExists:
            lines.append(f"{username:12} {role:14} {where:16} findes allerede / exists already")
            continue
        if role in ("clinician", "coordinator"):  # so the course summary shows a whole signature
            with store.write() as conn:
                conn.execute(update(users).where(users.c.username == username).values(
                    phone="12 34 56 78", email=f"{username}@demo.hjertekom.invalid"))
        lines.append(f"{username:12} {role:14} {where:16} adgangskode/password: {demo_password(role)}")
    return lines


#: The programmes whose demo citizens this module models clinically (``Vocabulary``); every other
#: programme's demo data come from its contract alone (``demo_generic``).
CLINICAL_MODELS = frozenset({"hjertekom"})


def generate_demo(workspace: Workspace, n_citizens: int, seed: int, *, progress: Progress | None = None,
                  programme: str = "hjertekom", today: dt.date | None = None) -> DemoSummary:
    """Write ``n_citizens`` synthetic citizens with their courses; deterministic per seed and today.

    ``progress(k)`` is called with the number of citizens just written (an increment, as click's
    progress bar expects).
    """
    if n_citizens < 0:
        raise ValueError("n_citizens must not be negative")
    if programme not in CLINICAL_MODELS:  # another programme: values from its contract alone
        from hjertekom_core.demo_generic import generate_generic_demo

        return generate_generic_demo(workspace, n_citizens, seed, programme, today=today, progress=progress)
    store = workspace.store
    generator = DemoGenerator(workspace.contracts[programme], seed, today or dt.date.today())
    with store.read() as conn:
        taken = set(conn.execute(select(citizens.c.cpr)).scalars())
    summary = DemoSummary()
    started = audit.now()
    for first in range(0, n_citizens, CHUNK_SIZE):
        batch = [generator.citizen(i, taken) for i in range(first, min(first + CHUNK_SIZE, n_citizens))]
        with store.write() as conn:
            _write(conn, generator.contract.version, programme, batch, summary)
            if first + CHUNK_SIZE >= n_citizens:
                _record_run(conn, summary, seed, programme, started)
        if progress is not None:
            progress(len(batch))
    if n_citizens == 0:
        with store.write() as conn:
            _record_run(conn, summary, seed, programme, started)
    log.info("demo data written: %d citizens, %d courses", summary.citizens, summary.courses)
    return summary


def _record_run(conn: Any, summary: DemoSummary, seed: int, programme: str, started: dt.datetime) -> None:
    # The seed is written with separators so that a 10-digit seed cannot look like a CPR number.
    audit.record(conn, SYSTEM, "demo.generate", "demo", None, None, {
        "programme": programme, "seed": f"{seed:_}", "citizens": summary.citizens, "courses": summary.courses,
        "registrations": sum(summary.registrations.values()),
        "seconds": round((audit.now() - started).total_seconds(), 1)})


def _write(conn: Any, version: str, programme: str, batch: Sequence[DemoCitizen], summary: DemoSummary) -> None:
    citizen_ids = conn.execute(
        insert(citizens).returning(citizens.c.id, sort_by_parameter_order=True),
        [{"cpr": c.cpr, "name": c.name, "birth_date": c.birth_date, "sex": c.sex,
          "municipality_code": c.municipality, "created_at": c.courses[0].created_at, "created_by": None}
         for c in batch]).scalars().all()
    course_rows = [(cid, course) for cid, c in zip(citizen_ids, batch) for course in c.courses]
    course_ids = conn.execute(
        insert(courses).returning(courses.c.id, sort_by_parameter_order=True),
        [{"citizen_id": cid, "programme": programme, "municipality_code": course.municipality,
          "created_at": course.created_at, "created_by": None} for cid, course in course_rows]).scalars().all()
    regs = [{"course_id": course_id, "form": r.form, "revision": 1, "status": r.status, "data": r.data,
             "contract_version": version, "user_id": None, "saved_at": r.saved_at}
            for course_id, (_, course) in zip(course_ids, course_rows) for r in course.registrations]
    conn.execute(insert(registrations), regs)
    summary.citizens += len(batch)
    summary.courses += len(course_ids)
    summary.registrations.update((r["form"], r["status"]) for r in regs)


# =================================================================================================
# The generator
# =================================================================================================
@dataclass(frozen=True)
class DemoRegistration:
    form: str
    status: str
    data: str            # JSON, as the service stores it
    saved_at: dt.datetime


@dataclass(frozen=True)
class DemoCourse:
    municipality: int
    created_at: dt.datetime
    registrations: tuple[DemoRegistration, ...]


@dataclass(frozen=True)
class DemoCitizen:
    cpr: str = field(repr=False)
    name: str = field(repr=False)
    birth_date: dt.date
    sex: str
    municipality: int
    courses: tuple[DemoCourse, ...]


class _Pick:
    """A weighted choice among codes; the codes are checked against the contract's code list."""

    def __init__(self, weights: Mapping[Any, float], codelist: CodeList | None, where: str) -> None:
        if codelist is not None:
            unknown = [c for c in weights if c not in codelist]
            if unknown:
                raise ContractError("demo", where, f"codes {unknown} are not in code list {codelist.name!r}")
        self.codes = list(weights)
        self.cum = list(itertools.accumulate(weights.values()))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> Any:
        return self.codes[bisect.bisect_right(self.cum, rng.random() * self.total)]


@dataclass
class _Person:
    """The latent state of one citizen in one course (what the two meetings measure)."""

    sex: str
    age: int
    height: int = 0
    bmi: float = 0.0
    smoker_start: Any = None
    employment: Any = None
    burden: dict[str, float] = field(default_factory=dict)
    start: Data = field(default_factory=dict)


def dropout_probability(p: _Person) -> float:
    """The chance that a started course ends as a drop-out (DROPOUT_LOGIT), from the start's smoking
    and the age."""
    w = DROPOUT_LOGIT
    x = w["base"] + (w["smoker"] if p.smoker_start in V.smokers else 0.0)
    x += w["under_55"] if p.age < 55 else w["under_65"] if p.age < 65 else 0.0
    return 1 / (1 + math.exp(-x))


class DemoGenerator:
    """Generates one citizen at a time, deterministically from (seed, index)."""

    def __init__(self, contract: Contract, seed: int, today: dt.date) -> None:
        self.contract = contract
        self.seed = seed
        self.today = today
        self.now = dt.datetime.now(dt.timezone.utc)
        self.course_form = contract.form(contract.course_form)
        # Keyed by role; a form's own name is what is stored and what contexts use.
        self.forms = {"course": self.course_form, "start": contract.form(V.start_form),
                      "end": contract.form(V.end_form)}
        _check_vocabulary(contract, self.forms)
        course_fields = self.course_form.fields
        self.municipality_field = contract.municipality_field
        codes = course_fields[self.municipality_field].codelist
        assert codes is not None
        self.municipalities = _Pick(_municipality_weights(codes), None, "municipality")
        pick = self._pick
        start = self.forms["start"]
        end = self.forms["end"]
        self.referral_source = pick(REFERRAL_SOURCE, course_fields[V.referral_source])
        self.nyha = pick(NYHA, course_fields[V.nyha_class])
        diagnosis = course_fields[V.diagnosis_groups].codelist
        self.main_diagnosis = _Pick({k: w for k, (w, _) in DIAGNOSES.items()}, diagnosis, "diagnoses")
        self.diagnosis_order = {c: i for i, c in enumerate(diagnosis.values)} if diagnosis else {}
        self.profession = pick(PROFESSION, start.fields[V.profession])
        self.smoking = pick(SMOKING, start.fields[V.smoking])
        self.activity = pick(ACTIVITY, start.fields[V.physical_activity])
        self.fitness_test = pick(FITNESS_TEST, start.fields[V.fitness_test_type])
        status_field = start.fields[next(iter(V.questionnaires))]
        self.q_status = {"start": pick(QUESTIONNAIRE_STATUS_START, status_field),
                         "end": pick(QUESTIONNAIRE_STATUS_END, status_field),
                         "dropout": pick(QUESTIONNAIRE_STATUS_DROPOUT, status_field)}
        self.employment = {False: pick(EMPLOYMENT_UNDER_65, start.fields[V.employment]),
                           True: pick(EMPLOYMENT_65_PLUS, start.fields[V.employment])}
        self.sick_leave_extent = pick(SICK_LEAVE_EXTENT, start.fields[V.sick_leave_extent])
        self.return_to_work = pick(RETURN_TO_WORK, end.fields[V.return_to_work])
        self.dropout_reason = pick(DROPOUT_REASON, end.fields[V.dropout_reason])
        self.dropout_reason_old = pick(DROPOUT_REASON_OLD, end.fields[V.dropout_reason])
        # Questionnaire items: the fields shown when the status field says "completed".
        self.items = {name: self._questionnaire_items(form) for name, form in self.forms.items()}
        self.required = {name: {f.name: f for f in form.input_fields() if f.required}
                         for name, form in self.forms.items()}
        lists = _list_fields(contract)
        self.derived = {name: _Derivations(form, lists, contract) for name, form in self.forms.items()}
        self.visibility = {name: _Visibility(form, lists) for name, form in self.forms.items()}
        self._patterns: dict[tuple[str, str, int], list[Data]] = {}

    # --- contract helpers ------------------------------------------------------------------------
    @staticmethod
    def _pick(weights: Mapping[Any, float], f: Field) -> _Pick:
        return _Pick(weights, f.codelist, f"{f.form}.{f.name}")

    def _questionnaire_items(self, form: Form) -> list[tuple[str, list[tuple[Field, list[Any]]], bool]]:
        found = []
        for status, higher_is_better in V.questionnaires.items():
            if status not in form.fields:
                continue
            items = []
            for f in form.input_fields():
                if f.show_if is not None and any(r.field == status for r in f.show_if.refs()):
                    values = sorted(c for c in f.codelist.values if c != UNKNOWN) if f.codelist else []
                    items.append((f, values))
            found.append((status, items, higher_is_better))
        return found

    def _number(self, form: str, name: str, value: float) -> int | float:
        return _fit(self.forms[form].fields[name], value)

    # --- one citizen -----------------------------------------------------------------------------
    def citizen(self, index: int, taken: set[str]) -> DemoCitizen:
        """Citizen number ``index``; its CPR number is added to ``taken`` (which it must avoid)."""
        rng = random.Random(f"hjertekom-demo/{self.seed}/{index}")
        sex = "M" if rng.random() < MALE_SHARE else "F"
        age = int(min(90, max(45, rng.gauss(67, 9.5))))
        municipality = self.municipalities(rng)
        first_possible = HJERTEKOM_MEMBERS.get(municipality, (1.0, FIRST_REFERRAL))[1]
        referral = first_possible + dt.timedelta(days=rng.randint(0, (self.today - first_possible).days))
        birth_date = referral - dt.timedelta(days=int(age * 365.25) + rng.randint(0, 364))
        # About 2 % of numbers fail modulus 11, as numbers issued since 2007 may.
        modulus11 = rng.random() >= 0.02
        cpr = generate_cpr(rng, birth_date=birth_date, sex=sex, modulus11=modulus11)
        while cpr in taken:
            cpr = generate_cpr(rng, birth_date=birth_date, sex=sex, modulus11=modulus11)
        taken.add(cpr)
        first = rng.choice(MALE_NAMES if sex == "M" else FEMALE_NAMES)
        middle = f" {rng.choice(SURNAMES)}" if rng.random() < 0.2 else ""
        name = f"{first}{middle} {rng.choice(SURNAMES)}"
        course_list = [self.course(rng, _Person(sex, age), municipality, referral)]
        if rng.random() < SECOND_COURSE_RATE:
            again = referral + dt.timedelta(days=rng.randint(365, 900))
            if again <= self.today:
                age_again = age + (again - referral).days // 365
                course_list.append(self.course(rng, _Person(sex, age_again), municipality, again))
        return DemoCitizen(cpr, name, birth_date, sex, municipality, tuple(course_list))

    def course(self, rng: random.Random, p: _Person, municipality: int, referral: dt.date) -> DemoCourse:
        regs: list[DemoRegistration] = []
        context: dict[str, Data] = {}
        course = self.course_data(rng, municipality, referral)
        draft = rng.random() < DRAFT_RATE["course"]
        if draft:  # referral registered, diagnosis still to come
            course.pop(V.diagnosis_groups, None)
        regs.append(self._registration(rng, "course", course, context, draft, referral))
        context[self.course_form.name] = course  # contexts are keyed by the contract's form names
        if rng.random() < NEVER_START_RATE:
            return DemoCourse(municipality, regs[0].saved_at, tuple(regs))
        start_date = min(self.today, referral + dt.timedelta(days=rng.randint(7, 45)))
        before, context_before = rng.getstate(), dict(context)
        u = rng.random()
        made = self._started(rng, p, municipality, start_date, u < DROPOUT_RATE, regs, context)
        wanted = u < dropout_probability(p)
        if wanted == (u < DROPOUT_RATE):
            return made
        # The same draw decides with the person's own probability. The course is made again from the
        # same point of a copy of the stream, and kept only if it has the same registrations (forms
        # and drafts): the citizen's stream goes on from where the first version left it, so every
        # later draw (a second course, the next citizen) and every worklist list stay as they were.
        again = random.Random()
        again.setstate(before)
        again.random()
        remade = self._started(again, p, municipality, start_date, wanted, regs[:1], context_before)
        shape = [[(r.form, r.status) for r in c.registrations] for c in (made, remade)]
        return remade if shape[0] == shape[1] else made

    def _started(self, rng: random.Random, p: _Person, municipality: int, start_date: dt.date, dropout: bool,
                 regs: list[DemoRegistration], context: dict[str, Data]) -> DemoCourse:
        """The rest of a course that starts: the start form, and the end form once the course ended."""
        start = self.start_data(rng, p, start_date, context)
        # A start form left as a draft keeps the course open; only courses heading for completion.
        start_draft = not dropout and rng.random() < DRAFT_RATE["start"]
        if start_draft:
            self._drop_questionnaires(start, self.items["start"][-2:])
        regs.append(self._registration(rng, "start", start, context, start_draft, start_date))
        context[V.start_form] = p.start = start
        if start_draft:
            return DemoCourse(municipality, regs[0].saved_at, tuple(regs))
        if dropout:
            end_date = min(self.today, start_date + dt.timedelta(days=rng.randint(7, 70)))
        else:
            long_course = rng.random() < LONG_COURSE_RATE
            end_date = start_date + dt.timedelta(days=rng.randint(181, 260) if long_course else rng.randint(56, 120))
            if end_date > self.today:  # still running: no end form, or a draft with the plan so far
                if rng.random() < 0.3:
                    planned = self._training(rng, p, dropout=False)[0]
                    regs.append(self._registration(rng, "end", {V.training_planned: planned}, context, True,
                                                   self.today))
                return DemoCourse(municipality, regs[0].saved_at, tuple(regs))
        end = self.end_data(rng, p, end_date, dropout, context)
        end_draft = rng.random() < DRAFT_RATE["end"]
        if end_draft:  # questionnaires not typed in yet
            self._drop_questionnaires(end, self.items["end"])
        regs.append(self._registration(rng, "end", end, context, end_draft, end_date))
        return DemoCourse(municipality, regs[0].saved_at, tuple(regs))

    def _registration(self, rng: random.Random, form: str, data: Data, context: Mapping[str, Data], draft: bool,
                      day: dt.date) -> DemoRegistration:
        """Finish ``data`` as validate_form would clean it: hidden fields dropped, required ones
        the generator does not know filled in, derived scores computed by the core."""
        visible = self.visibility[form](data, context)
        for name in [k for k in data if not visible.get(k, True)]:
            del data[name]
        if not draft:
            for name in [n for n in self.required[form] if n not in data]:  # contract order: deterministic
                if visible.get(name, True):
                    data[name] = self._generic(rng, self.required[form][name], day)
        data.update(self.derived[form](data, context))
        saved = dt.datetime.combine(day, dt.time(8 + rng.randint(0, 7), rng.randint(0, 59)), dt.timezone.utc)
        return DemoRegistration(self.forms[form].name, "draft" if draft else "complete", dump_data(data),
                                min(saved, self.now))

    def _generic(self, rng: random.Random, f: Field, day: dt.date) -> Any:
        """An answer for a required field the generator knows nothing about (a new contract field)."""
        if f.codelist is not None:
            codes = [c for c in f.codelist.values if c != UNKNOWN] or list(f.codelist.values)
            choice = rng.choice(codes)
            return [choice] if f.type == "multi_choice" else choice
        if f.accepts_unknown():
            return UNKNOWN
        if f.type in ("int", "decimal"):
            limits = f.soft or f.hard
            lo = limits.min if limits and limits.min is not None else 0
            hi = limits.max if limits and limits.max is not None else lo + 100
            return _fit(f, rng.uniform(lo, hi))
        if f.type == "date":
            return day.isoformat()
        if f.type == "bool":
            return rng.random() < 0.5
        return "-"

    # --- forms -----------------------------------------------------------------------------------
    def course_data(self, rng: random.Random, municipality: int, referral: dt.date) -> Data:
        data: Data = {self.municipality_field: municipality, V.referral_date: referral.isoformat(),
                      V.referral_source: self.referral_source(rng)}
        main = self.main_diagnosis(rng)
        groups = {main} | {extra for extra, share in DIAGNOSES[main][1].items() if rng.random() < share}
        data[V.diagnosis_groups] = sorted(groups, key=self.diagnosis_order.__getitem__)
        r = rng.random()
        if r < 0.04:
            data[V.index_event_date] = UNKNOWN
        elif r < 0.94:
            data[V.index_event_date] = (referral - dt.timedelta(days=rng.randint(2, 30))).isoformat()
        if V.heart_failure in groups:
            data[V.nyha_class] = self.nyha(rng)
        return data

    def start_data(self, rng: random.Random, p: _Person, day: dt.date, context: Mapping[str, Data]) -> Data:
        n = self._number
        male = p.sex == "M"
        data: Data = {V.meeting_date: day.isoformat(), V.profession: self.profession(rng)}
        p.height = n("start", V.height_cm, rng.gauss(179 if male else 166, 7 if male else 6))
        p.bmi = min(45.0, max(18.5, rng.gauss(28, 4.5)))
        data[V.height_cm] = p.height
        r = rng.random()
        data[V.weight_kg] = (UNKNOWN if r < 0.01 else V.declined if r < 0.02
                             else n("start", V.weight_kg, p.bmi * (p.height / 100) ** 2))
        r = rng.random()
        if r < 0.9:
            data[V.waist_cm] = n("start", V.waist_cm, (100 if male else 91) + (p.bmi - 28) * 2.4 + rng.gauss(0, 6))
        elif r < 0.95:  # not measured, and why; the rest left blank (not answered)
            data[V.waist_cm] = V.declined if r < 0.93 else V.not_applicable
        if rng.random() < 0.95:
            systolic = n("start", V.bp_systolic, rng.gauss(137, 17))
            data[V.bp_systolic] = systolic
            data[V.bp_diastolic] = n("start", V.bp_diastolic, min(rng.gauss(80, 10), systolic - 25))
        if rng.random() < 0.93:
            data[V.resting_hr] = n("start", V.resting_hr, rng.gauss(68, 10))
        r = rng.random()
        if r < 0.15:
            data[V.ldl] = UNKNOWN
        elif r < 0.9:
            data[V.ldl] = n("start", V.ldl, max(0.6, rng.gauss(2.3, 0.8)))
        p.smoker_start = data[V.smoking] = self.smoking(rng)
        data[V.alcohol] = UNKNOWN if rng.random() < 0.04 else n(
            "start", V.alcohol, max(0.0, rng.gauss(7 if male else 4, 6)))
        data[V.physical_activity] = self.activity(rng)
        self._fitness(rng, p, data, "start", self.fitness_test(rng), None)
        base = min(0.85, max(0.02, rng.gauss(0.3, 0.15)))
        for status, _items, _ in self.items["start"]:
            p.burden[status] = min(1.0, max(0.0, base + rng.gauss(0, 0.08)))
        self._questionnaires(rng, p, data, "start", self.q_status["start"])
        p.employment = data[V.employment] = self.employment[p.age >= 65](rng)
        if p.employment == V.sick_leave:
            data[V.sick_leave_extent] = self.sick_leave_extent(rng)
            referral = context[self.course_form.name][V.referral_date]
            data[V.sick_leave_start_date] = UNKNOWN if rng.random() < 0.1 else (
                dt.date.fromisoformat(referral) - dt.timedelta(days=rng.randint(0, 20))).isoformat()
        for offer, share in V.offers.items():
            data[offer] = self._yes_no(rng, share)
        return data

    def end_data(self, rng: random.Random, p: _Person, day: dt.date, dropout: bool,
                 context: Mapping[str, Data]) -> Data:
        n = self._number
        start = p.start
        data: Data = {V.meeting_date: day.isoformat(), V.profession: self.profession(rng),
                      V.course_status: V.dropped_out if dropout else V.completed}
        if dropout:
            data[V.dropout_reason] = (self.dropout_reason_old if p.age >= 80 else self.dropout_reason)(rng)
        planned, attended = self._training(rng, p, dropout)
        data[V.training_planned], data[V.training_attended] = planned, attended
        for name, (share, share_dropout) in V.received.items():
            data[name] = self._received(rng, name, share_dropout if dropout else share, start)
        if p.employment in V.working:
            data[V.return_to_work] = UNKNOWN if dropout and rng.random() < 0.5 else self.return_to_work(rng)
        measured = not dropout or rng.random() < 0.3
        if not measured:
            data[V.weight_kg] = UNKNOWN
        elif not isinstance(start.get(V.weight_kg), float):  # uoplyst or declined at the start
            data[V.weight_kg] = start.get(V.weight_kg, UNKNOWN) if rng.random() < 0.5 else n(
                "end", V.weight_kg, p.bmi * (p.height / 100) ** 2 * 0.99)
        else:
            loss = rng.gauss(0.015, 0.025) if not dropout else rng.gauss(0, 0.01)
            data[V.weight_kg] = n("end", V.weight_kg, start[V.weight_kg] * (1 - loss))
        if measured:
            if isinstance(start.get(V.waist_cm), float) and rng.random() < 0.95:
                data[V.waist_cm] = n("end", V.waist_cm, start[V.waist_cm] - rng.gauss(1.5, 2.5))
            if V.bp_systolic in start and rng.random() < 0.95:
                systolic = n("end", V.bp_systolic, start[V.bp_systolic] - rng.gauss(4, 9))
                data[V.bp_systolic] = systolic
                data[V.bp_diastolic] = n("end", V.bp_diastolic,
                                         min(start[V.bp_diastolic] - rng.gauss(2, 5), systolic - 25))
            if V.resting_hr in start and rng.random() < 0.9:
                data[V.resting_hr] = n("end", V.resting_hr, start[V.resting_hr] - rng.gauss(3, 5))
            if isinstance(start.get(V.ldl), float) and rng.random() < 0.7:
                data[V.ldl] = n("end", V.ldl, start[V.ldl] * rng.gauss(0.85, 0.1))
        data[V.smoking] = self._smoking_at_end(rng, p, dropout)
        if measured and isinstance(start.get(V.alcohol), int):
            data[V.alcohol] = n("end", V.alcohol, start[V.alcohol] * rng.uniform(0.6, 1.1))
        if measured and rng.random() < 0.9:
            data[V.physical_activity] = self.activity(rng)
        start_test = start[V.fitness_test_type]
        r = rng.random()
        if not measured or r < 0.04:
            test = V.fitness_not_done
        elif start_test == V.fitness_not_done or r < 0.04 + OTHER_TEST_AT_END_RATE:
            test = self.fitness_test(rng)
        else:
            test = start_test
        self._fitness(rng, p, data, "end", test, start if test == start_test else None, dropout)
        for status, _items, _ in self.items["end"]:
            change = rng.gauss(0.01, 0.05) if dropout else rng.gauss(0.08, 0.06)
            p.burden[status] = min(1.0, max(0.0, p.burden.get(status, 0.3) - change))
        self._questionnaires(rng, p, data, "end", self.q_status["dropout" if dropout else "end"])
        return data

    # --- pieces ----------------------------------------------------------------------------------
    def _yes_no(self, rng: random.Random, share_yes: float) -> str:
        r = rng.random()
        return UNKNOWN if r < 0.02 else (V.yes if r < 0.02 + 0.98 * share_yes else V.no)

    def _received(self, rng: random.Random, name: str, share_yes: float, start: Data) -> str:
        """An intervention received; one that needs an offer is "no" where the plan said no, and
        more likely where it said yes, so that the overall share stays ``share_yes``."""
        offer = V.received_needs_offer.get(name)
        offered = start.get(offer) if offer else None
        if offered == V.no:
            return UNKNOWN if rng.random() < 0.02 else V.no  # one draw, as every answer takes
        if offered == V.yes:
            assert offer is not None
            share_yes = min(1.0, share_yes / V.offers[offer])
        return self._yes_no(rng, share_yes)

    def _training(self, rng: random.Random, p: _Person, dropout: bool) -> tuple[Any, Any]:
        if p.start.get(V.training_offered) != V.yes:
            return 0, 0
        if rng.random() < 0.03:
            return UNKNOWN, UNKNOWN
        planned = rng.randint(16, 24)
        share = rng.uniform(0.0, 0.6) if dropout else 1 - abs(rng.gauss(0, 0.12))
        return planned, min(planned, int(round(planned * share)))

    def _smoking_at_end(self, rng: random.Random, p: _Person, dropout: bool) -> Any:
        if dropout and rng.random() < 0.6:
            return UNKNOWN
        if p.smoker_start in V.smokers:
            return V.former_smoker if rng.random() < (SMOKING_QUIT_RATE if not dropout else 0.2) else p.smoker_start
        if p.smoker_start == UNKNOWN:
            return self.smoking(rng)
        return p.smoker_start

    def _fitness(self, rng: random.Random, p: _Person, data: Data, form: str, test: str, start: Data | None,
                 dropout: bool = False) -> None:
        data[V.fitness_test_type] = test
        if test not in V.fitness_tests:
            return
        result_field, male_typical, female_typical, spread, gain = V.fitness_tests[test]
        if start is not None and result_field in start:
            change = rng.gauss(gain, gain * 0.7) if not dropout else rng.gauss(0.02, 0.05)
            value = start[result_field] * (1 + change)
        else:
            typical = male_typical if p.sex == "M" else female_typical
            value = typical * (1 - (p.age - 67) * 0.012) * (1 + rng.gauss(0, spread))
        data[result_field] = self._number(form, result_field, value)

    def _questionnaires(self, rng: random.Random, p: _Person, data: Data, form: str, status_pick: _Pick) -> None:
        for status, items, higher_is_better in self.items[form]:
            data[status] = answer = status_pick(rng)
            if answer != V.questionnaire_completed:
                continue
            burden = p.burden.get(status, 0.3)
            level = round(burden * PATTERN_LEVELS)
            pool = self._patterns.get((form, status, level))
            if pool is None:
                pool = self._patterns[(form, status, level)] = self._pattern_pool(form, status, level)
            data.update(rng.choice(pool))
            for f, values in items:
                if not values and f.type in ("int", "decimal"):  # a scale such as EQ VAS, per person
                    limits = f.soft or f.hard
                    lo = limits.min if limits and limits.min is not None else 0
                    hi = limits.max if limits and limits.max is not None else 100
                    share = (1 - burden) if V.questionnaire_scales.get(f.name, True) else burden
                    data[f.name] = _fit(f, lo + (hi - lo) * (share * 0.9 + rng.gauss(0.05, 0.1)))

    def _pattern_pool(self, form: str, status: str, level: int) -> list[Data]:
        """Answer patterns for a questionnaire at one burden level.

        Why a pool: drawing each citizen's answers from a few hundred realistic patterns per
        level lets the memoised derivations (HADS, HeartQoL, ...) hit their cache, which is what
        keeps 100,000 citizens within a minute. Its own random stream keeps it deterministic.
        """
        rng = random.Random(f"hjertekom-demo/{self.seed}/{form}/{status}/{level}")
        _, items, higher_is_better = next(q for q in self.items[form] if q[0] == status)
        coded = [(f, values) for f, values in items if values]
        burden = level / PATTERN_LEVELS
        pool = []
        for _ in range(PATTERNS_PER_LEVEL):
            pattern: Data = {}
            for f, values in coded:
                pos = min(len(values) - 1, max(0, round(burden * (len(values) - 1) + rng.gauss(0, 0.6))))
                pattern[f.name] = values[len(values) - 1 - pos] if higher_is_better else values[pos]
            if coded and rng.random() < 0.05:  # the citizen skipped one item: "uoplyst"
                f = rng.choice(coded)[0]
                if f.accepts_unknown():
                    pattern[f.name] = UNKNOWN
            pool.append(pattern)
        return pool

    @staticmethod
    def _drop_questionnaires(data: Data, questionnaires: Sequence[tuple[str, list[tuple[Field, list[Any]]], bool]]
                             ) -> None:
        for status, items, _ in questionnaires:
            data.pop(status, None)
            for f, _values in items:
                data.pop(f.name, None)


def _fit(f: Field, value: float) -> int | float:
    """``value`` kept inside the field's soft limits (hard if none) and rounded as the contract says."""
    limits = f.soft or f.hard
    lo = -math.inf if limits is None or limits.min is None else limits.min
    hi = math.inf if limits is None or limits.max is None else limits.max
    value = min(max(value, lo), hi)
    if f.type == "int":
        number = int(round(value))
        if number < lo:  # rounding may step over a fractional limit
            number = math.ceil(lo)
        if number > hi:
            number = math.floor(hi)
        return number
    return round(float(value), f.decimals) if f.decimals is not None else float(value)


class _InputKey:
    """A hashable key of the values that ``refs`` point at (this form's data or another form's)."""

    def __init__(self, form: Form, refs: Sequence[Ref], lists: set[tuple[str | None, str]]) -> None:
        own = tuple(r.field for r in refs if r.form in (None, form.name))
        others: dict[str, list[str]] = {}
        for r in refs:
            if r.form not in (None, form.name):
                others.setdefault(r.form, []).append(r.field)
        self.own = own
        self.others = tuple((name, tuple(fields)) for name, fields in others.items())
        # multi_choice answers are lists: only those need turning into tuples
        self.has_lists = any((r.form or form.name, r.field) in lists for r in refs)

    def __call__(self, data: Data, context: Mapping[str, Data]) -> tuple[Any, ...]:
        key = tuple(map(data.get, self.own))
        for name, fields in self.others:
            key += tuple(map(context.get(name, {}).get, fields))
        return tuple(map(_hashable, key)) if self.has_lists else key


def _list_fields(contract: Contract) -> set[tuple[str | None, str]]:
    return {(form.name, f.name) for form in contract.forms.values() for f in form.fields.values()
            if f.type == "multi_choice"}


class _Visibility:
    """``branching.visible_fields`` memoised on the values its show-if conditions look at."""

    def __init__(self, form: Form, lists: set[tuple[str | None, str]]) -> None:
        self.form = form
        refs = {r: None for f in form.fields.values() if f.show_if is not None for r in f.show_if.refs()}
        self.key = _InputKey(form, tuple(refs), lists)
        self.cache: dict[tuple[Any, ...], dict[str, bool]] = {}

    def __call__(self, data: Data, context: Mapping[str, Data]) -> dict[str, bool]:
        key = self.key(data, context)
        visible = self.cache.get(key)
        if visible is None:
            visible = self.cache[key] = visible_fields_of(self.form, data, context)
        return visible


class _Derivations:
    """The derived scores of one form, computed by the core's ``compute_derived`` and memoised on
    the exact input values (so a result is always the core's own). Fields with the same inputs
    (HADS anxiety and depression) share one entry."""

    MAX_CACHE = 200_000

    def __init__(self, form: Form, lists: set[tuple[str | None, str]], contract: Contract) -> None:
        self.contract = contract  # so that a missing reason reaches the scoring as validation passes it
        groups: dict[tuple[Ref, ...], list[Field]] = {}
        for f in form.fields.values():
            if f.derived is not None:
                groups.setdefault(tuple(f.derived.refs()), []).append(f)
        self.groups = [(Form(form.name, form.label, (Section("derived", form.label, tuple(fields)),)),
                        _InputKey(form, refs, lists), {}) for refs, fields in groups.items()]

    def __call__(self, data: Data, context: Mapping[str, Data]) -> Data:
        out: Data = {}
        for sub_form, make_key, cache in self.groups:
            key = make_key(data, context)
            result = cache.get(key)
            if result is None:
                if len(cache) >= self.MAX_CACHE:
                    cache.clear()
                result = cache[key] = compute_derived(sub_form, data, context, self.contract)
            out.update(result)
        return out


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _municipality_weights(codes: CodeList) -> dict[int, float]:
    weights = {}
    for code in codes.codes:
        number = int(code.code)
        factor = HJERTEKOM_MEMBERS.get(number, (1.0, FIRST_REFERRAL))[0]
        region = code.attributes.get("region_code")
        if region is not None and int(region) == HJERTEKOM_REGION[0]:
            factor = HJERTEKOM_REGION[1]
        weights[number] = POPULATION_K.get(number, DEFAULT_POPULATION) * factor
    return weights


def _check_vocabulary(contract: Contract, forms: Mapping[str, Form]) -> None:
    """Every field the generator names must exist in the contract (else a ContractError)."""
    needed = {
        "course": [V.referral_date, V.referral_source, V.diagnosis_groups, V.index_event_date, V.nyha_class],
        "start": [V.meeting_date, V.profession, V.height_cm, V.weight_kg, V.waist_cm, V.bp_systolic, V.bp_diastolic,
                V.resting_hr, V.ldl, V.smoking, V.alcohol, V.physical_activity, V.fitness_test_type, V.employment,
                V.sick_leave_extent, V.sick_leave_start_date, *V.offers, *V.questionnaires,
                *(t[0] for t in V.fitness_tests.values())],
        "end": [V.meeting_date, V.course_status, V.dropout_reason, V.training_planned, V.training_attended,
              *V.received, V.return_to_work, V.weight_kg, V.smoking, V.fitness_test_type, *V.questionnaires],
    }
    for name, names in needed.items():
        form = forms[name]
        missing = [n for n in names if n not in form.fields]
        if missing:
            raise ContractError(str(contract.source), f"form {form.name}",
                                f"the demo generator needs fields {missing} (see hjertekom_core.demo.Vocabulary)")

