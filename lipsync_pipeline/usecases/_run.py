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
import signal
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import structlog
import trio

from lipsync_pipeline._fs import file_digest
from lipsync_pipeline._net import is_loopback_host
from lipsync_pipeline.api import PARTIAL_DOWNLOAD, ApiClient, JobStatus
from lipsync_pipeline.errors import (
    KEY_PATTERN,
    ConfigError,
    LockfileError,
    Problem,
    RequestRejected,
    StorageError,
    format_where,
    unwrap_group,
)
from lipsync_pipeline.lockfile import (
    LockJournal,
    LockSnapshot,
    RunLock,
    artifact_relpath,
    default_lock_path,
    journal_path,
    load_lock,
    locate,
)
from lipsync_pipeline.manifest import Job, Manifest, load_manifest
from lipsync_pipeline.plan import ArtifactState, Plan, plan
from lipsync_pipeline.run import InputResolver, ProgressSink, RunOptions, RunReport, execute

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "LOCAL_POLL_INTERVAL",
    "Checked",
    "RunRequest",
    "check",
    "check_lock",
    "lock_beside",
    "refresh",
    "resolve_remote",
    "run_pipeline",
]

_log = structlog.get_logger(__name__)

API_KEY_ENV: Final = "LIPSYNC_API_KEY"
BASE_URL_ENV: Final = "LIPSYNC_BASE_URL"
DEFAULT_BASE_URL: Final = "https://lipsync.studio/api/v1"
DEFAULT_CONCURRENCY: Final = 4
# Per pool (API calls, downloads). httpcore's pool costs CPU quadratic in its
# connections (pitfalls.md), and jobs wait between polls far longer than they hold
# a connection: 4 served 100 jobs in flight at 1 poll/s each with CPU to spare.
_MAX_CONNECTIONS: Final = 4
# The in-process studio is free to ask: poll it often so the demo is snappy.
LOCAL_POLL_INTERVAL: Final = 0.5
# The local studio accepts any key of the documented form; this one is ours.
_LOCAL_KEY: Final = "sk_local_pipeline"


@dataclass(frozen=True, slots=True)
class Checked:
    """A validated manifest, its lock and the plan: what ``plan`` and ``status`` show."""

    manifest: Manifest
    lock: LockSnapshot
    plan: Plan
    artifacts: Mapping[str, ArtifactState]


@dataclass(frozen=True, slots=True)
class RunRequest:
    manifest_path: Path
    lock_path: Path | None = None
    local: bool = False
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a repr or a log
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
    verify_artifacts: bool = True,
) -> Checked:
    """Load, validate and plan, with no network and no write. Raises InputError.

    ``verify_artifacts=False`` skips hashing the outputs (``run`` verifies them
    once, under its run lock)."""
    manifest = load_manifest(manifest_path)
    _check_selection(manifest, only, "--only")
    _check_selection(manifest, replace, "--replace")
    if only and set(replace) - set(only):
        ignored = ", ".join(sorted(set(replace) - set(only)))
        raise ConfigError(f"--replace {ignored}: not selected by --only, so it would not run")
    lock = _consistent_lock(manifest, lock_path or lock_beside(manifest))
    artifacts = _check_artifacts(manifest, lock) if verify_artifacts else {}
    return Checked(
        manifest,
        lock,
        plan(manifest, lock, artifacts=artifacts, only=only, replace=replace),
        artifacts,
    )


def lock_beside(manifest: Manifest) -> Path:
    """The manifest's default lockfile, named as the user wrote the manifest's path, so
    messages say "renders.lock:3:5", not an absolute path (the process never changes
    directory). Normalised as the manifest's own path was: "link/../x.yaml" is the
    x.yaml beside link's parent by spelling, and so is its lock, wherever link points."""
    return default_lock_path(Path(os.path.normpath(manifest.display_name)))


def check_lock(manifest: Manifest, lock_path: Path | None = None) -> LockSnapshot | None:
    """What ``validate`` checks beyond the manifest: the lock (the default one beside it
    unless given), if it exists: its format, a pending journal, and its agreement with
    the manifest. Both files are committed, so a bad merge of either should fail before
    any run. None when there is no lock yet. Raises LockfileError; reads only."""
    path = lock_path or lock_beside(manifest)
    if not (path.exists() or journal_path(path).exists()):
        return None
    return _consistent_lock(manifest, path)


def _consistent_lock(manifest: Manifest, path: Path) -> LockSnapshot:
    """The lock at ``path`` (empty if missing), refused if it contradicts the manifest."""
    lock = load_lock(path)
    _check_consistency(manifest, lock)
    return lock


def _check_consistency(manifest: Manifest, lock: LockSnapshot) -> None:
    """An entry with the job's fingerprint must agree on what the fingerprint covers.

    No run writes a contradiction; a hand edit or a bad merge does, and trusting
    such an entry would skip or resume the wrong render."""
    problems = []
    for job in manifest.jobs:
        entry = lock.entries.get(job.id)
        if entry is None or entry.fingerprint != job.fingerprint:
            continue
        seed = job.form_state.get("seed")
        for field_name, recorded, expected in (
            ("model", entry.model, job.model),
            ("seed", entry.seed, seed if entry.seed is not None else None),
        ):
            if recorded != expected:
                where = ("jobs", job.id, field_name)
                problems.append(
                    Problem(
                        str(lock.path),
                        *locate(lock.path, where),
                        format_where(where),
                        f"{recorded!r} contradicts the manifest, which asks {expected!r} for job "
                        f"{job.id!r} with the same fingerprint: the lock was edited or merged by "
                        "hand; fix the entry, or delete it to render the job again",
                    )
                )
    if problems:
        raise LockfileError(problems)


