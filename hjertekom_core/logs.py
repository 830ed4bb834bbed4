"""Logging to a file beside the store, owner-only (0600), with anything CPR-shaped masked.

The masking is a last line of defence: code must not log CPR numbers or names in the first place.
It covers everything that reaches the file: the message and its arguments, and also what Python
itself writes, an exception's traceback (whose last line is the exception's message) and a
stack dump, because those are where a number in a local string or an exception message ends up.
"""
from __future__ import annotations

import logging
from pathlib import Path

from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.private_files import create_private_file, private_dir

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
MASK = "<cpr>"


def mask_cpr_text(text: str) -> str:
    """``text`` with every CPR-shaped digit run (DDMMYYSSSS, DDMMYY-SSSS) replaced by <cpr>."""
    return CPR_PATTERN.sub(MASK, text)


class RedactCpr(logging.Filter):
    """Masks the record itself (message, traceback text, stack dump) before any formatter sees it.

    Logging formats a traceback once and keeps the text on the record (``exc_text``) for every
    later handler, so masking it here protects handlers added after ours as well.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format call is logging's to report (handleError), not ours
            return True
        if CPR_PATTERN.search(message):
            record.msg = mask_cpr_text(message)
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_cpr_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_cpr_text(record.stack_info)
        return True


class CprMaskingFormatter(logging.Formatter):
    """A formatter whose output never holds a CPR-shaped number: the whole formatted record is
    masked, message, arguments, traceback and stack dump included."""

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def] # noqa: N802 - logging's name
        return mask_cpr_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return mask_cpr_text(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_text:  # cached by a handler before ours, perhaps unmasked
            record.exc_text = mask_cpr_text(record.exc_text)
        return mask_cpr_text(super().format(record))


def setup_logging(log_file: Path, level: str = "INFO") -> None:
    """Log to ``log_file`` (made 0600 in a folder made 0700 if missing, whatever the umask)."""
    private_dir(log_file.parent, tighten=False)  # the data folder itself is tightened by bootstrap
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hjertekom", False)]:
        if Path(old.baseFilename) == log_file.resolve():  # type: ignore[attr-defined]
            return
        root.removeHandler(old)  # a new store, a new log beside it
        old.close()
    # Created 0600 before FileHandler opens it: FileHandler would create it through the umask.
    create_private_file(log_file)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(CprMaskingFormatter(FORMAT))
    handler.addFilter(RedactCpr())
    handler._hjertekom = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
