"""Voilà's page templates compiled once per server instead of once per page.

Voilà builds a new exporter, and with it a new Jinja environment, for every page it serves, so
every login parsed and compiled the lab template and its includes again: a fifth of the server's
main-thread time in a wave of 20 logins (py-spy, 2026-12-07; benchmarks/README.md). A bytecode
cache shared by those environments keeps the compiled code in memory; Jinja checks each entry
against the template source's checksum, so a changed template is compiled afresh.

The cache keeps the code objects themselves, not their marshalled bytes: loading the bytes again
for every page (``marshal``) was still a tenth of the server's main thread at a login (py-spy,
2026-12-07). A code object is immutable; each environment still makes its own template from it.
"""
from __future__ import annotations

import threading
from types import CodeType

import jinja2

_installed = False


class SharedBytecode(jinja2.BytecodeCache):
    """Compiled templates in memory, shared by every environment it is given to. Only async
    environments get it (Voilà's exporter is always async): the compiled code differs for sync."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}   # key -> (source checksum, code)
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            entry = self._code.get(bucket.key)
        if entry is not None and entry[0] == bucket.checksum:   # a changed source is compiled again
            bucket.code = entry[1]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is None:
            return
        with self._lock:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


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
