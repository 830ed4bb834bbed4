"""A programme's indicators as data: ``data_contracts/<programme>/indicators.yaml``, loaded and checked.

The file is checked against ``data_contracts/indicators.schema.yaml`` first, then cross-checked:
every fact, population, code set and setting it names exists, the facts form no cycle, impossible
data are judged from stored facts only, and, given the programme's contract, every form and field
exists with the declared type. A broken declaration fails here with a ContractError naming the
file, the place and the reason, like a broken data contract.

What the declarations mean (how unknown, excluded and impossible are counted) is in
``docs/indicators.md``; the SQL is made in ``conditions.py`` and ``facts.py``.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from dataclasses import field as dc_field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from hjertekom_core.contract import Contract, ContractRegistry, Text
from hjertekom_core.contract import schema_check
from hjertekom_core.errors import ContractError

#: The file of a programme's declarations, beside its contract.yaml.
DECLARATIONS_FILE = "indicators.yaml"
SCHEMA_FILE = "indicators.schema.yaml"
#: The code list of the reasons an answer may be missing (UNK, NA, DECL): every one means unknown.
MISSING_REASON_FILE = Path("codelists") / "missing_reason.yaml"
#: "Uoplyst" is unknown even where no missing-reason code list exists.
UNKNOWN_CODE = "UNK"
#: The built-in fact: the snapshot's creation date in Danish time (the live store: today).
REFERENCE_DATE = "reference_date"
#: The settings a declaration may name (``{setting: ...}``): fields of IndicatorSettings that are numbers.
SETTINGS = frozenset({"completion_limit_days"})
#: Placeholders in labels, filled from the settings: {limit} is completion_limit_days.
TEXT_PLACEHOLDERS = {"limit": "completion_limit_days"}

_LEAF_OPERATORS = ("equals", "in", "not_in", "lt", "le", "gt", "ge", "known", "is")
_FACT_KINDS = ("field", "result_of", "complete", "days_between", "difference", "date_plus_days", "first_known")


@dataclass(frozen=True)
class Setting:
    """A value from the configuration, e.g. ``completion_limit_days``."""

    name: str


@dataclass(frozen=True)
class FactRef:
    """Another fact of the same course, as a value to compare with."""

    name: str


@dataclass(frozen=True)
class Share:
    """``share`` x the fact ``of`` (e.g. 80 % of the planned sessions), compared exactly in integers."""

    share: Fraction
    of: str


Value = Any  # str | int | float | Setting | FactRef | Share | tuple[str | int, ...]


@dataclass(frozen=True)
class Fact:
    """One value per course. ``kind`` says how it is made (see indicators.schema.yaml)."""

    name: str
    label: Text
    kind: str
    type: str                                   # code, number, date, bool
    form: str | None = None
    field: str | None = None                    # kind field; kind result_of: the test-type field
    results: Mapping[str, str] = dc_field(default_factory=dict)  # test code -> result field
    args: tuple[Any, ...] = ()                  # fact names (or an int / Setting for date_plus_days)

    def depends_on(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if isinstance(a, str))


@dataclass(frozen=True)
class Condition:
    """``all``/``any`` of children, or one test of a fact. ``label`` is the text a reader sees."""

    op: str
    fact: str | None = None
    value: Value = None
    children: tuple[Condition, ...] = ()
    label: Text | None = None

    def facts(self) -> set[str]:
        """Every fact this condition reads."""
        found = {self.fact} if self.fact else set()
        if isinstance(self.value, FactRef):
            found.add(self.value.name)
        if isinstance(self.value, Share):
            found.add(self.value.of)
        for child in self.children:
            found |= child.facts()
        return found

    def settings(self) -> set[str]:
        found = {self.value.name} if isinstance(self.value, Setting) else set()
        for child in self.children:
            found |= child.settings()
        return found


@dataclass(frozen=True)
class Population:
    name: str
    label: Text
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class Rule:
    """Impossible data: a course for which ``when`` holds is counted nowhere and listed."""

    name: str
    label: Text
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class Note:
    """A count the report shows beside an indicator: courses of its denominator for which ``when`` holds."""

    name: str
    label: Text
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class IndicatorDeclaration:
    id: str
    name: Text
    standard: str
    population: str
    period_date: str
    denominator: tuple[Condition, ...]
    determinable_when: tuple[Condition, ...]
    numerator: tuple[Condition, ...]
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Declarations:
    """Everything a programme declares for its indicators."""

    programme: str
    version: str
    source: str
    facts: Mapping[str, Fact]
    code_sets: Mapping[str, tuple[tuple[Any, ...], Text]]
    populations: Mapping[str, Population]
    impossible: tuple[Rule, ...]
    indicators: tuple[IndicatorDeclaration, ...]
    unknown_codes: tuple[str, ...]

    def indicator(self, indicator_id: str) -> IndicatorDeclaration:
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        raise KeyError(indicator_id)

    @functools.cached_property
    def stored_names(self) -> frozenset[str]:
        """Facts that depend on neither the reference date nor a setting: the same in every
        computation over one snapshot, so they can be written into the snapshot's facts table."""
        return frozenset(name for name in self.facts if _stored(self.facts, name))

    def is_stored(self, name: str) -> bool:
        return name in self.stored_names

    @property
    def stored_facts(self) -> tuple[Fact, ...]:
        return tuple(f for name, f in self.facts.items() if name in self.stored_names)

    @property
    def forms(self) -> tuple[str, ...]:
        """The forms the facts read, in the order first named."""
        return tuple(dict.fromkeys(f.form for f in self.facts.values() if f.form))

    def fingerprint(self) -> str:
        """What a stored facts table was written from: the stored facts, the impossible-data rules
        and the unknown codes. A facts table with another fingerprint is not used."""
        doc = {"programme": self.programme,
               "facts": [_plain(f) for f in self.stored_facts],
               "impossible": [_plain(r) for r in self.impossible],
               "unknown": list(self.unknown_codes)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plain(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool, type(None))) else str(obj)


