"""Executing a plan: one trio nursery, bounded concurrency, every state change durable.

Each job walks ``submitting → processing → completed → downloaded`` (or ends
``failed``); every transition is written to the lock journal and fsynced
*before* the next step starts, so a crash at any instant leaves a lock that
says exactly what may have happened:

- ``submitting`` with no request id: the POST may or may not have landed, so
  the next run resends it with the same ``Idempotency-Key``;
- ``processing`` with a request id: the next run polls that id, never resubmits;
- ``completed`` without an artifact: the next run downloads, never re-renders.

Durability is group-committed: one writer task drains every pending change
into a single journal append + fsync, so 10,000 jobs cost a few fsyncs per
second, not one per event.

The ``CapacityLimiter`` bounds jobs in flight at the service (submitted and not
finished), which is what ``concurrency`` means to a user; HTTP connections are
bounded separately, in the client.
"""

from __future__ import annotations

import enum
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol

import structlog
import trio

from lipsync_pipeline.client import ApiClient, JobStatus
from lipsync_pipeline.errors import (
    ApiError,
    AuthError,
    LockfileError,
    Problem,
    RequestRejected,
    unwrap_group,
)
from lipsync_pipeline.lock import Artifact, LockEntry, LockStore
from lipsync_pipeline.manifest import Job, Manifest
from lipsync_pipeline.plan import Action, Plan, Step

__all__ = [
    "DEFAULT_JOB_TIMEOUT",
    "DEFAULT_POLL_INTERVAL",
    "JobResult",
    "Outcome",
    "ProgressSink",
    "RunOptions",
    "RunReport",
    "execute",
]

_log = structlog.get_logger(__name__)

# The API page asks for a poll every 5-10 s: 6 s ± 25 % stays inside that band
# and keeps thousands of pollers from marching in step.
DEFAULT_POLL_INTERVAL: Final = 6.0
_POLL_JITTER: Final = 0.25
# Generations are capped at ~10 minutes of output; an hour covers a slow queue.
DEFAULT_JOB_TIMEOUT: Final = 3600.0
_HTTP_NOT_FOUND: Final = 404


class Outcome(enum.StrEnum):
    COMPLETED = "completed"  # rendered (or already was) and the artifact is on disk
    SKIPPED = "skipped"  # up to date, nothing done
    FAILED = "failed"  # the job itself failed at the API: final for this run
    ERROR = "error"  # we could not finish talking to the API; the next run resumes
    TIMED_OUT = "timed_out"  # still processing after --job-timeout; the next run resumes
    CANCELLED = "cancelled"  # not started or interrupted (Ctrl-C, --fail-fast)
    REMOVED = "removed"  # dropped from the lock
    UNSELECTED = "unselected"  # outside --only

    @property
    def is_problem(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR, Outcome.TIMED_OUT, Outcome.CANCELLED)


@dataclass(frozen=True, slots=True)
class RunOptions:
    poll_interval: float = DEFAULT_POLL_INTERVAL
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    fail_fast: bool = False
    # The in-process studio forgets its jobs when the process ends, so a resumed
    # request id can be unknown there; only then is resubmitting the right answer.
    resubmit_unknown: bool = False


@dataclass(frozen=True, slots=True)
class JobResult:
    job_id: str
    action: Action
    outcome: Outcome
    error: str = ""
    request_id: str | None = None
    artifact: Artifact | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class RunReport:
    results: list[JobResult] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    interrupted: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)


class ProgressSink(Protocol):
    def job_state(self, job_id: str, state: str) -> None: ...


InputResolver = Callable[[Job], Mapping[str, Any]]


class _NullProgress:
    def job_state(self, job_id: str, state: str) -> None:
        pass


class _LockWriter:
    """Group commit: callers wait until their change is fsynced, many changes per fsync."""

    def __init__(self, store: LockStore) -> None:
        self._store = store
        self._pending: list[LockEntry] = []
        self._flushed: list[trio.Event] = []
        self._wake = trio.Event()
        self._failure: BaseException | None = None

    async def write(self, entry: LockEntry) -> None:
        if self._failure is not None:
            raise self._failure
        done = trio.Event()
        self._pending.append(entry)
        self._flushed.append(done)
        self._wake.set()
        await done.wait()
        if self._failure is not None:
            raise self._failure

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        waiters, self._flushed = self._flushed, []
        if not batch:
            return
        try:
            # The thread is not abandoned on cancel: a change handed to the
            # journal is either fully appended or not at all.
            await trio.to_thread.run_sync(self._store.record, batch)
        except OSError as exc:
            self._failure = _write_failure(self._store.path, exc)
            raise self._failure from exc
        finally:
            for event in waiters:
                event.set()

    def flush_now(self) -> None:
        """Write what is still pending, synchronously (shutdown path)."""
        batch, self._pending = self._pending, []
        if batch and self._failure is None:
            try:
                self._store.record(batch)
            except OSError as exc:
                raise _write_failure(self._store.path, exc) from exc
        for event in self._flushed:
            event.set()
        self._flushed = []


