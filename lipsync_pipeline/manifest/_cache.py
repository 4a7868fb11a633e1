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
- the cache is not used at all when it lies inside the manifest's repository (or its
  directory, outside one): a pull request can commit files, and a committed entry
  would let it show one manifest and run another. It must be a directory of this user
  that nobody else may write to (created 0700, entries 0600, read without following a
  link);
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._digests import RACY_SECONDS
from lipsync_pipeline._fs import TMP_SUFFIX, open_nofollow, read_capped, refuse_symlink, within
from lipsync_pipeline.errors import UnsafePathError
from lipsync_pipeline.manifest._cachecodec import decode_manifest, encode_manifest
from lipsync_pipeline.manifest._inside import inside
from lipsync_pipeline.manifest._model import Manifest

__all__ = ["Facts", "ManifestCache"]

_OFF: Final = frozenset({"0", "off", "no", "false"})
_FORMAT: Final = 1
_SUBDIR: Final = "manifests"
# An entry is ~1.2x its manifest, and a manifest at most 32 MiB.
_MAX_ENTRY_BYTES: Final = 64 << 20
# Entries kept: one per manifest path (and --output-dir); the least recently written
# go first.
_MAX_ENTRIES: Final = 64
# A file changed this close to when its digest was taken may have changed unseen
# (the racy margin of lipsync_pipeline._digests).
_RACY_NS: Final = RACY_SECONDS * 1_000_000_000
_RULE: Final = "local inputs must stay inside it (it is what --local serves)"


@dataclass
class Facts:
    """What a reading of a manifest depended on besides its bytes, collected by the
    reader: each is checked again before an entry is used."""

    # raw text of a local input -> (relative, resolved) as ``inside`` said
    locals: dict[str, tuple[str, str]] = field(default_factory=dict)
    # resolved path of each hashed input -> its ``local-sha256:`` digest (the entry
    # keeps what ``stat`` said of each: the digests are in the jobs)
    digests: dict[str, str] = field(default_factory=dict)
    # raw text of each matrix ``rows:`` file named
    rows: list[str] = field(default_factory=list)


def _signature(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]


@functools.cache
def _stamp() -> str:
    """This package's files by name, size and mtime: the code that made an entry."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as found:
            for entry in sorted(found, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".json")):
                    info = entry.stat(follow_symlinks=False)
                    h.update(f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
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


def _hash_file(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _could_be_secret(manifest: Manifest) -> bool:
    """A webhook, or a URL with a query, a fragment or a user (or an ``@`` anywhere:
    cheaper to look for than to parse 50,000 URLs, and rare in a path)."""
    for job in manifest.jobs:
        if job.webhook is not None:
            return True
        for value in job.form_state.values():
            if (
                type(value) is str
                and value.startswith(("https://", "http://"))
                and ("?" in value or "#" in value or "@" in value)
            ):
                return True
    return False


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a temp file and a rename, never through a
    link. Not fsynced: a cache needs no durability (an entry lost or cut short by a
    power cut does not parse, and is read as missing), and syncing megabytes costs."""
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{TMP_SUFFIX}")
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        refuse_symlink(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class ManifestCache:
    """The entry of one manifest (path and ``--output-dir``): looked up, then saved."""

    def __init__(self, directory: Path, manifest_path: Path, override: Path | None) -> None:
        key = hashlib.sha256(f"{manifest_path}\0{override or ''}".encode()).hexdigest()
        self.directory = directory / _SUBDIR
        self.path = self.directory / f"{key[:40]}.json"
        self.manifest_path = manifest_path
        self.override = override
        self.base = os.path.dirname(manifest_path)
        self.real_base = os.path.realpath(self.base)

    @classmethod
    def open(
        cls, manifest_path: Path, override: Path | None, environ: Mapping[str, str] | None = None
    ) -> ManifestCache | None:
        """The cache for this manifest, or None when it is off or may not be used."""
        from lipsync_pipeline.settings import MANIFEST_CACHE_ENV, cache_dir

        env = os.environ if environ is None else environ
        if env.get(MANIFEST_CACHE_ENV, "").strip().lower() in _OFF:
            return None
        directory = Path(os.path.abspath(cache_dir(env)))
        real = os.path.realpath(directory)
        folder = os.path.dirname(manifest_path)
        for tree in {folder, _repository(folder)}:
            if within(real, os.path.realpath(tree)):
                return None  # a pull request could have committed it
        return cls(directory, manifest_path, override)

    def lookup(self, data: bytes, display_name: str) -> Manifest | None:
        """The manifest cached for exactly these bytes, if everything still matches."""
        try:
            if not self._safe_folder():
                return None
            raw, info = read_capped(self.path, _MAX_ENTRY_BYTES)
            entry = json.loads(raw)
            if not self._matches(entry, data, info.st_mtime_ns):
                return None
            return decode_manifest(entry["manifest"], self.manifest_path, display_name)
        except (OSError, ValueError, UnsafePathError, KeyError, TypeError, AttributeError):
            return None

    def save(self, data: bytes, manifest: Manifest, facts: Facts) -> None:
        """Remember ``manifest`` as what ``data`` reads as. Failures are ignored."""
        if _could_be_secret(manifest):
            return
        files: dict[str, list[int]] = {}
        for path in facts.digests:
            try:
                files[path] = _signature(os.stat(path))
            except OSError:
                return
        rows = {}
        for raw in facts.rows:
            found = inside(raw, self.base, self.real_base, _RULE)
            digest = None if isinstance(found, str) else _hash_file(found[1])
            if digest is None:
                return
            rows[raw] = digest
        entry = {
            "format": _FORMAT,
            "stamp": _stamp(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "path": str(self.manifest_path),
            "override": None if self.override is None else str(self.override),
            "locals": {raw: list(pair) for raw, pair in facts.locals.items()},
            "files": files,
            "rows": rows,
            "manifest": encode_manifest(manifest),
        }
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self._safe_folder():
                return
            text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
            _write(self.path, text.encode("utf-8"))
            self._prune()
        except (OSError, UnsafePathError, ValueError):
            pass

    def _safe_folder(self) -> bool:
        """The entries' folder is a real directory of this user, written by no one else."""
        try:
            info = os.lstat(self.directory)
        except OSError:
            return False
        return (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        )

    def _matches(self, entry: Any, data: bytes, written_ns: int) -> bool:
        if not (
            isinstance(entry, dict)
            and entry.get("format") == _FORMAT
            and entry.get("path") == str(self.manifest_path)
            and entry.get("override") == (None if self.override is None else str(self.override))
            and entry.get("sha256") == hashlib.sha256(data).hexdigest()
            and entry.get("stamp") == _stamp()
        ):
            return False
        for raw, pair in entry["locals"].items():
            if list(inside(raw, self.base, self.real_base, _RULE)) != pair:
                return False
        for path, signature in entry["files"].items():
            info = os.stat(path)
            # Changed within the racy margin of the entry's writing: it may have
            # changed unseen after it was hashed (both times are the file system's).
            if _signature(info) != signature or info.st_ctime_ns + _RACY_NS > written_ns:
                return False
        for raw, digest in entry["rows"].items():
            found = inside(raw, self.base, self.real_base, _RULE)
            if isinstance(found, str) or _hash_file(found[1]) != digest:
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
        with os.scandir(self.directory) as found:
            entries = [e for e in found if e.name.endswith(".json") and e.is_file()]
        if len(entries) <= _MAX_ENTRIES:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns)
        for old in entries[: len(entries) - _MAX_ENTRIES]:
            os.unlink(old.path)