def _stored(facts: Mapping[str, Fact], name: str) -> bool:
    """True when the fact depends on neither the reference date nor a setting (facts form no cycle)."""
    if name == REFERENCE_DATE:
        return False
    fact = facts[name]
    if fact.kind == "date_plus_days" and isinstance(fact.args[1], Setting):
        return False
    return all(dep in facts and _stored(facts, dep) for dep in fact.depends_on() if dep != REFERENCE_DATE) \
        and REFERENCE_DATE not in fact.depends_on()


# --- loading -----------------------------------------------------------------------------------------

def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ContractError(str(path), "-", "file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ContractError(str(path), f"line {mark.line + 1}" if mark else "-",
                            f"not valid YAML: {getattr(exc, 'problem', exc)}") from None


@functools.lru_cache(maxsize=None)
def _validator(schema_path: Path) -> Any:
    jsonschema = schema_check.jsonschema_module()
    schema = _read_yaml(schema_path)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def unknown_codes(contracts_dir: Path) -> tuple[str, ...]:
    """The codes that mean "unknown": UNK and every code of the missing-reason code list, if the
    contracts have one. A blank (NULL) is unknown too; that needs no code."""
    path = contracts_dir / MISSING_REASON_FILE
    codes = [UNKNOWN_CODE]
    if path.exists():
        doc = _read_yaml(path) or {}
        codes += [str(c["code"]) for c in doc.get("codes", []) if isinstance(c, Mapping) and "code" in c]
    return tuple(dict.fromkeys(codes))


def _text(raw: Mapping[str, str]) -> Text:
    return Text(raw["da"], raw["en"])


class _Reader:
    """Turns the schema-checked document into objects, checking the cross-references."""

    def __init__(self, path: Path, doc: Mapping[str, Any]) -> None:
        self.path = path
        self.doc = doc
        self.code_sets = {name: (tuple(raw["codes"]), _text(raw["label"]))
                          for name, raw in (doc.get("code_sets") or {}).items()}

    def fail(self, where: str, reason: str) -> ContractError:
        return ContractError(str(self.path), where, reason)

    def fact(self, name: str, raw: Mapping[str, Any]) -> Fact:
        label = _text(raw["label"])
        if "field" in raw:
            return Fact(name, label, "field", raw["type"], form=raw["form"], field=raw["field"])
        if "result_of" in raw:
            return Fact(name, label, "result_of", "number", form=raw["form"], field=raw["result_of"],
                        results=dict(raw["results"]))
        if "complete" in raw:
            return Fact(name, label, "complete", "bool", form=raw["complete"])
        if "days_between" in raw:
            return Fact(name, label, "days_between", "number", args=tuple(raw["days_between"]))
        if "difference" in raw:
            return Fact(name, label, "difference", "number", args=tuple(raw["difference"]))
        if "date_plus_days" in raw:
            date, days = raw["date_plus_days"]
            return Fact(name, label, "date_plus_days", "date",
                        args=(date, Setting(days["setting"]) if isinstance(days, Mapping) else int(days)))
        return Fact(name, label, "first_known", "", args=tuple(raw["first_known"]))

    def value(self, raw: Any, where: str) -> Value:
        if isinstance(raw, Mapping):
            if "setting" in raw:
                return Setting(raw["setting"])
            if "fact" in raw:
                return FactRef(raw["fact"])
            if "share" in raw:
                return Share(Fraction(repr(float(raw["share"]))), raw["of"])
            if "code_set" in raw:
                if raw["code_set"] not in self.code_sets:
                    raise self.fail(where, f"unknown code set {raw['code_set']!r}")
                return self.code_sets[raw["code_set"]][0]
        if isinstance(raw, list):
            return tuple(raw)
        return raw

    def condition(self, raw: Mapping[str, Any], where: str) -> Condition:
        label = _text(raw["label"]) if "label" in raw else None
        for op in ("all", "any"):
            if op in raw:
                children = tuple(self.condition(c, f"{where}, {op} item {i + 1}") for i, c in enumerate(raw[op]))
                if not children:
                    raise self.fail(where, f"'{op}' needs at least one condition")
                return Condition(op, children=children, label=label)
        ops = [k for k in raw if k in _LEAF_OPERATORS]
        if len(ops) != 1:
            raise self.fail(where, f"a condition on fact {raw.get('fact')!r} needs exactly one of "
                                   f"{', '.join(_LEAF_OPERATORS)}; found {ops or 'none'}")
        op = ops[0]
        return Condition(op, fact=raw["fact"], value=self.value(raw[op], where), label=label)

    def conditions(self, raw: Sequence[Mapping[str, Any]] | None, where: str) -> tuple[Condition, ...]:
        return tuple(self.condition(c, f"{where}, condition {i + 1}") for i, c in enumerate(raw or ()))


