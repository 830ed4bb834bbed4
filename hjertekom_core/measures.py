"""What a programme measures at both the start and the end of a course, from its contract alone.

A programme declared by YAML has no chosen list of results (HjerteKom has its own: the entry app's
``FEEDBACK_FIELDS`` and the citizen sheet's ``MEASURES``), so its results are what its contract
asks at both ends: a field of the same name in the start and the end form (``Contract.start_and_end``),
neither a date nor free text nor identifying, in the end form's order. The entry app's feedback
and the citizen sheet pick them the same way, so they never disagree.
"""
from __future__ import annotations

from hjertekom_core.contract import Contract, Form


def start_end_measures(start_form: Form, end_form: Form) -> tuple[str, ...]:
    """The fields measured in both forms (see the module's text), in ``end_form``'s order."""
    return tuple(name for name, f in end_form.fields.items()
                 if name in start_form.fields and f.type not in ("date", "text") and not f.identifying)


def declared_measures(contract: Contract) -> tuple[str, ...]:
    """:func:`start_end_measures` of the contract's start and end forms; () without both."""
    pair = contract.start_and_end()
    if pair is None:
        return ()
    return start_end_measures(contract.form(pair[0]), contract.form(pair[1]))
