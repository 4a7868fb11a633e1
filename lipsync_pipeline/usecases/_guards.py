"""Before a run writes anything: refuse committed symbolic links where it would
write, and say which errors mean the lock's directory cannot be written (then an
up-to-date run goes ahead unlocked: ``_uptodate.unlocked_noop``)."""

from __future__ import annotations

import errno
import os
from collections.abc import Set
from pathlib import Path
from typing import Final

from lipsync_pipeline.errors import UnsafePathError
from lipsync_pipeline.lockfile import journal_path, run_lock_path
from lipsync_pipeline.manifest import Manifest

__all__ = ["CANNOT_WRITE", "refuse_links"]

# Errors of a lock directory that cannot take the run lock file: read-only checkouts
# (EROFS; EACCES/EPERM for a user without write permission) and full disks.
CANNOT_WRITE: Final = frozenset(
    {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
)


def refuse_links(manifest: Manifest, lock_path: Path) -> None:
    """UnsafePathError naming every file this run could write that is a symbolic link.

    The writers open each with O_NOFOLLOW anyway; this says it before any work, and
    all at once. (A linked output *directory* is the manifest reader's to refuse.)"""
    candidates = [
        os.fspath(p) for p in (lock_path, journal_path(lock_path), run_lock_path(lock_path))
    ]
    links = [Path(path) for path in candidates if os.path.islink(path)]
    folder = os.fspath(manifest.output_dir)
    linked = _links_in(folder)
    if linked is None or linked:
        names = [manifest.output_name(job.id) for job in manifest.jobs]
        if linked is None:  # cannot be listed (no read permission): ask name by name
            linked = {n for n in names if os.path.islink(os.path.join(folder, n))}
        links += [Path(folder, name) for name in names if name in linked]
    if links:
        raise UnsafePathError(
            links[0],
            "\n".join(f"refusing to write through a symbolic link: {path}" for path in links),
        )


def _links_in(folder: str) -> Set[str] | None:
    """Names of the symbolic links in ``folder`` (none if it does not exist yet), or
    None if it cannot be listed.

    One listing, not an lstat per job (10,000 of them: ~60 ms): the listing's file
    types say which entries are links (``is_symlink`` asks the file system only where
    the type is unknown)."""
    try:
        with os.scandir(folder) as entries:
            return frozenset(entry.name for entry in entries if entry.is_symlink())
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()  # nothing there yet (a file there: the manifest reader's)
    except OSError:
        return None
