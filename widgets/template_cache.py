"""Voilà's page templates compiled once per server instead of once per page.

Voilà builds a new exporter, and with it a new Jinja environment, for every page it serves, so
every login parsed and compiled the lab template and its includes again: a fifth of the server's
main-thread time in a wave of 20 logins (py-spy, 2026-12-07; benchmarks/README.md). A bytecode
cache shared by those environments keeps the compiled code in memory; Jinja checks each entry
against the template source's checksum, so a changed template is compiled afresh.
"""
from __future__ import annotations

import threading

import jinja2

_installed = False


class SharedBytecode(jinja2.BytecodeCache):
    """Compiled templates in memory, shared by every environment it is given to. Only async
    environments get it (Voilà's exporter is always async): the compiled code differs for sync."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # discarded by Jinja if the source's checksum changed

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


SHARED = SharedBytecode()


def install() -> None:
    """Give every VoilaExporter's environment the shared cache (once per process)."""
    global _installed
    if _installed:
        return
    from voila.exporter import VoilaExporter

    create = VoilaExporter._create_environment

    def _create_environment(self: VoilaExporter) -> jinja2.Environment:
        environment = create(self)
        if environment.is_async:
            environment.bytecode_cache = SHARED
        return environment

    VoilaExporter._create_environment = _create_environment  # type: ignore[method-assign]
    _installed = True
