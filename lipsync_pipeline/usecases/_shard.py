"""``--shard K/N``: which lock a shard reads and writes, and its first contents.

A shard writes its own lock (``renders.lock.shard-K-of-N`` beside the main one, or
``--lock``), so N CI jobs never write one file; ``lock fold`` gathers them. Its first
run seeds it with the main lock's entries for the shard's jobs: without them the
shard would submit again, and pay again, for jobs the main lock already holds (and,
for a job renamed by ``moved:``, the entry of its old id, which may hash elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

from lipsync_pipeline._fs import atomic_write, cannot_write
from lipsync_pipeline.lockfile import journal_path, load_lock, render_lock
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.shard import Shard
from lipsync_pipeline.usecases._check import lock_beside
from lipsync_pipeline.usecases._lockmerge import rebase_artifacts

__all__ = ["readable_shard_lock", "seed_shard_lock", "shard_lock"]


def shard_lock(manifest: Manifest | Path, shard: Shard, lock_path: Path | None) -> Path:
    """The lock a shard writes: ``--lock`` if given, else the main one's name + suffix."""
    if lock_path is not None:
        return lock_path
    main = lock_beside(manifest)
    return main.with_name(main.name + shard.suffix)


def _exists(path: Path) -> bool:
    return os.path.lexists(path) or os.path.lexists(journal_path(path))


def readable_shard_lock(manifest_path: Path, shard: Shard, lock_path: Path | None) -> Path:
    """For ``plan --shard`` (no write): the shard's lock once it exists, else the main
    lock, which is what its first run will be seeded from."""
    path = shard_lock(manifest_path, shard, lock_path)
    return path if _exists(path) else lock_beside(manifest_path)


def seed_shard_lock(manifest: Manifest, shard: Shard, path: Path) -> None:
    """Create the shard's lock ``path`` from the main lock's entries for its jobs if it
    does not exist yet (written atomically, never through a link). The old ids of the
    manifest's ``moved:`` carry to this shard's jobs (else they render anew). Called
    once the run can no longer be refused: bad input writes nothing."""
    main = lock_beside(manifest)
    if _exists(path) or os.path.abspath(path) == os.path.abspath(main):
        return
    moved = {m.from_id for m in manifest.moved if shard.holds(m.to_id)}
    entries = {k: e for k, e in load_lock(main).entries.items() if shard.holds(k) or k in moved}
    entries = dict(rebase_artifacts(entries, main.parent, path.parent))
    try:
        atomic_write(path, render_lock(entries.values()))
    except OSError as exc:
        raise cannot_write(path, exc) from exc
