"""The use cases behind the commands: ``check``, ``run_pipeline`` and ``refresh``.

This is where a command's pieces meet: load and validate the manifest, load
the lock, look at the artifacts on disk, plan, and (for ``run``) hold the run
lock, start the reference studio for ``--local``, open the client and execute.
The CLI only parses flags and formats what comes back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import structlog
import trio

from lipsync_pipeline.client import ApiClient, JobStatus
from lipsync_pipeline.errors import ConfigError, Problem, unwrap_group
from lipsync_pipeline.lock import (
    Lock,
    LockStore,
    RunLock,
    default_lock_path,
    file_digest,
    load_lock,
)
from lipsync_pipeline.manifest import Job, Manifest, load_manifest
from lipsync_pipeline.plan import ArtifactState, Plan, plan
from lipsync_pipeline.runner import ProgressSink, RunOptions, RunReport, execute

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "Checked",
    "RunRequest",
    "check",
    "refresh",
    "run_pipeline",
]

_log = structlog.get_logger(__name__)

API_KEY_ENV: Final = "LIPSYNC_API_KEY"
BASE_URL_ENV: Final = "LIPSYNC_BASE_URL"
DEFAULT_BASE_URL: Final = "https://lipsync.studio/api/v1"
DEFAULT_CONCURRENCY: Final = 4
# Loopback connections are cheap, but httpcore slows down as its pool grows
# (pitfalls.md): jobs wait between polls far longer than they hold a connection.
_MAX_CONNECTIONS: Final = 10
# The in-process studio is free to ask: poll it often so the demo is snappy.
LOCAL_POLL_INTERVAL: Final = 0.5
# The local studio accepts any key of the documented form; this one is ours.
_LOCAL_KEY: Final = "sk_local_pipeline"
_KEY_SHAPE: Final = re.compile(r"sk_[A-Za-z0-9]+_[A-Za-z0-9]+")
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
# ApiClient.download writes ".<output name>.<12 hex>.part" and renames it when complete;
# a run killed mid-download (kill -9, power loss) leaves that file behind.
_PARTIAL_DOWNLOAD: Final = re.compile(r"\.(?P<output>.+)\.[0-9a-f]{12}\.part")


@dataclass(frozen=True, slots=True)
class Checked:
    """A validated manifest, its lock and the plan: what ``plan`` and ``status`` show."""

    manifest: Manifest
    lock: Lock
    plan: Plan
    artifacts: Mapping[str, ArtifactState]


@dataclass(frozen=True, slots=True)
class RunRequest:
    manifest_path: Path
    lock_path: Path | None = None
    local: bool = False
    base_url: str | None = None
    api_key: str | None = None
    concurrency: int | None = None
    options: RunOptions = field(default_factory=RunOptions)
    only: Collection[str] = ()
    replace: Collection[str] = ()


def check(
    manifest_path: Path,
    lock_path: Path | None = None,
    *,
    only: Collection[str] = (),
    replace: Collection[str] = (),
) -> Checked:
    """Load, validate and plan, with no network and no write. Raises InputError."""
    manifest = load_manifest(manifest_path)
    _check_selection(manifest, only, "--only")
    _check_selection(manifest, replace, "--replace")
    lock = load_lock(lock_path or default_lock_path(manifest.path))
    artifacts = _check_artifacts(lock)
    return Checked(
        manifest,
        lock,
        plan(manifest, lock, artifacts=artifacts, only=only, replace=replace),
        artifacts,
    )


def _check_selection(manifest: Manifest, ids: Collection[str], flag: str) -> None:
    known = {job.id for job in manifest.jobs}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise ConfigError(
            f"{flag}: no job {', '.join(map(repr, unknown))} in {manifest.display_name} "
            f"(jobs: {', '.join(sorted(known)[:10])}{', ...' if len(known) > 10 else ''})"
        )


def _check_artifacts(lock: Lock) -> dict[str, ArtifactState]:
    """Compare each completed job's file with its recorded digest."""
    found: dict[str, ArtifactState] = {}
    base = lock.path.parent
    for job_id, entry in lock.entries.items():
        if entry.status != "completed" or entry.artifact is None:
            continue
        path = base / entry.artifact.path
        try:
            size = path.stat().st_size
        except OSError:
            found[job_id] = ArtifactState.MISSING
            continue
        # A size mismatch settles it without reading the file.
        digest = file_digest(path) if size == entry.artifact.bytes else None
        ok = digest is not None and digest[0] == entry.artifact.sha256
        found[job_id] = ArtifactState.OK if ok else ArtifactState.CORRUPT
    return found


