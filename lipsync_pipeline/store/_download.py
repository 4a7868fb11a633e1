"""Copy an object to a local file beside its destination, verifying its digest.

The bytes go to a temp file beside ``dest`` (the same ``.<name>.<hex>.part`` names
as API downloads, so a killed run's leftovers are swept the same way), hashed as
they stream; only a file whose sha256 matches becomes ``dest``.

Symlinks: the temp file is opened with ``O_CREAT | O_EXCL | O_NOFOLLOW``, so a link
planted at its (random) name makes the open fail instead of writing through it. A
``dest`` that is itself a symlink is refused: the rename would replace the link, not
write through it, but a link there is someone's deliberate setup (a shared cache, a
file outside the output directory) that we should not silently undo.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Final

import obstore

from lipsync_pipeline._fs import cannot_write
from lipsync_pipeline._staging import StagedFile, staging_path
from lipsync_pipeline.errors import StorageError, StoreIntegrityError

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = ["stage_object"]

_CHUNK: Final = 1024 * 1024
_OPEN_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_MODE: Final = 0o644


def stage_object(
    handle: ObjectStore, key: str, dest: Path, sha256: str, *, store: str
) -> StagedFile:
    """Stream ``key`` into a temp file beside ``dest`` and check its sha256 (blocking).

    obstore errors propagate for the caller to translate; a digest mismatch raises
    StoreIntegrityError; local write failures raise StorageError."""
    _refuse_symlink(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(dest.parent, exc) from exc
    tmp = staging_path(dest)
    try:
        fd = os.open(tmp, _OPEN_FLAGS, _FILE_MODE)
    except OSError as exc:
        raise cannot_write(dest, exc) from exc
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            result = obstore.get(handle, key)
            for chunk in result.stream(min_chunk_size=_CHUNK):
                data = memoryview(chunk)
                digest.update(data)
                size += len(data)
                try:
                    out.write(data)
                except OSError as exc:
                    raise cannot_write(dest, exc) from exc
    except BaseException:
        _remove(tmp)
        raise
    got = digest.hexdigest()
    if got != sha256:
        _remove(tmp)
        raise StoreIntegrityError(
            f"store {store}: {key} has sha256 {got}, not {sha256}: the stored object is corrupt"
            " or was replaced"
        )
    return StagedFile(tmp=tmp, dest=dest, sha256=got, size=size)


def _refuse_symlink(dest: Path) -> None:
    try:
        mode = os.lstat(dest).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise cannot_write(dest, exc) from exc
    if stat.S_ISLNK(mode):
        raise StorageError(f"refusing to write {dest}: it is a symbolic link")


def _remove(path: Path) -> None:
    # A temp file we cannot remove is left for the sweep of partial downloads; the
    # error that brought us here is the one to report.
    with contextlib.suppress(OSError):
        path.unlink()
