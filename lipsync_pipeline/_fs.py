"""File-system primitives every writer shares: durable renames, atomic rewrites, digests,
and opening files without following symbolic links.

Nothing here knows what a lock or a render is; the lock journal, the download
staging and the lock writer build on these so that "durable" means one thing.

Symlinks: in a GitOps setup CI runs whatever a pull request commits, and git stores
symlinks. A committed ``renders.lock.run -> ~/.bashrc`` would make a run overwrite
that file, a dangling ``renders.lock.journal -> /elsewhere/x`` create one outside
the checkout. So every file the runner creates or appends to is opened with
``O_NOFOLLOW`` (:func:`open_nofollow`), and a rename onto a destination that is a
link is refused (:func:`refuse_symlink`) rather than silently replacing it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from lipsync_pipeline.errors import StorageError, UnsafePathError

__all__ = [
    "TMP_SUFFIX",
    "atomic_write",
    "cannot_write",
    "create_exclusive",
    "file_digest",
    "fsync_directory",
    "open_nofollow",
    "read_capped",
    "refuse_symlink",
    "stat_identity",
    "within",
]

TMP_SUFFIX: Final = ".tmp"
_DIGEST_CHUNK: Final = 1 << 20
# 0o666 and the umask: the usual 0644 that git expects, not mkstemp's 0600.
_FILE_MODE: Final = 0o666


def refuse_symlink(path: Path) -> None:
    """Raise UnsafePathError if ``path`` itself (not its directory) is a symbolic link.

    For a rename onto ``path``: ``os.replace`` would replace the link, not write
    through it, but a link there is either a trap or someone's deliberate setup, and
    neither should be silently undone. A missing ``path`` is fine."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    if stat.S_ISLNK(mode):
        raise UnsafePathError(path)


def open_nofollow(path: Path, flags: int, mode: int = _FILE_MODE) -> int:
    """``os.open`` that refuses (UnsafePathError) when ``path``'s last component is a
    symbolic link, dangling or not, instead of writing through it. Other OSErrors
    propagate for the caller to word."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        # ELOOP is what O_NOFOLLOW answers for a link; EEXIST with O_EXCL may be one too.
        if exc.errno in (errno.ELOOP, errno.EEXIST) and os.path.islink(path):
            raise UnsafePathError(path) from None
        raise


def read_capped(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file at ``path`` and its stat, for files we keep beside
    the user's (caches): never through a symbolic link (UnsafePathError), and ValueError
    for anything else a pull request could put there (a FIFO, a device, more than
    ``limit`` bytes), so a committed ``-> /dev/zero`` cannot make a check read forever.
    Other OSErrors (missing, unreadable) propagate."""
    fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes")
    return data, info


def create_exclusive(path: Path) -> int:
    """A new file for writing that did not exist before (temp files): never a link."""
    return open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (the entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int] | None:
    """(sha256 hex, size) of an existing regular file, or None when it is missing."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_DIGEST_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return h.hexdigest(), size


Identity = tuple[int, int, int, int, int]


def stat_identity(st: os.stat_result) -> Identity:
    """What ``stat`` says changes with a file's bytes: size, mtime, ctime, inode and
    device (git's rule: a write updates mtime and ctime, nothing a user runs sets ctime
    back, a file replaced by a rename is another inode)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def atomic_write(
    path: Path, data: bytes | Iterable[bytes], *, mode: int = _FILE_MODE, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` so that any crash leaves the old or the new bytes.
    ``data``: the bytes, or their pieces in order (a big file never held whole; an
    exception while making them leaves ``path`` as it was).
    ``mode`` (before the umask): 0o600 for a file private to the user (a cache).
    ``durable=False``: no fsync of file and folder, for a cache whose entry lost to a
    power cut is only read as missing (syncing megabytes costs)."""
    # Checked before the temp file exists, so a refusal leaves nothing behind.
    refuse_symlink(path)
    # A random name via O_EXCL (not mkstemp) so the umask gives the usual 0644, as git expects.
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{TMP_SUFFIX}")
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                for piece in data:
                    f.write(piece)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        refuse_symlink(path)  # again: the data took time, the directory may have changed
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_directory(path.parent)


def cannot_write(path: Path, exc: OSError) -> StorageError:
    """The error for a file that could not be written (disk full, read-only, ...)."""
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")


def within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it. Both absolute and normalized; this
    compares text, so resolve symbolic links first wherever a link could lead out."""
    return os.path.commonpath([path, root]) == root