def resolve_remote(request: RunRequest, manifest: Manifest) -> tuple[str, str]:
    """The base URL and key for a remote API, or a ConfigError before any work."""
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
    base_url = (request.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {base_url!r} is not an http(s) URL")
    key = request.api_key if request.api_key is not None else os.environ.get(API_KEY_ENV)
    if not key:
        raise ConfigError(
            f"no API key: set {API_KEY_ENV}=sk_<id>_<secret> (from your lipsync.studio "
            "API settings), or use --local to render on the built-in reference studio"
        )
    if not _KEY_SHAPE.fullmatch(key):
        # Say what is wrong without repeating the secret.
        raise ConfigError(f"{API_KEY_ENV} does not look like sk_<id>_<secret>")
    return base_url, key


def _local_resolver(manifest: Manifest, root_url: str) -> Any:
    base = manifest.path.parent

    def resolve(job: Job) -> Mapping[str, Any]:
        form = dict(job.form_state)
        for name, path in job.local_inputs.items():
            relative = path.relative_to(base).as_posix()
            form[name] = f"{root_url}/assets/{quote(relative)}"
        return form

    return resolve


def _local_webhooks_only(manifest: Manifest) -> Manifest:
    """On the local studio, a webhook to a real host would leave the machine."""
    jobs = []
    for job in manifest.jobs:
        host = urlsplit(job.webhook).hostname if job.webhook else None
        if job.webhook and host not in _LOOPBACK:
            _log.warning("not sending a non-loopback webhook from --local", job=job.id)
            job = dataclasses.replace(job, webhook=None)
        jobs.append(job)
    return dataclasses.replace(manifest, jobs=tuple(jobs))


async def run_pipeline(request: RunRequest, progress: ProgressSink | None = None) -> RunReport:
    """Run a manifest to completion (or interruption). Raises LipsyncError subclasses."""
    checked = check(
        request.manifest_path, request.lock_path, only=request.only, replace=request.replace
    )
    manifest = checked.manifest
    remote = None if request.local else resolve_remote(request, manifest)
    concurrency = request.concurrency or manifest.concurrency or DEFAULT_CONCURRENCY
    with RunLock(checked.lock.path):
        _remove_partial_downloads(manifest)
        store = LockStore.open(checked.lock.path)
        try:
            # Planned again under the run lock: another run may have finished meanwhile.
            current = Lock(checked.lock.path, store.entries)
            the_plan = plan(
                manifest,
                current,
                artifacts=_check_artifacts(current),
                only=request.only,
                replace=request.replace,
            )
            report = await _execute(
                request, manifest, store, the_plan, remote, concurrency, progress
            )
        finally:
            store.compact()
            store.close()
    return report


def _remove_partial_downloads(manifest: Manifest) -> None:
    """Delete temp files of downloads that a dead run left for this manifest's outputs.

    Called under the run lock, so none of them belongs to a live download of ours;
    files of other names (another manifest's outputs, the user's) are left alone.
    """
    ours = {f"{job.id}.mp4" for job in manifest.jobs}  # the runner's output names
    try:
        names = os.listdir(manifest.output_dir)
    except OSError:
        return  # no directory yet; an unusable one is reported by the download itself
    for name in names:
        found = _PARTIAL_DOWNLOAD.fullmatch(name)
        if found and found["output"] in ours:
            with contextlib.suppress(FileNotFoundError):
                (manifest.output_dir / name).unlink()


async def _execute(
    request: RunRequest,
    manifest: Manifest,
    store: LockStore,
    the_plan: Plan,
    remote: tuple[str, str] | None,
    concurrency: int,
    progress: ProgressSink | None,
) -> RunReport:
    options = request.options
    if not any(step.action.touches_api for step in the_plan.steps):
        # Up to date: no studio, no client, no request.
        return await execute(
            the_plan,
            manifest,
            store,
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
                resolver = None
                if remote is None:
                    # Imported here: the studio pulls in PyAV and starlette, which a
                    # remote run never needs.
                    from lipsync_pipeline.studio import StudioConfig, serve_studio

                    config = StudioConfig(assets_dir=manifest.path.parent)
                    root = await nursery.start(serve_studio, config)
                    remote = (f"{root}/api/v1", _LOCAL_KEY)
                    manifest = _local_webhooks_only(manifest)
                    resolver = _local_resolver(manifest, root)
                    options = dataclasses.replace(options, resubmit_unknown=True)
                base_url, key = remote
                connections = min(concurrency, _MAX_CONNECTIONS)
                async with ApiClient(base_url, key, max_connections=connections) as client:
                    await execute(
                        the_plan,
                        manifest,
                        store,
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


async def refresh(checked: Checked, request: RunRequest) -> dict[str, JobStatus]:
    """Ask the API about every unfinished job of the lock (read-only)."""
    base_url, key = resolve_remote(request, checked.manifest)
    unfinished = {
        job_id: entry.request_id
        for job_id, entry in checked.lock.entries.items()
        if entry.status == "processing" and entry.request_id
    }
    found: dict[str, JobStatus] = {}
    async with ApiClient(base_url, key, max_connections=_MAX_CONNECTIONS) as client:
        for job_id, request_id in sorted(unfinished.items()):
            found[job_id] = await client.get_job(request_id)
    return found
