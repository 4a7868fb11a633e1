"""The lockfile: what was rendered from what, as values, bytes and a schema, and
its durable record during a run.

Private modules: ``_entries`` (the recorded values), ``_inputs`` (what a URL input
was when its job was submitted: ``InputVersion``), ``_paths`` (the lock, journal
and run-lock file names), ``_format`` (deterministic JSON, loading with locations),
``_jsonloc`` (JSON with line:col), ``_quickcheck`` (the fast valid/invalid check;
jsonschema only words errors), ``_onepass`` (a valid lock's entries, checked as
they are parsed), ``_journal`` (journalled updates and atomic rewrites),
``_runlock`` (one live run per lockfile), ``_writer`` (group commit for many jobs'
changes), ``_merge`` (three-way merge of locks, the fold of shard locks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.lockfile._entries import (
        LOCK_VERSION,
        Artifact,
        LockEntry,
        LockSnapshot,
        Status,
        artifact_relpath,
    )
    from lipsync_pipeline.lockfile._format import (
        CONFLICTS_KEY,
        SUPERSEDED_KEY,
        entry_json,
        load_lock,
        locate,
        lock_schema,
        read_lock,
        render_lock,
    )
    from lipsync_pipeline.lockfile._inputs import InputVersion
    from lipsync_pipeline.lockfile._journal import LockJournal, write_failure
    from lipsync_pipeline.lockfile._merge import (
        PRECEDENCE,
        Conflict,
        MergeResult,
        Superseded,
        fold_locks,
        merge_locks,
        render_merge,
    )
    from lipsync_pipeline.lockfile._paths import (
        LOCK_SUFFIX,
        default_lock_path,
        journal_path,
        run_lock_path,
    )
    from lipsync_pipeline.lockfile._runlock import RunLock
    from lipsync_pipeline.lockfile._writer import LockWriter, Publishable

__all__ = [
    "CONFLICTS_KEY",
    "LOCK_SUFFIX",
    "LOCK_VERSION",
    "PRECEDENCE",
    "SUPERSEDED_KEY",
    "Artifact",
    "Conflict",
    "InputVersion",
    "LockEntry",
    "LockJournal",
    "LockSnapshot",
    "LockWriter",
    "MergeResult",
    "Publishable",
    "RunLock",
    "Status",
    "Superseded",
    "artifact_relpath",
    "default_lock_path",
    "entry_json",
    "fold_locks",
    "journal_path",
    "load_lock",
    "locate",
    "lock_schema",
    "merge_locks",
    "read_lock",
    "render_lock",
    "render_merge",
    "run_lock_path",
    "write_failure",
]

# Imported on first use (see lipsync_pipeline/_lazy.py); type checkers read the imports above.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_entries": (
                "LOCK_VERSION",
                "Artifact",
                "LockEntry",
                "LockSnapshot",
                "Status",
                "artifact_relpath",
            ),
            "_format": (
                "CONFLICTS_KEY",
                "SUPERSEDED_KEY",
                "entry_json",
                "load_lock",
                "locate",
                "lock_schema",
                "read_lock",
                "render_lock",
            ),
            "_inputs": ("InputVersion",),
            "_journal": ("LockJournal", "write_failure"),
            "_merge": (
                "PRECEDENCE",
                "Conflict",
                "MergeResult",
                "Superseded",
                "fold_locks",
                "merge_locks",
                "render_merge",
            ),
            "_paths": ("LOCK_SUFFIX", "default_lock_path", "journal_path", "run_lock_path"),
            "_runlock": ("RunLock",),
            "_writer": ("LockWriter", "Publishable"),
        },
    )
