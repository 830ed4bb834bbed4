"""``hjertekom citizen``: a citizen's GDPR rights (access, restriction, erasure).

The group only gathers the commands; each right lives in its own module
(cli/citizen_access.py: export; cli/citizen_erasure.py: restrict, lift, erase).
"""
from __future__ import annotations

import click


@click.group()
def citizen() -> None:
    """A citizen's rights: export what is held (access), restrict, erase."""


def _register() -> None:
    from hjertekom_core.cli import citizen_access, citizen_erasure

    for module in (citizen_access, citizen_erasure):
        for command in module.COMMANDS:
            citizen.add_command(command)


_register()
