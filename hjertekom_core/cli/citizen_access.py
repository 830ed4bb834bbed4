"""Commands of ``hjertekom citizen`` (gathered in cli/citizen.py)."""
from __future__ import annotations

import click

#: The click commands this module adds to ``hjertekom citizen``.
COMMANDS: list[click.Command] = []
