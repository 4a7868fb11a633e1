"""A run's part of ``moved:``: lock entries carried to their new ids, output files renamed.

Before anything else a run does, for every step the plan carried from an old id
(``Step.moved_from``):

1. check every completed move's files, refusing before any change: a new output
   path that holds another file is never overwritten (a located ManifestError at
   the ``moved:`` entry, exit 2), and a symbolic link at either path is never moved;
2. rename each old output file to its new path (no write through a link: the new
   path is absent or already the render), then fsync the output directory once;
3. record every carried entry under its new id (one journal append, one fsync);
4. drop the old ids (one more).

A crash anywhere leaves a state the next run finishes with nothing lost: before
(2) nothing changed; between (2) and (3) the lock still names the old id and the
file is at the new path, which (1) recognises by its recorded digest and keeps;
between (3) and (4) both ids are in the lock, and the old one, no longer in the
manifest, is an ordinary removal. The object store is not touched: its key for
the render (``renders/<old id>/<sha256>.mp4``) is recorded in the entry and stays
valid (renders are never deleted from the store), so ``pull`` and ``--verify``
keep working; a later re-render of the new id is stored under the new id's key.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lipsync_pipeline._fs import cannot_write, file_digest, fsync_directory
from lipsync_pipeline.errors import ManifestError, Problem, UnsafePathError
from lipsync_pipeline.lockfile import Artifact, LockJournal, write_failure
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import Action, Step

__all__ = ["carry_moves"]


class _Found(enum.Enum):
    MISSING = "missing"
    LINK = "link"
    FILE = "file"
    OTHER = "other"  # a directory, a socket, ...


def _look(path: Path) -> _Found:
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return _Found.MISSING
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    if stat.S_ISLNK(mode):
        return _Found.LINK
    return _Found.FILE if stat.S_ISREG(mode) else _Found.OTHER


def _holds(path: Path, artifact: Artifact) -> bool:
    """Whether ``path`` holds exactly the recorded render (size first: cheap)."""
    try:
        if path.stat().st_size != artifact.bytes:
            return False
    except OSError:
        return False
    found = file_digest(path)
    return found is not None and found[0] == artifact.sha256


@dataclass(frozen=True, slots=True)
class _Rename:
    source: Path
    dest: Path


def carry_moves(steps: Sequence[Step], manifest: Manifest, journal: LockJournal) -> None:
    """Carry every moved step's entry (and a completed one's file) to its new id,
    durably, before the run records anything else. Raises ManifestError (a file in
    the way), UnsafePathError (a link) or StorageError (the disk), changing nothing
    when the refusal is found before the first rename."""
    carried = [s for s in steps if s.moved_from is not None and s.entry is not None]
    if not carried:
        return
    renames = _renames(carried, manifest)
    for rename in renames:
        try:
            os.rename(rename.source, rename.dest)
        except OSError as exc:
            raise cannot_write(rename.dest, exc) from exc
    if renames:
        try:
            fsync_directory(manifest.output_dir)
        except OSError as exc:
            raise cannot_write(manifest.output_dir, exc) from exc
    try:
        journal.record([s.entry for s in carried if s.entry is not None])
        journal.drop([s.moved_from for s in carried if s.moved_from is not None])
    except OSError as exc:
        raise write_failure(journal.path, exc) from exc


def _renames(carried: Sequence[Step], manifest: Manifest) -> list[_Rename]:
    """The renames the moves need, after checking all of them (nothing renamed yet)."""
    renames: list[_Rename] = []
    links: list[Path] = []
    problems: list[Problem] = []
    moves = {m.to_id: m for m in manifest.moved}
    for step in carried:
        artifact = None if step.entry is None else step.entry.artifact
        if step.action is not Action.MOVE or artifact is None or step.moved_from is None:
            continue  # nothing on disk yet: the entry alone is carried
        source = manifest.output_path(step.moved_from)
        dest = manifest.output_path(step.job_id)
        found_source, found_dest = _look(source), _look(dest)
        links += [p for p, f in ((source, found_source), (dest, found_dest)) if f is _Found.LINK]
        if found_dest is _Found.FILE and _holds(dest, artifact):
            continue  # renamed by a run that died before recording it, or by hand
        if found_dest is not _Found.MISSING and found_dest is not _Found.LINK:
            move = moves[step.job_id]
            problems.append(
                Problem(
                    manifest.display_name,
                    move.line,
                    move.column,
                    move.where,
                    f"{artifact.path} already exists and is not the render of "
                    f"{step.moved_from!r}: "
                    "moving it there would overwrite it; move that file away (or delete it) "
                    "and run again",
                )
            )
        elif found_source is _Found.FILE:
            renames.append(_Rename(source, dest))
    if links:
        raise UnsafePathError(
            links[0],
            "\n".join(f"refusing to move through a symbolic link: {path}" for path in links),
        )
    if problems:
        raise ManifestError(problems)
    return renames