def _check_selection(manifest: Manifest, ids: Collection[str], flag: str) -> None:
    known = {job.id for job in manifest.jobs}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise ConfigError(
            f"{flag}: no job {', '.join(map(repr, unknown))} in {manifest.display_name} "
            f"(jobs: {', '.join(sorted(known)[:10])}{', ...' if len(known) > 10 else ''})"
        )


def _expected_artifact(manifest: Manifest, job_id: str) -> Path:
    return manifest.output_dir / f"{job_id}.mp4"


def _check_artifacts(manifest: Manifest, lock: LockSnapshot) -> dict[str, ArtifactState]:
    """Compare each completed job's output with its recorded size and digest.

    Only the file where the manifest puts it now is read, never a path taken from
    the lock: a changed output_dir means 'fetch it there', and a hostile lockfile
    cannot make us read elsewhere."""
    found: dict[str, ArtifactState] = {}
    for job in manifest.jobs:
        entry = lock.entries.get(job.id)
        if entry is None or entry.status != "completed" or entry.artifact is None:
            continue
        if entry.artifact.path != artifact_relpath(_expected_artifact(manifest, job.id), lock.path):
            found[job.id] = ArtifactState.MOVED
            continue
        path = _expected_artifact(manifest, job.id)
        try:
            size = path.stat().st_size
        except OSError:
            found[job.id] = ArtifactState.MISSING
            continue
        # A size mismatch settles it without reading the file.
        digest = file_digest(path) if size == entry.artifact.bytes else None
        ok = digest is not None and digest[0] == entry.artifact.sha256
        found[job.id] = ArtifactState.OK if ok else ArtifactState.CORRUPT
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
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise ConfigError(f"base URL {base_url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {base_url!r} is not an http(s) URL")
    key = request.api_key if request.api_key is not None else os.environ.get(API_KEY_ENV)
    if not key:
        raise ConfigError(
            f"no API key: set {API_KEY_ENV}=sk_<id>_<secret> (from your lipsync.studio "
            "API settings), or use --local to render on the built-in reference studio"
        )
    if not KEY_PATTERN.fullmatch(key):
        # Say what is wrong without repeating the secret.
        raise ConfigError(f"{API_KEY_ENV} does not look like sk_<id>_<secret>")
    return base_url, key


def _local_files(manifest: Manifest) -> frozenset[str]:
    base = manifest.path.parent
    return frozenset(
        path.relative_to(base).as_posix()
        for job in manifest.jobs
        for path in job.local_inputs.values()
    )


def _local_resolver(manifest: Manifest, root_url: str) -> InputResolver:
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
        if job.webhook and not is_loopback_host(host or ""):
            _log.warning("not sending a non-loopback webhook from --local", job=job.id)
            job = dataclasses.replace(job, webhook=None)
        jobs.append(job)
    return dataclasses.replace(manifest, jobs=tuple(jobs))


async def run_pipeline(request: RunRequest, progress: ProgressSink | None = None) -> RunReport:
    """Run a manifest to completion (or interruption). Raises LipsyncError subclasses."""
    checked = check(
        request.manifest_path,
        request.lock_path,
        only=request.only,
        replace=request.replace,
        verify_artifacts=False,
    )
    manifest = checked.manifest
    remote = None if request.local else resolve_remote(request, manifest)
    concurrency = request.concurrency or manifest.concurrency or DEFAULT_CONCURRENCY
    lock_path = checked.lock.path
    try:
        with RunLock(lock_path):
            _remove_partial_downloads(manifest)
            journal = LockJournal.open(lock_path)
            try:
                # Planned again under the run lock: another run may have finished meanwhile.
                current = LockSnapshot(lock_path, journal.entries)
                the_plan = plan(
                    manifest,
                    current,
                    artifacts=_check_artifacts(manifest, current),
                    only=request.only,
                    replace=request.replace,
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
        found = PARTIAL_DOWNLOAD.fullmatch(name)
        if found and found["output"] in ours:
            with contextlib.suppress(FileNotFoundError):
                (manifest.output_dir / name).unlink()


async def _execute(
    request: RunRequest,
    manifest: Manifest,
    journal: LockJournal,
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
                resolver = None
                if remote is None:
                    # Imported here: the studio pulls in PyAV and starlette, which a
                    # remote run never needs.
                    from lipsync_pipeline.studio import StudioConfig, serve_studio

                    config = StudioConfig(
                        assets_dir=manifest.path.parent,
                        asset_files=_local_files(manifest),
                        env_proxies=False,  # everything it fetches is on loopback
                    )
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


async def refresh(checked: Checked, request: RunRequest) -> dict[str, JobStatus | str]:
    """Ask the API about every unfinished job of the lock (read-only). A job the
    API cannot answer for maps to the reason, so one bad id does not hide the rest."""
    if any(job.local_inputs for job in checked.manifest.jobs):
        raise ConfigError(
            "--refresh asks the hosted API; this manifest renders on the local studio, "
            "whose jobs end with the run that started them"
        )
    base_url, key = resolve_remote(request, checked.manifest)
    unfinished = {
        job_id: entry.request_id
        for job_id, entry in checked.lock.entries.items()
        if entry.status == "processing" and entry.request_id
    }
    found: dict[str, JobStatus | str] = {}
    async with ApiClient(base_url, key, max_connections=_MAX_CONNECTIONS) as client:
        for job_id, request_id in sorted(unfinished.items()):
            try:
                found[job_id] = await client.get_job(request_id)
            except RequestRejected as exc:
                found[job_id] = str(exc)
    return found
