"""The lock cache: a big lock read again with the same bytes is not parsed again, and
gives the same entries; anything else about it reads the lock as if nothing was kept."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lipsync_pipeline.lockfile import (
    Artifact,
    InputVersion,
    LockEntry,
    LockJournal,
    _cache,
    _format,
    load_lock,
    render_lock,
)

FP = "sha256:" + "ab" * 32


def entry(n: int, status: str = "completed", **kw: object) -> LockEntry:
    artifact = (
        Artifact(f"renders/job-{n}.mp4", f"{n:064x}", 1000 + n) if status == "completed" else None
    )
    return LockEntry(
        f"job-{n}",
        FP,
        "lipsync-image",
        status,  # type: ignore[arg-type]
        f"idem-{n}",
        n,
        f"req-{n}",
        artifact=artifact,
        **kw,  # type: ignore[arg-type]
    )


# Every kind of value a lock holds: nulls, inputs, a store key, text beyond ASCII.
VARIED = [
    entry(1),
    entry(2, "failed", error="Invalid audio format: «voix»", execution_time_ms=12),
    entry(3, "processing"),
    LockEntry("job-4", FP, "lipsync-video", "submitting", "idem-4"),
    LockEntry(
        "job-5",
        FP,
        "lipsync-image-multi",
        "completed",
        "idem-5",
        output_url="https://cdn.example.com/out/5.mp4",
        artifact=Artifact("../out/job-5.mp4", "f" * 64, 5, "renders/job-5/" + "f" * 64 + ".mp4"),
        inputs=(
            ("audio", InputVersion(etag='"v1"', bytes=10)),
            ("image", InputVersion(last_modified="Tue, 01 Dec 2026 10:00:00 GMT", sha256="0" * 64)),
        ),
    ),
]


@pytest.fixture
def kept(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, outside the locks' tree, kept for locks of any size."""
    folder = tmp_path_factory.mktemp("lock-cache")
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(folder))
    monkeypatch.delenv("LIPSYNC_MANIFEST_CACHE", raising=False)
    monkeypatch.setattr(_cache, "MIN_BYTES", 0)
    return folder


def read(lock: Path) -> dict[str, LockEntry]:
    """``load_lock`` as a new process meets it: nothing remembered from a read before."""
    _format._last_parsed = None
    return dict(load_lock(lock).entries)


def kept_entries(folder: Path) -> list[Path]:
    return sorted((folder / "locks").glob("*.json")) if (folder / "locks").exists() else []


def write_lock(path: Path, entries: list[LockEntry]) -> Path:
    path.write_bytes(render_lock(entries))
    return path


