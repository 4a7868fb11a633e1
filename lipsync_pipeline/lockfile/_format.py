"""The lockfile format: entries as deterministic JSON, checked against a schema, and
read back (with a pending journal folded in) with every problem located.

Writing it durably during a run is ``_journal``'s job (and ``_runlock``'s, so two
runs never interleave); the values are in ``_entries``, the file names in ``_paths``.

Three files live beside the manifest:

- ``renders.lock``: the committed lockfile, deterministic JSON (see :func:`render_lock`).
- ``renders.lock.journal``: JSON lines appended during a run, one line per
  :meth:`LockJournal.record` call (group commit, one fsync). Rewriting a 10,000-job
  lockfile for every event would make each event O(n); the journal keeps it O(batch)
  and :meth:`LockJournal.compact` folds it in once.
- ``renders.lock.run``: the run lock (:class:`RunLock`), so two runs never interleave.

Every way a lockfile or journal can be wrong ends in a :class:`LockfileError` whose
problems are located as ``file:line:col`` (never a traceback).
"""

from __future__ import annotations

import hashlib
import json
import os
import pkgutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast
from urllib.parse import urlsplit, urlunsplit

from lipsync_pipeline._digests import RACY_NS
from lipsync_pipeline._ecma import strict_validator
from lipsync_pipeline._fs import Identity, stat_identity
from lipsync_pipeline._gc import paused_gc
from lipsync_pipeline.errors import LockfileError, Problem
from lipsync_pipeline.lockfile._cache import LockCache
from lipsync_pipeline.lockfile._entries import (
    LOCK_VERSION,
    LockEntry,
    LockSnapshot,
)
from lipsync_pipeline.lockfile._inputs import inputs_json
from lipsync_pipeline.lockfile._jsonloc import JsonDoc
from lipsync_pipeline.lockfile._onepass import entries_in_one_pass, packed
from lipsync_pipeline.lockfile._paths import journal_path
from lipsync_pipeline.lockfile._quickcheck import LockCheck

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "CONFLICTS_KEY",
    "SUPERSEDED_KEY",
    "entry_json",
    "load_lock",
    "locate",
    "lock_schema",
    "read_bytes",
    "read_lock",
    "render_lock",
]

# Top-level keys ``lock merge`` adds when a human must decide (see ``_merge``).
CONFLICTS_KEY: Final = "conflicts"
SUPERSEDED_KEY: Final = "superseded"


@cache
def lock_schema() -> Mapping[str, Any]:
    # pkgutil, not importlib.resources: the same package data for ~15 ms less start-up
    # (importlib.resources loads zipfile, tempfile and shutil).
    data = pkgutil.get_data("lipsync_pipeline", "schemas/lock.schema.json")
    assert data is not None  # a regular package's loader reads files
    return cast(dict[str, Any], json.loads(data))


@cache
def _validator(definition: str | None) -> jsonschema.protocols.Validator:
    schema = dict(lock_schema())
    if definition is not None:
        # A sub-schema that keeps the shared $defs, so "#/$defs/..." references still resolve.
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    # ECMA's `$` (end of string), not Python's (also before a final newline).
    return strict_validator(schema)


# --- rendering ---------------------------------------------------------------------------


def entry_json(entry: LockEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "fingerprint": entry.fingerprint,
        "model": entry.model,
        "status": entry.status,
        "idempotency_key": entry.idempotency_key,
        "seed": entry.seed,
        "request_id": entry.request_id,
        # Without its query: a provider's presigned output link is a credential, and a
        # later download asks the API for a fresh URL anyway.
        "output_url": _without_query(entry.output_url),
        "error": entry.error,
        "execution_time_ms": entry.execution_time_ms,
    }
    if entry.artifact is not None:
        data["artifact"] = entry.artifact.as_json()
    if entry.inputs:
        data["inputs"] = inputs_json(entry.inputs)
    # Unknown values are omitted rather than written as null: smaller, quieter diffs.
    return {k: data[k] for k in sorted(data) if data[k] is not None}


