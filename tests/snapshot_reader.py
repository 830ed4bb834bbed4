"""A child process for test_snapshot: open a snapshot read-only while the others hold it open too."""
from __future__ import annotations

import traceback
from typing import Any


def read_together(path: str, barrier: Any, results: Any) -> None:
    """Open ``path`` read-only, wait until every reader holds it open, then count and report."""
    try:
        import duckdb

        with duckdb.connect(path, read_only=True) as con:
            barrier.wait(timeout=60)  # every process has the file open at this point
            counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
                      for t in ("citizens", "courses", "hjertekom_start")}
            info = con.execute("SELECT content_hash FROM snapshot_info").fetchone()[0]  # type: ignore[index]
            barrier.wait(timeout=60)  # and still has it open
        results.put(("ok", counts, info))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
        results.put(("error", traceback.format_exc(), None))
