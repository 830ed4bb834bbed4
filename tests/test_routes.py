"""The entry app's addresses (URL fragments): what each names, that nothing but ids and known forms
is read from one, and how the kernel and the page script pass them (widgets/routes.py)."""
from __future__ import annotations

import json

import pytest

from hjertekom_widgets.routes import AddressBar, Route, parse

FORMS = ("course", "start", "end")


@pytest.mark.parametrize(("fragment", "route"), [
    ("", Route("worklist")), ("#", Route("worklist")), ("#/", Route("worklist")),
    ("#/ny", Route("new")), ("#/ny/", Route("new")),
    ("#/borger/17", Route("citizen", 17)), ("#/borger/17/nyt-forloeb", Route("new_course", 17)),
    ("#/forloeb/12", Route("course", 12)), ("#/forloeb/12/start", Route("course", 12, "start")),
    ("#/forloeb/12/end/", Route("course", 12, "end")),
])
def test_each_view_has_an_address(fragment: str, route: Route) -> None:
    assert parse(fragment, FORMS) == route
    assert parse(route.fragment, FORMS) == route


@pytest.mark.parametrize("fragment", [
    "#/forloeb/12/diagnose", "#/forloeb/-1/start", "#/forloeb/012", "#/forloeb/1e3", "#/forloeb/0",
    "#/forloeb/1234567890123", "#/borger/220842-2653", "#/borger/Jens%20Hansen", "#/forloeb/12/start?x=1",
    "#/forloeb/12/START", "#/rapporter", "#//forloeb/12", "#/forloeb/12/start/../end", "#/borger/٣",
])
def test_anything_else_names_no_view(fragment: str) -> None:
    assert parse(fragment, FORMS) is None


def test_an_address_names_ids_only() -> None:
    assert Route("course", 12, "start").fragment == "#/forloeb/12/start"
    assert Route("citizen", 17).fragment == "#/borger/17"
    assert Route("worklist").fragment == "#/" and Route("new").fragment == "#/ny"


def _report(bar: AddressBar, seq: int, fragment: str) -> None:
    bar.inbox.value = json.dumps({"seq": seq, "hash": fragment})


def test_the_kernel_waits_for_the_browsers_address_before_it_writes_one() -> None:
    heard: list[str] = []
    bar = AddressBar(heard.append)
    bar.show(Route("worklist"))                       # the app starts on the worklist ...
    assert bar.outbox.value == ""                     # ... but a reload may have asked for a form
    _report(bar, 1, "#/forloeb/12/end")
    assert heard == ["#/forloeb/12/end"]
    bar.show(Route("course", 12, "end"), replace=True)
    assert bar.outbox.value == ""                     # the browser is there already
    bar.show(Route("worklist"))
    assert 'data-route="#/"' in bar.outbox.value and 'data-mode="push"' in bar.outbox.value
    bar.show(Route("course", 3, "start"), replace=True)
    assert 'data-route="#/forloeb/3/start"' in bar.outbox.value and 'data-mode="replace"' in bar.outbox.value


def test_stale_repeated_or_malformed_reports_are_ignored() -> None:
    heard: list[str] = []
    bar = AddressBar(heard.append)
    _report(bar, 2, "#/")
    _report(bar, 1, "#/forloeb/1/start")              # older than the last one
    bar.inbox.value = "not json"
    bar.inbox.value = json.dumps(["#/ny"])
    bar.inbox.value = json.dumps({"seq": "3", "hash": "#/ny"})
    bar.inbox.value = json.dumps({"seq": 4, "hash": "#/" + "x" * 2000})
    assert heard == ["#/"]
    _report(bar, 5, "#/ny")
    assert heard == ["#/", "#/ny"]
