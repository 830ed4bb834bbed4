"""Immutable DuckDB snapshots of the operational store, identified or pseudonymised."""
from hjertekom_core.snapshot.writer import (
    CprLeak,
    SnapshotError,
    SnapshotInfo,
    create_audited_snapshot,
    create_snapshot,
    newest_snapshot,
    pseudonym,
    read_info,
    scan_for_cpr,
)

__all__ = ["CprLeak", "SnapshotError", "SnapshotInfo", "create_audited_snapshot", "create_snapshot", "newest_snapshot", "pseudonym", "read_info", "scan_for_cpr"]
