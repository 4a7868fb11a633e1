"""A run's object store: opened, proven, filled with inputs, and checked.

Order matters, and is the issue's "fail before paying": the store is opened while
the manifest is read (bad settings: exit 2, nothing locked); the preflight and the
input uploads run under the run lock but before :func:`~lipsync_pipeline.run.execute`
records anything or submits a job (a refused write: exit 4, nothing recorded,
nothing billed). A run that needs no API call needs no preflight either: a
fresh clone whose renders are all in the store makes no request at all (with
``--verify``, one HEAD per render, and an upload of a render the store lost).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import trio

from lipsync_pipeline.lockfile import LockSnapshot
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import ArtifactState, Plan, as_recorded

if TYPE_CHECKING:
    from lipsync_pipeline.run import Api
    from lipsync_pipeline.run._storage import RenderKeeper, StoreApi, StoreInputs
    from lipsync_pipeline.store import TrioObjectStore

# lipsync_pipeline.store is imported only when a store is configured: obstore and its
# helpers add ~0.3 s to every command's start-up otherwise.

__all__ = ["StoreSession", "open_store", "upload_inputs", "verify_stored"]

_log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class StoreSession:
    """A proven store with this run's inputs in it: the walk's three seams."""

    inputs: StoreInputs
    keeper: RenderKeeper

    @classmethod
    def start(cls, store: TrioObjectStore, keys: Mapping[Path, str]) -> StoreSession:
        from lipsync_pipeline.run._storage import RenderKeeper, StoreInputs

        inputs = StoreInputs(store.store, keys)
        if keys:
            # A file:// store cannot hand the API a URL: say so now, not at the POST.
            inputs.probe(next(iter(keys.values())))
        return cls(inputs, RenderKeeper(store))

    def wrap(self, client: Api) -> StoreApi:
        from lipsync_pipeline.run._storage import StoreApi

        return StoreApi(client, self.inputs)


def open_store(manifest: Manifest) -> TrioObjectStore | None:
    """The manifest's store, opened (no network yet); raises StoreConfigError (exit 2)."""
    if manifest.store is None:
        return None
    from lipsync_pipeline.store import TrioObjectStore

    return TrioObjectStore.open(manifest.store)


async def upload_inputs(store: TrioObjectStore, manifest: Manifest, plan: Plan) -> dict[Path, str]:
    """Upload each distinct local input of the jobs this run submits, once; returns
    path -> key. Content-addressed: an object already there costs one HEAD."""
    paths = sorted(
        {
            path
            for step in plan.steps
            if step.action.submits and step.job is not None
            for path in step.job.local_inputs.values()
        }
    )
    keys: dict[Path, str] = {}

    async def upload(path: Path) -> None:
        keys[path] = await store.put_input(path)

    async with trio.open_nursery() as nursery:
        for path in paths:
            nursery.start_soon(upload, path)
    if paths:
        _log.info("inputs in the store", files=len(paths), store=store.config.url)
    return keys


async def verify_stored(
    store: TrioObjectStore,
    manifest: Manifest,
    lock: LockSnapshot,
    artifacts: Mapping[str, ArtifactState],
) -> dict[str, ArtifactState]:
    """``--verify``: ask the store about every render the lock says it keeps (one HEAD
    each: size and sha256 metadata) instead of trusting the lock.

    A stored render that is gone or differs while the disk copy is intact is uploaded
    again from disk; one that is on neither becomes MISSING, which the plan turns into
    a download from the API (and its ``--replace`` hint if the API forgot it too)."""
    from lipsync_pipeline.store import check_key

    found = dict(artifacts)
    limiter = trio.CapacityLimiter(16)

    async def one(job_id: str) -> None:
        entry = lock.entries[job_id]
        artifact = entry.artifact
        assert artifact is not None and artifact.store_key is not None
        async with limiter:
            stat = await store.stat(check_key(artifact.store_key))
        intact = (
            stat is not None
            and stat.size == artifact.bytes
            and stat.sha256 in (None, artifact.sha256)  # file:// keeps no metadata
        )
        if intact:
            return
        state = found.get(job_id, ArtifactState.OK)
        if state is ArtifactState.OK:
            _log.warning("render missing from the store: uploading it again", job=job_id)
            async with limiter:
                await store.put_render(job_id, manifest.output_path(job_id), artifact.sha256)
        else:
            _log.warning("render on neither disk nor store", job=job_id)
            found[job_id] = ArtifactState.MISSING

    async with trio.open_nursery() as nursery:
        for job in manifest.jobs:
            entry = lock.entries.get(job.id)
            if (
                entry is not None
                and entry.status == "completed"
                and entry.fingerprint == as_recorded(job, entry).fingerprint
                and entry.artifact is not None
                and entry.artifact.store_key is not None
            ):
                nursery.start_soon(one, job.id)
    return found
