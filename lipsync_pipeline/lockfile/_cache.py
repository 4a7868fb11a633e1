"""Big lockfiles kept parsed between invocations: an unchanged lock is checked once.

Every ``plan``, ``status`` and ``run`` reads the lock, and a lock of 50,000 entries
costs ~0.36 s to parse and check entry by entry against its schema (a quarter of an
up-to-date ``plan`` of that size); reading the same values back as plain lists costs a
third of that (~0.12 s). So once a lock of at least :data:`MIN_BYTES` has parsed and
passed its checks, its entries are kept in
``<cache dir>/locks/<lock>-<install>-<version>.json`` (hashes of: the lock's absolute
path; the folder this package is installed in; the code's stamp and the sha256 of the
bytes the entries came from), and a later read of exactly those bytes by the same code
takes them from there. A smaller lock parses in less time than an entry
takes to read.

It is a cache, never a source: any difference (another byte, another version of this
package, an entry that does not decode to what this code writes) reads the lock as
if nothing was kept, and replaces the entry. Where it may be used, whose it must be
and its switch (``LIPSYNC_MANIFEST_CACHE=off``) are ``_readcache``'s, as for the
manifest cache: never inside the lock's git work tree, a private folder and private
entries of this user. This code writes output URLs into a lock without their query;
a lock that holds one anyway (written by hand, or by another tool) is never kept, so no
presigned URL is copied out of the repository.

An entry is written the second time the same bytes are read, not the first (see
:meth:`LockCache.save`), and only for a lock the quick check accepted in one pass.

What decoding checks again: the job ids and every artifact's path and store key
against the schema's patterns (they name files a run reads, replaces and deletes),
the statuses, each row's shape and their count. The rest (fingerprints, digests,
sizes) was checked when the entry was written from the same bytes, and an entry is
this user's private file. What a run builds on these entries, it writes to the lock
as it would the parsed ones (they are equal).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._readcache import ReadCache, code_stamp, credential_like, install_id
from lipsync_pipeline.lockfile._entries import STATUSES, LockEntry, new_artifact, new_entry
from lipsync_pipeline.lockfile._inputs import Inputs, InputVersion
from lipsync_pipeline.lockfile._quickcheck import LockCheck

__all__ = ["MIN_BYTES", "LockCache"]

# ~1,700 entries: below it a parse takes ~10 ms, about what hashing the bytes, reading
# an entry and writing one on a change cost.
MIN_BYTES: Final = 1 << 20
_FORMAT: Final = 1
_SUBDIR: Final = "locks"
# A lockfile's entry is ~60 % of its size: this is a lock of ~200 MB, 300,000 entries.
_MAX_ENTRY_BYTES: Final = 128 << 20
# Larger locks are not looked up: their entry would not be kept (a lock of that size
# would hash and encode itself on every read for nothing).
_MAX_LOCK_BYTES: Final = _MAX_ENTRY_BYTES * 3 // 2
_MAX_ENTRIES: Final = 32
_STATUS: Final = {status: status for status in STATUSES}
_BATCH: Final = 1_000  # rows encoded at once when an entry is written
# ASCII: a lone surrogate (JSON can spell one, "\\udc80") round-trips escaped; as UTF-8
# it could not be written, or not read back.
_encode: Final = json.JSONEncoder(separators=(",", ":")).encode
_SEEN: Final = ".seen"
# A marker's bytes: read once; or its entry could not be kept (over the size cap, a
# full disk): the entry is not encoded again for the same bytes.
_SEEN_ONCE: Final = b""
_NOT_KEPT: Final = b"not kept\n"


class LockCache:
    """The entries kept for one lockfile (its absolute path): found, then taken, or
    saved. An entry is named by the lock's path and by the digest of its bytes (and
    the code's stamp), so a lock that changed finds no entry without reading one.

    Nothing here raises: a cache that cannot be used is a cache that is not there."""

    def __init__(self, folder: ReadCache, lock_path: str) -> None:
        self._folder = folder
        self._lock_path = lock_path
        self._prefix = _hex(os.fsencode(lock_path))
        self._raw: bytes | None = None
        self._sha256 = ""

    @classmethod
    def open(
        cls, lock_path: Path, size: int, environ: Mapping[str, str] | None = None
    ) -> LockCache | None:
        """The cache for a lock of ``size`` bytes at ``lock_path``, or None when it is
        smaller than :data:`MIN_BYTES` (or too large to keep), the caches are off or
        may not be used here."""
        if not MIN_BYTES <= size <= _MAX_LOCK_BYTES:
            return None
        absolute = os.path.abspath(lock_path)
        folder = ReadCache.open(
            _SUBDIR,
            Path(absolute),
            max_entry_bytes=_MAX_ENTRY_BYTES,
            max_entries=_MAX_ENTRIES,
            environ=environ,
        )
        return None if folder is None else cls(folder, absolute)

    def entry_path(self, sha256: str) -> Path:
        """Where the entry of this lock with bytes of digest ``sha256`` is kept, for
        this code: ``<lock>-<install>-<code, bytes>.json``."""
        version = _hex(f"{code_stamp()}\0{sha256}".encode())
        return self._folder.directory / f"{self._versions()}{version}.json"

    def _versions(self) -> str:
        """The names' beginning shared by this lock's entries made by this install,
        whatever its code's version: a new entry replaces them, and another install (a
        pre-commit hook's own environment) keeps its entries beside ours."""
        return f"{self._prefix}-{_hex(install_id().encode())}-"

    def find(self, sha256: str) -> bool:
        """Whether an entry is kept for this lock with bytes of digest ``sha256``
        (read, not yet decoded: see :meth:`take`)."""
        try:
            found = self._folder.read(self.entry_path(sha256))
        except Exception:  # a path it cannot spell, ...: a miss
            found = None
        self._raw = None if found is None else found[0]
        self._sha256 = sha256
        return self._raw is not None

    def take(self, check: LockCheck) -> dict[str, LockEntry] | None:
        """The entries of the entry :meth:`find` found, if it decodes to what this code
        writes; the entry's bytes are let go either way."""
        raw, self._raw = self._raw, None
        if raw is None:
            return None
        try:
            end = raw.index(b"\n")
            head = json.loads(raw[:end])
            if not (
                type(head) is dict
                and head.get("format") == _FORMAT
                and head.get("path") == self._lock_path
                and head.get("sha256") == self._sha256
                and head.get("stamp") == code_stamp()
            ):
                return None
            entries: dict[str, LockEntry] = {}
            models: dict[str, str] = {}
            rows = 0
            while end + 1 < len(raw):
                start, end = end + 1, raw.index(b"\n", end + 1)
                batch = json.loads(raw[start:end])
                rows += len(batch)
                _decode(batch, check, models, entries)
            return entries if rows == len(entries) == head["count"] else None
        except Exception:  # damaged or not ours, whatever the way (a cache never decides)
            return None

    def save(self, sha256: str, entries: Mapping[str, LockEntry]) -> None:
        """Keep ``entries`` as what this lock reads as with bytes of digest ``sha256``,
        the second time these bytes are read (the first leaves an empty marker): a CI
        runner that keeps no cache, or a lock that changes at every run, never pays
        for writing an entry nobody reads. The entries of its other versions go."""
        try:
            urls = (e.output_url for e in entries.values() if e.output_url is not None)
            if any(credential_like(url) for url in urls):
                return  # a lock written by hand can hold a presigned URL: not copied
            path = self.entry_path(sha256)
            marker = path.with_suffix(_SEEN)
            seen = self._folder.read(marker)
            if seen is None:
                if self._folder.write(marker, _SEEN_ONCE):
                    self._folder.forget(self._versions(), keep=marker)
                return
            if seen[0] != _SEEN_ONCE:
                return  # its entry could not be written (too large): not tried again
            head = {
                "format": _FORMAT,
                "stamp": code_stamp(),
                "sha256": sha256,
                "path": self._lock_path,
            }
            marker.unlink()  # first: the limit counts the entry, not both
            if self._folder.write(path, _pieces(head, list(entries.values()))):
                self._folder.forget(self._versions(), keep=path)
            else:
                self._folder.write(marker, _NOT_KEPT)
        except Exception:  # a full disk, a read-only home, ...: the next read parses again
            return