def parse(doc: Mapping[str, Any], path: Path, contract: Contract | None = None,
          unknown: Sequence[str] = (UNKNOWN_CODE,)) -> Declarations:
    """Declarations from a schema-checked document, cross-checked (and against ``contract`` if given)."""
    reader = _Reader(path, doc)
    facts = {name: reader.fact(name, raw) for name, raw in doc["facts"].items()}
    if REFERENCE_DATE in facts:
        raise reader.fail(f"facts, {REFERENCE_DATE}", "this name is the built-in reference date")
    populations = {name: Population(name, _text(raw["label"]), reader.conditions(raw["when"], f"population {name}"))
                   for name, raw in doc["populations"].items()}
    rules = tuple(Rule(raw["name"], _text(raw["label"]), reader.conditions(raw["when"], f"impossible {raw['name']}"))
                  for raw in doc.get("impossible") or ())
    indicators = []
    for raw in doc["indicators"]:
        where = f"indicator {raw['id']}"
        notes = tuple(Note(n["name"], _text(n["label"]), reader.conditions(n["when"], f"{where}, note {n['name']}"))
                      for n in raw.get("notes") or ())
        indicators.append(IndicatorDeclaration(
            raw["id"], _text(raw["name"]), raw.get("standard", raw["id"]), raw["population"], raw["period_date"],
            reader.conditions(raw.get("denominator"), f"{where}, denominator"),
            reader.conditions(raw.get("determinable_when"), f"{where}, determinable_when"),
            reader.conditions(raw["numerator"], f"{where}, numerator"), notes))
    out = Declarations(doc["programme"], doc["version"], str(path), facts, reader.code_sets, populations, rules,
                       tuple(indicators), tuple(unknown))
    _check(reader, out, contract)
    return out


def _check(reader: _Reader, decl: Declarations, contract: Contract | None) -> None:
    """The cross-references a schema cannot check."""
    facts = decl.facts
    known = set(facts) | {REFERENCE_DATE}
    # Facts: their arguments exist, they form no cycle, their types fit.
    for name, fact in facts.items():
        where = f"facts, {name}"
        for dep in fact.depends_on():
            if dep not in known:
                raise reader.fail(where, f"unknown fact {dep!r}")
        if len(fact.args) > 1 and isinstance(fact.args[1], Setting) and fact.args[1].name not in SETTINGS:
            raise reader.fail(where, f"unknown setting {fact.args[1].name!r}; known: {', '.join(sorted(SETTINGS))}")
    _check_cycles(reader, facts)
    seen_ids = set()
    for ind in decl.indicators:
        where = f"indicator {ind.id}"
        if ind.id in seen_ids:
            raise reader.fail(where, "indicator declared twice")
        seen_ids.add(ind.id)
        if ind.population not in decl.populations:
            raise reader.fail(where, f"unknown population {ind.population!r}")
        if ind.period_date not in facts:
            raise reader.fail(where, f"unknown period date fact {ind.period_date!r}")
        conditions = [*ind.denominator, *ind.determinable_when, *ind.numerator] + [
            c for note in ind.notes for c in note.when]
        _check_conditions(reader, where, conditions, known)
        for part, conds in (("numerator", (*ind.determinable_when, *ind.numerator)), ("denominator", ind.denominator)):
            for cond in conds:
                if cond.label is None:
                    raise reader.fail(f"{where}, {part}", "every condition needs a label: the texts are made of them")
    for pop in decl.populations.values():
        _check_conditions(reader, f"population {pop.name}", pop.when, known)
        _check_stored(reader, decl, f"population {pop.name}", pop.when)
    for rule in decl.impossible:
        _check_conditions(reader, f"impossible {rule.name}", rule.when, known)
        _check_stored(reader, decl, f"impossible {rule.name}", rule.when)
    if contract is not None:
        _check_contract(reader, decl, contract)


