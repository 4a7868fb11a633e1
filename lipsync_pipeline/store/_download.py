"""Copy an object to a local file beside its destination, verifying its digest.

The bytes go to a temp file beside ``dest`` (the same ``.<name>.<hex>.part`` names
as API downloads, so a killed run's leftovers are swept the same way), hashed as
they stream; only a file whose sha256 matches becomes ``dest``.

Symlinks: the temp file is opened with ``O_CREAT | O_EXCL | O_NOFOLLOW``, so a link
planted at its (random) name makes the open fail instead of writing through it. A
``dest`` that is itself a symlink is refused (``UnsafePathError``, exit 2): the rename
would replace the link, not write through it, but a link there is someone's deliberate
setup (a shared cache, a file outside the output directory) or a trap, and neither
should be silently undone. The checks are ``_fs``'s, shared with every other writer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

import obstore

from lipsync_pipeline._fs import cannot_write, create_exclusive, refuse_symlink
from lipsync_pipeline._staging import StagedFile, staging_path
from lipsync_pipeline.errors import StoreIntegrityError

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = ["stage_object"]

_CHUNK: Final = 1024 * 1024


def stage_object(
    handle: ObjectStore, key: str, dest: Path, sha256: str, *, store: str
) -> StagedFile:
    """Stream ``key`` into a temp file beside ``dest`` and check its sha256 (blocking).

    obstore errors propagate for the caller to translate; a digest mismatch raises
    StoreIntegrityError; local write failures raise StorageError."""
    refuse_symlink(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(dest.parent, exc) from exc
    tmp = staging_path(dest)
    try:
        fd = create_exclusive(tmp)
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


def _remove(path: Path) -> None:
    # A temp file we cannot remove is left for the sweep of partial downloads; the
    # error that brought us here is the one to report.
    with contextlib.suppress(OSError):
        path.unlink()
