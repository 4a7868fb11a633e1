"""A lock read twice in one process (``run``: once to plan, again under its run lock)
is parsed again exactly when it may have changed in between."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from lipsync_pipeline._fs import atomic_write
from lipsync_pipeline.lockfile import (
    Artifact,
    LockEntry,
    LockJournal,
    _format,
    journal_path,
    load_lock,
    render_lock,
)

FP = "sha256:" + "ab" * 32
HOUR_NS = 3600 * 10**9


def entry(job_id: str, status: str = "completed", request_id: str = "r1") -> LockEntry:
    artifact = Artifact(f"renders/{job_id}.mp4", "0" * 64, 1234) if status == "completed" else None
    return LockEntry(
        job_id, FP, "lipsync-image", status, f"idem-{job_id}", 7, request_id, artifact=artifact
    )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch, lock_parses: list[str]) -> Callable[[], tuple[int, int]]:
    """(how often the lock's bytes were read, how often its text was parsed)."""
    read: list[Path] = []
    real_read = _format._read_all

    def read_all(path: Path, f: BinaryIO) -> bytes:
        read.append(path)
        return real_read(path, f)

    monkeypatch.setattr(_format, "_read_all", read_all)
    return lambda: (len(read), len(lock_parses))


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour from now: every file written so far is long settled (none racily clean)."""
    monkeypatch.setattr(_format, "_now_ns", lambda: time.time_ns() + HOUR_NS)


def test_a_settled_unchanged_lock_is_read_and_parsed_once(
    tmp_path: Path, reads: Callable[[], tuple[int, int]], settled: None
) -> None:
    path = tmp_path / "r.lock"
    path.write_bytes(render_lock([entry("a"), entry("b", "processing")]))
    planned = load_lock(path)  # check()
    with LockJournal.open(path) as journal:  # run_pipeline, under the run lock
        assert dict(journal.entries) == dict(planned.entries)
    assert reads() == (1, 1)
    load_lock(path)  # the memo serves one read again, then is gone
    assert reads() == (2, 2)


def _atomic_same_size(path: Path) -> None:
    """Another run's compaction: a new file renamed over the lock, as long as before."""
    atomic_write(path, render_lock([entry("a", request_id="r2"), entry("b", "processing")]))


def _in_place_longer(path: Path) -> None:
    with path.open("r+b") as f:  # the same inode, written through
        f.write(render_lock([entry("a", request_id="r2-longer"), entry("b", "processing")]))


def _journal_left(path: Path) -> None:
    """A run killed after journalling: the lock itself is untouched."""
    with LockJournal(path, {}) as journal:
        journal.record([entry("a", request_id="r2")])


@pytest.mark.parametrize("change", [_atomic_same_size, _in_place_longer, _journal_left])
def test_a_lock_changed_between_the_two_reads_is_read_anew(
    tmp_path: Path,
    reads: Callable[[], tuple[int, int]],
    settled: None,
    change: Callable[[Path], None],
) -> None:
    path = tmp_path / "r.lock"
    path.write_bytes(render_lock([entry("a"), entry("b", "processing")]))
    assert load_lock(path).entries["a"].request_id == "r1"
    change(path)
    with LockJournal.open(path) as journal:
        assert journal.entries["a"].request_id in ("r2", "r2-longer")
        assert journal.entries["b"].status == "processing"
    assert not journal_path(path).exists()  # a journal found is folded in, as ever


def test_a_lock_rewritten_in_place_within_a_clock_tick_is_compared_by_its_bytes(
    tmp_path: Path, reads: Callable[[], tuple[int, int]]
) -> None:
    """Same inode, same size, and maybe the same mtime and ctime (one clock tick): a
    lock written just before it was read is not vouched for by its stat."""
    path = tmp_path / "r.lock"
    path.write_bytes(render_lock([entry("a")]))
    before = os.stat(path)
    assert load_lock(path).entries["a"].request_id == "r1"
    with path.open("r+b") as f:
        f.write(render_lock([entry("a", request_id="r2")]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime as it was
    assert load_lock(path).entries["a"].request_id == "r2"
    assert reads() == (2, 2)
    assert load_lock(path).entries["a"].request_id == "r2"  # the same bytes: not parsed
    assert reads() == (3, 2)


def test_another_lock_file_is_never_served_from_the_memo(
    tmp_path: Path, reads: Callable[[], tuple[int, int]], settled: None
) -> None:
    first, second = tmp_path / "a.lock", tmp_path / "b.lock"
    first.write_bytes(render_lock([entry("a")]))
    second.write_bytes(render_lock([entry("b")]))
    assert list(load_lock(first).entries) == ["a"]
    assert list(load_lock(second).entries) == ["b"]
    assert reads() == (2, 2)