def _check_cycles(reader: _Reader, facts: Mapping[str, Fact]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name not in facts:
            return
        if state.get(name) == 1:
            raise reader.fail(f"facts, {name}", "facts depend on each other in a circle: " + " -> ".join(trail))
        if state.get(name) == 2:
            return
        state[name] = 1
        for dep in facts[name].depends_on():
            visit(dep, (*trail, dep))
        state[name] = 2

    for name in facts:
        visit(name, (name,))


def _check_conditions(reader: _Reader, where: str, conditions: Sequence[Condition], known: set[str]) -> None:
    for cond in conditions:
        for name in cond.facts():
            if name not in known:
                raise reader.fail(where, f"unknown fact {name!r}")
        for name in cond.settings():
            if name not in SETTINGS:
                raise reader.fail(where, f"unknown setting {name!r}; known: {', '.join(sorted(SETTINGS))}")


def _check_stored(reader: _Reader, decl: Declarations, where: str, conditions: Sequence[Condition]) -> None:
    """Populations and impossible data are decided per course once per snapshot: stored facts only."""
    for cond in conditions:
        for name in cond.facts():
            if not decl.is_stored(name):
                raise reader.fail(where, f"fact {name!r} depends on the reference date or a setting; "
                                         f"only stored facts may be used here")
        if cond.settings():
            raise reader.fail(where, "settings may not be used here")


_CONTRACT_TYPES = {"code": ("choice", "text"), "number": ("int", "decimal"), "date": ("date",)}


def _check_contract(reader: _Reader, decl: Declarations, contract: Contract) -> None:
    if contract.programme != decl.programme:
        raise reader.fail("programme", f"declares {decl.programme!r}, the contract is {contract.programme!r}")
    for name, fact in decl.facts.items():
        where = f"facts, {name}"
        if fact.form is None:
            continue
        if fact.form not in contract.forms:
            raise reader.fail(where, f"the programme has no form {fact.form!r}")
        form = contract.form(fact.form)
        wanted = {"field": [fact.field], "result_of": [fact.field, *fact.results.values()]}.get(fact.kind, [])
        for field_name in wanted:
            if field_name not in form.fields:
                raise reader.fail(where, f"form {fact.form} has no field {field_name!r}")
        if fact.kind == "field":
            actual = form.fields[fact.field].type
            if actual not in _CONTRACT_TYPES[fact.type]:
                raise reader.fail(where, f"field {fact.form}.{fact.field} is {actual}, not a {fact.type}")
        if fact.kind == "result_of":
            codelist = form.fields[fact.field].codelist
            codes = {str(c.code) for c in codelist.codes} if codelist is not None else set()
            missing = sorted(set(fact.results) - codes)
            if missing:
                raise reader.fail(where, f"{', '.join(missing)} not codes of {fact.form}.{fact.field}")
    if contract.course_form in decl.forms:
        raise reader.fail("facts", f"the course form {contract.course_form!r} holds no indicator facts")


def load(path: Path, contract: Contract | None = None) -> Declarations:
    """The declarations in ``path`` (``<contracts>/<programme>/indicators.yaml``), checked; the
    schema and the missing-reason code list are read from ``<contracts>``."""
    path = Path(path)
    root = path.parent.parent
    doc = _read_yaml(path)
    validator = _validator(root / SCHEMA_FILE)
    schema_check.raise_first(path, doc, list(validator.iter_errors(doc)))
    return parse(doc, path, contract, unknown_codes(root))


#: This checkout's data contracts: where the built-in declarations are read from.
DEFAULT_CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "data_contracts"


@functools.lru_cache(maxsize=8)
def declarations_for(programme: str = "hjertekom", contracts_dir: Path = DEFAULT_CONTRACTS_DIR) -> Declarations:
    """The declarations of ``programme`` in ``contracts_dir`` (read once per process)."""
    return load(Path(contracts_dir) / programme / DECLARATIONS_FILE)


def declared_programmes(contracts_dir: Path) -> list[str]:
    """The programmes of ``contracts_dir`` that declare indicators."""
    return sorted(p.parent.name for p in Path(contracts_dir).glob(f"*/{DECLARATIONS_FILE}"))


def load_registry_declarations(contracts: ContractRegistry) -> dict[str, Declarations]:
    """Every programme of a contract registry that declares indicators, checked against its contract
    (the registry itself does not load them: ``contract/loader.py`` knows nothing of indicators)."""
    out = {}
    for programme in declared_programmes(contracts.directory):
        if programme in contracts:
            out[programme] = load(contracts.directory / programme / DECLARATIONS_FILE, contracts[programme])
    return out
