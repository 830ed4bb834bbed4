"""Loading data contracts: YAML files checked against their JSON Schema, then against each other.

A broken contract fails here, at load time, with a ContractError naming the file, the place in it
and the reason, so that nothing downstream ever sees a half-valid data dictionary.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from hjertekom_core.errors import ConfigError, ContractError, HjerteKomError
from hjertekom_core.scoring import DERIVATIONS
from hjertekom_core.contract import schema_check
from hjertekom_core.contract.model import (
    MISSING_REASON_CODELIST,
    NUMERIC_TYPES,
    UNKNOWN,
    UNKNOWN_REASON,
    Code,
    CodeList,
    Condition,
    Contract,
    Derivation,
    Field,
    Form,
    Limits,
    Ref,
    Rule,
    Section,
    SelfReport,
    Text,
)

# libyaml's C loader when PyYAML was built with it (several times faster; same safe subset).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CONTRACT_FILE = "contract.yaml"
CODELIST_DIR = "codelists"
MESSAGES_FILE = "messages.yaml"


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except FileNotFoundError:
        raise ContractError(str(path), "-", "file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise ContractError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _validator(schema_path: Path) -> Any:
    return schema_check.validator(schema_path, _read_yaml)


def _check_schema(path: Path, doc: Any, schema_file: str, check: bool = True) -> None:
    """``doc`` against the schema ``schema_file``; ``check=False``: the files were checked already
    (schema_check.CHECKED_ENV)."""
    if not check:
        return
    # Both contracts (<root>/<programme>/contract.yaml) and code lists (<root>/codelists/x.yaml)
    # sit one folder below the root that holds the schemas.
    validator = _validator(path.parent.parent / schema_file)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    schema_check.raise_first(path, doc, errors)


def _text(raw: Mapping[str, str] | None) -> Text | None:
    return Text(raw["da"], raw["en"]) if raw else None


def _self_report(raw: Mapping[str, Any] | None, fields: list[Field], where: str, path: Path) -> SelfReport | None:
    """A questionnaire section's ``self_report``: its status field must be a choice field of the
    section whose code list holds ``answered``, and the section must have an item besides it."""
    if raw is None:
        return None
    status, answered = raw.get("status"), raw.get("answered")
    by_name = {f.name: f for f in fields}
    if status is not None:
        f = by_name.get(status)
        if f is None or f.type != "choice" or f.codelist is None:
            raise ContractError(str(path), where, f"self_report status {status!r} is not a choice field of the section")
        if answered is None or answered not in f.codelist:
            raise ContractError(str(path), where, f"self_report answered {answered!r} is not a code of {status!r}")
    elif answered is not None:
        raise ContractError(str(path), where, "self_report answered needs a status field")
    report = SelfReport(status, answered, _text(raw.get("intro")))
    if not any(not f.is_derived and f.name != status for f in fields):
        raise ContractError(str(path), where, "self_report section has no item for the citizen")
    return report


# --- code lists -----------------------------------------------------------------------------

def load_codelist(path: Path, *, check_schema: bool = True) -> CodeList:
    """One code list from YAML (checked against codelist.schema.yaml) or CSV (code,name,...)."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or not {"code", "name"} <= set(rows[0]):
            raise ContractError(str(path), "header", "a CSV code list needs the columns code and name")
        codes = []
        for number, row in enumerate(rows, start=2):
            raw = row["code"].strip()
            code: str | int = int(raw) if raw.isdigit() else raw
            if not raw or not row["name"].strip():
                raise ContractError(str(path), f"line {number}", "empty code or name")
            attributes = {k: v for k, v in row.items() if k not in ("code", "name")}
            codes.append(Code(code, Text(row["name"], row["name"]), None, attributes))
        name = path.stem
        return CodeList(name, Text(name, name), tuple(codes), str(path))

    doc = _read_yaml(path)
    _check_schema(path, doc, "codelist.schema.yaml", check_schema)
    if doc["name"] != path.stem:
        raise ContractError(str(path), "name", f"the name {doc['name']!r} must equal the file name {path.stem!r}")
    codes = tuple(
        Code(c["code"], _text(c["label"]), _text(c.get("help")), c.get("attributes", {}))  # type: ignore[arg-type]
        for c in doc["codes"]
    )
    seen: set[object] = set()
    for c in codes:
        if c.code in seen:
            raise ContractError(str(path), f"code {c.code}", "code listed twice")
        seen.add(c.code)
    return CodeList(doc["name"], _text(doc["label"]), codes, str(path))  # type: ignore[arg-type]


