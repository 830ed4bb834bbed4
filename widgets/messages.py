"""The entry app's message boxes and the short words for forms and their status (Danish)."""
from __future__ import annotations

import html
from typing import Any

STATUS_DA = {"draft": "kladde", "complete": "færdig", None: "ikke startet"}
FORM_BUTTON = {"course": "Forløb", "start": "Afklarende samtale", "end": "Afslutning"}


def message_html(kind: str, text: str) -> str:
    colours = {"ok": ("#e6f4ea", "#1e6b34"), "error": ("#fdecea", "#b00020"), "warn": ("#fff4e5", "#8a5300"),
               "info": ("#eef3f8", "#24476b")}
    bg, fg = colours[kind]
    return (f'<div role="{"alert" if kind == "error" else "status"}" class="hk-msg hk-{kind}" '
            f'style="background:{bg};color:{fg};padding:8px 12px;border-radius:4px;margin:6px 0">{text}</div>')


def issues_html(issues: Any, heading: str) -> str:
    items = "".join(f"<li>{html.escape(i.message('da'))}</li>" for i in issues)
    return f"{html.escape(heading)}<ul style='margin:4px 0 0 18px'>{items}</ul>"
