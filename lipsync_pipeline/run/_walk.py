"""One job's walk through the API, every state change durable before the next step.

Each job walks ``submitting → processing → completed`` (or ends ``failed``), and a
completed job's download is recorded as its entry's artifact; every transition is
written to the lock journal and fsynced *before* the step that depends on it, so a
crash at any instant leaves a lock that says exactly what may have happened:

- ``submitting`` with no request id: the POST may or may not have landed;
- ``unknown``: the POST was sent and got no clear answer (a 5xx, a read timeout, a
  dropped connection), so the job may exist. Neither is sent again without the
  user's say-so (``--resend-unknown``; ``--local`` implies it), and then with the
  same ``Idempotency-Key``: the hosted API does not promise to honour it, and a
  resend it does not recognise is a second paid render;
- a POST that was never sent (no connection) or refused outright leaves the lock
  as it was before: nothing can have been created, so nothing is held;
- ``processing`` with a request id: the next run polls that id, never resubmits;
- ``completed`` without an artifact: the next run downloads, never re-renders.

Durability is group-committed: one writer task drains every pending change
into a single journal append + fsync, so 10,000 jobs cost a few fsyncs per
second, not one per event. A finished status, needed only if its download
fails, rides along with the next batch; the artifact that supersedes it is put
in place and recorded by the writer in one go (see ``lockfile/_writer``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Final

import structlog
import trio

from lipsync_pipeline.api import JobStatus
from lipsync_pipeline.errors import (
    ApiError,
    AuthError,
    RequestRejected,
    StorageError,
    StoreError,
    SubmissionUnknown,
    TransientApiError,
)
from lipsync_pipeline.inputs import versions_for
from lipsync_pipeline.lockfile import (
    Artifact,
    InputVersion,
    LockEntry,
    LockWriter,
    artifact_relpath,
)
from lipsync_pipeline.manifest import Job, Manifest
from lipsync_pipeline.plan import Action, Step, unknown_outcome_hint
from lipsync_pipeline.run._options import (
    MS,
    InputResolver,
    KeepRender,
    ProgressSink,
    RunOptions,
)
from lipsync_pipeline.run._polling import PollSchedule, render_key
from lipsync_pipeline.run._report import JobResult, Outcome
from lipsync_pipeline.run._state import RunState

__all__ = ["JobWalker"]

_log = structlog.get_logger(__name__)

_HTTP_NOT_FOUND: Final = 404
_RENDER_AGAIN: Final = "the local studio no longer knows this job; rendering it again"


class _NotRenderedAgain(Exception):
    """A job the local studio forgot, met once the run stopped submitting (the reason)."""


class JobWalker:
    """Walks each job of a run through the API; the run-wide state is ``state``."""

    def __init__(
        self,
        manifest: Manifest,
        writer: LockWriter,
        options: RunOptions,
        resolve_inputs: InputResolver,
        progress: ProgressSink,
        concurrency: int,
        lock_path: Path,
        schedule: PollSchedule,
        keep_render: KeepRender | None = None,
        input_versions: Mapping[str, InputVersion] | None = None,
    ) -> None:
        self.manifest = manifest
        # URL -> what it serves now: recorded with each submission (see plan's changed).
        self.input_versions = input_versions or {}
        self.keep_render = keep_render
        self.schedule = schedule
        self.writer = writer
        self.options = options
        self.resolve_inputs = resolve_inputs
        self.progress = progress
        self.state = RunState(options, progress, concurrency, self.job)
        self._lock_path = lock_path

    async def job(self, step: Step) -> None:
        assert step.job is not None
        started = self.state.started[step.job_id] = time.monotonic()
        async with self.state.slot() as release:
            if self.state.stop_submitting and step.action.submits:
                self.state.unspent(step.job_id)
                self.state.finish(
                    step, Outcome.CANCELLED, step.entry, started, self.state.stop_reason
                )
                return
            try:
                result = await self._lifecycle(step, step.job, started, release)
            except AuthError:
                raise  # the key is wrong for every job: abort the whole run
            except StorageError as exc:
                if self.writer.failed:
                    raise  # the lock itself cannot be written: nothing is safe any more
                # An output could not be written (disk full?): the render is paid and
                # recorded, the next run downloads it; do not pay for more meanwhile.
                self.state.stop(f"not submitted: {exc}")
                self.state.storage_error = self.state.storage_error or str(exc)
                self.state.finish(step, Outcome.ERROR, step.entry, started, str(exc))
                return
            except StoreError as exc:
                # The render is paid and recorded "completed"; the next run downloads it
                # again and keeps it. A store that refuses one write refuses the next.
                self.state.stop(f"not submitted: {exc}")
                self.state.store_error = self.state.store_error or str(exc)
                self.state.finish(step, Outcome.ERROR, step.entry, started, str(exc))
                return
            except ApiError as exc:
                _log.warning("job could not finish", job=step.job_id, error=str(exc))
                self.state.api_errors.append(str(exc))
                self.state.finish(step, Outcome.ERROR, step.entry, started, str(exc))
                if isinstance(exc, TransientApiError):
                    self.state.unanswered(str(exc))
                return
            result = await self.state.settle(step, result, self._lock_path.parent)
        self.state.results.append(result)
        self.progress.job_state(step.job_id, str(result.outcome))

    async def _lifecycle(
        self, step: Step, job: Job, started: float, release: Callable[[], None]
    ) -> JobResult:
        """``release`` gives the job's slot back early (see ``_download``)."""
        entry = step.entry
        if step.action in (Action.SUBMIT, Action.RETRY) or entry is None:
            entry = LockEntry(
                job_id=job.id,
                fingerprint=job.fingerprint,
                model=job.model,
                status="submitting",
                idempotency_key=uuid.uuid4().hex,
                seed=seed_of(job),
                inputs=versions_for(job, self.input_versions),
            )
            try:
                await self.writer.write(entry)
            except trio.Cancelled:
                # Interrupted before the POST was sent (it is sent under a shield, next):
                # nothing can exist, so the lock must not be left saying "submitting".
                with trio.CancelScope(shield=True):
                    await self._put_back(job.id, entry, step.entry)
                raise
        just_submitted = entry.status == "submitting" or step.action.submits
        answered_at: float | None = None
        if just_submitted:
            # A job that gave its slot back early (_download) and failed to publish may
            # wake with this record: let it stop the run first (not a cancel point).
            await trio.lowlevel.cancel_shielded_checkpoint()
            if self.state.stop_submitting and step.action.submits:
                await self._put_back(job.id, entry, step.entry)  # the POST is not sent
                return self.state.result(
                    step, Outcome.CANCELLED, step.entry, started, self.state.stop_reason
                )
            try:
                entry, answered_at = await self._submit(
                    job, entry, before=step.entry, resent=step.action is Action.RESUBMIT
                )
            except RequestRejected as exc:
                # A definite 4xx: no job was created, so this is the request's own
                # failure (retried next run), not an interrupted submission.
                self.state.unspent(job.id)
                entry = replace(entry, status="failed", error=str(exc))
                await self.writer.write(entry)
                return self._failed(step, entry, started)
        status: JobStatus | None = None
        if entry.status == "processing":
            try:
                entry, status = await self._poll(job, entry, submitted_at=answered_at)
            except _NotRenderedAgain as stopped:  # the lock keeps the id: the next run will
                return self.state.result(step, Outcome.CANCELLED, entry, started, str(stopped))
            if entry.status == "processing" and status is None:
                return self.state.result(
                    step, Outcome.TIMED_OUT, entry, started, "still processing"
                )
        if entry.status == "unknown":
            self.state.unanswered(entry.error or "")
            hint = unknown_outcome_hint(job.id)
            error = f"{entry.error}; outcome unknown, resending may bill twice: {hint}"
            return self.state.result(step, Outcome.UNKNOWN, entry, started, error)
        if status is not None:
            entry = replace(
                entry,
                status="completed" if status.status == "completed" else "failed",
                output_url=status.output,
                error=status.error or None,
                execution_time_ms=status.execution_time_ms,
            )
            if entry.status == "failed" and not entry.error:
                entry = replace(entry, error="the API reported the job failed without a reason")
            if entry.status == "failed":
                await self.writer.write(entry)
                return self._failed(step, entry, started)
            # Needed only if the download fails (the next run then skips the polling);
            # the writer records it before the artifact that supersedes it.
            self.writer.write_soon(entry)
        if step.action is Action.DOWNLOAD:
            assert entry.request_id is not None
            # Output URLs may expire: ask the job again rather than trust the old one.
            try:
                fresh = await self.state.client.get_job(entry.request_id)
            except RequestRejected as exc:
                if self._forgotten(exc):
                    if not self.state.stop_submitting:  # else the submission is cancelled
                        _log.info(_RENDER_AGAIN, job=job.id)
                    return await self._lifecycle(
                        replace(step, action=Action.SUBMIT), job, started, release
                    )
                if exc.status == _HTTP_NOT_FOUND:
                    raise RequestRejected(
                        f"{exc}; the API no longer has this render: "
                        f"`run --replace {job.id}` renders it again (and is billed)",
                        status=exc.status,
                    ) from exc
                raise
            entry = replace(entry, output_url=fresh.output or entry.output_url)
        entry = await self._download(job, entry, release)
        return self.state.result(step, Outcome.COMPLETED, entry, started)

    async def _submit(
        self, job: Job, entry: LockEntry, *, before: LockEntry | None, resent: bool
    ) -> tuple[LockEntry, float | None]:
        """POST the job; returns the entry with its request id and when the API answered,
        or, recorded ``unknown``, when it may have created the job without saying so.

        ``before``: the lock's entry before this submission, put back if the POST
        cannot have created anything (never sent, refused outright)."""
        self.progress.job_state(job.id, "submitting")
        if resent:
            _log.warning(
                "resending an interrupted submission with its original Idempotency-Key; "
                "the hosted API does not document idempotency and may render it twice",
                job=job.id,
            )
        # Ctrl-C must not land between "the API created a job" and "the lock knows
        # its id": that gap is a second paid render. So the POST and the write are
        # shielded; an interruption gives them _SUBMIT_GRACE seconds (start_grace).
        with trio.CancelScope(shield=True) as scope:
            self.state.shielded.add(scope)
            try:
                try:
                    request_id = await self.state.client.submit(
                        job.model,
                        self.resolve_inputs(job),
                        webhook=job.webhook,
                        idempotency_key=entry.idempotency_key,
                    )
                except SubmissionUnknown as exc:
                    # Kept with its key: a resend under --resend-unknown repeats it, so
                    # an API that honours the key can still recognise it.
                    entry = replace(entry, status="unknown", error=str(exc))
                    _log.warning("submission outcome unknown", job=job.id, error=str(exc))
                    # If no job gets an answer at all, the run ends "the API let no job
                    # through" (exit 4), the unknown outcomes still reported one by one.
                    self.state.api_errors.append(str(exc))
                    await self.writer.write(entry)
                    return entry, None
                except (TransientApiError, AuthError) as exc:
                    # Never sent, or refused before the API acted on it: put the lock
                    # back, or the next run would hold (or warn about) a job that
                    # cannot exist. The error itself is the caller's to report.
                    await self._put_back(job.id, entry, before)
                    raise exc from None
                _log.info("submitted", job=job.id, request_id=request_id)
                answered_at = trio.current_time()
                entry = replace(entry, status="processing", request_id=request_id)
                try:
                    # Not left to ride along with a later batch, although the first
                    # poll is seconds away: a crash before this is on disk resends
                    # the POST, and the hosted API may bill that twice.
                    await self.writer.write(entry)
                except StorageError as exc:
                    raise StorageError(
                        f"{exc}; job {job.id} was created as request {request_id}, which "
                        "the lock does not know: the next run will submit it again"
                    ) from exc
            finally:
                self.state.shielded.discard(scope)
        if scope.cancelled_caught:
            # Left "submitting": the POST may have landed, so the next run holds it
            # (resends it only under --resend-unknown, with the same key).
            raise TransientApiError(
                "interrupted while the API had not answered a submission: its outcome is "
                "unknown (see `plan`)"
            )
        self.progress.job_state(job.id, "processing")
        return entry, answered_at

    async def _put_back(self, job_id: str, entry: LockEntry, before: LockEntry | None) -> None:
        self.state.unspent(job_id)  # nothing can have been created
        if before is None:
            await self.writer.forget(job_id)
        elif before != entry:
            await self.writer.write(before)

    async def _poll(
        self, job: Job, entry: LockEntry, *, submitted_at: float | None
    ) -> tuple[LockEntry, JobStatus | None]:
        """Poll until the job ends; status None when --job-timeout runs out first.

        ``submitted_at``: when this run's POST was answered (None for a job resumed from
        the lock): polls fall on that moment plus whole intervals (see ``_polling``)."""
        self.progress.job_state(job.id, "processing")
        key = render_key(job)
        schedule = self.schedule
        if submitted_at is None:
            # Resumed from the lock: no submission moment in this run to keep in phase
            # with, so the first poll anchors the later ones.
            anchor = due = schedule.resumed_poll(trio.current_time())
        else:
            anchor, due = submitted_at, schedule.first_poll(key, submitted_at)
        just_submitted = submitted_at is not None
        processing_for: float | None = None  # for learn_done, when no executionTime
        with trio.move_on_after(self.options.job_timeout):
            while True:
                await trio.sleep_until(schedule.wake_at(due))
                assert entry.request_id is not None
                asked = trio.current_time()
                try:
                    status = await self.state.client.get_job(entry.request_id)
                except RequestRejected as exc:
                    if not self._forgotten(exc):
                        raise
                    if self.state.stop_submitting:
                        raise _NotRenderedAgain(self.state.stop_reason) from None
                    _log.info(_RENDER_AGAIN, job=job.id)
                    before = entry
                    entry = replace(entry, status="submitting", idempotency_key=uuid.uuid4().hex)
                    await self.writer.write(entry)
                    entry, answered_at = await self._submit(job, entry, before=before, resent=False)
                    if answered_at is None:  # outcome unknown: recorded, for the caller
                        return entry, None
                    anchor, due = answered_at, schedule.first_poll(key, answered_at)
                    just_submitted, processing_for = True, None
                    continue
                answered = trio.current_time()
                if status.finished:
                    if status.status == "completed":
                        took = status.execution_time_ms
                        schedule.learn_done(
                            key, None if took is None else took / MS, processing_for
                        )
                    return entry, status
                if just_submitted:  # the render takes longer than this
                    processing_for = asked - anchor
                # The answer's time too: after a slow poll (waiting out a 429's
                # Retry-After, retries) the next waits a whole interval from it.
                due = schedule.next_poll(anchor, due, answered)
        return entry, None

    def _forgotten(self, exc: RequestRejected) -> bool:
        """The in-process studio forgets its jobs between runs; a 404 there means
        'render it again' (free), while from the hosted API it is an error to show."""
        return exc.status == _HTTP_NOT_FOUND and self.options.resubmit_forgotten

    async def _download(self, job: Job, entry: LockEntry, release: Callable[[], None]) -> LockEntry:
        if not entry.output_url:
            raise ApiError(f"job {job.id}: the API reported completion without an output URL")
        self.progress.job_state(job.id, "downloading")
        dest = self.manifest.output_path(job.id)
        staged = await self.state.client.fetch(entry.output_url, dest)
        store_key = None
        if self.keep_render is not None:
            # Before the lock records the key: a lock never names an object not stored.
            try:
                store_key = await self.keep_render(job.id, staged)
            except BaseException:
                staged.discard()
                raise
        # Done with the service (and the store): the next job may start now, so that
        # its "submitting" record shares this one's lock write instead of queueing
        # behind it; the render is in hand either way. Not under a spend cap: there
        # the next admission is to count what this render billed, known only later.
        if self.state.spend is None:
            release()
        relpath = artifact_relpath(dest, self._lock_path)
        artifact = Artifact(relpath, staged.sha256, staged.size, store_key)
        entry = replace(entry, artifact=artifact)
        # The writer puts the file in place and records it in one go (see lockfile/_writer).
        await self.writer.write(entry, publish=staged)
        return entry

    def _failed(self, step: Step, entry: LockEntry, started: float) -> JobResult:
        if self.options.fail_fast:
            self.state.stop("not submitted: --fail-fast after a failed job")
        return self.state.result(step, Outcome.FAILED, entry, started, entry.error or "")


def seed_of(job: Job) -> int | None:
    seed = job.form_state.get("seed")
    return seed if isinstance(seed, int) else None
