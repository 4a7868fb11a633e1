"""The renders' check: a file is read again unless its stat is unchanged since a run
hashed it, and any change to its bytes is still caught (``lipsync_pipeline/_digests``)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from lipsync_pipeline import _digests
from lipsync_pipeline._digests import DIGESTS_FILE, REMEMBER_FILES, DigestCache
from lipsync_pipeline.errors import UnsafePathError
from lipsync_pipeline.lockfile import Artifact, LockEntry, LockSnapshot
from lipsync_pipeline.manifest import Manifest, parse_manifest
from lipsync_pipeline.plan import ArtifactState
from lipsync_pipeline.usecases._outputs import check_artifacts

JOBS = ("a", "b", "c")
SECOND = 1_000_000_000


def _manifest(tmp_path: Path, ids: tuple[str, ...]) -> Manifest:
    jobs = "".join(
        f"  - id: {j}\n    kind: avatar\n    image: https://cdn.example.com/{j}.png\n"
        f"    audio: https://cdn.example.com/{j}.mp3\n"
        for j in ids
    )
    return parse_manifest(
        f"version: 1\njobs:\n{jobs}", path=tmp_path / "r.yaml", display_name="r.yaml"
    )


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return _manifest(tmp_path, JOBS)


def _rendered(manifest: Manifest, tmp_path: Path) -> LockSnapshot:
    """Each job completed, its render on disk as the lock records it."""
    manifest.output_dir.mkdir()
    entries = {}
    for job in manifest.jobs:
        data = f"render of {job.id}".encode() * 100
        manifest.output_path(job.id).write_bytes(data)
        artifact = Artifact(f"renders/{job.id}.mp4", hashlib.sha256(data).hexdigest(), len(data))
        entries[job.id] = LockEntry(
            job.id, job.fingerprint, job.model, "completed", "k", artifact=artifact
        )
    return LockSnapshot(tmp_path / "r.lock", entries)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files hashed (read whole)."""
    seen: list[str] = []
    real = _digests.file_digest

    def counting(path: str) -> tuple[str, int] | None:
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(_digests, "file_digest", counting)
    return seen


def _remember(manifest: Manifest, lock: LockSnapshot) -> None:
    """What a run does under its run lock: check, then keep what it hashed. The digests
    file is then dated well after the renders, as it is when a rerun comes later."""
    digests = DigestCache.load(manifest.output_dir)
    assert set(check_artifacts(manifest, lock, digests).values()) == {ArtifactState.OK}
    digests.save(min_bytes=0)
    later = os.stat(digests.path).st_mtime_ns + 10 * SECOND
    os.utime(digests.path, ns=(later, later))