def _without_query(url: str | None) -> str | None:
    if url is None or ("?" not in url and "#" not in url):
        return url
    return urlunsplit(urlsplit(url)._replace(query="", fragment=""))


def render_lock(entries: Iterable[LockEntry]) -> bytes:
    """The lockfile's bytes: a pure function of the entries' values, whatever their order.

    ``"version"`` first (so a reader sees it before anything else), then jobs sorted by
    id with sorted keys, 2-space indent, UTF-8, trailing newline, no timestamps.
    """
    by_id = {e.job_id: e for e in entries}
    jobs = {job_id: entry_json(by_id[job_id]) for job_id in sorted(by_id)}
    doc = {"version": LOCK_VERSION, "jobs": jobs}
    out: list[str] = []
    _indented(doc, "", out)
    out.append("\n")
    return "".join(out).encode()


_scalar: Final = json.JSONEncoder(ensure_ascii=False).encode


def _indented(value: Any, pad: str, out: list[str]) -> None:
    """Exactly ``json.dumps(value, indent=2, ensure_ascii=False)``, several times faster:
    with ``indent`` the stdlib falls back to its pure-Python encoder, and a 10,000-job
    lock is written at the end of every run that changed anything."""
    if not isinstance(value, dict) or not value:
        out.append(_scalar(value))
        return
    inner = pad + "  "
    out.append("{")
    first = True
    for key, item in value.items():
        out.append(("\n" if first else ",\n") + inner + _scalar(key) + ": ")
        first = False
        _indented(item, inner, out)
    out.append("\n" + pad + "}")


# --- parsing -----------------------------------------------------------------------------

# What the schema's regular expressions mean, said instead of the expressions themselves.
_PATTERN_HINTS: Final = {
    "fingerprint": "expected 'sha256:' and 64 lowercase hex digits",
    "sha256": "expected 64 lowercase hex digits",
    "path": "expected a relative POSIX path (from the lockfile's directory)",
    # A key of "jobs": the only property names the schema constrains by pattern.
    "propertyNames": "not a job id: expected a letter or digit, then letters, digits, "
    "'.', '_' or '-', as in the manifest",
}


@cache
def _quick_check() -> LockCheck:
    return LockCheck(lock_schema(), LOCK_VERSION)


def _entries_from_json(jobs: Mapping[str, Any]) -> dict[str, LockEntry]:
    """Entries from data the schema already accepted."""
    models: dict[str, str] = {}
    return {job_id: LockEntry(job_id, *packed(data, models)) for job_id, data in jobs.items()}


