"""The lock cache: a big lock read again with the same bytes is not parsed again, and
gives the same entries; anything else about it reads the lock as if nothing was kept."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lipsync_pipeline.errors import LockfileError
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


def cached(lock: Path, folder: Path) -> Path:
    """Read ``lock`` until its entry is kept (the second read of the same bytes keeps
    it); the entry's path."""
    before = set(kept_entries(folder))
    read(lock)
    read(lock)
    (path,) = set(kept_entries(folder)) - before
    return path


def kept_entries(folder: Path) -> list[Path]:
    return sorted((folder / "locks").glob("*.json")) if (folder / "locks").exists() else []


def write_lock(path: Path, entries: list[LockEntry]) -> Path:
    path.write_bytes(render_lock(entries))
    return path


AS_WRITTEN = {e.job_id: e for e in VARIED}


def test_an_unchanged_lock_is_kept_at_its_second_read_and_reads_the_same(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    first = read(lock)
    assert kept_entries(kept) == []  # a CI runner that keeps no cache writes no entry
    assert read(lock) == first
    assert len(kept_entries(kept)) == 1
    again = read(lock)
    assert lock_parses == [str(lock)] * 2
    assert again == first == AS_WRITTEN
    assert list(again) == list(first)


def test_a_changed_lock_is_parsed_again_and_its_old_entry_goes(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    cached(lock, kept)
    changed = [*VARIED[:2], entry(3, "completed")]
    write_lock(lock, changed)
    assert read(lock) == {e.job_id: e for e in changed}
    assert len(lock_parses) == 3
    assert kept_entries(kept) == []  # the old version's entry is gone, the new one seen
    cached(lock, kept)
    assert read(lock) == {e.job_id: e for e in changed}
    assert len(lock_parses) == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [("path", "/elsewhere/r.lock"), ("sha256", "0" * 64), ("stamp", "another"), ("format", 2)],
)
def test_an_entry_whose_head_names_another_lock_or_version_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str], field: str, value: object
) -> None:
    """Under this lock's name, but its head says it is of another lock, other bytes,
    other code or another format."""
    lock = write_lock(tmp_path / "r.lock", VARIED)
    planted(kept, lock, untouched, head={field: value})
    assert read(lock) == AS_WRITTEN
    assert len(lock_parses) == 3


def test_a_pending_journal_is_still_folded_in(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    cached(lock, kept)
    with LockJournal(lock, {}) as journal:  # a run killed after journalling
        journal.record([entry(3, "completed")])
    found = read(lock)
    assert lock_parses == [str(lock)] * 2
    assert found["job-3"] == entry(3, "completed")
    assert found["job-1"] == VARIED[0]


def test_small_locks_are_not_kept(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "MIN_BYTES", 1 << 20)
    lock = write_lock(tmp_path / "r.lock", VARIED)
    read(lock)
    read(lock)
    assert not (kept / "locks").exists()


def test_off_means_off(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch, lock_parses: list[str]
) -> None:
    monkeypatch.setenv("LIPSYNC_MANIFEST_CACHE", "off")
    lock = write_lock(tmp_path / "r.lock", VARIED)
    for _ in range(3):
        read(lock)
    assert not (kept / "locks").exists()
    assert len(lock_parses) == 3


def test_a_cache_inside_the_locks_repository_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "MIN_BYTES", 0)
    monkeypatch.delenv("LIPSYNC_MANIFEST_CACHE", raising=False)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(tmp_path / ".cache"))
    lock = write_lock(tmp_path / "sub" / "r.lock", VARIED)
    read(lock)
    read(lock)
    assert not (tmp_path / ".cache").exists()
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(tmp_path.parent / f"{tmp_path.name}-cache"))
    read(lock)  # the control: outside the work tree, the same reads keep it
    read(lock)
    assert (tmp_path.parent / f"{tmp_path.name}-cache" / "locks").is_dir()


