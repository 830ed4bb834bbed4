"""Immutable DuckDB snapshots of the operational store, identified or pseudonymised."""
from hjertekom_core.snapshot.writer import (
    CprLeak,
    SnapshotError,
    SnapshotInfo,
    course_pseudonym,
    create_audited_snapshot,
    create_snapshot,
    newest_snapshot,
    pseudonym,
    read_info,
    scan_for_cpr,
)
from hjertekom_core.snapshot.reader import NotASnapshot, UnknownSnapshotVersion, check_snapshot, open_snapshot

__all__ = ["CprLeak", "NotASnapshot", "SnapshotError", "SnapshotInfo", "UnknownSnapshotVersion", "check_snapshot",
           "course_pseudonym", "create_audited_snapshot", "create_snapshot", "newest_snapshot", "open_snapshot",
           "pseudonym", "read_info", "scan_for_cpr"]