def _decode(file: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # tolerate a BOM added by an editor
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = "not a lockfile: not UTF-8 text (binary garbage?)"
        raise LockfileError([Problem(file, line, col, "", message)]) from None


# The last lockfile parsed, for the next read of the same file. ``run`` reads the lock to
# plan, then again under its run lock (another run may have ended in between); at
# 10,000 jobs a parse costs ~0.2 s, and reading, hashing and decoding the bytes again
# only to compare them ~40 ms (0.17 s and ~45 MB of peak at 50,000). So the second
# read asks ``fstat`` first, as git asks of its index: writing a file updates its
# ctime, nothing a user runs can set a ctime back, and a file replaced by a rename is
# another inode; the same (device, inode, size, mtime, ctime) is the same bytes,
# unless a write landed in the same clock tick as the one the stat shows ("racily
# clean"). A lock written within ``RACY_SECONDS`` of its first read (by this
# machine's clock) is compared by the sha256 of its bytes instead.
# Used once, then dropped: a long run must not keep its starting entries alive.
_last_parsed: _Parsed | None = None
# The clock a lock's timestamps are compared with (a test moves it on).
_now_ns: Callable[[], int] = time.time_ns


@dataclass(frozen=True, slots=True)
class _Parsed:
    file: str
    identity: Identity  # what fstat said just before the read
    settled: bool  # last written RACY_SECONDS before the read: the identity vouches
    digest: str | None  # sha256 of the bytes, when the identity may not vouch for them
    entries: dict[str, LockEntry]  # the caller's copy; handed over, never shared


def _parse_lock(path: Path, keep: bool = True) -> dict[str, LockEntry]:
    global _last_parsed
    file = str(path)
    last, _last_parsed = _last_parsed, None
    if last is not None and last.file != file:
        last = None
    f = _open(path)
    if f is None:
        return {}
    with f:
        # Opened, then asked: over NFS an open revalidates what a bare stat may cache.
        st = os.fstat(f.fileno())
        if last is not None and last.settled and last.identity == stat_identity(st):
            return last.entries
        data = _read_all(path, f)
        settled = max(st.st_mtime_ns, st.st_ctime_ns) + RACY_NS < _now_ns()
        # A big lock's entries, parsed before (``keep``: a lock that is read again later).
        kept = LockCache.open(path, len(data)) if keep else None
        digest = None
        if not settled or kept is not None or (last is not None and last.digest is not None):
            digest = hashlib.sha256(data).hexdigest()
            if last is not None and last.digest == digest:
                return last.entries
        if kept is not None and digest is not None and kept.find(digest):
            # The bytes are not held while kept entries are built (~30 MB of the peak
            # at 50,000 entries).
            del data
            with paused_gc():
                entries = kept.take(_quick_check())
            if entries is not None:
                _last_parsed = _Parsed(file, stat_identity(st), settled, digest, dict(entries))
                return entries
            data = _read_again(path, f)  # an entry this code would not write: no help
            again = hashlib.sha256(data).hexdigest()
            if again != digest:  # written in place meanwhile: parsed, trusted by nothing
                settled, digest = False, again
    # The bytes are let go before anything parses the text: at 50,000 entries they are
    # ~30 MB of the command's peak.
    text = _decode(file, data)
    del data
    with paused_gc():
        entries, plain = _parse_lock_text(file, text)
    # Kept only as the quick check accepted it: a lock that needed jsonschema's word is
    # unusual, and jsonschema's version is not in the entry's key.
    if kept is not None and digest is not None and plain:
        kept.save(digest, entries)
    _last_parsed = _Parsed(file, stat_identity(st), settled, digest, dict(entries))
    return entries


def _parse_lock_text(file: str, text: str) -> tuple[dict[str, LockEntry], bool]:
    """(the entries, whether the quick check accepted them in one pass)."""
    entries = entries_in_one_pass(text, _quick_check())
    # None: something is wrong (or unusual); read it again, slowly, to say what and where.
    return (entries, True) if entries is not None else (_slow_entries(file, text), False)


def _slow_entries(file: str, text: str) -> dict[str, LockEntry]:
    """The entries of a lockfile's text, or a LockfileError locating every problem."""
    doc = JsonDoc(file, text, hints=_PATTERN_HINTS)
    value = doc.parse(what="the lockfile")
    if doc.problems:
        raise LockfileError(doc.problems)
    if isinstance(value, dict) and CONFLICTS_KEY in value:
        # Said plainly rather than as the schema's "additional property": a run must
        # never build on a merge nobody finished.
        undecided = value[CONFLICTS_KEY]
        count = len(undecided) if isinstance(undecided, dict) else 0
        doc.problem(
            doc.at((CONFLICTS_KEY,)),
            CONFLICTS_KEY,
            f"an unfinished `lock merge`: {count} job(s) need a human; for each, copy the "
            f'right candidate into "jobs", then delete "{CONFLICTS_KEY}" and "{SUPERSEDED_KEY}"',
        )
        raise LockfileError(doc.problems)
    if not (_quick_check().lock_head(value) and _all_valid(value["jobs"])):
        version = value.get("version") if isinstance(value, dict) else None
        if type(version) is int and version > LOCK_VERSION:
            doc.problem(
                doc.at(("version",)),
                "version",
                f"written by a newer lipsync-pipeline: lock version {version}, "
                f"this one reads {LOCK_VERSION}",
            )
            raise LockfileError(doc.problems)
        if not doc.validate(value, _validator(None)):
            raise LockfileError(doc.problems)
    return _entries_from_json(value["jobs"])


def _all_valid(jobs: Mapping[str, Any]) -> bool:
    check = _quick_check()
    return all(check.job_id(k) and check.entry(e) for k, e in jobs.items())


def _replay(file: str, data: bytes, entries: dict[str, LockEntry]) -> None:
    """Apply journal lines to ``entries``.

    A crash mid-append leaves a torn final line: it was never acknowledged (its fsync did
    not return), so it is dropped. A bad line with good lines after it was acknowledged
    once and then damaged: that is corruption, and an error.
    """
    text = _decode(file, data)
    # split("\n"), not splitlines(): U+2028 and friends may stand unescaped inside a line.
    lines = text.split("\n")
    lines.pop()  # "" after a clean final newline; otherwise an unterminated, torn line
    for n, line in enumerate(lines, start=1):
        doc = JsonDoc(file, line, first_line=n, hints=_PATTERN_HINTS)
        value = doc.parse(what="the line") if line.strip() else None
        if not line.strip() or doc.problems:
            if n == len(lines):
                break  # terminated but garbled (e.g. zero-filled by the crash): still torn
            if not doc.problems:
                doc.problem(0, "", "empty line in the journal")
            raise LockfileError(doc.problems[:1])
        if not _quick_check().record(value) and not doc.validate(
            value, _validator("journalRecord")
        ):
            raise LockfileError(doc.problems)
        record = cast(dict[str, Any], value)
        entries.update(_entries_from_json(record.get("put", {})))
        for job_id in record.get("drop", []):
            entries.pop(job_id, None)


def read_bytes(path: Path) -> bytes | None:
    f = _open(path)
    if f is None:
        return None
    with f:
        return _read_all(path, f)


def _open(path: Path) -> BinaryIO | None:
    """``path`` opened for reading, or None if there is no such file."""
    try:
        return open(path, "rb")  # the caller closes it
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _read_again(path: Path, f: BinaryIO) -> bytes:
    try:
        f.seek(0)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    return _read_all(path, f)


def _read_all(path: Path, f: BinaryIO) -> bytes:
    try:
        return f.read()
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: OSError) -> LockfileError:
    message = "is a directory" if isinstance(exc, IsADirectoryError) else None
    return LockfileError([Problem(str(path), None, None, "", message or exc.strerror or str(exc))])