class _Run:
    client: ApiClient

    def __init__(
        self,
        manifest: Manifest,
        writer: _LockWriter,
        options: RunOptions,
        resolve_inputs: InputResolver,
        progress: ProgressSink,
        concurrency: int,
        lock_dir: Path,
    ) -> None:
        self.manifest = manifest
        self.writer = writer
        self.options = options
        self.resolve_inputs = resolve_inputs
        self.progress = progress
        self.limiter = trio.CapacityLimiter(concurrency)
        self.stop_submitting = False
        self.results: list[JobResult] = []
        self._lock_dir = lock_dir

    async def job(self, step: Step) -> None:
        assert step.job is not None
        started = time.monotonic()
        async with self.limiter:
            if self.stop_submitting and step.action.submits:
                self.finish(step, Outcome.CANCELLED, "not submitted: --fail-fast", started)
                return
            try:
                result = await self._lifecycle(step, step.job, started)
            except AuthError:
                raise  # the key is wrong for every job: abort the whole run
            except ApiError as exc:
                _log.warning("job could not finish", job=step.job_id, error=str(exc))
                self.finish(step, Outcome.ERROR, str(exc), started)
                return
        self.results.append(result)
        self.progress.job_state(step.job_id, str(result.outcome))

    async def _lifecycle(self, step: Step, job: Job, started: float) -> JobResult:
        entry = step.entry
        if step.action in (Action.SUBMIT, Action.RETRY) or entry is None:
            entry = LockEntry(
                job_id=job.id,
                fingerprint=job.fingerprint,
                model=job.model,
                status="submitting",
                idempotency_key=uuid.uuid4().hex,
                seed=_seed_of(job),
            )
            await self.writer.write(entry)
        just_submitted = entry.status == "submitting" or step.action.submits
        if just_submitted:
            entry = await self._submit(job, entry, resent=step.action is Action.RESUBMIT)
        if entry.status == "processing":
            entry, status = await self._poll(job, entry, just_submitted=just_submitted)
            if status is None:
                return self._result(step, Outcome.TIMED_OUT, entry, started, "still processing")
            entry = replace(
                entry,
                status="completed" if status.status == "completed" else "failed",
                output_url=status.output,
                error=status.error or None,
                execution_time_ms=status.execution_time_ms,
            )
            if entry.status == "failed" and not entry.error:
                entry = replace(entry, error="the API reported the job failed without a reason")
            await self.writer.write(entry)
            if entry.status == "failed":
                if self.options.fail_fast:
                    self.stop_submitting = True
                return self._result(step, Outcome.FAILED, entry, started, entry.error or "")
        if step.action is Action.DOWNLOAD:
            assert entry.request_id is not None
            # Output URLs may expire: ask the job again rather than trust the old one.
            fresh = await self.client.get_job(entry.request_id)
            entry = replace(entry, output_url=fresh.output or entry.output_url)
        entry = await self._download(job, entry)
        return self._result(step, Outcome.COMPLETED, entry, started)

    async def _submit(self, job: Job, entry: LockEntry, *, resent: bool) -> LockEntry:
        self.progress.job_state(job.id, "submitting")
        if resent:
            _log.warning(
                "resending an interrupted submission with its original Idempotency-Key; "
                "the hosted API does not document idempotency and may render it twice",
                job=job.id,
            )
        request_id = await self.client.submit(
            job.model,
            self.resolve_inputs(job),
            webhook=job.webhook,
            idempotency_key=entry.idempotency_key,
        )
        entry = replace(entry, status="processing", request_id=request_id)
        await self.writer.write(entry)
        self.progress.job_state(job.id, "processing")
        _log.info("submitted", job=job.id, request_id=request_id)
        return entry

    async def _poll(
        self, job: Job, entry: LockEntry, *, just_submitted: bool
    ) -> tuple[LockEntry, JobStatus | None]:
        """Poll until the job ends; status None when --job-timeout runs out first."""
        self.progress.job_state(job.id, "processing")
        interval = self.options.poll_interval
        # A fresh job is never done at once; a resumed one may be long done, so ask
        # soon, but spread out so that thousands of resumed jobs do not ask at once.
        soon = random.uniform(0, interval * _POLL_JITTER)
        delay = _jittered(interval) if just_submitted else soon
        with trio.move_on_after(self.options.job_timeout):
            while True:
                await trio.sleep(delay)
                delay = _jittered(interval)
                assert entry.request_id is not None
                try:
                    status = await self.client.get_job(entry.request_id)
                except RequestRejected as exc:
                    if exc.status != _HTTP_NOT_FOUND or not self.options.resubmit_unknown:
                        raise
                    _log.info("the local studio no longer knows this job; resubmitting", job=job.id)
                    entry = replace(entry, status="submitting", idempotency_key=uuid.uuid4().hex)
                    await self.writer.write(entry)
                    entry = await self._submit(job, entry, resent=False)
                    continue
                if status.finished:
                    return entry, status
        return entry, None

    async def _download(self, job: Job, entry: LockEntry) -> LockEntry:
        if not entry.output_url:
            raise ApiError(f"job {job.id}: the API reported completion without an output URL")
        self.progress.job_state(job.id, "downloading")
        dest = self.manifest.output_dir / f"{job.id}.mp4"
        digest, size = await self.client.download(entry.output_url, dest)
        entry = replace(entry, artifact=Artifact(_relative(dest, self._lock_dir), digest, size))
        await self.writer.write(entry)
        return entry

    def _result(
        self, step: Step, outcome: Outcome, entry: LockEntry, started: float, error: str = ""
    ) -> JobResult:
        return JobResult(
            step.job_id,
            step.action,
            outcome,
            error,
            entry.request_id,
            entry.artifact,
            time.monotonic() - started,
        )

    def finish(self, step: Step, outcome: Outcome, error: str, started: float) -> None:
        entry = step.entry
        self.results.append(
            JobResult(
                step.job_id,
                step.action,
                outcome,
                error,
                entry.request_id if entry else None,
                entry.artifact if entry else None,
                time.monotonic() - started,
            )
        )
        self.progress.job_state(step.job_id, str(outcome))


