"""The worklist's rows share their layout and style models (issue 16, logins at once).

Each ipywidgets model is a message of its own from the kernel through the server to the page, at
every login; a list of 40 rows used to bring three models per row besides the row's own widgets.
"""
from __future__ import annotations

import collections
import datetime as dt

import ipywidgets as w
from ipywidgets.widgets import widget as widget_module

from hjertekom_core.service import Citizen, WorklistItem
from hjertekom_widgets.worklist import ROWS_SHOWN, WorklistTable

SILKEBORG = 740
FORMS = ["course", "start", "end"]


def _items(n: int) -> list[WorklistItem]:
    return [WorklistItem(i, Citizen(i, "0101501234", f"Borger {i}", dt.date(1950, 1, 1), "M", SILKEBORG), SILKEBORG,
                         {"course": "complete"}, None, False, (), False, True)
            for i in range(1, n + 1)]


def _models_of(n: int) -> tuple[collections.Counter[str], WorklistTable]:
    before = set(widget_module._instances)
    table = WorklistTable("Afventer afklarende samtale", "hk-awaiting-start", _items(n), FORMS,
                          lambda _: (lambda _: None))
    made = [widget_module._instances[k] for k in set(widget_module._instances) - before]
    return collections.Counter(type(m).__name__ for m in made), table


def test_more_rows_bring_no_more_layouts_or_styles() -> None:
    few, _ = _models_of(3)
    many, table = _models_of(40)
    for kind in ("Layout", "ButtonStyle", "HTMLStyle"):
        assert many[kind] == few[kind], (kind, few, many)
    # Each row is its open button, its cells and the box holding them: three models, no more.
    assert many["Button"] - few["Button"] == 37 and many["HBox"] - few["HBox"] == 37
    assert len(table.rows.children) == 40 < ROWS_SHOWN


def test_rows_keep_their_classes_and_a_sorted_table_still_shares() -> None:
    counts, table = _models_of(12)
    row = table.rows.children[0]
    assert "hk-worklist-row" in row._dom_classes
    assert "hk-open-item" in row.children[0]._dom_classes
    assert row.children[0].layout is table.rows.children[5].children[0].layout
    before = set(widget_module._instances)
    table.sort_by("name")
    made = collections.Counter(type(widget_module._instances[k]).__name__
                               for k in set(widget_module._instances) - before)
    assert made["Layout"] == 0 and made["ButtonStyle"] == 0, made
    assert [r.children[1].value.count("Borger 1") > 0 for r in table.rows.children][:1] == [True]
    assert isinstance(row, w.HBox) and counts["Layout"] < 12
