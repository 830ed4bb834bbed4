"""The snapshot's table layout, generated from the contracts: columns, DuckDB types, codebook.

Each programme form becomes one wide table ``<programme>_<form>`` with the latest revision of
every course. A field becomes one typed column; a choice field also gets a ``<name>_label``
column (Danish label); a non-choice field that accepts a missing reason gets ``<name>_unknown`` so
that "asked, unknown" stays distinct from "not answered" (NULL in both columns). Every missing
reason (uoplyst, ikke relevant, borgeren ønskede ikke) sets ``<name>_unknown``: unknown is unknown
to indicators and transfers. A field that declares more reasons than "uoplyst" also gets
``<name>_missing`` with the reason's code (UNK, NA, DECL; NULL when there is a value or nothing).

A choice field with a code list is typed by it in snapshot files: an ENUM named
``code_<code list>`` holding the list's codes in order (and ``UNK``), so that DuckDB compares codes
as small integers, not strings. A stored value the list no longer holds is kept, appended to the
type (``writer.type_coded_columns``). In SQL such a column compares with code strings as before
(``smoking = 'daily'``); pandas reads it as a Categorical. The registration status is an ENUM too.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hjertekom_core.contract import UNKNOWN, CodeList, Contract, ContractRegistry, Field, Form, Text
from hjertekom_core.contract.model import MISSING_REASON_CODELIST

DUCKDB_TYPES = {
    "int": "INTEGER",
    "decimal": "DOUBLE",
    "date": "DATE",
    "text": "VARCHAR",
    "choice": "VARCHAR",
    "multi_choice": "VARCHAR[]",
    "bool": "BOOLEAN",
}


#: The ENUM type of the registrations' status column, and its values.
STATUS_TYPE = "registration_status"
STATUS_VALUES = ("draft", "complete")


def enum_type(codelist: str) -> str:
    """The name of the ENUM type of a code list's choice columns."""
    return f"code_{codelist}"


def enum_values(codelist: CodeList) -> list[str]:
    """The ENUM's values: the codes in the list's order, then ``UNK`` where the list lacks it (a
    field may allow "uoplyst" on its own)."""
    codes = [str(c.code) for c in codelist.codes]
    return codes if UNKNOWN in codes else [*codes, UNKNOWN]


def missing_codes(f: Field) -> tuple[str, ...]:
    """The stored codes that mean "answered with a missing reason" for ``f`` (UNK, NA, DECL)."""
    return tuple(str(c.code) for c in f.missing_reasons) or (UNKNOWN,)


def has_missing_column(f: Field) -> bool:
    """A ``<name>_missing`` column where "uoplyst" is not the only missing reason."""
    return f.type not in ("choice", "multi_choice") and any(c.code != UNKNOWN for c in f.missing_reasons)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    label: Text
    unit: str = ""
    codelist: str = ""
    source: str = ""          # programme.form.field, or the store table.column it comes from
    kind: str = "value"       # value, label, unknown, missing, meta
    field: Field | None = None

    def codebook_row(self, table: str) -> dict[str, str]:
        return {"table_name": table, "column_name": self.name, "type": self.type, "label_da": self.label.da,
                "label_en": self.label.en, "unit": self.unit, "codelist": self.codelist, "source": self.source}


@dataclass(frozen=True)
class FormTable:
    name: str
    programme: str
    form: Form
    columns: tuple[Column, ...]


_T = Text
META_COLUMNS = (
    Column("course_id", "BIGINT", _T("Forløbs-id", "Course id"), source="registrations.course_id", kind="meta"),
    Column("revision", "INTEGER", _T("Revision (seneste)", "Revision (latest)"), source="registrations.revision",
           kind="meta"),
    Column("status", STATUS_TYPE, _T("Status: kladde eller færdig", "Status: draft or complete"),
           source="registrations.status", kind="meta"),
    Column("contract_version", "VARCHAR", _T("Kontraktversion", "Contract version"),
           source="registrations.contract_version", kind="meta"),
    Column("saved_at", "TIMESTAMP", _T("Gemt", "Saved at"), source="registrations.saved_at", kind="meta"),
)

#: A course's pseudonym in pseudonymised snapshots, where it replaces the operational course_id in
#: every table: keyed like citizen_key but domain-separated ("course:"), letters only.
COURSE_KEY = Column("course_key", "VARCHAR",
                    _T("Pseudonym for forløbet (samme på tværs af snapshots med samme nøgle)",
                       "Course pseudonym (stable across snapshots made with the same key)"),
                    source="HMAC-SHA256('course:' || courses.id)", kind="meta")