def _write_failure(path: Path, exc: OSError) -> LockfileError:
    reason = exc.strerror or str(exc)
    return LockfileError([Problem(str(path), None, None, "", f"cannot record progress: {reason}")])


def _jittered(interval: float) -> float:
    return interval * random.uniform(1 - _POLL_JITTER, 1 + _POLL_JITTER)


def _seed_of(job: Job) -> int | None:
    seed = job.form_state.get("seed")
    return seed if isinstance(seed, int) else None


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


async def execute(
    plan: Plan,
    manifest: Manifest,
    store: LockStore,
    client: ApiClient | None,
    *,
    concurrency: int,
    options: RunOptions = RunOptions(),
    resolve_inputs: InputResolver | None = None,
    progress: ProgressSink | None = None,
    report: RunReport | None = None,
) -> RunReport:
    """Carry out ``plan``. Cancellation (Ctrl-C) leaves every in-flight job
    recorded. ``client`` may be None only when no step needs the API.

    Results go into ``report`` (a new one if not given) even when the run is
    cancelled, so a caller that cancels still gets to show what happened."""
    progress = progress or _NullProgress()
    writer = _LockWriter(store)
    run = _Run(
        manifest,
        writer,
        options,
        resolve_inputs or (lambda job: job.form_state),
        progress,
        max(1, concurrency),
        store.path.parent,
    )
    report = report if report is not None else RunReport()
    started = time.monotonic()
    _record_static(plan, store, run.results, progress)
    active = [s for s in plan.steps if s.action.touches_api]
    for step in active:
        progress.job_state(step.job_id, "queued")
    if client is None:
        if active:
            raise ValueError("execute() needs a client for a plan that calls the API")
        report.results = sorted(run.results, key=lambda r: r.job_id)
        return report
    run.client = client
    try:
        async with trio.open_nursery() as outer:
            outer.start_soon(writer.run)
            try:
                async with trio.open_nursery() as jobs:
                    for step in active:
                        jobs.start_soon(run.job, step)
            finally:
                outer.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
    finally:
        with trio.CancelScope(shield=True):
            writer.flush_now()
            finished = {r.job_id for r in run.results}
            for step in active:
                if step.job_id not in finished:
                    run.finish(step, Outcome.CANCELLED, "interrupted", started)
            report.results = sorted(run.results, key=lambda r: r.job_id)
            report.requests = dict(client.requests)
            report.elapsed = time.monotonic() - started
    return report


def _record_static(
    plan: Plan, store: LockStore, results: list[JobResult], progress: ProgressSink
) -> None:
    """Steps that need no API: record their outcome, apply removals."""
    removed = [s.job_id for s in plan.with_action(Action.REMOVE)]
    if removed:
        store.drop(removed)
    kinds = {Action.SKIP: Outcome.SKIPPED, Action.REMOVE: Outcome.REMOVED}
    kinds[Action.UNSELECTED] = Outcome.UNSELECTED
    for step in plan.steps:
        outcome = kinds.get(step.action)
        if outcome is None:
            continue
        entry = step.entry
        results.append(
            JobResult(
                step.job_id,
                step.action,
                outcome,
                request_id=entry.request_id if entry else None,
                artifact=entry.artifact if entry else None,
            )
        )
        progress.job_state(step.job_id, str(outcome))
