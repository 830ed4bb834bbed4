"""The log file never holds a CPR number: not in messages, arguments, tracebacks or stack dumps.

Code must not log CPR numbers in the first place; the log's masking is the last line of defence,
and it has to cover what Python itself writes: an exception's message inside its traceback, the
traceback of an exception raised from another, a stack dump. The numbers are synthetic
(``generate_cpr``), in both written forms (DDMMYYSSSS and DDMMYY-SSSS).
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from hjertekom_core.cpr import CPR_PATTERN, generate_cpr
from hjertekom_core.logs import setup_logging

log = logging.getLogger("hjertekom.test.sec_logs")


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    level = root.level
    path = tmp_path / "var" / "hjertekom.log"
    setup_logging(path, "DEBUG")
    try:
        yield path
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_hjertekom", False)]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)


@pytest.fixture
def numbers() -> list[str]:
    rng = random.Random(20250612)  # noqa: S311 - synthetic test data, no secret
    plain = [generate_cpr(rng) for _ in range(3)]
    return [*plain, *(f"{n[:6]}-{n[6:]}" for n in plain)]


def look_up(number: str) -> None:
    """A function that puts a CPR number into a local string and raises with it."""
    wanted = f"no citizen with CPR {number} in municipality 740"
    raise LookupError(wanted)


def leaks(path: Path) -> list[str]:
    return [m.group(0) for m in CPR_PATTERN.finditer(path.read_text(encoding="utf-8"))]


def test_a_traceback_with_a_cpr_number_in_the_exception_message_is_masked(log_file: Path,
                                                                           numbers: list[str]) -> None:
    for number in numbers:
        try:
            raise ValueError(f"citizen {number} could not be saved")
        except ValueError:
            log.exception("saving failed")
    text = log_file.read_text(encoding="utf-8")
    assert text.count("Traceback (most recent call last)") == len(numbers) and "could not be saved" in text
    assert leaks(log_file) == []


def test_an_exception_raised_from_a_local_string_and_chained_is_masked(log_file: Path, numbers: list[str]) -> None:
    for number in numbers:
        try:
            try:
                look_up(number)
            except LookupError as exc:
                raise RuntimeError(f"import row failed for {number}") from exc
        except RuntimeError:
            log.error("import failed", exc_info=True)
        try:
            look_up(number)
        except LookupError as exc:
            log.warning("lookup: %s", exc, exc_info=exc)
    text = log_file.read_text(encoding="utf-8")
    assert "direct cause of the following exception" in text and "in look_up" in text
    assert leaks(log_file) == []


def test_arguments_and_stack_dumps_are_masked(log_file: Path, numbers: list[str]) -> None:
    for number in numbers:
        log.info("saving %s for %s", number, "course 12")
        log.warning("payload %r", {"cpr": number, "course": 12})
        log.debug("digits %d", int(number.replace("-", "")))
        log.error("citizen %s", number, stack_info=True)
    text = log_file.read_text(encoding="utf-8")
    assert "Stack (most recent call last)" in text and "course 12" in text
    assert leaks(log_file) == []


def test_a_handler_after_ours_gets_the_masked_traceback_too(log_file: Path, numbers: list[str],
                                                           tmp_path: Path) -> None:
    """Logging formats a traceback once and keeps it on the record for every later handler."""
    other = logging.FileHandler(tmp_path / "other.log", encoding="utf-8")
    root = logging.getLogger()
    root.addHandler(other)
    try:
        try:
            look_up(numbers[0])
        except LookupError:
            log.exception("lookup failed")
    finally:
        root.removeHandler(other)
        other.close()
    assert "in look_up" in (tmp_path / "other.log").read_text(encoding="utf-8")
    assert leaks(log_file) == [] and leaks(tmp_path / "other.log") == []
