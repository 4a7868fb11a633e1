"""``run``: plan under the run lock, start the studio for ``--local``, open the client
and execute; the lock is compacted whatever happens."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog
import trio

from lipsync_pipeline.api import ApiClient
from lipsync_pipeline.errors import ConfigError, Problem, StorageError, unwrap_group
from lipsync_pipeline.lockfile import LockJournal, LockSnapshot, RunLock
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import Plan, plan
from lipsync_pipeline.run import InputResolver, ProgressSink, RunOptions, RunReport, execute
from lipsync_pipeline.settings import Remote, remote_from_env
from lipsync_pipeline.usecases._check import check
from lipsync_pipeline.usecases._local import local_options, start_local_studio
from lipsync_pipeline.usecases._outputs import check_artifacts, remove_partial_downloads

__all__ = ["DEFAULT_CONCURRENCY", "MAX_CONNECTIONS", "RunRequest", "resolve_remote", "run_pipeline"]

_log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY: Final = 4
# Per pool (API calls, downloads). httpcore's pool costs CPU quadratic in its
# connections (pitfalls.md), and jobs wait between polls far longer than they hold
# a connection: 4 served 100 jobs in flight at 1 poll/s each with CPU to spare.
MAX_CONNECTIONS: Final = 4


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What ``run`` was asked to do. ``base_url``/``api_key`` None: from the environment."""

    manifest_path: Path
    lock_path: Path | None = None
    local: bool = False
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a repr or a log
    concurrency: int | None = None
    options: RunOptions = field(default_factory=RunOptions)
    only: Collection[str] = ()
    replace: Collection[str] = ()


def resolve_remote(request: RunRequest, manifest: Manifest) -> Remote:
    """The hosted API's base URL and key, or a ConfigError before any work."""
    local_inputs = [
        Problem(
            manifest.display_name,
            *job.marks.get(name, (job.line, job.column)),
            f"jobs[{index}].{name}",
            "a local path works only with --local (the reference studio); the hosted "
            "API downloads inputs itself, so give an https:// URL",
        )
        for index, job in enumerate(manifest.jobs)
        for name in sorted(job.local_inputs)
    ]
    if local_inputs:
        raise ConfigError("\n".join(map(str, local_inputs)))
    return remote_from_env(request.base_url, request.api_key)


async def run_pipeline(request: RunRequest, progress: ProgressSink | None = None) -> RunReport:
    """Run a manifest to completion (or interruption). Raises LipsyncError subclasses."""
    if request.local:
        request = dataclasses.replace(request, options=local_options(request.options))
    checked = check(
        request.manifest_path,
        request.lock_path,
        only=request.only,
        replace=request.replace,
        resend_unknown=request.options.resend_unknown,
        verify_artifacts=False,
    )
    manifest = checked.manifest
    remote = None if request.local else resolve_remote(request, manifest)
    concurrency = request.concurrency or manifest.concurrency or DEFAULT_CONCURRENCY
    lock_path = checked.lock.path
    try:
        with RunLock(lock_path):
            remove_partial_downloads(manifest)
            journal = LockJournal.open(lock_path)
            try:
                # Planned again under the run lock: another run may have finished meanwhile.
                current = LockSnapshot(lock_path, journal.entries)
                the_plan = plan(
                    manifest,
                    current,
                    artifacts=check_artifacts(manifest, current),
                    only=request.only,
                    replace=request.replace,
                    resend_unknown=request.options.resend_unknown,
                )
                report = await _execute(
                    request, manifest, journal, the_plan, remote, concurrency, progress
                )
            finally:
                journal.compact()
                journal.close()
    except OSError as exc:
        # The lock's directory is missing, read-only or full: no traceback, and the
        # lock as it was (every step before this was journalled and fsynced).
        raise StorageError(f"{lock_path}: {exc.strerror or exc}") from exc
    return report


async def _execute(
    request: RunRequest,
    manifest: Manifest,
    journal: LockJournal,
    the_plan: Plan,
    remote: Remote | None,
    concurrency: int,
    progress: ProgressSink | None,
) -> RunReport:
    options = request.options
    if not any(step.action.touches_api for step in the_plan.steps):
        # Up to date: no studio, no client, no request.
        return await execute(
            the_plan,
            manifest,
            journal,
            None,
            concurrency=concurrency,
            options=options,
            progress=progress,
        )
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
                resolver: InputResolver | None = None
                if remote is None:
                    studio = await start_local_studio(nursery, manifest)
                    remote, manifest = studio.remote, studio.manifest
                    resolver = studio.resolve_inputs
                connections = min(concurrency, MAX_CONNECTIONS)
                async with ApiClient(
                    remote.base_url,
                    remote.api_key,
                    max_connections=connections,
                    # Resending a POST whose outcome is unknown: only with the say-so.
                    idempotent_posts=options.resend_unknown,
                ) as client:
                    await execute(
                        the_plan,
                        manifest,
                        journal,
                        client,
                        concurrency=concurrency,
                        options=options,
                        resolve_inputs=resolver,
                        progress=progress,
                        report=report,
                    )
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
    return report