def read_lock(path: Path, *, keep: bool = True) -> tuple[dict[str, LockEntry], bool]:
    """(entries with the journal folded in, whether a journal exists). ``keep=False``
    for a lock read once (a merge's sides, a CI shard's lock): the lock cache neither
    answers nor keeps it."""
    entries = _parse_lock(path, keep)
    jpath = journal_path(path)
    jdata = read_bytes(jpath)
    if jdata is not None:
        _replay(str(jpath), jdata, entries)
    return entries, jdata is not None


def load_lock(path: Path, *, keep: bool = True) -> LockSnapshot:
    """Read the lockfile (missing: empty) and fold a pending journal in memory (no
    writes; ``keep``: as for ``read_lock``)."""
    entries, _ = read_lock(path, keep=keep)
    return LockSnapshot(path, MappingProxyType(entries))


def locate(path: Path, where: tuple[str | int, ...]) -> tuple[int | None, int | None]:
    """(line, column) of a value in a lockfile, for messages; (None, None) if it is
    not in the file (e.g. still only in the journal) or the file cannot be read."""
    try:
        doc = JsonDoc(str(path), path.read_text(encoding="utf-8"))
        doc.index  # noqa: B018 - the walk may fail on a file that is not JSON
    except (OSError, UnicodeDecodeError, ValueError):
        return None, None
    found = where
    while found and found not in doc.index.values:
        found = found[:-1]
    if found != where:
        return None, None
    return doc.position(doc.index.values[where])