def load_codelists(directory: Path, *, check_schema: bool = True) -> dict[str, CodeList]:
    lists: dict[str, CodeList] = {}
    for path in sorted(directory.glob("*")):
        if path.suffix in (".yaml", ".yml", ".csv"):
            if path.stem in lists:
                raise ContractError(str(path), "name", f"code list {path.stem!r} is defined twice")
            lists[path.stem] = load_codelist(path, check_schema=check_schema)
    return lists


# --- contracts -------------------------------------------------------------------------------

def _condition(raw: Mapping[str, Any]) -> Condition:
    if "all" in raw:
        return Condition("all", children=tuple(_condition(c) for c in raw["all"]))
    if "any" in raw:
        return Condition("any", children=tuple(_condition(c) for c in raw["any"]))
    op = next(k for k in ("equals", "in", "not_in", "is_true", "answered") if k in raw)
    value = raw[op]
    if op in ("in", "not_in"):
        value = tuple(value)
    return Condition(op, Ref.parse(raw["field"]), value)


def _derivation(raw: Mapping[str, Any] | None) -> Derivation | None:
    if not raw:
        return None
    inputs = {
        name: tuple(Ref.parse(r) for r in ref) if isinstance(ref, list) else Ref.parse(ref)
        for name, ref in raw["inputs"].items()
    }
    return Derivation(raw["function"], inputs, dict(raw.get("params", {})))


def _limits(raw: Mapping[str, float] | None) -> Limits | None:
    return Limits(raw.get("min"), raw.get("max")) if raw else None


def _missing(raw: Mapping[str, Any], codelists: Mapping[str, CodeList], where: str, path: Path) -> tuple[Code, ...]:
    """The field's missing reasons as codes of the missing_reason list (``allow_unknown``: UNK)."""
    reasons = codelists.get(MISSING_REASON_CODELIST)
    if "missing" in raw and raw.get("allow_unknown"):
        raise ContractError(str(path), where, "give either allow_unknown or missing (e.g. missing: [UNK, NA]), not both")
    wanted = raw.get("missing") or ([UNKNOWN] if raw.get("allow_unknown") else [])
    if not wanted:
        return ()
    if reasons is None:
        if wanted == [UNKNOWN]:
            return (UNKNOWN_REASON,)  # a contract folder without the list: the built-in "Uoplyst"
        raise ContractError(str(path), where, f"missing reasons need the code list {MISSING_REASON_CODELIST!r}")
    unknown = [code for code in wanted if code not in reasons]
    if unknown:
        raise ContractError(str(path), where + ", missing",
                            f"{unknown} not in code list {MISSING_REASON_CODELIST!r}; known: {list(reasons.values)}")
    return tuple(c for c in reasons.codes if c.code in wanted)  # in the code list's order


def _field(raw: Mapping[str, Any], form: str, section: str, codelists: Mapping[str, CodeList], where: str,
           path: Path) -> Field:
    codelist = None
    if "codelist" in raw:
        codelist = codelists.get(raw["codelist"])
        if codelist is None:
            raise ContractError(str(path), where, f"unknown code list {raw['codelist']!r}")
    if "missing" in raw and raw["type"] in ("choice", "multi_choice"):
        raise ContractError(str(path), where, f"a {raw['type']} field gives a missing answer with a code of its "
                                              "code list (e.g. UNK), not with missing:")
    return Field(
        name=raw["name"], type=raw["type"], label=_text(raw["label"]),  # type: ignore[arg-type]
        form=form, section=section, help=_text(raw.get("help")), unit=raw.get("unit"),
        decimals=raw.get("decimals"), codelist=codelist, hard=_limits(raw.get("hard")),
        soft=_limits(raw.get("soft")), max_length=raw.get("max_length"),
        required=bool(raw.get("required", False)), allow_unknown=bool(raw.get("allow_unknown", False)),
        not_future=bool(raw.get("not_future", True)), identifying=bool(raw.get("identifying", False)),
        show_if=_condition(raw["show_if"]) if "show_if" in raw else None,
        derived=_derivation(raw.get("derived")), dhrd=bool(raw.get("dhrd", False)),
        missing=_missing(raw, codelists, where, path),
    )


