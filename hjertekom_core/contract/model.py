"""What a data contract says, as immutable objects. No IO here; see ``loader``."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: The explicit answer "unknown" (uoplyst): an answer, unlike a blank (not answered).
UNKNOWN = "UNK"
#: The code list of the reasons a missing answer may be given with (UNK, NA, DECL; see
#: data_contracts/codelists/missing_reason.yaml). A field declares the ones it accepts.
MISSING_REASON_CODELIST = "missing_reason"

FieldType = Literal["int", "decimal", "date", "text", "choice", "multi_choice", "bool"]
NUMERIC_TYPES = frozenset({"int", "decimal"})


@dataclass(frozen=True)
class Text:
    da: str
    en: str

    def get(self, lang: str = "da") -> str:
        return self.en if lang == "en" else self.da


@dataclass(frozen=True)
class Code:
    code: str | int
    label: Text
    help: Text | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


#: "Uoplyst" where a field says ``allow_unknown`` and no missing_reason code list gives the label.
UNKNOWN_REASON = Code(UNKNOWN, Text("Uoplyst", "Unknown"))


@dataclass(frozen=True)
class CodeList:
    name: str
    label: Text
    codes: tuple[Code, ...]
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {c.code: c for c in self.codes})

    def __contains__(self, code: object) -> bool:
        return code in self._by_code  # type: ignore[attr-defined]

    def get(self, code: object) -> Code | None:
        return self._by_code.get(code)  # type: ignore[attr-defined]

    def label_of(self, code: object, lang: str = "da") -> str:
        found = self.get(code)
        return found.label.get(lang) if found else str(code)

    @property
    def values(self) -> tuple[str | int, ...]:
        return tuple(c.code for c in self.codes)


@dataclass(frozen=True)
class Ref:
    """A reference to a field: ``form`` is None for 'the form being validated'."""

    form: str | None
    field: str

    @classmethod
    def parse(cls, text: str) -> Ref:
        form, _, name = text.rpartition(".")
        return cls(form or None, name)

    def __str__(self) -> str:
        return f"{self.form}.{self.field}" if self.form else self.field


@dataclass(frozen=True)
class Limits:
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Condition:
    """show-if branching. ``op`` is one of equals, in, not_in, is_true, answered, all, any."""

    op: str
    ref: Ref | None = None
    value: Any = None
    children: tuple[Condition, ...] = ()

    def refs(self) -> Iterator[Ref]:
        if self.ref is not None:
            yield self.ref
        for child in self.children:
            yield from child.refs()


@dataclass(frozen=True)
class Derivation:
    function: str
    inputs: Mapping[str, Ref | tuple[Ref, ...]]
    params: Mapping[str, Any] = field(default_factory=dict)

    def refs(self) -> Iterator[Ref]:
        for value in self.inputs.values():
            yield from (value if isinstance(value, tuple) else (value,))


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    label: Text
    form: str
    section: str
    help: Text | None = None
    unit: str | None = None
    decimals: int | None = None
    codelist: CodeList | None = None
    hard: Limits | None = None
    soft: Limits | None = None
    max_length: int | None = None
    required: bool = False
    allow_unknown: bool = False
    not_future: bool = True
    identifying: bool = False
    show_if: Condition | None = None
    derived: Derivation | None = None
    dhrd: bool = False
    #: The reasons a missing answer may be given with (codes of the missing_reason list, in its
    #: order); the code is stored as the answer. ``allow_unknown`` is the same as (UNK,).
    missing: tuple[Code, ...] = ()

    def __post_init__(self) -> None:
        missing = tuple(self.missing)
        if self.allow_unknown and not any(c.code == UNKNOWN for c in missing):
            missing = (UNKNOWN_REASON, *missing)
        object.__setattr__(self, "missing", missing)
        object.__setattr__(self, "allow_unknown", any(c.code == UNKNOWN for c in missing))
        reasons = missing
        if self.codelist is not None and UNKNOWN in self.codelist and not self.allow_unknown:
            reasons = (*reasons, self.codelist.get(UNKNOWN))  # a choice's own "Uoplyst" code
        object.__setattr__(self, "_reasons", {c.code: c for c in reasons})

    @property
    def is_derived(self) -> bool:
        return self.derived is not None

    @property
    def missing_reasons(self) -> tuple[Code, ...]:
        """Every missing reason this field takes as an answer: the declared ones, and UNK where the
        field's own code list holds it (yes/no/uoplyst, smoking)."""
        return tuple(self._reasons.values())  # type: ignore[attr-defined]

    def missing_reason(self, value: object) -> Code | None:
        """The missing reason ``value`` stands for in this field (a stored code such as "NA"), or None."""
        return self._reasons.get(value) if isinstance(value, str) else None  # type: ignore[attr-defined]

    def accepts_unknown(self) -> bool:
        """Whether the field may hold a missing reason (UNK, NA, DECL) instead of a value; each of them
        counts as unknown in indicators, completeness and transfers."""
        return bool(self._reasons)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SelfReport:
    """A section the citizen answers (a questionnaire): ``status`` is the section's field saying
    whether it was filled in (None: there is none), set to ``answered`` once the citizen answers;
    ``intro`` is what the citizen reads first."""

    status: str | None = None
    answered: str | None = None
    intro: Text | None = None


