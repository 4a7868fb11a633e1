"""The rendered files on disk: are they what the lock says, and what did a dead run leave?"""

from __future__ import annotations

import contextlib
import os

from lipsync_pipeline._digests import DigestCache
from lipsync_pipeline._staging import PARTIAL_DOWNLOAD
from lipsync_pipeline.lockfile import LockSnapshot, artifact_relpath
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import ArtifactState

__all__ = ["check_artifacts", "remove_partial_downloads"]


def check_artifacts(
    manifest: Manifest, lock: LockSnapshot, digests: DigestCache | None = None
) -> dict[str, ArtifactState]:
    """Compare each completed job's output with its recorded size and digest.

    Only the file where the manifest puts it now is read, never a path taken from
    the lock: a changed output_dir means 'fetch it there', and a hostile lockfile
    cannot make us read elsewhere. A file whose stat is unchanged since a run hashed
    it is not read again (``_digests``: ``digests``, or those remembered in the
    output directory).

    With a store (the manifest's, or ``--store``), a render the lock says the store
    keeps is STORED when there is no disk copy: the file on disk is then optional
    (``pull`` fetches it), and a fresh clone needs no API call. A disk copy that is
    there but altered, or an output_dir that changed, is still fetched again."""
    found: dict[str, ArtifactState] = {}
    stored = manifest.store is not None
    if digests is None:
        digests = DigestCache.load(manifest.output_dir)
    # Where the lock records a render of this output_dir: computed once, not per job
    # (os.path.relpath costs ~20 us; a 50,000-job lock is a second of it).
    folder = artifact_relpath(manifest.output_dir, lock.path)
    prefix = "" if folder == "." else folder + "/"
    # The directory with its separator, joined once: a job id never starts with one
    # (the manifest's schema), so ``directory + name`` is os.path.join's path.
    directory = os.path.join(manifest.output_dir, "")
    entries = lock.entries
    for job in manifest.jobs:
        entry = entries.get(job.id)
        if entry is None or entry.status != "completed" or entry.artifact is None:
            continue
        artifact = entry.artifact
        name = manifest.output_name(job.id)
        if artifact.path != prefix + name:
            state = ArtifactState.MOVED
        else:
            state = _on_disk(digests, directory, name, artifact.sha256, artifact.bytes)
        if stored and state is ArtifactState.MISSING and artifact.store_key is not None:
            state = ArtifactState.STORED
        found[job.id] = state
    return found


def _on_disk(
    digests: DigestCache, directory: str, name: str, sha256: str, size: int
) -> ArtifactState:
    path = directory + name
    try:
        st = os.stat(path)
    except OSError:
        return ArtifactState.MISSING
    # A size mismatch settles it without reading the file; a remembered digest while
    # the stat holds, without building one.
    if st.st_size != size:
        return ArtifactState.CORRUPT
    if digests.holds(name, st, sha256) or digests.sha256(path, st) == sha256:
        return ArtifactState.OK
    return ArtifactState.CORRUPT


def remove_partial_downloads(manifest: Manifest) -> None:
    """Delete temp files of downloads that a dead run left for this manifest's outputs.

    Called under the run lock, so none of them belongs to a live download of ours;
    files of other names (another manifest's outputs, the user's) are left alone.
    """
    ours = {manifest.output_name(job.id) for job in manifest.jobs}
    try:
        names = os.listdir(manifest.output_dir)
    except OSError:
        return  # no directory yet; an unusable one is reported by the download itself
    for name in names:
        found = PARTIAL_DOWNLOAD.fullmatch(name)
        if found and found["output"] in ours:
            with contextlib.suppress(FileNotFoundError):
                (manifest.output_dir / name).unlink()