def _check_field(f: Field, where: str, path: Path, known_functions: frozenset[str]) -> None:
    def fail(reason: str) -> None:
        raise ContractError(str(path), where, reason)

    if f.type in ("choice", "multi_choice") and f.codelist is None:
        fail(f"a {f.type} field needs a codelist")
    if f.codelist is not None:
        if f.type not in ("choice", "multi_choice", "int"):
            fail(f"a {f.type} field cannot have a codelist")
        want = int if f.type == "int" else str
        wrong = [c.code for c in f.codelist.codes if not isinstance(c.code, want)]
        if wrong:
            fail(f"code list {f.codelist.name!r} has codes {wrong[:3]} that are not {want.__name__} "
                 f"as a {f.type} field needs")
    if (f.hard or f.soft) and f.type not in NUMERIC_TYPES:
        fail("hard and soft limits apply to int and decimal fields only")
    for limits, kind in ((f.hard, "hard"), (f.soft, "soft")):
        if limits and limits.min is not None and limits.max is not None and limits.min > limits.max:
            fail(f"{kind} min {limits.min} is above {kind} max {limits.max}")
    if f.hard and f.soft:
        if (f.hard.min is not None and f.soft.min is not None and f.soft.min < f.hard.min) or (
            f.hard.max is not None and f.soft.max is not None and f.soft.max > f.hard.max
        ):
            fail("soft limits must lie inside the hard limits")
    if f.decimals is not None and f.type != "decimal":
        fail("decimals apply to decimal fields only")
    if f.is_derived:
        if f.required:
            fail("a derived field cannot be required (it is computed)")
        if f.type not in NUMERIC_TYPES:
            fail("a derived field must be int or decimal")
        if f.derived.function not in known_functions:  # type: ignore[union-attr]
            fail(f"unknown derivation function {f.derived.function!r}; known: {sorted(known_functions)}")  # type: ignore[union-attr]
        if f.missing:
            fail("a derived field cannot take a missing reason (it is computed)")
    if f.codelist is not None:
        clash = [c.code for c in f.missing if c.code in f.codelist and c.code != UNKNOWN]
        if clash:
            fail(f"missing reasons {clash} are also codes of {f.codelist.name!r}")


def load_contract(path: Path | str, codelists: Mapping[str, CodeList] | None = None,
                  messages: Mapping[str, Text] | None = None, *, check_schema: bool = True) -> Contract:
    """Load and check one programme contract (``<dir>/<programme>/contract.yaml``)."""
    path = Path(path)
    root = path.parent.parent
    doc = _read_yaml(path)
    _check_schema(path, doc, "contract.schema.yaml", check_schema)
    if codelists is None:
        codelists = load_codelists(root / CODELIST_DIR, check_schema=check_schema)
    if messages is None:
        messages = load_messages(root / MESSAGES_FILE)
    known_functions = frozenset(DERIVATIONS)

    blocks = doc.get("blocks", {})
    forms: dict[str, Form] = {}
    for raw_form in doc["forms"]:
        fname = raw_form["name"]
        if fname in forms:
            raise ContractError(str(path), f"form {fname}", "form declared twice")
        sections = []
        seen_fields: set[str] = set()
        for raw_section in raw_form["sections"]:
            block = raw_section.get("block")
            if block is not None:
                if block not in blocks:
                    raise ContractError(str(path), f"form {fname}", f"unknown block {block!r}")
                raw_section = blocks[block]
            sname = raw_section["name"]
            fields = []
            for raw_field in raw_section["fields"]:
                where = f"form {fname}, section {sname}, field {raw_field['name']}"
                if raw_field["name"] in seen_fields:
                    raise ContractError(str(path), where, "field name used twice in this form")
                seen_fields.add(raw_field["name"])
                f = _field(raw_field, fname, sname, codelists, where, path)
                _check_field(f, where, path, known_functions)
                fields.append(f)
            self_report = _self_report(raw_section.get("self_report"), fields, f"form {fname}, section {sname}", path)
            sections.append(Section(sname, _text(raw_section["label"]), tuple(fields),  # type: ignore[arg-type]
                                    _text(raw_section.get("help")), block, self_report,
                                    raw_section.get("instrument")))
        date_field = raw_form.get("date_field")
        form = Form(fname, _text(raw_form["label"]), tuple(sections), _text(raw_form.get("help")), date_field)  # type: ignore[arg-type]
        if date_field and (date_field not in form.fields or form.fields[date_field].type != "date"):
            raise ContractError(str(path), f"form {fname}", f"date_field {date_field!r} is not a date field of the form")
        forms[fname] = form

    rules = tuple(
        Rule(r["name"], r["kind"], Ref.parse(r["fields"][0]), Ref.parse(r["fields"][1]), _text(r["message"]),  # type: ignore[arg-type]
             r.get("severity", "error"), _rule_values(r.get("values")))
        for r in doc.get("rules", [])
    )
    contract_messages = dict(messages)
    contract_messages.update({k: _text(v) for k, v in doc.get("messages", {}).items()})  # type: ignore[misc]
    contract = Contract(
        programme=doc["programme"], version=doc["version"], label=_text(doc["label"]),  # type: ignore[arg-type]
        forms=forms, rules=rules, codelists=dict(codelists), messages=contract_messages, source=path,
        description=_text(doc.get("description")),
        course_form=doc.get("course_form", "course"), municipality_field=doc.get("municipality_field", "municipality"),
        missing_reasons=codelists.get(MISSING_REASON_CODELIST),
    )
    _check_references(contract, path)
    _check_course_form(contract, path)
    return contract


