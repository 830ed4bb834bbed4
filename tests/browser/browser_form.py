"""Finding a form's fields the way a clinician does: by their visible label, in the form shown.

Every form the page has built stays in it, hidden unless shown (widgets/course_view.py), so the
fields are looked for in ``.hk-form:visible`` only. A field's box is a VBox whose first row is an
HBox starting with the label's HTML (``<b>label</b>``); its message line (``role="alert"``) is in
the same box.
"""
from __future__ import annotations

from playwright.sync_api import Locator, Page

_VBOX = "contains(concat(' ', normalize-space(@class), ' '), ' widget-vbox ')"
_HBOX = "contains(concat(' ', normalize-space(@class), ' '), ' widget-hbox ')"


def field(page: Page, label: str) -> Locator:
    """The box of one form field (label, input(s), unit, "Mangler", message line)."""
    assert "'" not in label
    return page.locator(".hk-form:visible").locator(
        f"xpath=.//div[{_VBOX}][div[{_HBOX}][1]/div[1]//b[normalize-space(.)='{label}']]")


def text_input(page: Page, label: str) -> Locator:
    return field(page, label).locator("input[type=text], textarea").first


def type_in(page: Page, label: str, value: str, *, leave_with: str = "Tab") -> None:
    """Type into a text field and leave it (Tab), which sends the value to the kernel."""
    box = text_input(page, label)
    box.fill(value)
    box.press(leave_with)