def test_an_unchanged_render_is_not_read_again(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    lock = _rendered(manifest, tmp_path)
    _remember(manifest, lock)
    assert sorted(reads) == [f"{j}.mp4" for j in JOBS]
    reads.clear()
    assert set(check_artifacts(manifest, lock).values()) == {ArtifactState.OK}
    assert reads == []


def test_new_bytes_of_the_same_size_are_caught_even_with_the_old_mtime(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    """``touch -d`` can put an mtime back; the ctime moves on regardless."""
    lock = _rendered(manifest, tmp_path)
    _remember(manifest, lock)
    path = manifest.output_path("b")
    before = os.stat(path)
    data = path.read_bytes()
    path.write_bytes(data[::-1])  # same size, other bytes
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    reads.clear()
    found = check_artifacts(manifest, lock)
    assert found == {"a": ArtifactState.OK, "b": ArtifactState.CORRUPT, "c": ArtifactState.OK}
    assert reads == ["b.mp4"]


def test_a_replaced_file_is_read_again(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    lock = _rendered(manifest, tmp_path)
    _remember(manifest, lock)
    path = manifest.output_path("c")
    copy = path.with_name("copy")
    copy.write_bytes(path.read_bytes())
    os.replace(copy, path)  # same bytes, another inode
    reads.clear()
    assert check_artifacts(manifest, lock)["c"] is ArtifactState.OK
    assert reads == ["c.mp4"]


def test_a_render_changed_around_the_time_it_was_hashed_is_hashed_again(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    """Racily clean: a write in the same clock tick as the remembered stat would not
    show in it, so nothing touched within RACY_SECONDS of the digests file is trusted."""
    lock = _rendered(manifest, tmp_path)
    digests = DigestCache.load(manifest.output_dir)
    check_artifacts(manifest, lock, digests)
    digests.save(min_bytes=0)  # dated now: the renders were written just before
    reads.clear()
    assert set(check_artifacts(manifest, lock).values()) == {ArtifactState.OK}
    assert sorted(reads) == [f"{j}.mp4" for j in JOBS]


def test_a_new_render_is_hashed_whatever_was_remembered(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    """The lock's digest is the truth: a remembered digest counts only if it is the lock's."""
    lock = _rendered(manifest, tmp_path)
    _remember(manifest, lock)
    other = dict(lock.entries)
    artifact = other["a"].artifact
    assert artifact is not None
    other["a"] = LockEntry(
        "a",
        other["a"].fingerprint,
        other["a"].model,
        "completed",
        "k",
        artifact=Artifact(artifact.path, "f" * 64, artifact.bytes),
    )
    reads.clear()
    assert check_artifacts(manifest, LockSnapshot(lock.path, other))["a"] is ArtifactState.CORRUPT


@pytest.mark.parametrize("content", [b"", b"not json", b'{"version": 2, "files": {}}', b"[]"])
def test_a_damaged_or_foreign_digests_file_means_hashing(
    manifest: Manifest, tmp_path: Path, reads: list[str], content: bytes
) -> None:
    lock = _rendered(manifest, tmp_path)
    (manifest.output_dir / DIGESTS_FILE).write_bytes(content)
    assert set(check_artifacts(manifest, lock).values()) == {ArtifactState.OK}
    assert sorted(reads) == [f"{j}.mp4" for j in JOBS]


def test_a_small_check_leaves_no_file_behind(manifest: Manifest, tmp_path: Path) -> None:
    lock = _rendered(manifest, tmp_path)
    digests = DigestCache.load(manifest.output_dir)
    check_artifacts(manifest, lock, digests)
    digests.save()  # 3 small renders: far below REMEMBER_BYTES
    assert not digests.path.exists()


@pytest.mark.parametrize(("renders", "kept"), [(REMEMBER_FILES - 1, False), (REMEMBER_FILES, True)])
def test_many_small_renders_are_remembered(tmp_path: Path, renders: int, kept: bool) -> None:
    """Opening each of thousands of renders costs more than their bytes: a check that
    hashed REMEMBER_FILES of them keeps their digests, however few bytes they hold."""
    many = _manifest(tmp_path, tuple(f"j{n}" for n in range(renders)))
    lock = _rendered(many, tmp_path)
    digests = DigestCache.load(many.output_dir)
    check_artifacts(many, lock, digests)
    digests.save()
    assert digests.path.exists() is kept


def test_the_digests_file_is_never_written_through_a_link(
    manifest: Manifest, tmp_path: Path
) -> None:
    lock = _rendered(manifest, tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (manifest.output_dir / DIGESTS_FILE).symlink_to(victim)
    digests = DigestCache.load(manifest.output_dir)
    check_artifacts(manifest, lock, digests)
    with pytest.raises(UnsafePathError):
        digests.save(min_bytes=0)
    assert victim.read_bytes() == b"keep"


@pytest.mark.parametrize("target", ["/dev/zero", "remembered.json"])
def test_a_committed_link_in_place_of_the_digests_file_is_not_read(
    manifest: Manifest, tmp_path: Path, target: str
) -> None:
    """A pull request can commit `.lipsync-digests.json -> /dev/zero` (read for ever) or
    a link to digests that lie; either way every render is hashed, as with no file."""
    lock = _rendered(manifest, tmp_path)
    honest = DigestCache.load(manifest.output_dir)
    check_artifacts(manifest, lock, honest)
    honest.save(min_bytes=0)
    remembered = tmp_path / "remembered.json"
    (manifest.output_dir / DIGESTS_FILE).rename(remembered)
    link_to = Path(target) if target.startswith("/") else remembered
    (manifest.output_dir / DIGESTS_FILE).symlink_to(link_to)

    digests = DigestCache.load(manifest.output_dir)
    check_artifacts(manifest, lock, digests)
    assert digests.hashed_bytes == honest.hashed_bytes > 0


def test_only_well_formed_remembered_entries_are_trusted(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    """An entry that is not six values (five whole numbers and 64 hex digits) is
    ignored: its render is read, the others' are not."""
    lock = _rendered(manifest, tmp_path)
    _remember(manifest, lock)
    path = manifest.output_dir / DIGESTS_FILE
    doc = json.loads(path.read_bytes())
    good = doc["files"]["a.mp4"]
    for damaged in (
        [True, *good[1:]],  # a boolean is not a size
        [float(good[0]), *good[1:]],
        good[:5],
        [*good[:5], good[5][:62] + "  "],  # 31 bytes once the spaces are skipped
        [*good[:5], "zz" * 32],
        [-1, *good[1:]],  # no file has that size
        {"size": good[0]},
    ):
        doc["files"]["b.mp4"] = damaged
        stamp = os.stat(path)
        path.write_text(json.dumps(doc))
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        reads.clear()
        assert set(check_artifacts(manifest, lock).values()) == {ArtifactState.OK}
        assert reads == ["b.mp4"], damaged


def test_a_render_dated_past_what_an_entry_holds_is_still_checked(
    manifest: Manifest, tmp_path: Path, reads: list[str]
) -> None:
    """A file can be dated after 2262 (``touch -d``): no entry holds such a time, so it
    is read every time, and new bytes in it are caught."""
    lock = _rendered(manifest, tmp_path)
    _remember(manifest, lock)
    path = manifest.output_path("b")
    far = 2**63 + SECOND  # nanoseconds past what a signed 64-bit time holds
    try:
        os.utime(path, ns=(far, far))
    except (OSError, OverflowError):
        pytest.skip("this file system cannot date a file that late")
    if os.stat(path).st_mtime_ns != far:
        pytest.skip("this file system cannot date a file that late")
    reads.clear()  # b's entry, still remembered, is of its old stat
    assert set(check_artifacts(manifest, lock).values()) == {ArtifactState.OK}
    assert reads == ["b.mp4"]
    path.write_bytes(path.read_bytes()[::-1])
    os.utime(path, ns=(far, far))
    assert check_artifacts(manifest, lock)["b"] is ArtifactState.CORRUPT
