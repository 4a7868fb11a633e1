"""``run``: plan under the run lock, start the studio for ``--local``, open the client
and execute; the lock is compacted whatever happens."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import structlog
import trio

from lipsync_pipeline.budget import SpendLedger
from lipsync_pipeline.errors import StorageError, unwrap_group
from lipsync_pipeline.lockfile import InputVersion, LockJournal, LockSnapshot, RunLock
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import Plan
from lipsync_pipeline.run import Api, InputResolver, ProgressSink, RunReport, execute
from lipsync_pipeline.settings import Remote
from lipsync_pipeline.usecases._admit import Admitted, admit_run
from lipsync_pipeline.usecases._check import Checked
from lipsync_pipeline.usecases._guards import CANNOT_WRITE
from lipsync_pipeline.usecases._local import start_local_studio
from lipsync_pipeline.usecases._request import RunRequest, check_run
from lipsync_pipeline.usecases._spend import bill_report, ledger, priced
from lipsync_pipeline.usecases._store import upload_inputs, verify_stored
from lipsync_pipeline.usecases._uptodate import (
    open_journal,
    outputs_now,
    replan,
    unlocked_noop,
)

if TYPE_CHECKING:
    from lipsync_pipeline.store import TrioObjectStore
    from lipsync_pipeline.usecases._store import StoreSession

__all__ = ["MAX_CONNECTIONS", "run_pipeline"]

_log = structlog.get_logger(__name__)

# Per pool (API calls, downloads). httpcore's pool costs CPU quadratic in its
# connections (pitfalls.md), and jobs wait between polls far longer than they hold
# a connection: 4 served 100 jobs in flight at 1 poll/s each with CPU to spare.
MAX_CONNECTIONS: Final = 4


async def run_pipeline(
    request: RunRequest,
    progress: ProgressSink | None = None,
    *,
    checked: Checked | None = None,
    admitted: Admitted | None = None,
) -> RunReport:
    """Run a manifest to completion (or interruption). Raises LipsyncError subclasses.

    ``checked``: ``check_run(request)``, if the caller made it already (the CLI does,
    before it imports what only a run that gets this far needs); ``admitted``:
    ``admit_run(request, checked)``, likewise (then ``request`` is its own)."""
    if admitted is None:
        admitted = admit_run(request, checked if checked is not None else check_run(request))
    request, checked, remote, store = (
        admitted.request,
        admitted.checked,
        admitted.remote,
        admitted.store,
    )
    manifest, concurrency, lock_path = checked.manifest, admitted.concurrency, admitted.lock_path
    cap, first = admitted.cap, admitted.first
    run_lock = RunLock(lock_path)
    try:
        run_lock.acquire()
    except OSError as exc:
        # Not with --verify: the unlocked path plans from the lock alone, and would say
        # "up to date" without asking the store; better the honest "cannot write".
        if exc.errno in CANNOT_WRITE and not request.verify:
            report = unlocked_noop(admitted, progress)
            if report is not None:
                return report
        raise StorageError(f"{run_lock.path}: {exc.strerror or exc}") from exc
    with open_journal(manifest, lock_path, run_lock) as journal:
        current = LockSnapshot(lock_path, journal.entries)
        artifacts = outputs_now(manifest, current)
        if request.verify and store is not None:
            artifacts = await verify_stored(store, manifest, current, artifacts)
        the_plan = replan(admitted, current, artifacts)
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
    return report


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
