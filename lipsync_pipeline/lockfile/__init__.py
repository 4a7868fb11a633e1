"""The lockfile: what was rendered from what, as values, bytes and a schema, and
its durable record during a run.

Private modules: ``_entries`` (the recorded values), ``_paths`` (the lock, journal
and run-lock file names), ``_format`` (deterministic JSON, loading with locations),
``_jsonloc`` (JSON with line:col), ``_journal`` (journalled updates and atomic
rewrites), ``_runlock`` (one live run per lockfile), ``_writer`` (group commit
for many jobs' changes).
"""

from __future__ import annotations

from lipsync_pipeline.lockfile._entries import (
    LOCK_VERSION,
    Artifact,
    LockEntry,
    LockSnapshot,
    Status,
    artifact_relpath,
)
from lipsync_pipeline.lockfile._format import (
    entry_json,
    load_lock,
    locate,
    lock_schema,
    read_lock,
    render_lock,
)
from lipsync_pipeline.lockfile._journal import LockJournal
from lipsync_pipeline.lockfile._paths import default_lock_path, journal_path, run_lock_path
from lipsync_pipeline.lockfile._runlock import RunLock
from lipsync_pipeline.lockfile._writer import LockWriter, Publishable, write_failure

__all__ = [
    "LOCK_VERSION",
    "Artifact",
    "LockEntry",
    "LockJournal",
    "LockSnapshot",
    "LockWriter",
    "Publishable",
    "RunLock",
    "Status",
    "artifact_relpath",
    "default_lock_path",
    "entry_json",
    "journal_path",
    "load_lock",
    "locate",
    "lock_schema",
    "read_lock",
    "render_lock",
    "run_lock_path",
    "write_failure",
]