def _rule_values(raw: list[Any] | None) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    if raw is None:
        return None
    left, right = (tuple(v) if isinstance(v, list) else (v,) for v in raw)
    return left, right


#: Field types each rule kind compares.
_RULE_TYPES: Mapping[str, frozenset[str]] = {
    "not_before": frozenset({"date"}),
    "less_equal": NUMERIC_TYPES,
    "greater_than": NUMERIC_TYPES,
    "not_together": frozenset({"choice", "int", "bool"}),
}


def _check_rule_fields(rule: Rule, a: Field, b: Field, where: str, path: Path) -> None:
    wanted = _RULE_TYPES[rule.kind]
    if a.type not in wanted or b.type not in wanted:
        raise ContractError(str(path), where, f"{rule.kind} needs fields of type {sorted(wanted)}")
    if rule.kind != "not_together":
        return
    if rule.values is None:  # the schema requires them; a hand-made Rule may lack them
        raise ContractError(str(path), where, "not_together needs values: [<left>, <right>]")
    for f, values in ((a, rule.values[0]), (b, rule.values[1])):
        if f.type == "bool":
            wrong = [v for v in values if not isinstance(v, bool)]
        elif f.codelist is not None:
            wrong = [v for v in values if v not in f.codelist]
        else:
            raise ContractError(str(path), where, f"not_together needs coded fields; {f.name} has no code list")
        if wrong:
            raise ContractError(str(path), where + ", values", f"{wrong} are not values of {f.form}.{f.name}")


def _resolve(contract: Contract, ref: Ref, form: str, where: str, path: Path) -> Field:
    target_form = ref.form or form
    if target_form not in contract.forms:
        raise ContractError(str(path), where, f"{ref} refers to unknown form {target_form!r}")
    fields = contract.forms[target_form].fields
    if ref.field not in fields:
        raise ContractError(str(path), where, f"{ref} refers to unknown field {ref.field!r} of form {target_form!r}")
    return fields[ref.field]


def _check_references(contract: Contract, path: Path) -> None:
    """Everything a show-if, a derivation or a rule names must exist and make sense."""
    for form in contract.forms.values():
        for f in form.fields.values():
            where = f"form {form.name}, field {f.name}"
            if f.show_if:
                for ref in f.show_if.refs():
                    target = _resolve(contract, ref, form.name, where + ", show_if", path)
                    if target is f:
                        raise ContractError(str(path), where + ", show_if", "a field cannot depend on itself")
                _check_condition_values(contract, f.show_if, form.name, where + ", show_if", path)
            if f.derived:
                for ref in f.derived.refs():
                    target = _resolve(contract, ref, form.name, where + ", derived", path)
                    if target.is_derived:
                        raise ContractError(str(path), where + ", derived", f"input {ref} is itself derived")
    names: set[str] = set()
    for rule in contract.rules:
        where = f"rule {rule.name}"
        if rule.name in names:
            raise ContractError(str(path), where, "rule declared twice")
        names.add(rule.name)
        if (rule.left.form is None) != (rule.right.form is None):
            raise ContractError(str(path), where, "qualify both fields with their form, or neither")
        applicable = 0
        for form_name in contract.forms:
            for r, left, right in contract.rules_for(form_name):
                if r is not rule:
                    continue
                applicable += 1
                a = _resolve(contract, left, form_name, where, path)
                b = _resolve(contract, right, form_name, where, path)
                _check_rule_fields(rule, a, b, where, path)
        if not applicable:
            raise ContractError(str(path), where, "no form has the fields this rule names")


