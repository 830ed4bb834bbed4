"""Logging to a file beside the store. A filter masks anything CPR-shaped as a last line of
defence: code must not log CPR numbers or names in the first place."""
from __future__ import annotations

import logging
from pathlib import Path

from hjertekom_core.cpr import CPR_PATTERN

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class RedactCpr(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if CPR_PATTERN.search(message):
            record.msg = CPR_PATTERN.sub("<cpr>", message)
            record.args = ()
        return True


def setup_logging(log_file: Path, level: str = "INFO") -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hjertekom", False)]:
        if Path(old.baseFilename) == log_file.resolve():  # type: ignore[attr-defined]
            return
        root.removeHandler(old)  # a new store, a new log beside it
        old.close()
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactCpr())
    handler._hjertekom = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
