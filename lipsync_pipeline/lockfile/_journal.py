"""The lockfile during a run: journalled updates and atomic rewrites.

- ``renders.lock.journal``: JSON lines appended during a run, one line per
  :meth:`LockJournal.record` call (group commit, one fsync). Rewriting a 10,000-job
  lockfile for every event would make each event O(n); the journal keeps it
  O(batch) and :meth:`LockJournal.compact` folds it in once.
- ``renders.lock``: rewritten atomically (temp file + fsync + rename + directory
  fsync), and only when its bytes change.

The run lock (``renders.lock.run``, one live run per lockfile) is in ``_runlock``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lipsync_pipeline._fs import TMP_SUFFIX, atomic_write, fsync_directory, open_nofollow
from lipsync_pipeline.errors import StorageError
from lipsync_pipeline.lockfile._entries import LockEntry
from lipsync_pipeline.lockfile._format import entry_json, read_bytes, read_lock, render_lock
from lipsync_pipeline.lockfile._paths import journal_path

__all__ = ["LockJournal", "write_failure"]


class LockJournal:
    """Owns the lockfile during a run: journalled updates, then one atomic compaction.

    Not thread-safe and not async: the runner has a single lock writer, and a record is a
    few hundred bytes plus one fsync.
    """

    def __init__(self, path: Path, entries: dict[str, LockEntry]) -> None:
        self.path = path
        self._entries = entries
        self.entries: Mapping[str, LockEntry] = MappingProxyType(entries)
        self._journal_fd: int | None = None
        self._closed = False
        # Whether anything was journalled since the lock was read (or a killed run's
        # journal was found): if not, the lock on disk already says what we hold.
        self._dirty = False

    @classmethod
    def open(cls, path: Path) -> LockJournal:
        """Load the lock and replay the journal; a journal is folded in at once, so
        appends start on a clean line."""
        path = Path(path)
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*{TMP_SUFFIX}"):
            # A compaction killed before its os.replace; the lock and journal are intact.
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        entries, pending = read_lock(path)
        journal = cls(path, entries)
        if pending:
            journal._dirty = True
            # A killed run's changes: fold them in now. Without a journal the lock is
            # already what it says, and rendering 10,000 entries to compare costs ~0.3 s.
            journal.compact()
        return journal

    def record(self, entries: Sequence[LockEntry]) -> None:
        """Make these entries durable: one journal line, one fsync (O(batch), not O(n))."""
        put = {e.job_id: e for e in entries if self._entries.get(e.job_id) != e}
        if put:
            self._append({"put": {k: entry_json(e) for k, e in put.items()}})
            self._entries.update(put)

    def drop(self, job_ids: Sequence[str]) -> None:
        """Durably remove jobs (gone from the manifest)."""
        gone = sorted({j for j in job_ids if j in self._entries})
        if gone:
            self._append({"drop": gone})
            for job_id in gone:
                del self._entries[job_id]

    def _append(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise ValueError(f"LockJournal for {self.path} is closed")
        self._dirty = True
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        if self._journal_fd is None:
            jpath = journal_path(self.path)
            # Never through a link: a dangling committed `renders.lock.journal` symlink
            # would otherwise make us create a file wherever it points.
            self._journal_fd = open_nofollow(jpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            fsync_directory(jpath.parent)  # the new journal's name must survive a crash too
        view = memoryview(line)
        while view:
            view = view[os.write(self._journal_fd, view) :]
        # fdatasync: the data and the size that makes it readable, not atime/mtime.
        os.fdatasync(self._journal_fd)

    def compact(self) -> bool:
        """Fold the journal into the lockfile; rewrite only if its bytes change. True if so.

        With nothing journalled since the lock was read, the lock is left as it is
        without rendering it (0.3 s at 10,000 jobs): an up-to-date rerun reads the lock
        and writes nothing, byte for byte (a hand-edited layout is normalised by the
        next run that records a change)."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if not self._dirty:
            return False
        new = render_lock(self._entries.values())
        old = read_bytes(self.path)
        changed = old != new and not (old is None and not self._entries)
        if changed:
            atomic_write(self.path, new)
        jpath = journal_path(self.path)
        self._dirty = False
        with contextlib.suppress(FileNotFoundError):
            # Only after the lock is durable: a crash before this line replays the journal
            # over the new lock, which is harmless because each record is absolute state.
            jpath.unlink()
            fsync_directory(jpath.parent)
        return changed

    def close(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        self._closed = True

    def __enter__(self) -> LockJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_failure(path: Path, exc: OSError) -> StorageError:
    """The error for progress that could not be recorded (here, not in ``_writer``: an
    up-to-date run records its outcomes without trio)."""
    return StorageError(f"{path}: cannot record progress: {exc.strerror or exc}")
