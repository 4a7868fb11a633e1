"""The lockfile during a run: journalled updates, atomic rewrites, one run at a time.

- ``renders.lock.journal``: JSON lines appended during a run, one line per
  :meth:`LockStore.record` call (group commit, one fsync). Rewriting a 10,000-job
  lockfile for every event would make each event O(n); the journal keeps it
  O(batch) and :meth:`LockStore.compact` folds it in once.
- ``renders.lock``: rewritten atomically (temp file + fsync + rename + directory
  fsync), and only when its bytes change.
- ``renders.lock.run``: the run lock (:class:`RunLock`), an ``flock`` that the
  kernel drops when its holder dies, so two runs never interleave and a
  ``kill -9`` never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final

from lipsync_pipeline.errors import RunLockHeld
from lipsync_pipeline.lockfile._format import (
    LockEntry,
    entry_json,
    journal_path,
    read_bytes,
    read_lock,
    render_lock,
    run_lock_path,
)

__all__ = ["LockStore", "RunLock", "file_digest", "fsync_directory"]

_RUN_SUFFIX: Final = ".run"
_TMP_SUFFIX: Final = ".tmp"
_DIGEST_CHUNK: Final = 1 << 20


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (the entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> tuple[str, int] | None:
    """(sha256 hex, size) of an existing regular file, or None when it is missing."""
    h = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(_DIGEST_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return h.hexdigest(), size


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that any crash leaves the old or the new bytes."""
    # A random name via O_EXCL (not mkstemp) so the umask gives the usual 0644, as git expects.
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{_TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(path.parent)


class LockStore:
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

    @classmethod
    def open(cls, path: Path) -> LockStore:
        """Load the lock and replay the journal; a journal is folded in at once, so
        appends start on a clean line."""
        path = Path(path)
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*{_TMP_SUFFIX}"):
            # A compaction killed before its os.replace; the lock and journal are intact.
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        entries, _, journal = read_lock(path)
        store = cls(path, entries)
        if journal:
            # A killed run's changes: fold them in now. Without a journal the lock is
            # already what it says (a run compacts at its end; that also normalises a
            # hand-edited layout), and rendering 10,000 entries to compare costs ~0.3 s.
            store.compact()
        return store

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
            raise ValueError(f"LockStore for {self.path} is closed")
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        if self._journal_fd is None:
            jpath = journal_path(self.path)
            self._journal_fd = os.open(
                jpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666
            )
            fsync_directory(jpath.parent)  # the new journal's name must survive a crash too
        view = memoryview(line)
        while view:
            view = view[os.write(self._journal_fd, view) :]
        # fdatasync: the data and the size that makes it readable, not atime/mtime.
        os.fdatasync(self._journal_fd)

    def compact(self) -> bool:
        """Fold the journal into the lockfile; rewrite only if its bytes change. True if so."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        new = render_lock(self._entries.values())
        old = read_bytes(self.path)
        changed = old != new and not (old is None and not self._entries)
        if changed:
            _atomic_write(self.path, new)
        jpath = journal_path(self.path)
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

    def __enter__(self) -> LockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the run lock ------------------------------------------------------------------------


class RunLock:
    """One live run per lockfile: ``fcntl.flock`` on ``<lock>.run``.

    The kernel drops a flock when its holder dies (even by kill -9), so a dead holder
    never blocks the next run; the file's JSON ({pid, host, since}) only explains a refusal.
    """

    def __init__(self, lock_path: Path) -> None:
        self.path = run_lock_path(Path(lock_path))
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                lock = self.path.with_name(self.path.name.removesuffix(_RUN_SUFFIX))
                raise RunLockHeld(f"another run is using {lock}: {holder}") from None
            # The previous holder unlinks the file before releasing it; if we locked that
            # unlinked inode, the path now names another file (or none): start over.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still holding it: see the inode check in __enter__
        os.close(self._fd)
        self._fd = None


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        return f"held by pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError, OSError):
        # The holder has locked the file but not yet written who it is.
        return "held by another run (not yet identified)"
