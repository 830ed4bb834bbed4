"""The data contract: the single source of truth for forms, fields, code lists and rules."""
from hjertekom_core.contract.loader import ContractRegistry, UnknownProgramme, load_codelist, load_codelists, load_contract
from hjertekom_core.contract.model import (
    UNKNOWN,
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

__all__ = [
    "UNKNOWN", "Code", "CodeList", "Condition", "Contract", "ContractRegistry", "Derivation", "Field",
    "Form", "Limits", "Ref", "Rule", "Section", "SelfReport", "Text", "UnknownProgramme", "load_codelist", "load_codelists", "load_contract",
]