def _hex(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:32]


def _pieces(head: dict[str, Any], entries: list[LockEntry]) -> Iterator[bytes]:
    """The entry: its head, then its rows, a batch a line, as compact JSON. Read back a
    line at a time, a batch's lists are the only ones alive at once (all 50,000 were
    ~12 MB of the command's peak), and written so, neither the whole text nor its
    encoding is ever held."""
    yield _encode({**head, "count": len(entries)}).encode() + b"\n"
    for start in range(0, len(entries), _BATCH):
        rows = [_row(e) for e in entries[start : start + _BATCH]]
        yield _encode(rows).encode() + b"\n"


def _row(e: LockEntry) -> list[Any]:
    a = e.artifact
    return [
        e.job_id,
        e.fingerprint,
        e.model,
        e.status,
        e.idempotency_key,
        e.seed,
        e.request_id,
        e.output_url,
        e.error,
        e.execution_time_ms,
        None if a is None else [a.path, a.sha256, a.bytes, a.store_key],
        [[name, v.etag, v.last_modified, v.bytes, v.sha256] for name, v in e.inputs],
    ]


class _NotOurs(Exception):
    """An entry this code would not have written."""


def _decode(rows: Any, check: LockCheck, models: dict[str, str], out: dict[str, LockEntry]) -> None:
    """Add a batch of rows to ``out`` (``models`` shares equal model names); raises on
    a row this code would not write."""
    if type(rows) is not list:
        raise _NotOurs
    job_id_ok = check.job_id
    artifact_ok = check.artifact_names
    for job_id, fp, model, status, key, seed, request_id, url, error, ms, art, inputs in rows:
        if not job_id_ok(job_id):
            raise _NotOurs
        artifact = None
        if art is not None:
            path, sha, size, store_key = art
            if not artifact_ok(path, store_key):
                raise _NotOurs
            artifact = new_artifact(path, sha, size, store_key)
        values = (
            fp,
            models.setdefault(model, model),
            _STATUS[status],
            key,
            seed,
            request_id,
            url,
            error,
            ms,
            artifact,
            _inputs(inputs) if inputs else (),
        )
        out[job_id] = new_entry(job_id, values)


def _inputs(rows: list[list[Any]]) -> Inputs:
    return tuple(
        (name, InputVersion(etag, last_modified, size, sha256))
        for name, etag, last_modified, size, sha256 in rows
    )