def test_a_lock_that_needed_jsonschema_is_not_kept(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    """Valid, but not as the quick check reads it (a float where the schema allows
    any number that is an integer): jsonschema decided, and its version is not in the
    entry's key."""
    lock = tmp_path / "r.lock"
    data = json.loads(render_lock(VARIED))
    data["jobs"]["job-1"]["artifact"]["bytes"] = 1001.0
    lock.write_text(json.dumps(data))
    read(lock)
    read(lock)
    assert kept_entries(kept) == []


@pytest.mark.parametrize("broken", ["conflicts", "bad status"])
def test_a_bad_big_lock_raises_as_before_and_keeps_nothing(
    tmp_path: Path, kept: Path, broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "r.lock"
    data = json.loads(render_lock(VARIED))
    if broken == "conflicts":
        data["conflicts"] = {"job-1": []}
    else:
        data["jobs"]["job-1"]["status"] = "done"
    lock.write_text(json.dumps(data, indent=2))
    errors = []
    for cache in ("on", "on", "off"):
        monkeypatch.setenv("LIPSYNC_MANIFEST_CACHE", cache)
        with pytest.raises(LockfileError) as caught:
            read(lock)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == errors[2]
    assert errors[0].startswith(f"{lock}:")  # located
    assert kept_entries(kept) == []


def test_a_lock_holding_a_presigned_url_is_not_kept(tmp_path: Path, kept: Path) -> None:
    signed = LockEntry(
        "job-9",
        FP,
        "lipsync-image",
        "processing",
        "idem-9",
        output_url="https://cdn.example.com/out.mp4?X-Amz-Signature=abc",
    )
    lock = tmp_path / "r.lock"
    data = json.loads(render_lock([*VARIED, signed]))
    data["jobs"]["job-9"]["output_url"] = signed.output_url  # as a hand edit leaves it
    lock.write_text(json.dumps(data))
    read(lock)
    read(lock)
    assert not any(b"Signature" in p.read_bytes() for p in (kept / "locks").glob("*"))
    assert kept_entries(kept) == []


def test_text_json_can_spell_but_utf8_cannot_round_trips(tmp_path: Path, kept: Path) -> None:
    lock = tmp_path / "r.lock"
    data = json.loads(render_lock(VARIED))
    data["jobs"]["job-2"]["error"] = "lone \udc80 and \ud800 surrogates, «voix»"
    lock.write_text(json.dumps(data))
    parsed = read(lock)
    cached(lock, kept)
    assert read(lock) == parsed


def test_bytes_rewritten_in_place_after_a_bad_entry_are_not_kept_under_the_old_digest(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged entry makes the read take the lock's bytes again; if another writer
    changed them in place meanwhile, what they parse to is not the old bytes' entry."""
    lock = write_lock(tmp_path / "r.lock", VARIED)
    entry_path = cached(lock, kept)
    entry_path.write_bytes(b"damaged\n")
    marker = entry_path.with_suffix(".seen")  # the old bytes seen: the next save keeps
    marker.write_bytes(b"")
    for planted_file in (entry_path, marker):
        os.chmod(planted_file, 0o600)
    newer = [*VARIED[:2], entry(3, "completed")]
    from lipsync_pipeline.lockfile._cache import LockCache

    real_take = LockCache.take

    def take_then_rewrite(self: LockCache, check: object) -> object:
        found = real_take(self, check)  # type: ignore[arg-type]
        with lock.open("r+b") as f:  # the same inode, written through
            f.write(render_lock(newer))
            f.truncate()
        return found

    monkeypatch.setattr(LockCache, "take", take_then_rewrite)
    assert read(lock) == {e.job_id: e for e in newer}
    monkeypatch.undo()
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(kept))
    monkeypatch.setattr(_cache, "MIN_BYTES", 0)
    write_lock(lock, VARIED)  # the old bytes again
    assert read(lock) == AS_WRITTEN


def planted(
    kept: Path,
    lock: Path,
    edit: object,
    count: int | None = None,
    head: dict[str, object] | None = None,
) -> None:
    """Rewrite the lock's entry in place (its head as written, but for ``head`` and the
    count), still private."""
    path = cached(lock, kept)
    first, *batches = path.read_bytes().split(b"\n")[:-1]
    rows = [row for batch in batches for row in json.loads(batch)]
    edit(rows)  # type: ignore[operator]
    fields = {**json.loads(first), **(head or {})}
    fields["count"] = len(rows) if count is None else count
    path.write_bytes(json.dumps(fields).encode() + b"\n" + json.dumps(rows).encode() + b"\n")
    os.chmod(path, 0o600)


def set_artifact_path(rows: list[list[object]]) -> None:
    rows[0][10] = ["/etc/passwd", "0" * 64, 1, None]


def set_job_id(rows: list[list[object]]) -> None:
    rows[0][0] = "../job"


def set_status(rows: list[list[object]]) -> None:
    rows[0][3] = "done"


def set_store_key(rows: list[list[object]]) -> None:
    rows[0][10] = ["renders/job-1.mp4", "0" * 64, 1, "/etc/passwd"]


def repeat_a_row(rows: list[list[object]]) -> None:
    rows[1] = rows[0]  # as many rows, one job fewer


def untouched(rows: list[list[object]]) -> None:
    pass


@pytest.mark.parametrize(
    ("edit", "count"),
    [
        (set_artifact_path, None),
        (set_job_id, None),
        (set_status, None),
        (set_store_key, None),
        (repeat_a_row, len(VARIED) - 1),  # counting the jobs the rows make
        (repeat_a_row, len(VARIED)),  # counting the rows
    ],
)
def test_an_entry_this_code_would_not_write_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str], edit: object, count: int | None
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    planted(kept, lock, edit, count=count)
    assert read(lock) == AS_WRITTEN
    assert len(lock_parses) == 3  # read from the lock again


def test_an_entry_whose_count_disagrees_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    planted(kept, lock, lambda rows: rows.pop(), count=len(VARIED))  # a row lost
    assert read(lock) == AS_WRITTEN
    assert len(lock_parses) == 3


def test_a_planted_entry_of_the_same_shape_is_used(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    """The control for the tests above: rewriting an entry unchanged keeps it usable."""
    lock = write_lock(tmp_path / "r.lock", VARIED)
    planted(kept, lock, untouched)
    assert read(lock) == AS_WRITTEN
    assert len(lock_parses) == 2


def test_an_entry_others_can_read_or_write_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    path = cached(lock, kept)
    os.chmod(path, 0o644)  # what git or a COPY would make of a committed one
    read(lock)
    assert len(lock_parses) == 3


def test_an_entry_cut_short_is_not_used(
    tmp_path: Path, kept: Path, lock_parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "_BATCH", 2)  # three lines of rows
    lock = write_lock(tmp_path / "r.lock", VARIED)
    path = cached(lock, kept)
    whole = path.read_bytes()
    lines = whole.split(b"\n")
    for cut in (b"\n".join(lines[:-2]) + b"\n", whole[:-5]):
        path.write_bytes(cut)  # the last batch lost; a line cut mid-way
        assert read(lock) == AS_WRITTEN
    assert len(lock_parses) == 4


def test_new_code_reads_again(
    tmp_path: Path, kept: Path, lock_parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    cached(lock, kept)
    monkeypatch.setattr(_cache, "code_stamp", lambda: "another version")
    read(lock)
    assert len(lock_parses) == 3


def kept_paths(folder: Path) -> set[str]:
    return {json.loads(p.read_bytes().split(b"\n")[0])["path"] for p in kept_entries(folder)}


def test_locks_read_once_are_not_kept(tmp_path: Path, kept: Path) -> None:
    """A merge's sides (git's temporary files) and a CI shard's lock: nothing kept,
    however often they are read."""
    from lipsync_pipeline.usecases._lockmerge import fold_files, merge_files

    base = write_lock(tmp_path / ".merge_file_base", VARIED[:2])
    ours = write_lock(tmp_path / ".merge_file_ours", VARIED[:3])
    theirs = write_lock(tmp_path / ".merge_file_theirs", [*VARIED[:2], VARIED[4]])
    for _ in range(2):
        merge_files(base, ours, theirs, out=tmp_path / "merged", lock_path=tmp_path / "r.lock")
    assert not (kept / "locks").exists()
    main = write_lock(tmp_path / "r.lock", VARIED[:2])
    shard = write_lock(tmp_path / "shard-1.lock", [VARIED[3]])
    for _ in range(2):
        fold_files(main, [shard])
    read(main)
    assert str(shard) not in kept_paths(kept)
    assert read(main)["job-4"] == VARIED[3]


def test_a_lock_too_large_to_keep_is_not_looked_up(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its entry would be over the cap: hashing and encoding it every read buys nothing."""
    lock = write_lock(tmp_path / "r.lock", VARIED)
    monkeypatch.setattr(_cache, "_MAX_LOCK_BYTES", lock.stat().st_size - 1)
    read(lock)
    read(lock)
    assert not (kept / "locks").exists()


def test_another_install_keeps_its_entries_beside_these(
    tmp_path: Path, kept: Path, lock_parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-commit hook runs its own install (another folder, another code stamp) on
    the same lock."""
    lock = write_lock(tmp_path / "r.lock", VARIED)
    cached(lock, kept)
    with monkeypatch.context() as hook:
        hook.setattr(_cache, "install_id", lambda: "the hook's environment")
        hook.setattr(_cache, "code_stamp", lambda: "the hook's version")
        read(lock)
        read(lock)
    assert len(kept_entries(kept)) == 2
    read(lock)  # ours still answers
    assert len(lock_parses) == 4


def test_an_upgraded_install_replaces_its_own_older_entries(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    cached(lock, kept)
    monkeypatch.setattr(_cache, "code_stamp", lambda: "the next version")
    read(lock)
    assert kept_entries(kept) == []  # seen by the new version: the old entry is gone
    read(lock)
    assert len(kept_entries(kept)) == 1


def test_a_marker_not_written_leaves_the_older_entry(
    tmp_path: Path, kept: Path, lock_parses: list[str]
) -> None:
    lock = write_lock(tmp_path / "r.lock", VARIED)
    older = cached(lock, kept)
    os.chmod(kept / "locks", 0o755)  # not private any more: nothing written there
    write_lock(lock, VARIED[:3])
    read(lock)
    assert older.exists()


def test_an_entry_that_cannot_be_kept_is_not_encoded_again(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "_MAX_ENTRY_BYTES", 100)  # every entry is over it
    encoded = []
    pieces = _cache._pieces

    def counting(*args: object) -> object:
        encoded.append(1)
        return pieces(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_cache, "_pieces", counting)
    lock = write_lock(tmp_path / "r.lock", VARIED)
    for _ in range(4):
        assert read(lock) == AS_WRITTEN
    assert len(encoded) == 1
    assert kept_entries(kept) == []


def test_the_limit_counts_entries_not_their_markers(
    tmp_path: Path, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "_MAX_ENTRIES", 2)
    for n in range(2):
        (tmp_path / f"p{n}").mkdir()
        cached(write_lock(tmp_path / f"p{n}" / "r.lock", VARIED), kept)
        for old in (kept / "locks").iterdir():  # written earlier than what comes next
            os.utime(old, ns=(old.stat().st_mtime_ns - 10**9,) * 2)
    assert len(kept_entries(kept)) == 2
    assert list((kept / "locks").glob("*.seen")) == []