def _check_course_form(contract: Contract, path: Path) -> None:
    form = contract.forms.get(contract.course_form)
    if form is None:
        raise ContractError(str(path), "course_form", f"no form named {contract.course_form!r}")
    f = form.fields.get(contract.municipality_field)
    if f is None or f.codelist is None or f.codelist.name != "municipalities" or not f.required:
        raise ContractError(str(path), f"form {form.name}, field {contract.municipality_field}",
                            "the course form needs a required choice field with the codelist municipalities")


def _check_condition_values(contract: Contract, cond: Condition, form: str, where: str, path: Path) -> None:
    for child in cond.children:
        _check_condition_values(contract, child, form, where, path)
    if cond.ref is None or cond.op not in ("equals", "in", "not_in"):
        return
    target = _resolve(contract, cond.ref, form, where, path)
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    if target.codelist is not None:
        unknown = [v for v in values if v not in target.codelist]
        if unknown:
            raise ContractError(str(path), where, f"{unknown} not in code list {target.codelist.name!r} of {cond.ref}")


def load_messages(path: Path) -> dict[str, Text]:
    if not path.exists():
        return {}
    doc = _read_yaml(path)
    if not isinstance(doc, Mapping):
        raise ContractError(str(path), "top level", "expected a mapping of reason code -> {da, en}")
    out: dict[str, Text] = {}
    for key, value in doc.items():
        if not isinstance(value, Mapping) or not {"da", "en"} <= set(value):
            raise ContractError(str(path), str(key), "each message needs da and en text")
        out[key] = Text(value["da"], value["en"])
    return out


def _item_signature(f: Field) -> tuple[Any, ...]:
    """What must be equal for two programmes to share an instrument's item: its name, type, code
    list (name and codes), limits and missing reasons."""
    codes = tuple(c.code for c in f.codelist.codes) if f.codelist else None
    return (f.type, f.codelist.name if f.codelist else None, codes, f.hard, tuple(c.code for c in f.missing))


def check_shared_instruments(contracts: Any) -> None:  # noqa: ANN401 - an iterable of Contract
    """Every section declaring the same ``instrument`` (in any programme, any form) must ask the same
    questions: the same item fields in the same order, of the same type, code list and limits, and
    the same derived scores. Otherwise ContractError names both places and the difference."""
    first: dict[str, tuple[Contract, str, Section]] = {}
    for contract in contracts:
        for form in contract.forms.values():
            for section in form.sections:
                if section.instrument is None:
                    continue
                where = f"form {form.name}, section {section.name}, instrument {section.instrument}"
                items = section.instrument_items()
                if not items:
                    raise ContractError(str(contract.source), where, "an instrument section needs item fields")
                seen = first.setdefault(section.instrument, (contract, form.name, section))
                other_contract, other_form, other = seen
                if other is section:
                    continue
                theirs = {f.name: f for f in other.instrument_items()}
                other_place = f"{other_contract.programme} form {other_form}, section {other.name}"
                if [f.name for f in items] != list(theirs):
                    raise ContractError(str(contract.source), where,
                                        f"the items {[f.name for f in items]} differ from {list(theirs)} of the same "
                                        f"instrument in {other_place}")
                for f in items:
                    if _item_signature(f) != _item_signature(theirs[f.name]):
                        raise ContractError(str(contract.source), f"{where}, field {f.name}",
                                            f"type, code list, limits or missing reasons differ from {f.name} of the "
                                            f"same instrument in {other_place}")
                derived = {f.name: f.derived.function for f in section.fields if f.derived}
                theirs_derived = {f.name: f.derived.function for f in other.fields if f.derived}
                if derived != theirs_derived:
                    raise ContractError(str(contract.source), where,
                                        f"the derived scores {derived} differ from {theirs_derived} of the same "
                                        f"instrument in {other_place}")


class UnknownProgramme(KeyError, HjerteKomError):
    """A programme the registry has not loaded: no folder of that name, or not among the
    configured ``programmes``. A KeyError (the registry is a mapping) with a message for people."""

    def __init__(self, programme: str, loaded: tuple[str, ...] = ()) -> None:
        super().__init__(programme, tuple(loaded))  # both in args: the error survives pickling
        self.programme = programme
        self.loaded = tuple(loaded)

    def __str__(self) -> str:
        return (f"unknown programme {self.programme!r}; the programmes loaded: {', '.join(self.loaded)} "
                "(setting programmes, HJERTEKOM_PROGRAMMES)")


