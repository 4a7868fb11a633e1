"""The folder the manifest and lock caches keep their entries in (``_readcache``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lipsync_pipeline._readcache import ReadCache, stamp_of


def folder(tmp_path: Path, max_entry_bytes: int = 100, max_entries: int = 4) -> ReadCache:
    return ReadCache(tmp_path / "kind", max_entry_bytes, max_entries)


def test_the_code_stamp_covers_files_behind_a_linked_folder(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    (tmp_path / "schemas").mkdir()
    schema = tmp_path / "schemas" / "manifest.schema.json"
    schema.write_text("{}")
    (package / "schemas").symlink_to("../schemas")
    before = stamp_of(package)
    schema.write_text('{"x": 1}')
    assert stamp_of(package) != before


def test_an_entry_written_in_pieces_reads_back_private(tmp_path: Path) -> None:
    cache = folder(tmp_path)
    path = cache.entry_path(b"/some/file")
    cache.write(path, iter([b"ab", b"", b"cd\n"]))
    found = cache.read(path)
    assert found is not None and found[0] == b"abcd\n"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)


@pytest.mark.parametrize("as_pieces", [False, True])
def test_an_entry_over_the_cap_is_not_written_and_the_old_one_stays(
    tmp_path: Path, as_pieces: bool
) -> None:
    cache = folder(tmp_path, max_entry_bytes=10)
    path = cache.entry_path(b"/some/file")
    cache.write(path, b"old\n")
    big = [b"12345", b"67890", b"X"]
    cache.write(path, iter(big) if as_pieces else b"".join(big))
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp left


def test_pieces_that_fail_midway_leave_the_old_entry(tmp_path: Path) -> None:
    cache = folder(tmp_path)
    path = cache.entry_path(b"/some/file")
    cache.write(path, b"old\n")

    def failing() -> Iterator[bytes]:
        yield b"new"
        raise OSError("disk full")

    cache.write(path, failing())
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_forget_deletes_an_entry_s_other_versions_only(tmp_path: Path) -> None:
    cache = folder(tmp_path)
    names = ["aa-1.json", "aa-2.json", "ab-1.json"]
    for name in names:
        cache.write(cache.directory / name, b"x")
    cache.forget("aa-", keep=cache.directory / "aa-2.json")
    assert sorted(os.listdir(cache.directory)) == ["aa-2.json", "ab-1.json"]


def test_a_shared_folder_is_not_read(tmp_path: Path) -> None:
    cache = folder(tmp_path)
    path = cache.entry_path(b"/some/file")
    cache.write(path, b"entry")
    os.chmod(cache.directory, 0o755)  # what a COPY or a checkout makes
    assert cache.read(path) is None


def test_markers_count_toward_the_limit(tmp_path: Path) -> None:
    """A lock or manifest read once leaves a marker: those must not pile up."""
    cache = folder(tmp_path, max_entries=2)
    for n in range(4):
        path = cache.directory / f"{n}.seen"
        cache.write(path, b"")
        if path.exists():
            os.utime(path, ns=(10**18 + n * 10**9,) * 2)  # each newer than the last
    assert sorted(os.listdir(cache.directory)) == ["2.seen", "3.seen"]


def test_write_says_whether_it_kept_the_entry(tmp_path: Path) -> None:
    cache = folder(tmp_path, max_entry_bytes=10)
    path = cache.entry_path(b"/some/file")
    assert cache.write(path, b"small")
    assert not cache.write(path, b"far larger than ten bytes")
    assert not cache.write(path, iter([b"0123456789", b"X"]))
    os.chmod(cache.directory, 0o755)
    assert not cache.write(path, b"small")
