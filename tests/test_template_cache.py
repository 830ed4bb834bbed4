"""Voilà's page templates are compiled once per server, not once per page (widgets/template_cache.py)."""
from __future__ import annotations

import concurrent.futures

import jinja2

from hjertekom_widgets import template_cache


class CountingEnvironment(jinja2.Environment):
    compiled = 0

    def _compile(self, source: str, filename: str) -> object:  # type: ignore[override]
        CountingEnvironment.compiled += 1
        return super()._compile(source, filename)


def _environment(templates: dict[str, str], cache: jinja2.BytecodeCache) -> jinja2.Environment:
    # Voilà makes a new environment per page; the loader's file name makes the cache key, as with
    # Voilà's FileSystemLoader (a DictLoader gives none, so a FunctionLoader stands in).
    def load(name: str) -> tuple[str, str, object]:
        return templates[name], f"/templates/{name}", lambda: True

    return CountingEnvironment(loader=jinja2.FunctionLoader(load), enable_async=True,
                               bytecode_cache=cache)


def test_a_second_page_environment_uses_the_compiled_template_and_a_changed_one_is_compiled_again() -> None:
    shared = template_cache.SharedBytecode()
    templates = {"page.html": "Hej {{ name }}"}

    def page() -> str:
        env = _environment(templates, shared)
        # render() of an async template calls asyncio.run: in a thread of its own, since an
        # earlier test may leave an event loop running in this one.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(env.get_template("page.html").render, name="Anne").result()

    CountingEnvironment.compiled = 0
    assert page() == "Hej Anne"
    assert page() == "Hej Anne"
    assert CountingEnvironment.compiled == 1
    templates["page.html"] = "Goddag {{ name }}"
    assert page() == "Goddag Anne"
    assert CountingEnvironment.compiled == 2


def test_every_voila_exporter_environment_gets_the_shared_cache() -> None:
    from voila.exporter import VoilaExporter

    template_cache.install()
    template_cache.install()  # once is enough; twice changes nothing
    first, second = VoilaExporter(), VoilaExporter()
    assert first.environment is not second.environment  # Voilà's own: one per page
    assert first.environment.bytecode_cache is template_cache.SHARED
    assert second.environment.bytecode_cache is template_cache.SHARED
