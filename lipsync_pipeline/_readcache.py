"""Where validated reads are kept between invocations: ``<cache dir>/<kind>/``.

Two caches keep what a file became once this code had read and checked it: the
manifest cache (``manifest/_cache.py``: a manifest's YAML, validated) and the lock
cache (``lockfile/_cache.py``: a big lockfile, parsed and checked). Each is a cache,
never a source: an entry is used only while everything it depends on still matches,
and any failure to read or write one is a miss. What they share lives here:

- the switch: ``LIPSYNC_MANIFEST_CACHE=off`` turns both off (a CI runner that keeps
  no cache meets every file for the first time; the bench measures that case so);
- where a cache may be used: never when the cache folder lies inside the git work tree
  (or the folder) of the file read, since a pull request can commit files, and a
  committed entry would let it show one file and act on another;
- privacy: the folder must be a real directory of this user with no group or other
  permission bits (0700), each entry this user's file, private (0600), read without
  following a link: neither git nor a ``COPY`` makes those modes;
- the code's stamp (an upgrade, or an edit in a checkout, reads again), writing and
  pruning.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

from lipsync_pipeline._fs import TMP_SUFFIX, atomic_write, read_capped, within

__all__ = ["ReadCache", "code_stamp", "credential_like", "install_id", "stamp_of"]

_OFF: Final = frozenset({"0", "off", "no", "false"})
_PRIVATE: Final = 0o077  # group and other permission bits: none on the folder or entries
_HOUR_NS: Final = 3600 * 1_000_000_000


@functools.cache
def code_stamp() -> str:
    """The code that made an entry: this package's files (schemas included, through
    their link) by name, size and mtime, Python's version and PyYAML's."""
    return stamp_of(Path(__file__).resolve().parent)


@functools.cache
def install_id() -> str:
    """Which install of this package this is (its folder): stable across upgrades and
    edits, unlike the stamp, so an install replaces its own older entries and leaves
    another install's (a pre-commit hook's environment) alone."""
    return hashlib.sha256(os.fsencode(Path(__file__).resolve().parent)).hexdigest()


def stamp_of(root: Path) -> str:
    """``code_stamp`` of the package tree at ``root``."""
    import yaml

    h = hashlib.sha256(f"{sys.version}\0{yaml.__version__}\0{yaml.__with_libyaml__}\n".encode())
    seen: set[str] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        with os.scandir(folder) as found:
            for entry in sorted(found, key=lambda e: e.name):
                if entry.is_dir():  # following links: lipsync_pipeline/schemas is one
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".json")):
                    info = entry.stat()
                    h.update(os.fsencode(f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}\n"))
    return h.hexdigest()


def credential_like(url: str) -> bool:
    """A URL that could carry a credential: a query, a fragment or a user (an ``@``
    anywhere: cheaper to look for than to parse 50,000 URLs, and rare in a path). No
    cache keeps a file that holds one."""
    return "?" in url or "#" in url or "@" in url


def _repository(folder: str) -> str:
    """The top of the git work tree holding ``folder``, else ``folder`` itself."""
    current = folder
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return folder
        current = parent


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & _PRIVATE


class ReadCache:
    """One kind's folder of entries (``<cache dir>/<kind>/``), an entry a file.

    Nothing here raises on a cache that cannot be used: ``read`` answers None,
    ``write`` writes nothing."""

    def __init__(self, directory: Path, max_entry_bytes: int, max_entries: int) -> None:
        self.directory = directory
        self._max_entry_bytes = max_entry_bytes
        self._max_entries = max_entries

    @classmethod
    def open(
        cls,
        kind: str,
        for_file: Path,
        *,
        max_entry_bytes: int,
        max_entries: int,
        environ: Mapping[str, str] | None = None,
    ) -> ReadCache | None:
        """The folder of ``kind`` for entries about ``for_file`` (an absolute path), or
        None when the caches are off or may not be used for that file."""
        from lipsync_pipeline.settings import MANIFEST_CACHE_ENV, cache_dir

        env = os.environ if environ is None else environ
        if env.get(MANIFEST_CACHE_ENV, "").strip().lower() in _OFF:
            return None
        try:
            directory = Path(os.path.abspath(cache_dir(env)))
            real = os.path.realpath(directory)
            folder = os.path.dirname(for_file)
            for tree in {folder, _repository(folder)}:
                if within(real, os.path.realpath(tree)):
                    return None  # a pull request could have committed it
            return cls(directory / kind, max_entry_bytes, max_entries)
        except Exception:  # no home directory (RuntimeError), a path it cannot spell, ...
            return None

    def entry_path(self, key: bytes) -> Path:
        """The entry named by a hash of ``key`` (what the entry is of: a path, ...)."""
        return self.directory / f"{hashlib.sha256(key).hexdigest()[:40]}.json"

    def read(self, path: Path) -> tuple[bytes, int] | None:
        """(an entry's bytes, its mtime in ns), if the folder and the entry are private
        to this user and the entry is not a link, nor larger than an entry may be."""
        try:
            if not self._safe_folder():
                return None
            raw, info = read_capped(path, self._max_entry_bytes)
        except Exception:  # missing, a link, too large, unreadable: a miss
            return None
        return (raw, info.st_mtime_ns) if _private(info) else None

    def write(self, path: Path, data: bytes | Iterable[bytes]) -> bool:
        """Keep ``data`` (the bytes, or their pieces in order) as the entry at ``path``
        (private, replaced atomically, never through a link), then forget the least
        recently written beyond the limit. Nothing is kept past the size limit.
        Whether it was kept."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self._safe_folder():
                return False
            pieces = self._capped((data,) if isinstance(data, bytes) else data)
            # Not fsynced: an entry cut short by a power cut does not parse, and is read
            # as missing.
            atomic_write(path, pieces, mode=0o600, durable=False)
            self._prune()
            return True
        except Exception:  # a full disk, a read-only home, ...: the next reading reads again
            return False

    def _capped(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """``pieces``, raising once they add up to more than an entry may hold (the
        temp file is then removed, and nothing replaced)."""
        total = 0
        for piece in pieces:
            total += len(piece)
            if total > self._max_entry_bytes:
                raise ValueError("larger than a kept entry may be")
            yield piece

    def forget(self, prefix: str, *, keep: Path) -> None:
        """Delete the entries whose names start with ``prefix``, but ``keep``."""
        try:
            with os.scandir(self.directory) as found:
                names = [e.path for e in found if e.name.startswith(prefix)]
            for path in names:
                if path != str(keep):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
        except OSError:
            return

    def _safe_folder(self) -> bool:
        """The entries' folder is a real directory of this user, private to them."""
        try:
            info = os.lstat(self.directory)
        except OSError:
            return False
        return stat.S_ISDIR(info.st_mode) and _private(info)

    def _prune(self) -> None:
        """Keep the most recently written entries; temp files a killed writer left go."""
        with os.scandir(self.directory) as found:
            names = [e for e in found if e.is_file(follow_symlinks=False)]
        an_hour_ago = time.time_ns() - _HOUR_NS
        kept = []
        for e in names:  # another process may remove any of them meanwhile
            with contextlib.suppress(OSError):
                written = e.stat(follow_symlinks=False).st_mtime_ns
                if not e.name.endswith(TMP_SUFFIX):
                    kept.append((written, e.path))
                elif written < an_hour_ago:
                    os.unlink(e.path)
        kept.sort()
        for _, path in kept[: max(0, len(kept) - self._max_entries)]:
            with contextlib.suppress(OSError):
                os.unlink(path)