@dataclass(frozen=True)
class Section:
    name: str
    label: Text
    fields: tuple[Field, ...]
    help: Text | None = None
    block: str | None = None
    self_report: SelfReport | None = None
    #: The standard instrument the section is (``instrument: who5`` on a block), shared with every
    #: programme that declares it: answers of the same day are entered once (shared_questions.py).
    instrument: str | None = None

    def instrument_items(self) -> tuple[Field, ...]:
        """The instrument's questions: the section's input fields but its questionnaire status
        field (``self_report.status``); empty for a section that is no instrument."""
        if self.instrument is None:
            return ()
        status = self.self_report.status if self.self_report else None
        return tuple(f for f in self.fields if not f.is_derived and f.name != status)

    def self_report_items(self) -> tuple[Field, ...]:
        """The citizen's items of a questionnaire section (its input fields but the status);
        empty for any other section."""
        if self.self_report is None:
            return ()
        return tuple(f for f in self.fields if not f.is_derived and f.name != self.self_report.status)


@dataclass(frozen=True)
class Form:
    name: str
    label: Text
    sections: tuple[Section, ...]
    help: Text | None = None
    date_field: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fields", {f.name: f for s in self.sections for f in s.fields})

    @property
    def fields(self) -> Mapping[str, Field]:
        return self._fields  # type: ignore[attr-defined]

    def field(self, name: str) -> Field:
        return self.fields[name]

    def self_report_items(self) -> tuple[str, ...]:
        """The names of the form's fields the citizen answers (questionnaire sections), in order."""
        return tuple(f.name for s in self.sections for f in s.self_report_items())

    def instruments(self) -> dict[str, Section]:
        """The form's sections that are standard instruments, by instrument (form order)."""
        return {s.instrument: s for s in self.sections if s.instrument is not None}

    def input_fields(self) -> Iterator[Field]:
        """Fields a person fills in (derived ones are computed)."""
        return (f for f in self.fields.values() if not f.is_derived)


@dataclass(frozen=True)
class Rule:
    """Cross-field rule; ``left`` and ``right`` as in 'left <kind> right'.

    ``severity`` "error" refuses the values; "warning" lets them be saved once confirmed.
    ``values`` (kind not_together): the codes of left and of right that may not occur together.
    """

    name: str
    kind: str
    left: Ref
    right: Ref
    message: Text
    severity: str = "error"
    values: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None


@dataclass(frozen=True)
class Contract:
    programme: str
    version: str
    label: Text
    forms: Mapping[str, Form]
    rules: tuple[Rule, ...]
    codelists: Mapping[str, CodeList]
    messages: Mapping[str, Text]
    source: Path
    description: Text | None = None
    course_form: str = "course"
    municipality_field: str = "municipality"
    #: Every missing reason (UNK, NA, DECL) with its labels and spellings; None: only UNK is known.
    missing_reasons: CodeList | None = None

    def form(self, name: str) -> Form:
        try:
            return self.forms[name]
        except KeyError:
            raise KeyError(f"programme {self.programme!r} has no form {name!r}") from None

    def start_and_end(self) -> tuple[str, str] | None:
        """The forms that start and end a course: the first and the last form after the course form,
        in contract order (hjertekom: start, end); None for a programme with fewer than two. The
        worklist, the snapshot's age at start, completeness and the citizen report read them so."""
        others = [name for name in self.forms if name != self.course_form]
        return (others[0], others[-1]) if len(others) >= 2 else None

    def rules_for(self, form: str) -> Iterator[tuple[Rule, Ref, Ref]]:
        """The rules that concern ``form``, with both refs made explicit (form-qualified)."""
        fields = self.form(form).fields
        for rule in self.rules:
            if rule.left.form is None and rule.right.form is None:
                if rule.left.field in fields and rule.right.field in fields:
                    yield rule, Ref(form, rule.left.field), Ref(form, rule.right.field)
            elif form in (rule.left.form, rule.right.form):
                yield rule, rule.left, rule.right
