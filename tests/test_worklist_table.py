"""The worklist's lists are one widget each, however many rows (issue 16, logins at once).

Each ipywidgets model is a message of its own from the kernel through the server to the page, at
every login. A list drawn as controls was three models per row and one per column heading; drawn
as one HTML table, its rows open courses by links to their address and its headings are buttons
whose clicks come back over the page's action channel (page_actions.py).
"""
from __future__ import annotations

import collections
import datetime as dt
import html
import json
import re

import pytest
from ipywidgets.widgets import widget as widget_module

from hjertekom_core.service import Citizen, WorklistItem
from hjertekom_widgets.page_actions import ActionChannel, action_attribute, parse_report
from hjertekom_widgets.worklist import ROWS_SHOWN, WorklistTable

SILKEBORG = 740
FORMS = ["course", "start", "end"]


def _items(n: int) -> list[WorklistItem]:
    return [WorklistItem(i, Citizen(i, "0101501234", f"Borger {i:03d}", dt.date(1950, 1, 1), "M", SILKEBORG),
                         SILKEBORG, {"course": "complete"}, None, False, (), False, True)
            for i in range(1, n + 1)]


def _models_of(n: int) -> tuple[collections.Counter[str], WorklistTable]:
    before = set(widget_module._instances)
    table = WorklistTable("awaiting_start", "Afventer afklarende samtale", "hk-awaiting-start", _items(n), FORMS)
    made = [widget_module._instances[k] for k in set(widget_module._instances) - before]
    return collections.Counter(type(m).__name__ for m in made), table


def _names(table: WorklistTable) -> list[str]:
    return re.findall(r"<td class='hk-cell-name'>([^<]*)</td>", table.widget.value)


def test_a_list_is_the_same_few_models_whatever_its_length() -> None:
    few, _ = _models_of(3)
    many, table = _models_of(40)
    assert many == few and sum(many.values()) <= 3, many   # the HTML, its layout and its style
    assert "hk-awaiting-start" in table.widget._dom_classes and "hk-worklist" in table.widget._dom_classes
    page = table.widget.value
    assert page.count("<tr class='hk-worklist-row'>") == 40 < ROWS_SHOWN
    assert "<h3 style='margin:12px 0 4px 0'>Afventer afklarende samtale (40)</h3>" in page
    # Each row opens its course by its address; the link's name says whose course.
    assert "<a class='hk-open-item' href='#/forloeb/7' aria-label='Åbn forløbet for Borger 007'>Åbn</a>" in page


def test_headings_sort_through_the_action_channel_and_say_how() -> None:
    _, table = _models_of(12)
    page = table.widget.value
    assert f"{action_attribute('worklist-sort', 'awaiting_start', 'name')}>Navn</button>" in page
    assert "aria-sort='none'" in page and "aria-sort='ascending'" not in page
    table.sort_by("name")
    assert _names(table) == [f"Borger {i:03d}" for i in range(1, 13)]
    assert "aria-sort='ascending'><button type='button' class='hk-sort-name'" in table.widget.value
    assert ">Navn ▲</button>" in table.widget.value
    table.sort_by("name")
    assert _names(table) == [f"Borger {i:03d}" for i in range(12, 0, -1)]
    assert ">Navn ▼</button>" in table.widget.value
    with pytest.raises(ValueError):
        table.sort_by("password")


def test_a_long_list_shows_its_first_rows_and_all_on_request() -> None:
    _, table = _models_of(ROWS_SHOWN + 5)
    assert table.widget.value.count("hk-worklist-row") == ROWS_SHOWN
    assert f"Viser {ROWS_SHOWN} af {ROWS_SHOWN + 5}." in table.widget.value
    assert f"{action_attribute('worklist-all', 'awaiting_start')}>Vis alle {ROWS_SHOWN + 5}</button>" in table.widget.value
    table.show_everything()
    assert table.widget.value.count("hk-worklist-row") == ROWS_SHOWN + 5 and "Vis alle" not in table.widget.value


def test_a_name_is_escaped_in_the_table() -> None:
    item = _items(1)[0]
    hostile = WorklistItem(1, Citizen(1, "0101501234", "<img src=x onerror=alert(1)>'", dt.date(1950, 1, 1), "M",
                                      SILKEBORG), SILKEBORG, {}, None, False, (), False, True)
    table = WorklistTable("drafts", "Kladder", "hk-drafts", [item, hostile], FORMS)
    assert "<img" not in table.widget.value
    assert html.escape(hostile.citizen.name, quote=True) in table.widget.value


# --- the action channel: what the browser writes is hostile ------------------------------------------

def _report(seq: object, action: object, args: object = ()) -> str:
    return json.dumps({"seq": seq, "action": action, "args": list(args) if isinstance(args, tuple) else args})


def test_the_channel_calls_the_registered_handler_once_per_new_report() -> None:
    channel = ActionChannel()
    heard: list[tuple[str, ...]] = []
    channel.register("worklist-sort", lambda args: heard.append(tuple(args)))
    channel.widget.value = _report(1, "worklist-sort", ("drafts", "name"))
    channel.widget.value = _report(1, "worklist-sort", ("drafts", "cpr"))   # a replayed number: stale
    channel.widget.value = _report(2, "worklist-sort", ("drafts", "cpr"))
    assert heard == [("drafts", "name"), ("drafts", "cpr")]


@pytest.mark.parametrize("raw", [
    "", "not json", "[1, 2]", _report(True, "worklist-sort"), _report(0, "worklist-sort"),
    _report("3", "worklist-sort"), _report(3, 7), _report(3, ""), _report(3, "x" * 61),
    _report(3, "worklist-sort", "drafts"), _report(3, "worklist-sort", ["a"] * 5),
    _report(3, "worklist-sort", [1, 2]), _report(3, "worklist-sort", ["y" * 61]), "{" + " " * 600 + "}",
])
def test_reports_of_the_wrong_shape_or_size_are_dropped(raw: str) -> None:
    assert parse_report(raw) is None
    channel = ActionChannel()
    heard: list[object] = []
    channel.register("worklist-sort", heard.append)
    channel.widget.value = raw
    assert heard == []


def test_an_action_nobody_registered_does_nothing() -> None:
    channel = ActionChannel()
    heard: list[object] = []
    channel.register("worklist-sort", heard.append)
    channel.widget.value = _report(1, "user-delete", ("1",))
    assert heard == [] and parse_report(_report(1, "user-delete", ("1",))) == (1, "user-delete", ("1",))


def test_only_plain_words_go_into_an_action_attribute() -> None:
    assert action_attribute("worklist-sort", "drafts", "status:end") == 'data-hk-action="worklist-sort drafts status:end"'
    for bad in ("two words", "quote'", 'dq"', "<b>", ""):
        with pytest.raises(ValueError):
            action_attribute("worklist-sort", bad)
