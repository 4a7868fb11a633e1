"""The lock writer: group commit, unhurried changes, downloads published with their record."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import partial
from pathlib import Path

import trio
import trio.testing

from lipsync_pipeline._staging import StagedFile
from lipsync_pipeline.errors import StorageError
from lipsync_pipeline.lockfile import (
    Artifact,
    LockEntry,
    LockJournal,
    LockWriter,
    journal_path,
    read_lock,
)

FP = "sha256:" + "cd" * 32


def _entry(job_id: str, status: str = "processing") -> LockEntry:
    return LockEntry(
        job_id, FP, "lipsync-image", status, f"idem-{job_id}", request_id=f"r-{job_id}"
    )


def _staged(folder: Path, name: str, data: bytes) -> StagedFile:
    tmp = folder / f".{name}.0123456789ab.part"
    tmp.write_bytes(data)
    return StagedFile(tmp, folder / name, hashlib.sha256(data).hexdigest(), len(data))


def _on_disk(lock: Path) -> dict[str, LockEntry]:
    """What a run killed right now would leave: the lockfile with its journal replayed."""
    entries, _ = read_lock(lock)
    return entries


async def test_many_waiting_writers_share_few_fsyncs(tmp_path: Path) -> None:
    lock = tmp_path / "r.lock"
    writer = LockWriter(LockJournal.open(lock))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        async with trio.open_nursery() as jobs:
            for i in range(200):
                jobs.start_soon(writer.write, _entry(f"j{i:03d}"))
        # Every writer returned: each change is durable now, before any compaction.
        assert len(_on_disk(lock)) == 200
        nursery.cancel_scope.cancel()
    appends = journal_path(lock).read_text().count("\n")
    assert appends <= 10, f"{appends} journal appends for 200 concurrent changes"


async def test_queued_changes_ride_along_and_written_ones_are_durable(tmp_path: Path) -> None:
    lock = tmp_path / "r.lock"
    writer = LockWriter(LockJournal.open(lock))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        await writer.write(_entry("first"))
        assert _on_disk(lock)["first"].status == "processing"
        writer.write_soon(_entry("later", "completed"))
        await writer.write(_entry("now"))  # a hurried batch takes queued changes along
        assert {"later", "now"} <= _on_disk(lock).keys()
        nursery.cancel_scope.cancel()


async def test_a_published_file_is_in_place_before_its_record(tmp_path: Path) -> None:
    lock = tmp_path / "r.lock"
    staged = _staged(tmp_path, "a.mp4", b"video bytes")
    writer = LockWriter(LockJournal.open(lock))
    done = replace(_entry("a", "completed"), artifact=Artifact("a.mp4", staged.sha256, 11))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        writer.write_soon(_entry("a", "completed"))
        await writer.write(done, publish=staged)
        nursery.cancel_scope.cancel()
    assert (tmp_path / "a.mp4").read_bytes() == b"video bytes"
    assert not staged.tmp.exists()
    assert _on_disk(lock)["a"] == done  # the later state of the job won


async def test_a_file_that_cannot_be_published_fails_only_its_own_job(tmp_path: Path) -> None:
    lock = tmp_path / "r.lock"
    good = _staged(tmp_path, "good.mp4", b"good")
    bad = _staged(tmp_path, "bad.mp4", b"bad")
    (tmp_path / "bad.mp4").mkdir()  # a directory where the file should go: rename fails
    (tmp_path / "bad.mp4" / "keep").write_text("x")
    writer = LockWriter(LockJournal.open(lock))
    errors: list[BaseException] = []

    async def write(job: str, staged: StagedFile) -> None:
        entry = replace(_entry(job, "completed"), artifact=Artifact(staged.dest.name, "0" * 64, 1))
        try:
            await writer.write(entry, publish=staged)
        except StorageError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        async with trio.open_nursery() as jobs:
            jobs.start_soon(write, "good", good)
            jobs.start_soon(write, "bad", bad)
        nursery.cancel_scope.cancel()
    assert len(errors) == 1 and "bad.mp4" in str(errors[0])
    assert not writer.failed  # the lock itself is fine: other jobs go on
    on_disk = _on_disk(lock)
    assert on_disk["good"].artifact is not None and "bad" not in on_disk
    assert not bad.tmp.exists() and (tmp_path / "good.mp4").read_bytes() == b"good"


async def test_a_cancelled_run_still_records_and_publishes_what_was_handed_over(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "r.lock"
    staged = _staged(tmp_path, "a.mp4", b"rendered")
    writer = LockWriter(LockJournal.open(lock))
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await trio.testing.wait_all_tasks_blocked()
            writer.write_soon(_entry("queued", "completed"))
            done = replace(_entry("a", "completed"), artifact=Artifact("a.mp4", staged.sha256, 8))
            nursery.start_soon(partial(writer.write, done, publish=staged))
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()  # Ctrl-C before the writer's gather window ends
    on_disk = _on_disk(lock)
    assert on_disk["queued"].status == "completed" and on_disk["a"] == done
    assert (tmp_path / "a.mp4").read_bytes() == b"rendered"


async def test_a_change_handed_over_survives_cancellation_with_threads_busy(
    tmp_path: Path,
) -> None:
    """Ctrl-C while every default worker thread is busy (renders of the local studio,
    DNS lookups): a shielded submission's request id must still reach the disk."""
    lock = tmp_path / "r.lock"
    writer = LockWriter(LockJournal.open(lock))
    limiter = trio.to_thread.current_default_thread_limiter()
    returned = []

    async def submission() -> None:
        with trio.CancelScope(shield=True):  # as the runner's POST + record is
            await writer.write(_entry("a"))
            returned.append("a")

    borrowers = [object() for _ in range(limiter.total_tokens)]
    async with trio.open_nursery() as nursery:
        for borrower in borrowers:  # nobody else gets a default worker thread
            limiter.acquire_on_behalf_of_nowait(borrower)
        try:
            nursery.start_soon(writer.run)
            nursery.start_soon(submission)
            await trio.sleep(0.1)  # the writer has taken the change into a batch
            nursery.cancel_scope.cancel()  # Ctrl-C
        finally:
            for borrower in borrowers:
                limiter.release_on_behalf_of(borrower)
    assert returned == ["a"]
    assert set(_on_disk(lock)) == {"a"}, "write() returned but the change is not on disk"


async def test_a_batch_cancelled_before_its_thread_starts_is_still_written(
    tmp_path: Path,
) -> None:
    """The cancel can land between taking the batch and the thread starting (to_thread
    checks for it first): the batch must be written, not dropped as 'flushed'."""
    lock = tmp_path / "r.lock"
    writer = LockWriter(LockJournal.open(lock))
    writer.write_soon(_entry("a"))
    with trio.CancelScope() as scope:
        scope.cancel()
        await writer._flush()  # the step of run() that a Ctrl-C can interrupt
    assert set(_on_disk(lock)) == {"a"}
