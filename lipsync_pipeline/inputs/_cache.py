"""What earlier checks learnt about input URLs, kept between invocations.

One JSON file, ``<cache dir>/inputs-v1.json`` (see ``settings.cache_dir``), maps a
*hash* of each URL to the version the origin last served (validators, size, digest)
and its media length. A second ``plan`` sends those validators (If-None-Match /
If-Modified-Since) and, on 304, reads the length from here: one small request per
URL instead of a read of its header.

Safe by construction:

- keys are ``sha256`` of the URL, never the URL: a manifest may hold presigned URLs,
  whose query string is a credential, and a cache in a home directory or a CI cache
  must not keep them in clear;
- written atomically (a temp file beside it, fsync, rename), so a crash or two
  invocations at once leave one whole file, and each keeps the other's entries (the
  file is read again before it is written only if another one replaced it meanwhile);
- anything unreadable (not JSON, a wrong shape, a value of the wrong type) is
  ignored, entry by entry or whole: a cache can only save requests, never decide.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._fs import atomic_write, read_capped
from lipsync_pipeline._quietlog import logger
from lipsync_pipeline.errors import UnsafePathError
from lipsync_pipeline.inputs._findings import sendable
from lipsync_pipeline.lockfile import InputVersion

__all__ = ["CACHE_FILE", "Cached", "InputCache", "url_key"]


def _log() -> Any:
    return logger(__name__)


CACHE_FILE: Final = "inputs-v1.json"
_VERSION: Final = 1
# A cache this large is pruned to its most recently used entries when written.
_MAX_ENTRIES: Final = 100_000
_MAX_FILE_BYTES: Final = 64 << 20  # a bigger file is not ours: ignored, not read
_KEY_SALT: Final = b"lipsync-pipeline input url\0"


def url_key(url: str) -> str:
    """The cache's key for ``url``: a one-way hash, so no URL is stored in clear."""
    return hashlib.sha256(_KEY_SALT + url.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Cached:
    version: InputVersion
    seconds: float | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_entry(data: Any) -> tuple[Cached, float] | None:
    if not isinstance(data, dict):
        return None
    size, seconds, used = data.get("bytes"), data.get("seconds"), data.get("used")
    if size is not None and not (type(size) is int and size >= 0):
        return None
    if seconds is not None and not (
        type(seconds) in (int, float) and math.isfinite(seconds) and seconds >= 0
    ):
        return None
    digest = _text(data.get("sha256"))
    version = InputVersion(
        etag=_text(data.get("etag")),
        last_modified=_text(data.get("last_modified")),
        bytes=size,
        sha256=digest if digest is not None and len(digest) == 64 else None,
    )
    version = sendable(version)  # an older cache may hold what cannot be sent back
    stamp = float(used) if isinstance(used, int | float) and math.isfinite(used) else 0.0
    return Cached(version, None if seconds is None else float(seconds)), stamp


# Which file was read (st_dev, st_ino, st_size, st_mtime_ns): a file replaced since has
# another inode (atomic_write renames a new one into place), so "still the same" is sure.
_Identity = tuple[int, int, int, int]


def _identity(info: os.stat_result) -> _Identity:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


class InputCache:
    """The cache of one invocation: read once, updated in memory, written once (read a
    second time only if another invocation replaced the file meanwhile)."""

    def __init__(
        self,
        path: Path | None,
        entries: dict[str, tuple[Cached, float]],
        read: _Identity | None = None,
    ) -> None:
        self.path = path
        self._entries = entries
        self._read = read  # the file the entries came from; None: none was read
        self._touched: set[str] = set()

    @classmethod
    def load(cls, directory: Path | None) -> InputCache:
        """The cache in ``directory`` (None: a cache that keeps nothing)."""
        if directory is None:
            return cls(None, {})
        path = directory / CACHE_FILE
        return cls(path, *_read_file(path))

    def get(self, url: str) -> Cached | None:
        found = self._entries.get(url_key(url))
        return None if found is None else found[0]

    def put(self, url: str, cached: Cached) -> None:
        key = url_key(url)
        self._entries[key] = (cached, time.time())
        self._touched.add(key)

    def save(self) -> None:
        """Write the entries changed by this invocation, merged into the file as it is
        now. A failure (read-only home, full disk) is logged and ignored."""
        if self.path is None or not self._touched:
            return
        try:
            if self._read is not None and self._read == _current(self.path):
                merged = dict(self._entries)  # the file is the one read: nothing to merge
            else:
                merged = _read_file(self.path)[0]
                merged.update({k: self._entries[k] for k in self._touched})
            newest = sorted(merged.items(), key=lambda item: item[1][1], reverse=True)
            _write_file(self.path, dict(newest[:_MAX_ENTRIES]))
        except (OSError, UnsafePathError) as exc:
            _log().warning("input cache not written", path=str(self.path), error=str(exc))


def _current(path: Path) -> _Identity | None:
    try:
        return _identity(os.stat(path, follow_symlinks=False))
    except OSError:
        return None


def _read_file(path: Path) -> tuple[dict[str, tuple[Cached, float]], _Identity | None]:
    """The entries of the file at ``path`` and which file that was (None: none read)."""
    try:
        data, info = read_capped(path, _MAX_FILE_BYTES)
        doc = json.loads(data)
    except FileNotFoundError:
        return {}, None
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; a link is refused.
    except (OSError, ValueError, UnsafePathError) as exc:
        _log().info("input cache ignored", path=str(path), error=str(exc))
        return {}, None
    read = _identity(info)
    if not (isinstance(doc, dict) and doc.get("version") == _VERSION):
        return {}, read
    entries = doc.get("entries")
    if not isinstance(entries, dict):
        return {}, read
    out: dict[str, tuple[Cached, float]] = {}
    for key, found_entry in entries.items():
        found = _read_entry(found_entry)
        if found is not None and isinstance(key, str) and len(key) == 64:
            out[key] = found
    return out, read


def _entry_json(cached: Cached, used: float) -> dict[str, Any]:
    data = {**cached.version.as_json(), "used": round(used, 3)}
    if cached.seconds is not None:
        data["seconds"] = cached.seconds
    return data


def _write_file(path: Path, entries: dict[str, tuple[Cached, float]]) -> None:
    # Private to this user: lengths and ETags say which media a project uses.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {"version": _VERSION, "entries": {k: _entry_json(*v) for k, v in entries.items()}}
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    atomic_write(path, data, mode=0o600)