#: The form tables' meta columns in pseudonymised snapshots: course_key for course_id, and no
#: saved_at (a registration time to the second is the key of the audit log, and research needs it
#: at no resolution: the clinical dates are in the forms; docs/research.md).
PSEUDONYMISED_META_COLUMNS = (COURSE_KEY, *(c for c in META_COLUMNS if c.name not in ("course_id", "saved_at")))


def field_columns(programme: str, f: Field, pseudonymised: bool) -> Iterator[Column]:
    if pseudonymised and f.identifying:
        return
    source = f"{programme}.{f.form}.{f.name}"
    codelist = f.codelist.name if f.codelist else ""
    type_ = enum_type(f.codelist.name) if f.type == "choice" and f.codelist else DUCKDB_TYPES[f.type]
    yield Column(f.name, type_, f.label, f.unit or "", codelist, source, "value", f)
    if f.type == "choice":
        yield Column(f"{f.name}_label", "VARCHAR", Text(f"{f.label.da} (tekst)", f"{f.label.en} (label)"),
                     "", codelist, source, "label", f)
    elif f.accepts_unknown() and f.type != "multi_choice":
        if has_missing_column(f):
            yield Column(f"{f.name}_unknown", "BOOLEAN",
                         Text(f"{f.label.da}: uoplyst eller anden årsag til manglende svar",
                              f"{f.label.en}: unknown or another reason the answer is missing"),
                         "", "", source, "unknown", f)
            yield Column(f"{f.name}_missing", "VARCHAR",
                         Text(f"{f.label.da}: årsag til manglende svar", f"{f.label.en}: reason the answer is missing"),
                         "", MISSING_REASON_CODELIST, source, "missing", f)
        else:
            yield Column(f"{f.name}_unknown", "BOOLEAN",
                         Text(f"{f.label.da}: uoplyst", f"{f.label.en}: unknown"), "", "", source, "unknown", f)


def form_tables(contracts: ContractRegistry, pseudonymised: bool) -> list[FormTable]:
    tables = []
    for contract in contracts:
        for form in contract.forms.values():
            columns = (PSEUDONYMISED_META_COLUMNS if pseudonymised else META_COLUMNS) + tuple(
                c for f in form.fields.values() for c in field_columns(contract.programme, f, pseudonymised))
            tables.append(FormTable(table_name(contract, form.name), contract.programme, form, columns))
    return tables


def table_name(contract: Contract, form: str) -> str:
    return f"{contract.programme}_{form}"


def citizen_columns(pseudonymised: bool) -> tuple[Column, ...]:
    if pseudonymised:
        return (
            Column("citizen_key", "VARCHAR", _T("Pseudonym for borgeren (samme på tværs af snapshots)",
                                                "Citizen pseudonym (stable across snapshots)"),
                   source="HMAC-SHA256(citizens.cpr)", kind="meta"),
            Column("birth_year", "INTEGER", _T("Fødselsår", "Birth year"), source="citizens.birth_date", kind="meta"),
            Column("sex", "VARCHAR", _T("Køn (M/F)", "Sex (M/F)"), source="citizens.sex", kind="meta"),
            Column("municipality_code", "INTEGER", _T("Kommunekode", "Municipality code"),
                   codelist="municipalities", source="citizens.municipality_code", kind="meta"),
        )
    return (
        Column("citizen_id", "BIGINT", _T("Borger-id", "Citizen id"), source="citizens.id", kind="meta"),
        Column("cpr", "VARCHAR", _T("CPR-nummer", "CPR number"), source="citizens.cpr", kind="meta"),
        Column("name", "VARCHAR", _T("Navn", "Name"), source="citizens.name", kind="meta"),
        Column("birth_date", "DATE", _T("Fødselsdato", "Birth date"), source="citizens.birth_date", kind="meta"),
        Column("birth_year", "INTEGER", _T("Fødselsår", "Birth year"), source="citizens.birth_date", kind="meta"),
        Column("sex", "VARCHAR", _T("Køn (M/F)", "Sex (M/F)"), source="citizens.sex", kind="meta"),
        Column("municipality_code", "INTEGER", _T("Kommunekode", "Municipality code"),
               codelist="municipalities", source="citizens.municipality_code", kind="meta"),
    )


