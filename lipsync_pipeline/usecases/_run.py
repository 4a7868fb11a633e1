"""``run``: plan under the run lock, start the studio for ``--local``, open the client
and execute; the lock is compacted whatever happens."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import structlog
import trio

from lipsync_pipeline._digests import DigestCache
from lipsync_pipeline._gc import settled
from lipsync_pipeline.budget import SpendLedger, spend_cap
from lipsync_pipeline.errors import (
    ConfigError,
    Problem,
    StorageError,
    UnsafePathError,
    unwrap_group,
)
from lipsync_pipeline.lockfile import InputVersion, LockJournal, LockSnapshot, RunLock
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import Plan, plan
from lipsync_pipeline.run import Api, InputResolver, ProgressSink, RunReport, execute
from lipsync_pipeline.settings import Remote, remote_from_env
from lipsync_pipeline.usecases._check import Checked, examine_inputs
from lipsync_pipeline.usecases._guards import CANNOT_WRITE, refuse_links, unlocked_noop
from lipsync_pipeline.usecases._local import local_options, start_local_studio
from lipsync_pipeline.usecases._outputs import check_artifacts, remove_partial_downloads
from lipsync_pipeline.usecases._request import RunRequest, check_run
from lipsync_pipeline.usecases._shard import seed_shard_lock, shard_lock
from lipsync_pipeline.usecases._spend import bill_report, estimate_within, ledger, priced
from lipsync_pipeline.usecases._store import open_store, upload_inputs, verify_stored

if TYPE_CHECKING:
    from lipsync_pipeline.store import TrioObjectStore
    from lipsync_pipeline.usecases._store import StoreSession

__all__ = ["DEFAULT_CONCURRENCY", "MAX_CONNECTIONS", "resolve_remote", "run_pipeline"]

_log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY: Final = 4
# Per pool (API calls, downloads). httpcore's pool costs CPU quadratic in its
# connections (pitfalls.md), and jobs wait between polls far longer than they hold
# a connection: 4 served 100 jobs in flight at 1 poll/s each with CPU to spare.
MAX_CONNECTIONS: Final = 4


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


async def run_pipeline(
    request: RunRequest, progress: ProgressSink | None = None, *, checked: Checked | None = None
) -> RunReport:
    """Run a manifest to completion (or interruption). Raises LipsyncError subclasses.

    ``checked``: ``check_run(request)``, if the caller made it already (the CLI does,
    before it imports what only a run that gets this far needs)."""
    if request.local:
        request = dataclasses.replace(request, options=local_options(request.options))
    if checked is None:
        checked = check_run(request)
    manifest = checked.manifest
    remote = None if request.local else resolve_remote(request, manifest)
    store = open_store(manifest)  # settings only; the network is asked under the lock
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
    run_lock = RunLock(lock_path)
    try:
        run_lock.acquire()
    except OSError as exc:
        # Not with --verify: the unlocked path plans from the lock alone, and would say
        # "up to date" without asking the store; better the honest "cannot write".
        if exc.errno in CANNOT_WRITE and not request.verify:
            report = await unlocked_noop(
                checked,
                only=request.only,
                replace=request.replace,
                local=request.local,
                options=request.options,
                concurrency=concurrency,
                shard=request.shard,
                progress=progress,
            )
            if report is not None:
                return report
        raise StorageError(f"{run_lock.path}: {exc.strerror or exc}") from exc
    try:
        remove_partial_downloads(manifest)
        journal = LockJournal.open(lock_path)
        try:
            # Planned again under the run lock: another run may have finished meanwhile.
            current = LockSnapshot(lock_path, journal.entries)
            with settled():  # kept for the whole run: out of the collector's way (_gc)
                digests = DigestCache.load(manifest.output_dir)
                artifacts = check_artifacts(manifest, current, digests)
            _remember(digests)
            if request.verify and store is not None:
                artifacts = await verify_stored(store, manifest, current, artifacts)
            with settled():
                the_plan = plan(
                    manifest,
                    current,
                    artifacts=artifacts,
                    only=request.only,
                    replace=request.replace,
                    local=request.local,
                    resend_unknown=request.options.resend_unknown,
                    shard=request.shard,
                    # What the origins said before the lock was taken: asked once per run.
                    changed=checked.inputs.changed,
                )
            # Again on the plan the run will carry out, before its first submission.
            estimate = priced(the_plan, first, checked.remote)
            report = await _execute(
                _Run(request, manifest, journal, the_plan, remote, concurrency, store),
                progress,
                ledger(cap, estimate),
                checked.inputs.versions,
            )
            report.warnings = the_plan.warnings
            await bill_report(report, the_plan, estimate, cap, lock_path.parent)
            if store is not None:
                report.store_requests = dict(store.store.requests)
        finally:
            journal.compact()
            journal.close()
    except OSError as exc:
        # The lock's directory is missing, read-only or full: no traceback, and the
        # lock as it was (every step before this was journalled and fsynced).
        raise StorageError(f"{lock_path}: {exc.strerror or exc}") from exc
    finally:
        run_lock.release()
    return report


def _remember(digests: DigestCache) -> None:
    """Keep what the check hashed, so the next one need not read those files again.
    Only an optimisation: a directory that refuses the write costs a re-hash, not
    the run."""
    try:
        digests.save()
    except (OSError, StorageError, UnsafePathError) as exc:
        _log.debug("digests not remembered", path=str(digests.path), error=str(exc))


@dataclass(frozen=True, slots=True)
class _Run:
    """What ``_execute`` works with, settled under the run lock."""

    request: RunRequest
    manifest: Manifest
    journal: LockJournal
    plan: Plan
    remote: Remote | None  # None: --local
    concurrency: int
    store: TrioObjectStore | None


async def _execute(
    run: _Run,
    progress: ProgressSink | None,
    spend: SpendLedger | None,
    versions: Mapping[str, InputVersion],
) -> RunReport:
    options, manifest, remote = run.request.options, run.manifest, run.remote
    if not any(step.action.touches_api for step in run.plan.steps):
        # Up to date: no studio, no client, no request (to the API or the store).
        return await execute(
            run.plan,
            manifest,
            run.journal,
            None,
            concurrency=run.concurrency,
            options=options,
            progress=progress,
        )
    # Only now: an up-to-date run never loads the HTTP stack (httpx: ~0.1 s).
    from lipsync_pipeline.api import ApiClient

    report = RunReport()
    try:
        async with trio.open_nursery() as nursery:
            run_scope = trio.CancelScope()

            async def watch_signals() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        report.interrupted = True
                        _log.warning("interrupted: recording what is in flight")
                        run_scope.cancel()
                        return

            nursery.start_soon(watch_signals)
            with run_scope:
                # Before the studio, the client and the first record: fail before paying.
                kept = None if run.store is None else await _prepare_store(run)
                resolver: InputResolver | None = None if kept is None else kept.inputs
                steps = run.plan
                if remote is None:
                    studio = await start_local_studio(nursery, manifest)
                    remote, manifest = studio.remote, studio.manifest
                    resolver = studio.resolve_inputs
                    steps = studio.local_plan(run.plan)
                connections = min(run.concurrency, MAX_CONNECTIONS)
                async with ApiClient(
                    remote.base_url,
                    remote.api_key,
                    max_connections=connections,
                    # Resending a POST whose outcome is unknown: only with the say-so.
                    idempotent_posts=options.resend_unknown,
                ) as client:
                    api: Api = client if kept is None else kept.wrap(client)
                    await execute(
                        steps,
                        manifest,
                        run.journal,
                        api,
                        concurrency=run.concurrency,
                        options=options,
                        resolve_inputs=resolver,
                        progress=progress,
                        report=report,
                        keep_render=None if kept is None else kept.keeper,
                        spend=spend,
                        input_versions=versions,
                    )
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
    return report


async def _prepare_store(run: _Run) -> StoreSession:
    """Preflight, then the inputs of the jobs to submit (not with --local: the studio
    serves them from disk). Raises StoreConfigError / StoreError before any record."""
    from lipsync_pipeline.usecases._store import StoreSession

    assert run.store is not None
    await run.store.preflight()
    keys = {} if run.remote is None else await upload_inputs(run.store, run.manifest, run.plan)
    return StoreSession.start(run.store, keys)
