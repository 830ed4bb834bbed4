"""Moments as a Danish clinician reads them: Danish local time (whatever the server's zone), with
the date only when it is not today ("kl. 10:42", "05-03-2025 kl. 10:42")."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hjertekom_widgets.text import t

#: The zone of every time the entry app shows (the store keeps UTC).
DANISH_ZONE = ZoneInfo("Europe/Copenhagen")


def danish(moment: dt.datetime) -> dt.datetime:
    """``moment`` in Danish local time (a naive moment is taken as UTC, as the store keeps it)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(DANISH_ZONE)


def when_text(moment: dt.datetime, lang: str = "da", *, now: dt.datetime | None = None) -> str:
    """"kl. 10:42" today, "05-03-2025 kl. 10:42" another day (Danish local time)."""
    local = danish(moment)
    today = danish(now or dt.datetime.now(dt.timezone.utc)).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return t("time.today", lang, time=clock)
    return t("time.other_day", lang, date=f"{local:%d-%m-%Y}", time=clock)


def clock_text(moment: dt.datetime | None = None) -> str:
    """The Danish local time of day with seconds ("10:42:07"), by default now."""
    return f"{danish(moment or dt.datetime.now(dt.timezone.utc)):%H:%M:%S}"