def course_columns(pseudonymised: bool) -> tuple[Column, ...]:
    """The courses table. Pseudonymised: course_key and citizen_key for the ids, and no created_at
    (the time a course was created is an audit-log timestamp; docs/research.md)."""
    programme = Column("programme", "VARCHAR", _T("Program", "Programme"), source="courses.programme", kind="meta")
    municipality = Column("municipality_code", "INTEGER", _T("Kommunekode", "Municipality code"),
                          codelist="municipalities", source="courses.municipality_code", kind="meta")
    # Every programme's start is the first form after its course form (Contract.start_and_end).
    age = Column("age_at_start", "INTEGER",
                 _T("Alder ved forløbets start (HjerteKom: afklarende samtale)",
                    "Age at the start of the course (HjerteKom: start meeting)"),
                 unit="år", source="citizens.birth_date, the date of the programme's start form", kind="meta")
    if pseudonymised:
        return (COURSE_KEY,
                Column("citizen_key", "VARCHAR", _T("Pseudonym for borgeren", "Citizen pseudonym"),
                       source="HMAC-SHA256(citizens.cpr)", kind="meta"),
                programme, municipality, age)
    return (
        Column("course_id", "BIGINT", _T("Forløbs-id", "Course id"), source="courses.id", kind="meta"),
        Column("citizen_id", "BIGINT", _T("Borger-id", "Citizen id"), source="courses.citizen_id", kind="meta"),
        programme, municipality,
        Column("created_at", "TIMESTAMP", _T("Oprettet", "Created at"), source="courses.created_at", kind="meta"),
        age,
    )


MUNICIPALITY_COLUMNS = (
    Column("code", "INTEGER", _T("Kommunekode", "Municipality code"), source="municipalities.code", kind="meta"),
    Column("name", "VARCHAR", _T("Kommune", "Municipality"), source="municipalities.name", kind="meta"),
    Column("region_code", "INTEGER", _T("Regionskode", "Region code"), source="municipalities.region_code",
           kind="meta"),
    Column("region", "VARCHAR", _T("Region", "Region"), source="municipalities.region", kind="meta"),
)

CODELIST_COLUMNS = (
    Column("codelist", "VARCHAR", _T("Kodeliste", "Code list"), source="data_contracts/codelists", kind="meta"),
    Column("code", "VARCHAR", _T("Kode", "Code"), source="data_contracts/codelists", kind="meta"),
    Column("label_da", "VARCHAR", _T("Tekst (dansk)", "Label (Danish)"), source="data_contracts/codelists",
           kind="meta"),
    Column("label_en", "VARCHAR", _T("Tekst (engelsk)", "Label (English)"), source="data_contracts/codelists",
           kind="meta"),
)

CODEBOOK_COLUMNS = tuple(
    Column(name, "VARCHAR", _T(da, en), source="data_contracts", kind="meta") for name, da, en in (
        ("table_name", "Tabel", "Table"), ("column_name", "Kolonne", "Column"), ("type", "Type", "Type"),
        ("label_da", "Tekst (dansk)", "Label (Danish)"), ("label_en", "Tekst (engelsk)", "Label (English)"),
        ("unit", "Enhed", "Unit"), ("codelist", "Kodeliste", "Code list"), ("source", "Kilde", "Source"))
)

SNAPSHOT_INFO_COLUMNS = (
    Column("created_at", "TIMESTAMP WITH TIME ZONE", _T("Snapshottet blev lavet", "Snapshot created at"), kind="meta"),
    Column("hjertekom_version", "VARCHAR", _T("HjerteKom-version", "HjerteKom version"), kind="meta"),
    Column("contract_versions", "JSON", _T("Kontraktversion pr. program", "Contract version per programme"),
           kind="meta"),
    Column("source_store", "VARCHAR", _T("Kilde (driftsdatabase)", "Source store"), kind="meta"),
    Column("row_counts", "JSON", _T("Antal rækker pr. tabel", "Row count per table"), kind="meta"),
    Column("pseudonymised", "BOOLEAN", _T("Pseudonymiseret", "Pseudonymised"), kind="meta"),
    Column("content_hash", "VARCHAR", _T("Indholdshash (SHA-256)", "Content hash (SHA-256)"), kind="meta"),
    Column("dates", "VARCHAR", _T("Datoer: exact (som registreret), month (dagen sat til den 1.) eller shifted "
                                  "(forskudt pr. borger); identificerede snapshots: exact",
                                  "Dates: exact (as registered), month (day set to the 1st) or shifted (moved "
                                  "per citizen); identified snapshots: exact"), kind="meta"),
)
#: snapshot_info columns that snapshots written before them lack (read as their default then).
LATER_INFO_COLUMNS = {"dates": "exact"}