def test_an_unchanged_lock_is_parsed_once_and_reads_the_same(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    first = read(lock)
    assert len(kept_entries(kept)) == 1
    again = read(lock)
    assert lock_parses == [str(lock)]
    assert again == first == {e.job_id: e for e in VARIED}
    assert list(again) == list(first)


def test_a_changed_lock_is_parsed_again_and_replaces_its_entry(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    (before,) = kept_entries(kept)
    changed = [*VARIED[:2], entry(3, "completed")]
    write_lock(lock, changed)
    assert read(lock) == {e.job_id: e for e in changed}
    assert len(lock_parses) == 2
    (after,) = kept_entries(kept)  # the old version's entry is gone
    assert after != before


def test_a_pending_journal_is_still_folded_in(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    with LockJournal(lock, {}) as journal:  # a run killed after journalling
        journal.record([entry(3, "completed")])
    found = read(lock)
    assert lock_parses == [str(lock)]
    assert found["job-3"] == entry(3, "completed")
    assert found["job-1"] == VARIED[0]


def test_small_locks_are_not_kept(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "MIN_BYTES", 1 << 20)
    read(write_lock(tmp_path / "r.lock", VARIED))
    assert kept_entries(kept) == []


def test_off_means_off(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch, lock_parses: list[str]
) -> None:
    monkeypatch.setenv("LIPSYNC_MANIFEST_CACHE", "off")
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    read(lock)
    assert kept_entries(kept) == []
    assert len(lock_parses) == 2


def test_a_cache_inside_the_locks_repository_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "MIN_BYTES", 0)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(tmp_path / ".cache"))
    read(write_lock(tmp_path / "sub" / "r.lock", VARIED))
    assert not (tmp_path / ".cache").exists()


def planted(kept: Path, lock: Path, edit: object) -> None:
    """Rewrite the lock's entry in place (its head line kept), still private."""
    read(lock)
    (path,) = kept_entries(kept)
    head, *batches = path.read_bytes().split(b"\n")[:-1]
    rows = [row for batch in batches for row in json.loads(batch)]
    edit(rows)  # type: ignore[operator]
    path.write_bytes(head + b"\n" + json.dumps(rows).encode() + b"\n")
    os.chmod(path, 0o600)


def set_artifact_path(rows: list[list[object]]) -> None:
    rows[0][10] = ["/etc/passwd", "0" * 64, 1, None]


def set_job_id(rows: list[list[object]]) -> None:
    rows[0][0] = "../job"


def set_status(rows: list[list[object]]) -> None:
    rows[0][3] = "done"


def set_store_key(rows: list[list[object]]) -> None:
    rows[0][10] = ["renders/job-1.mp4", "0" * 64, 1, "/etc/passwd"]


def drop_a_row(rows: list[list[object]]) -> None:
    rows.pop()


def untouched(rows: list[list[object]]) -> None:
    pass


@pytest.mark.parametrize(
    "edit", [set_artifact_path, set_job_id, set_status, set_store_key, drop_a_row]
)
def test_an_entry_this_code_would_not_write_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str], edit: object
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    planted(kept, lock, edit)
    assert read(lock) == {e.job_id: e for e in VARIED}
    assert len(lock_parses) == 2  # read from the lock again


def test_a_planted_entry_of_the_same_shape_is_used(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    """The control for the test above: rewriting an entry unchanged keeps it usable."""
    lock = write_lock(tmp_path / "r.lock", VARIED)
    planted(kept, lock, untouched)
    assert read(lock) == {e.job_id: e for e in VARIED}
    assert len(lock_parses) == 1


def test_an_entry_others_can_read_or_write_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    (path,) = kept_entries(kept)
    os.chmod(path, 0o644)  # what git or a COPY would make of a committed one
    read(lock)
    assert len(lock_parses) == 2


def test_an_entry_cut_short_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "_BATCH", 2)  # three lines of rows
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    (path,) = kept_entries(kept)
    lines = path.read_bytes().split(b"\n")
    for cut in (b"\n".join(lines[:-2]) + b"\n", path.read_bytes()[:-5]):
        path.write_bytes(cut)  # the last batch lost; a line cut mid-way
        assert read(lock) == {e.job_id: e for e in VARIED}
    assert len(lock_parses) == 3


def test_new_code_reads_again(
    tmp_path: Path, kept: Path, lock_parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    monkeypatch.setattr(_cache, "code_stamp", lambda: "another version")
    read(lock)
    assert len(lock_parses) == 2


def kept_paths(folder: Path) -> set[str]:
    return {json.loads(p.read_bytes().split(b"\n")[0])["path"] for p in kept_entries(folder)}


def test_locks_read_once_are_not_kept(tmp_path: Path, kept: Path) -> None:
    """A merge's sides (git's temporary files) and a CI shard's lock: nothing kept."""
    from lipsync_pipeline.usecases._lockmerge import fold_files, merge_files

    base = write_lock(tmp_path / ".merge_file_base", VARIED[:2])
    ours = write_lock(tmp_path / ".merge_file_ours", VARIED[:3])
    theirs = write_lock(tmp_path / ".merge_file_theirs", [*VARIED[:2], VARIED[4]])
    merge_files(base, ours, theirs, lock_path=tmp_path / "r.lock")
    assert kept_entries(kept) == []
    main = write_lock(tmp_path / "r.lock", VARIED[:2])
    shard = write_lock(tmp_path / "shard-1.lock", [VARIED[3]])
    fold_files(main, [shard])
    assert str(shard) not in kept_paths(kept)
    assert read(main)["job-4"] == VARIED[3]
