"""Everything ``run`` decides before it takes the run lock: where it sends, which lock it
writes, what it may spend, and the refusals that must come before any write or payment.

Synchronous and light (no trio, no structlog, no HTTP stack): an up-to-date run
(``_uptodate``) needs nothing more, and a refused one fails at the cost of a ``plan``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from lipsync_pipeline.budget import SpendCap, spend_cap
from lipsync_pipeline.errors import ConfigError, Problem
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.settings import Remote, remote_from_env
from lipsync_pipeline.usecases._check import Checked, examine_inputs
from lipsync_pipeline.usecases._guards import refuse_links
from lipsync_pipeline.usecases._local import local_options
from lipsync_pipeline.usecases._request import RunRequest
from lipsync_pipeline.usecases._shard import seed_shard_lock, shard_lock

if TYPE_CHECKING:
    from lipsync_pipeline.estimate import Estimate
    from lipsync_pipeline.store import TrioObjectStore

__all__ = ["DEFAULT_CONCURRENCY", "Admitted", "admit_run", "resolve_remote"]

DEFAULT_CONCURRENCY: Final = 4


@dataclass(frozen=True, slots=True)
class Admitted:
    """A run that passed every check that needs no lock: what it works with."""

    request: RunRequest  # with --local's options applied
    checked: Checked  # the input check's findings in, if one was asked for
    remote: Remote | None  # None: --local
    store: TrioObjectStore | None  # opened, no network yet
    concurrency: int
    lock_path: Path  # the shard's own lock for --shard
    cap: SpendCap | None
    first: Estimate  # of ``checked.plan``, within the cap


def resolve_remote(request: RunRequest, manifest: Manifest) -> Remote:
    """The hosted API's base URL and key, or a ConfigError before any work.

    Local inputs need ``--local`` or a store (they are uploaded and the API gets URLs)."""
    local_inputs = [
        Problem(
            manifest.display_name,
            *job.marks.get(name, (job.line, job.column)),
            f"{job.where}.{name}",
            "a local path works only with --local (the reference studio) or with a store: "
            "(object storage the API can fetch from); the hosted API downloads inputs "
            "itself, so give an https:// URL or configure a store",
        )
        for job in manifest.jobs
        if manifest.store is None
        for name in sorted(job.local_inputs)
    ]
    if local_inputs:
        raise ConfigError("\n".join(map(str, local_inputs)))
    return remote_from_env(request.base_url, request.api_key)


def admit_run(request: RunRequest, checked: Checked) -> Admitted:
    """Check a run before its lock: the key, the store's settings, the spend cap, links
    where it would write, then (the first network) the input check. Raises the
    LipsyncError that refuses it; writes nothing but a new shard's lock, last."""
    from lipsync_pipeline.usecases._spend import estimate_within

    if request.local:
        request = dataclasses.replace(request, options=local_options(request.options))
    manifest = checked.manifest
    remote = None if request.local else resolve_remote(request, manifest)
    store = None
    if manifest.store is not None:  # settings only; the network is asked under the lock
        from lipsync_pipeline.usecases._store import open_store

        store = open_store(manifest)
    concurrency = request.concurrency or manifest.concurrency or DEFAULT_CONCURRENCY
    lock_path = checked.lock.path
    if request.shard is not None:
        # check() planned from the shard's lock, or the main one its first run seeds it
        # from: the shard writes its own (created below, once nothing can refuse the run).
        lock_path = shard_lock(manifest, request.shard, request.lock_path)
    cap = spend_cap(manifest, request.max_credits, allow_unknown=request.allow_unknown_cost)
    # Before anything is written or paid: a link committed where we write is refused
    # now, not after the renders it would have recorded.
    refuse_links(manifest, lock_path)
    if request.inputs is not None:
        # After every check that needs no network: a missing key fails before this.
        checked = examine_inputs(checked, request.inputs)
    # Estimated once, after the input check (it prices URL inputs, ``checked.remote``);
    # refused here, a run over its cap takes no lock and writes nothing.
    first = estimate_within(checked.plan, cap, checked.remote)
    if request.shard is not None:
        seed_shard_lock(manifest, request.shard, lock_path)
    return Admitted(request, checked, remote, store, concurrency, lock_path, cap, first)
