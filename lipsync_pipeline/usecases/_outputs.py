"""The rendered files on disk: are they what the lock says, and what did a dead run leave?"""

from __future__ import annotations

import contextlib
import os

from lipsync_pipeline._fs import file_digest
from lipsync_pipeline._staging import PARTIAL_DOWNLOAD
from lipsync_pipeline.lockfile import Artifact, LockSnapshot, artifact_relpath
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import ArtifactState

__all__ = ["check_artifacts", "remove_partial_downloads"]


def check_artifacts(manifest: Manifest, lock: LockSnapshot) -> dict[str, ArtifactState]:
    """Compare each completed job's output with its recorded size and digest.

    Only the file where the manifest puts it now is read, never a path taken from
    the lock: a changed output_dir means 'fetch it there', and a hostile lockfile
    cannot make us read elsewhere.

    With a store (the manifest's, or ``--store``), a render the lock says the store
    keeps is STORED when there is no disk copy: the file on disk is then optional
    (``pull`` fetches it), and a fresh clone needs no API call. A disk copy that is
    there but altered, or an output_dir that changed, is still fetched again."""
    found: dict[str, ArtifactState] = {}
    stored = manifest.store is not None
    for job in manifest.jobs:
        entry = lock.entries.get(job.id)
        if entry is None or entry.status != "completed" or entry.artifact is None:
            continue
        state = _on_disk(manifest, lock, job.id, entry.artifact)
        if stored and state is ArtifactState.MISSING and entry.artifact.store_key is not None:
            state = ArtifactState.STORED
        found[job.id] = state
    return found


def _on_disk(
    manifest: Manifest, lock: LockSnapshot, job_id: str, artifact: Artifact
) -> ArtifactState:
    path = manifest.output_path(job_id)
    if artifact.path != artifact_relpath(path, lock.path):
        return ArtifactState.MOVED
    try:
        size = path.stat().st_size
    except OSError:
        return ArtifactState.MISSING
    # A size mismatch settles it without reading the file.
    digest = file_digest(path) if size == artifact.bytes else None
    ok = digest is not None and digest[0] == artifact.sha256
    return ArtifactState.OK if ok else ArtifactState.CORRUPT


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
