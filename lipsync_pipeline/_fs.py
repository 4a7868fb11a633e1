"""File-system primitives every writer shares: durable renames, atomic rewrites, digests.

Nothing here knows what a lock or a render is; the lock journal, the download
staging and the lock writer build on these so that "durable" means one thing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Final

from lipsync_pipeline.errors import StorageError

__all__ = ["TMP_SUFFIX", "atomic_write", "cannot_write", "file_digest", "fsync_directory"]

TMP_SUFFIX: Final = ".tmp"
_DIGEST_CHUNK: Final = 1 << 20


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (the entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> tuple[str, int] | None:
    """(sha256 hex, size) of an existing regular file, or None when it is missing."""
    h = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(_DIGEST_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return h.hexdigest(), size


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that any crash leaves the old or the new bytes."""
    # A random name via O_EXCL (not mkstemp) so the umask gives the usual 0644, as git expects.
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(path.parent)


def cannot_write(path: Path, exc: OSError) -> StorageError:
    """The error for a file that could not be written (disk full, read-only, ...)."""
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")
