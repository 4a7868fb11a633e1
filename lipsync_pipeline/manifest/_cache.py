"""Validated manifests kept between invocations: an unchanged manifest is read once.

Reading a manifest is most of what an up-to-date ``run`` or a ``plan`` costs (10,000
jobs: about a second, most of it libyaml's). So after a manifest validates, what it
became is written to ``<cache dir>/manifests/<key>.json`` (see
``settings.cache_dir``; ``key``: a hash of the manifest's absolute path and the
``--output-dir`` given), and the next invocation that reads the same bytes takes it
from there instead. It is a cache, never a source: whenever anything does not match,
the YAML is read as if nothing was cached (and the entry replaced).

What an entry must match, all checked on every use:

- the manifest's bytes (sha256), its absolute path and the ``--output-dir`` given;
- the code that reads it (a stamp of this package's files: an upgrade, or an edit in a
  checkout, reads again);
- what the file system said then: each local input still resolves where it did inside
  the manifest's directory, each hashed input file is unchanged by ``stat`` (size,
  mtime, ctime, inode, device: git's rule, with the racy margin of ``_digests``), each
  matrix ``rows:`` file has the same bytes, the output directory and a ``file://``
  store still resolve inside the manifest's directory.

Safe by construction:

- a manifest holding what could be a credential is never written here: a URL with a
  query string, a fragment or a user (presigned URLs), or any webhook (its path can be
  the secret). The input cache keeps hashes of URLs for the same reason;
- the cache is not used at all when it lies inside the manifest's git work tree (or
  its directory, outside one): a pull request can commit files, and a committed entry
  would let it show one manifest and run another. Its folder must be this user's and
  private (0700), each entry this user's file and private (0600), read without
  following a link: neither git nor a ``COPY`` makes those modes. An entry must also
  decode to what this code writes (no webhook, no credential-like URL, local inputs
  only where its facts vouch);
- ``LIPSYNC_MANIFEST_CACHE=off`` turns it off; failures to read or write it are
  ignored (the next invocation reads the YAML).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._fs import TMP_SUFFIX, atomic_write, read_capped, within
from lipsync_pipeline.manifest._cachecodec import decode_manifest, encode_manifest
from lipsync_pipeline.manifest._cachefacts import (
    Facts,
    consistent,
    could_be_secret,
    still_true,
    taken_by,
)
from lipsync_pipeline.manifest._model import Manifest

__all__ = ["Facts", "ManifestCache", "stamp_of"]

_OFF: Final = frozenset({"0", "off", "no", "false"})
_FORMAT: Final = 2
_SUBDIR: Final = "manifests"
# Larger entries are not written: a manifest is at most 32 MiB, but a matrix can expand
# a small one into far more (rereading the YAML then costs less than this file).
_MAX_ENTRY_BYTES: Final = 64 << 20
# Entries kept: one per manifest path (and --output-dir); the least recently written
# go first.
_MAX_ENTRIES: Final = 64
_PRIVATE: Final = 0o077  # group and other permission bits: none on the folder or entries


@functools.cache
def _stamp() -> str:
    """The code that made an entry: this package's files (schemas included, through
    their link) by name, size and mtime, Python's version and PyYAML's."""
    return stamp_of(Path(__file__).resolve().parent.parent)


def stamp_of(root: Path) -> str:
    """``_stamp`` of the package tree at ``root``."""
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


class ManifestCache:
    """The entry of one manifest (path and ``--output-dir``): looked up, then saved.

    Nothing here raises: a cache that cannot be used is a cache that is not there
    (every failure is the YAML read again, or an entry not written)."""

    def __init__(self, directory: Path, manifest_path: Path, override: Path | None) -> None:
        name = os.fsencode(manifest_path) + b"\0" + os.fsencode(override or "")
        self.directory = directory / _SUBDIR
        self.path = self.directory / f"{hashlib.sha256(name).hexdigest()[:40]}.json"
        self.manifest_path = manifest_path
        self.override = override
        self.base = os.path.dirname(manifest_path)
        self.real_base = os.path.realpath(self.base)
        self._digest: str | None = None

    @classmethod
    def open(
        cls, manifest_path: Path, override: Path | None, environ: Mapping[str, str] | None = None
    ) -> ManifestCache | None:
        """The cache for this manifest, or None when it is off or may not be used."""
        from lipsync_pipeline.settings import MANIFEST_CACHE_ENV, cache_dir

        env = os.environ if environ is None else environ
        if env.get(MANIFEST_CACHE_ENV, "").strip().lower() in _OFF:
            return None
        try:
            directory = Path(os.path.abspath(cache_dir(env)))
            real = os.path.realpath(directory)
            folder = os.path.dirname(manifest_path)
            for tree in {folder, _repository(folder)}:
                if within(real, os.path.realpath(tree)):
                    return None  # a pull request could have committed it
            return cls(directory, manifest_path, override)
        except Exception:  # no home directory (RuntimeError), a path it cannot spell, ...
            return None

    def lookup(self, data: bytes, display_name: str) -> Manifest | None:
        """The manifest cached for exactly these bytes, if everything still matches."""
        try:
            if not self._safe_folder():
                return None
            raw, info = read_capped(self.path, _MAX_ENTRY_BYTES)
            if not _private(info):
                return None
            entry = json.loads(raw)
            if not self._matches(entry, data, info.st_mtime_ns):
                return None
            found = decode_manifest(entry["manifest"], self.manifest_path, display_name)
            return found if consistent(found, entry) else None
        except Exception:  # damaged or not ours, whatever the way (a cache never decides)
            return None

    def save(self, data: bytes, manifest: Manifest, facts: Facts) -> None:
        """Remember ``manifest`` as what ``data`` reads as, unless it could hold a
        credential, a file it used changed meanwhile, or it is too large."""
        try:
            if could_be_secret(manifest):
                return
            taken = taken_by(facts, self.base, self.real_base)
            if taken is None:
                return
            entry = {
                "format": _FORMAT,
                "stamp": _stamp(),
                "sha256": self._sha256(data),
                "path": os.fsdecode(self.manifest_path),
                "override": None if self.override is None else os.fsdecode(self.override),
                **taken,
                "manifest": encode_manifest(manifest),
            }
            text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
            encoded = text.encode("utf-8", "surrogateescape")
            if len(encoded) > _MAX_ENTRY_BYTES:
                return
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self._safe_folder():
                # Not fsynced: an entry cut short by a power cut does not parse, and is
                # read as missing.
                atomic_write(self.path, encoded, mode=0o600, durable=False)
                self._prune()
        except Exception:  # a full disk, a read-only home, ...: the next reading reads YAML
            return

    def _sha256(self, data: bytes) -> str:
        """The manifest's digest, taken once for its lookup and its save (the same bytes:
        ``load_manifest`` hands both the ones it read)."""
        if self._digest is None:
            self._digest = hashlib.sha256(data).hexdigest()
        return self._digest

    def _safe_folder(self) -> bool:
        """The entries' folder is a real directory of this user, private to them."""
        try:
            info = os.lstat(self.directory)
        except OSError:
            return False
        return stat.S_ISDIR(info.st_mode) and _private(info)

    def _matches(self, entry: Any, data: bytes, written_ns: int) -> bool:
        override = None if self.override is None else os.fsdecode(self.override)
        if not (
            isinstance(entry, dict)
            and entry.get("format") == _FORMAT
            and entry.get("path") == os.fsdecode(self.manifest_path)
            and entry.get("override") == override
            and entry.get("sha256") == self._sha256(data)
            and entry.get("stamp") == _stamp()
            and still_true(entry, self.base, self.real_base, written_ns)
        ):
            return False
        cached = entry["manifest"]
        if self.override is None:
            real = os.path.realpath(cached["output_dir"])
            if not within(real, self.real_base):
                return False
        store = cached["store"]
        if store is not None and store["scheme"] == "file":
            real = os.path.realpath("/" + store["prefix"])
            if not within(real, self.real_base):
                return False
        return True

    def _prune(self) -> None:
        """Keep the most recently written entries; temp files a killed writer left go."""
        with os.scandir(self.directory) as found:
            names = list(found)
        for left in names:
            if left.name.endswith(TMP_SUFFIX) and left.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if left.stat(follow_symlinks=False).st_mtime_ns < _an_hour_ago():
                        os.unlink(left.path)
        entries = [e for e in names if e.name.endswith(".json") and e.is_file()]
        if len(entries) <= _MAX_ENTRIES:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns)
        for old in entries[: len(entries) - _MAX_ENTRIES]:
            os.unlink(old.path)


def _an_hour_ago() -> int:
    import time

    return time.time_ns() - 3600 * 1_000_000_000
