"""``pull``: copy renders from the store into ``output_dir``, each verified by sha256.

For people (and CI steps) who want the files on disk: a run with a store does not
need them (a fresh clone's rerun makes no API call and no download), so nothing
else writes them back. Only what the lock says the store keeps is pulled, to the
path the manifest gives now; a file already there with the recorded digest is left
alone. No API call, no lock change; the run lock is held so a run and a pull never
write the same file at once.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import trio

from lipsync_pipeline.errors import ConfigError, StoreIntegrityError, unwrap_group
from lipsync_pipeline.lockfile import LockEntry, RunLock, artifact_relpath
from lipsync_pipeline.plan import ArtifactState, as_recorded
from lipsync_pipeline.usecases._check import check
from lipsync_pipeline.usecases._store import open_store

__all__ = ["PullOutcome", "PullReport", "Pulled", "pull"]


class PullOutcome(enum.StrEnum):
    PULLED = "pulled"  # fetched from the store, digest verified, in place
    PRESENT = "present"  # already on disk with the recorded digest
    NOT_STORED = "not_stored"  # completed, but the lock names no store key
    MISSING = "missing"  # the store does not have it (or it is not the recorded bytes)
    PENDING = "pending"  # not completed (or changed since): nothing to pull yet

    @property
    def is_problem(self) -> bool:
        return self in (PullOutcome.MISSING, PullOutcome.NOT_STORED)


@dataclass(frozen=True, slots=True)
class Pulled:
    job_id: str
    outcome: PullOutcome
    path: str  # where the file is (or would be), relative to the lockfile's directory
    store_key: str | None = None
    bytes: int | None = None
    error: str = ""


@dataclass(slots=True)
class PullReport:
    manifest: str
    store: str
    results: list[Pulled] = field(default_factory=list)
    store_requests: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(r.outcome.is_problem for r in self.results)


async def pull(
    manifest_path: Path,
    lock_path: Path | None = None,
    *,
    only: Collection[str] = (),
    store: str | None = None,
) -> PullReport:
    """Fetch the stored renders of the selected jobs. Raises ConfigError without a
    store, StoreError when the store refuses us (a missing object is a result)."""
    checked = check(manifest_path, lock_path, only=only, store=store)
    manifest, lock = checked.manifest, checked.lock
    opened = open_store(manifest)
    if opened is None:
        raise ConfigError(
            f"{manifest.display_name}: pull needs a store: set store: in the manifest "
            "or pass --store URL"
        )
    report = PullReport(manifest.display_name, opened.config.url)
    selected = set(only)

    async def one(job_id: str, entry: LockEntry) -> None:
        artifact = entry.artifact
        assert artifact is not None and artifact.store_key is not None
        dest = manifest.output_path(job_id)
        shown = artifact_relpath(dest, lock.path)
        try:
            size = await opened.fetch(artifact.store_key, dest, artifact.sha256)
        except StoreIntegrityError as exc:
            report.results.append(
                Pulled(job_id, PullOutcome.MISSING, shown, artifact.store_key, error=str(exc))
            )
            return
        report.results.append(Pulled(job_id, PullOutcome.PULLED, shown, artifact.store_key, size))

    try:
        with RunLock(lock.path):
            async with trio.open_nursery() as nursery:
                for job in manifest.jobs:
                    if selected and job.id not in selected:
                        continue
                    entry = lock.entries.get(job.id)
                    path = artifact_relpath(manifest.output_path(job.id), lock.path)
                    artifact = None if entry is None else entry.artifact
                    if (
                        entry is None
                        or entry.status != "completed"
                        or entry.fingerprint != as_recorded(job, entry).fingerprint
                        or artifact is None
                    ):
                        report.results.append(Pulled(job.id, PullOutcome.PENDING, path))
                    elif checked.artifacts.get(job.id) is ArtifactState.OK:
                        report.results.append(
                            Pulled(
                                job.id,
                                PullOutcome.PRESENT,
                                path,
                                artifact.store_key,
                                artifact.bytes,
                            )
                        )
                    elif artifact.store_key is None:
                        report.results.append(
                            Pulled(
                                job.id,
                                PullOutcome.NOT_STORED,
                                path,
                                error="the lock names no store key (rendered before the "
                                "store was set up): `run` downloads it from the API",
                            )
                        )
                    else:
                        nursery.start_soon(one, job.id, entry)
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
    order = {job.id: index for index, job in enumerate(manifest.jobs)}
    report.results.sort(key=lambda r: order[r.job_id])
    report.store_requests = dict(opened.store.requests)
    return report
