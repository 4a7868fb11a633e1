"""The sha256 of files hashed before, trusted while ``stat`` says they are untouched.

Every ``plan``, ``status`` and ``run`` checks each completed job's render against the
digest the lock records. Reading them all is the cost of a rerun: 10,000 renders of
~0.5 MB are 5 GB to hash for a run that then does nothing. So a run remembers, in
``.lipsync-digests.json`` in the output directory, the digest of each file it hashed
with what ``stat`` said of it then (size, mtime, ctime, inode, device); a later check
takes the remembered digest while all five are unchanged, and hashes otherwise.

Why that is sound (git decides "unchanged" the same way, from its index):

- writing a file's bytes updates its mtime and ctime, and nothing a user runs can set
  ctime back (``touch -d`` sets mtime; ctime becomes now); a file replaced by a rename
  is another inode. So changed bytes show in the stat, except for
- a write in the same clock tick as the stat that was remembered ("racily clean").
  An entry is trusted only if the file's ctime is older than the digests file's own
  mtime by :data:`RACY_SECONDS`, both read from the file system's clock (no skew
  with ours), so a file touched around the time it was hashed is hashed again.
- the remembered digest must still equal the lock's: a new render is always hashed.

What it cannot see is what no stat can: a disk returning other bytes (bit rot), or
a tool writing through the block device. ``plan``, ``status`` and an up-to-date
``run`` on a read-only checkout read the file but never write it; ``run`` writes it
under its run lock, never through a symbolic link, once its check has read at least
:data:`REMEMBER_BYTES` or :data:`REMEMBER_FILES` files (a small project keeps no such
file); a failure to write is not an error (the next check hashes again). Deleting it
only costs one full hash.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._fs import atomic_write, file_digest, read_capped, stat_identity
from lipsync_pipeline._gc import paused_gc
from lipsync_pipeline.errors import UnsafePathError

__all__ = [
    "DIGESTS_FILE",
    "RACY_NS",
    "RACY_SECONDS",
    "REMEMBER_BYTES",
    "REMEMBER_FILES",
    "DigestCache",
]

DIGESTS_FILE: Final = ".lipsync-digests.json"
# Remembered only once a check has read this much: below it, hashing again costs less
# than a file in the output directory is worth (~30 ms), and a small project's output
# directory keeps only its renders.
REMEMBER_BYTES: Final = 32 * 1024 * 1024
# Or once it has hashed this many files, however small: opening and reading one costs
# ~25 us, a remembered one ~10 us: hashing 2,000 small renders again costs ~30 ms too.
REMEMBER_FILES: Final = 2_000
# Larger than any file system's timestamp granularity (FAT's is 2 s).
RACY_SECONDS: Final = 3
RACY_NS: Final = RACY_SECONDS * 1_000_000_000
_VERSION: Final = 1
# ~100 bytes an entry: room for a million renders; a bigger file is not ours.
_MAX_FILE_BYTES: Final = 128 << 20

# (size, mtime_ns, ctime_ns, inode, device, sha256), packed: one 105-byte object an
# entry rather than a tuple of five ints and a hex string (~0.4 kB; 20 MB at 50,000).
_PACKED: Final = struct.Struct("<QqqQQ32s")
_SIGNATURE: Final = struct.Struct("<QqqQQ")  # an entry's first bytes: its stat
_Entry = bytes


class DigestCache:
    """Remembered digests of the files in one directory, by file name."""

    def __init__(self, directory: Path, entries: dict[str, _Entry], written_ns: int) -> None:
        self.path = directory / DIGESTS_FILE
        self._entries = entries
        self._written_ns = written_ns
        self._changed = False
        self.hashed_bytes = 0  # read by this check: what remembering them saves next time
        self.hashed_files = 0

    @classmethod
    def load(cls, directory: Path) -> DigestCache:
        """The digests remembered in ``directory`` (none if the file is missing, not
        ours, unreadable, a link or too large: then every file is hashed)."""
        try:
            raw, info = read_capped(directory / DIGESTS_FILE, _MAX_FILE_BYTES)
            # ~8 objects an entry, none of them garbage: with a 50,000-job manifest and
            # lock alive, the collector's passes over them cost twice the parse.
            with paused_gc():
                entries = _entries(json.loads(raw))
        except (OSError, ValueError, UnsafePathError):  # a link or a device: not ours
            return cls(directory, {}, 0)
        return cls(directory, entries, info.st_mtime_ns)

    def holds(self, name: str, st: os.stat_result, sha256: str) -> bool:
        """Whether the file ``name`` (in this directory), whose ``os.stat`` the caller
        just took, is remembered with that stat and digest ``sha256``, and trusted: then
        its digest is ``sha256`` without reading it. False decides nothing (ask
        ``sha256``). The common case of a rerun, so it compares packed bytes rather
        than unpacking the entry (~0.8 us less a render)."""
        known = self._entries.get(name)
        if known is None or st.st_ctime_ns + RACY_NS >= self._written_ns:
            return False
        try:
            signature = _SIGNATURE.pack(
                st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev
            )
        except struct.error:  # a stat no entry can hold (a time past 2262)
            return False
        return known.startswith(signature) and known[_SIGNATURE.size :].hex() == sha256

    def sha256(self, path: str, st: os.stat_result) -> str | None:
        """The sha256 hex of the file at ``path`` (in this directory), whose ``os.stat``
        the caller just took, or None if it is gone or not a regular file; hashed
        unless its remembered stat still holds."""
        signature = stat_identity(st)
        name = os.path.basename(path)
        known = self._entries.get(name)
        if known is not None and signature[2] + RACY_NS < self._written_ns:
            *remembered, digest = _PACKED.unpack(known)
            if tuple(remembered) == signature:
                return str(digest.hex())
        found = file_digest(path)
        if found is None:
            return None
        self.hashed_bytes += found[1]
        self.hashed_files += 1
        try:
            after = stat_identity(os.stat(path))
        except OSError:
            return found[0]
        if after == signature:  # not changing while it was read: worth remembering
            packed = _pack(*signature, found[0])
            if packed is not None:
                self._entries[name] = packed
                self._changed = True
        return found[0]

    def save(self, min_bytes: int = REMEMBER_BYTES, min_files: int = REMEMBER_FILES) -> None:
        """Write the file if this check hashed something new, ``min_bytes`` in all or
        ``min_files`` files. Raises OSError or UnsafePathError (a link in its place);
        callers ignore both: an unwritable directory only means hashing again next time."""
        little = self.hashed_bytes < min_bytes and self.hashed_files < min_files
        if not self._changed or little or not self.path.parent.is_dir():
            return
        files = {}
        for name, packed in sorted(self._entries.items()):
            *signature, digest = _PACKED.unpack(packed)
            files[name] = [*signature, digest.hex()]
        doc = {"version": _VERSION, "files": files}
        atomic_write(self.path, json.dumps(doc, separators=(",", ":")).encode())
        self._changed = False


def _entries(data: Any) -> dict[str, _Entry]:
    """Only well-formed entries: anything else is ignored (and so hashed again)."""
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    files = data.get("files")
    if not isinstance(files, dict):
        return {}
    out: dict[str, _Entry] = {}
    # One pass of plain comparisons: a file of 50,000 entries is read by every check,
    # and a generator per entry made this loop cost as much as the JSON parse.
    for name, value in files.items():
        if type(value) is not list or len(value) != 6:
            continue
        size, mtime, ctime, inode, device, sha = value
        if type(size) is type(mtime) is type(ctime) is type(inode) is type(device) is int and (
            type(sha) is str
        ):
            packed = _pack(size, mtime, ctime, inode, device, sha)
            if packed is not None:
                out[name] = packed
    return out


def _pack(size: int, mtime: int, ctime: int, inode: int, device: int, sha: str) -> bytes | None:
    """An entry packed; None for values no file has (out of range, not a digest)."""
    try:
        digest = bytes.fromhex(sha)
        if len(digest) != 32:
            return None
        return _PACKED.pack(size, mtime, ctime, inode, device, digest)
    except (ValueError, struct.error):
        return None
