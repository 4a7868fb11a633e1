"""Group commit for the lock: many jobs' state changes, one journal append + fsync.

Each job waits until its change is durable before taking the next step (that is
what makes a crash at any instant recoverable), but jobs do not take turns at
the disk: one writer task drains everything pending into a single
``LockJournal.record`` call, in a worker thread so the event loop keeps serving
the other jobs meanwhile.

Not every change is in a hurry. A caller of ``write`` waits for its change to be
durable, so that flushes within ``_GATHER_SECONDS``; but a finished render's
status is needed only if its download fails (``write_soon``): it rides along
with the next batch or goes after ``_LAZY_SECONDS``. A request id is never left
to wait: until it is on disk, a crash means resending the POST, which an API
that ignores ``Idempotency-Key`` bills twice.

Downloads are published by the writer too (``publish=``): in the same thread hop
as the journal append, the batch fsyncs each staged file, renames it into place,
fsyncs each directory once, and only then records the entries that name those
files. A lock never names a file that is not durably in place; a file whose
publishing fails is not recorded, and its job alone gets the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

import trio

from lipsync_pipeline._fs import cannot_write, fsync_directory
from lipsync_pipeline.errors import UnsafePathError
from lipsync_pipeline.lockfile._entries import LockEntry
from lipsync_pipeline.lockfile._journal import LockJournal, write_failure

__all__ = ["LockWriter", "Publishable"]

_GATHER_SECONDS: Final = 0.01
_LAZY_SECONDS: Final = 0.2


class Publishable(Protocol):
    """A file staged beside its destination, to be made durable and put in place."""

    @property
    def dest(self) -> Path: ...

    def publish(self) -> None:
        """fsync the staged file and rename it over ``dest`` (blocking)."""

    def discard(self) -> None:
        """Remove the staged file (blocking, never raises)."""


@dataclass(slots=True, eq=False)
class _Change:
    entry: LockEntry | None  # None: ``forget`` the job ``drop``
    file: Publishable | None = None
    error: BaseException | None = field(default=None)
    drop: str | None = None


class LockWriter:
    """Group commit: callers wait until their change is fsynced, many changes per fsync."""

    def __init__(self, journal: LockJournal) -> None:
        self._journal = journal
        self._pending: list[_Change] = []
        self._flushed = trio.Event()  # set when the batch now pending is durable
        self._wake = trio.Event()  # something is pending
        self._hurry = trio.Event()  # somebody is waiting for it
        self._failure: BaseException | None = None
        self._stopped = False
        # A token of its own: the lock never queues behind renders or DNS lookups
        # that hold trio's default thread limiter.
        self._threads = trio.CapacityLimiter(1)

    @property
    def failed(self) -> bool:
        """True once a write failed: the lock can no longer be trusted to keep up."""
        return self._failure is not None

    async def write(self, entry: LockEntry, *, publish: Publishable | None = None) -> None:
        """Return once ``entry`` (and ``publish``'s file, put in place first) is durable."""
        await self._wait_for(_Change(entry, publish))

    async def forget(self, job_id: str) -> None:
        """Return once the job's entry is durably gone (a submission that was never sent
        leaves the lock as it found it)."""
        await self._wait_for(_Change(None, drop=job_id))

    async def _wait_for(self, change: _Change) -> None:
        if self._failure is not None:
            if change.file is not None:
                change.file.discard()
            raise self._failure
        self._pending.append(change)
        if self._stopped:
            # The writer task is gone (the run is being cancelled), but a shielded
            # submission still has a request id to record: write it here and now.
            self.flush_now()
        else:
            done = self._flushed
            self._wake.set()
            self._hurry.set()
            await done.wait()
        if change.error is not None:
            raise change.error
        if self._failure is not None:
            raise self._failure

    def write_soon(self, entry: LockEntry) -> None:
        """Queue ``entry`` for the next batch without waiting; a failure shows on the next
        ``write``. Batches are recorded in order, so a later ``write`` of the same job wins."""
        if self._failure is not None:
            raise self._failure
        self._pending.append(_Change(entry))
        if self._stopped:
            self.flush_now()
        else:
            self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                with trio.move_on_after(_LAZY_SECONDS):
                    await self._hurry.wait()
                if self._hurry.is_set():
                    # Let the changes of the next few milliseconds join this batch: each
                    # flush is a thread hop and an fdatasync (measured: ~6,000 flushes
                    # for 8,000 changes without this).
                    await trio.sleep(_GATHER_SECONDS)
                self._wake, self._hurry = trio.Event(), trio.Event()
                await self._flush()
        finally:
            self._stopped = True
            self.flush_now()

    def _take(self) -> tuple[list[_Change], trio.Event]:
        """The pending batch, and the event its waiters are told it is durable by."""
        batch, self._pending = self._pending, []
        flushed, self._flushed = self._flushed, trio.Event()
        return batch, flushed

    async def _flush(self) -> None:
        batch, flushed = self._take()
        try:
            # Shielded: to_thread checks for cancellation (and may wait for a thread
            # token) before the thread starts, and a batch taken out of _pending but
            # cancelled there would be lost while its callers are told it is durable:
            # a request id lost is a render paid twice. Once started, the commit is
            # short and the run's cancellation waits for it.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._commit, batch, limiter=self._threads)
        finally:
            flushed.set()

    def flush_now(self) -> None:
        """Write what is still pending, synchronously (shutdown path)."""
        batch, flushed = self._take()
        try:
            self._commit(batch)
        finally:
            flushed.set()

    def _commit(self, batch: list[_Change]) -> None:
        if self._failure is not None:
            for change in batch:
                if change.file is not None:
                    change.file.discard()
            return
        if not batch:
            return
        _publish([c for c in batch if c.file is not None])
        try:
            self._journal.record([c.entry for c in batch if c.entry and c.error is None])
            # Drops after puts: a job forgets its entry only once the "submitting" it
            # wrote is durable, and has nothing else pending meanwhile, so no batch holds
            # a put of the same job that should come after its drop.
            drops = [c.drop for c in batch if c.drop is not None]
            if drops:
                self._journal.drop(drops)
        except OSError as exc:
            self._failure = write_failure(self._journal.path, exc)
            raise self._failure from exc


def _publish(changes: list[_Change]) -> None:
    """Put each staged file in place; then fsync each directory once, not once per file."""
    placed: dict[Path, list[_Change]] = {}
    for change in changes:
        assert change.file is not None
        try:
            change.file.publish()
        except OSError as exc:
            change.file.discard()
            change.error = cannot_write(change.file.dest, exc)
        except UnsafePathError as exc:
            # A link appeared at the output since the run checked (exit 2 for the run):
            # this job alone is not recorded; the others' batch goes on.
            change.file.discard()
            change.error = exc
        else:
            placed.setdefault(change.file.dest.parent, []).append(change)
    for directory, moved in placed.items():
        try:
            fsync_directory(directory)
        except OSError as exc:
            for change in moved:
                assert change.file is not None
                change.error = cannot_write(change.file.dest, exc)
