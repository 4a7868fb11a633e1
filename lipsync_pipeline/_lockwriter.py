"""Group commit for the lock: many jobs' state changes, one journal append + fsync.

Each job waits until its change is durable before taking the next step (that is
what makes a crash at any instant recoverable), but jobs do not take turns at
the disk: one writer task drains everything pending into a single
``LockStore.record`` call, in a worker thread so the event loop keeps serving
the other jobs meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import trio

from lipsync_pipeline.errors import StorageError
from lipsync_pipeline.lock import LockEntry, LockStore

__all__ = ["LockWriter", "write_failure"]


class LockWriter:
    """Group commit: callers wait until their change is fsynced, many changes per fsync."""

    def __init__(self, store: LockStore) -> None:
        self._store = store
        self._pending: list[LockEntry] = []
        self._flushed: list[trio.Event] = []
        self._wake = trio.Event()
        self._failure: BaseException | None = None

    @property
    def failed(self) -> bool:
        """True once a write failed: the lock can no longer be trusted to keep up."""
        return self._failure is not None

    async def write(self, entry: LockEntry) -> None:
        if self._failure is not None:
            raise self._failure
        done = trio.Event()
        self._pending.append(entry)
        self._flushed.append(done)
        self._wake.set()
        await done.wait()
        if self._failure is not None:
            raise self._failure

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        waiters, self._flushed = self._flushed, []
        if not batch:
            return
        try:
            # The thread is not abandoned on cancel: a change handed to the
            # journal is either fully appended or not at all.
            await trio.to_thread.run_sync(self._store.record, batch)
        except OSError as exc:
            self._failure = write_failure(self._store.path, exc)
            raise self._failure from exc
        finally:
            for event in waiters:
                event.set()

    def flush_now(self) -> None:
        """Write what is still pending, synchronously (shutdown path)."""
        batch, self._pending = self._pending, []
        if batch and self._failure is None:
            try:
                self._store.record(batch)
            except OSError as exc:
                raise write_failure(self._store.path, exc) from exc
        for event in self._flushed:
            event.set()
        self._flushed = []


def write_failure(path: Path, exc: OSError) -> StorageError:
    return StorageError(f"{path}: cannot record progress: {exc.strerror or exc}")