#: Contracts already loaded in this process, by (folder, programmes, digest of every contract
#: file): loading parses the YAML and checks it, which is pure in the files' bytes, so a second
#: registry of the same unchanged folder reuses the (frozen) result. Entry kernels are forked from a
#: zygote that loaded the contracts once (widgets/kernel_zygote.py): parsing them again was an
#: eighth of each kernel's CPU at a login (py-spy, 2026-12-07). A changed file changes the digest.
_LOADED: dict[tuple[str, tuple[str, ...], str],
              tuple[dict[str, CodeList], dict[str, Text], dict[str, Contract]]] = {}
_LOADED_MAX = 8


def _load_programmes(directory: Path, paths: list[Path], check: bool
                     ) -> tuple[dict[str, CodeList], dict[str, Text], dict[str, Contract]]:
    """Code lists, messages and the contracts at ``paths``, each checked, then checked together."""
    codelists = load_codelists(directory / CODELIST_DIR, check_schema=check)
    messages = load_messages(directory / MESSAGES_FILE)
    contracts: dict[str, Contract] = {}
    for path in paths:
        contract = load_contract(path, codelists, messages, check_schema=check)
        if contract.programme != path.parent.name:
            raise ContractError(str(path), "programme",
                                f"programme {contract.programme!r} must equal its folder name {path.parent.name!r}")
        contracts[contract.programme] = contract
    if not contracts:
        raise ContractError(str(directory), "-", "no programme contract found (*/contract.yaml)")
    check_shared_instruments(contracts.values())
    return codelists, messages, contracts


class ContractRegistry:
    """The programmes under a contracts directory (one sub-folder with contract.yaml each).

    A new programme is added by adding its folder; no code changes. ``programmes``: load only
    these (the configured ``programmes``, ``Config.programmes``); None loads every folder. A name
    without a folder is a :class:`ConfigError` naming the programmes the folder has.

    ``checked_digest``: the :func:`~hjertekom_core.contract.schema_check.contracts_digest` of files
    already checked against their schemas (by the server, for its kernels); when the folder still
    has that digest the schema check is skipped, every other check runs. ``digest`` is the folder's.
    """

    def __init__(self, directory: Path | str, *, checked_digest: str | None = None,
                 programmes: Iterable[str] | None = None) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ContractError(str(self.directory), "-", "contracts directory not found")
        found = {path.parent.name: path for path in sorted(self.directory.glob(f"*/{CONTRACT_FILE}"))}
        if programmes is not None:
            wanted = list(dict.fromkeys(programmes))
            missing = [name for name in wanted if name not in found]
            if not wanted or missing:
                raise ConfigError(
                    "setting programmes (HJERTEKOM_PROGRAMMES): "
                    + (f"no programme {', '.join(map(repr, missing))} in {self.directory} (no <programme>/"
                       f"{CONTRACT_FILE}); " if missing else "no programme named; ")
                    + f"the programmes there are: {', '.join(sorted(found)) or 'none'}")
            found = {name: found[name] for name in sorted(wanted)}
        self.digest = schema_check.contracts_digest(self.directory)
        key = (str(self.directory.resolve()), tuple(found), self.digest)
        loaded = _LOADED.get(key)
        if loaded is None:
            check = not checked_digest or checked_digest != self.digest
            loaded = _load_programmes(self.directory, list(found.values()), check)
            _LOADED[key] = loaded
            while len(_LOADED) > _LOADED_MAX:
                del _LOADED[next(iter(_LOADED))]
        codelists, messages, contracts = loaded
        # Own dicts per registry (the contracts and code lists themselves are frozen).
        self.codelists: dict[str, CodeList] = dict(codelists)
        self.messages: dict[str, Text] = dict(messages)
        self._contracts: dict[str, Contract] = dict(contracts)

    def __getitem__(self, programme: str) -> Contract:
        try:
            return self._contracts[programme]
        except KeyError:
            raise UnknownProgramme(programme, tuple(sorted(self._contracts))) from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._contracts.values())

    def __contains__(self, programme: object) -> bool:
        return programme in self._contracts

    @property
    def programmes(self) -> list[str]:
        return sorted(self._contracts)
