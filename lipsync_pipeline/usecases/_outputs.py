"""The rendered files on disk: are they what the lock says, and what did a dead run leave?"""

from __future__ import annotations

import contextlib
import os

from lipsync_pipeline._fs import file_digest
from lipsync_pipeline._staging import PARTIAL_DOWNLOAD
from lipsync_pipeline.lockfile import LockSnapshot, artifact_relpath
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import ArtifactState

__all__ = ["check_artifacts", "remove_partial_downloads"]


def check_artifacts(manifest: Manifest, lock: LockSnapshot) -> dict[str, ArtifactState]:
    """Compare each completed job's output with its recorded size and digest.

    Only the file where the manifest puts it now is read, never a path taken from
    the lock: a changed output_dir means 'fetch it there', and a hostile lockfile
    cannot make us read elsewhere."""
    found: dict[str, ArtifactState] = {}
    for job in manifest.jobs:
        entry = lock.entries.get(job.id)
        if entry is None or entry.status != "completed" or entry.artifact is None:
            continue
        path = manifest.output_path(job.id)
        if entry.artifact.path != artifact_relpath(path, lock.path):
            found[job.id] = ArtifactState.MOVED
            continue
        try:
            size = path.stat().st_size
        except OSError:
            found[job.id] = ArtifactState.MISSING
            continue
        # A size mismatch settles it without reading the file.
        digest = file_digest(path) if size == entry.artifact.bytes else None
        ok = digest is not None and digest[0] == entry.artifact.sha256
        found[job.id] = ArtifactState.OK if ok else ArtifactState.CORRUPT
    return found


def remove_partial_downloads(manifest: Manifest) -> None:
    """Delete temp files of downloads that a dead run left for this manifest's outputs.

    Called under the run lock, so none of them belongs to a live download of ours;
    files of other names (another manifest's outputs, the user's) are left alone.
    """
    ours = {manifest.output_path(job.id).name for job in manifest.jobs}
    try:
        names = os.listdir(manifest.output_dir)
    except OSError:
        return  # no directory yet; an unusable one is reported by the download itself
    for name in names:
        found = PARTIAL_DOWNLOAD.fullmatch(name)
        if found and found["output"] in ours:
            with contextlib.suppress(FileNotFoundError):
                (manifest.output_dir / name).unlink()
