"""The run-wide state of one run: which jobs are in flight, whether to stop
submitting, and what each job came to. The walk of each job is ``_walk``'s."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Final

import trio

from lipsync_pipeline.budget import SpendLedger, billed_credits
from lipsync_pipeline.lockfile import LockEntry
from lipsync_pipeline.plan import Step
from lipsync_pipeline.pricing import resolution_of
from lipsync_pipeline.run._api import Api
from lipsync_pipeline.run._options import ProgressSink, RunOptions
from lipsync_pipeline.run._report import JobResult, Outcome

__all__ = ["RunState"]

# Jobs that exhaust their retries before the API ever answered: then stop submitting.
_UNREACHABLE_AFTER: Final = 3
# How long an interrupted run still waits for POSTs in flight to answer.
_SUBMIT_GRACE: Final = 30.0


class RunState:
    """Admission in the plan's order, the stop flag, the submissions' grace on
    cancellation, and the results. ``walk`` is one job's walk (see ``JobWalker``)."""

    client: Api

    def __init__(
        self,
        options: RunOptions,
        progress: ProgressSink,
        concurrency: int,
        walk: Callable[[Step], Awaitable[None]],
    ) -> None:
        self.options = options
        self.progress = progress
        self._walk = walk
        # Jobs in flight at the service; taken in the plan's order by admit().
        self._slots = trio.Semaphore(concurrency)
        self.started: dict[str, float] = {}  # job id -> when its walk began
        self.stop_submitting = False
        self.stop_reason = ""
        self.shielded: set[trio.CancelScope] = set()
        self._unreachable = 0
        # For the run's exit code (RunReport.storage_error / api_error).
        self.storage_error = ""
        self.store_error = ""
        self.api_errors: list[str] = []
        self.results: list[JobResult] = []
        self.spend: SpendLedger | None = None  # the spend cap, if one is in force

    async def admit(self, step: Step, nursery: trio.Nursery) -> None:
        """Start ``step``'s walk in ``nursery`` once a slot is free.

        Called for each step in the plan's order, so jobs start in the manifest's order
        (tasks started all at once reach a limiter in trio's random order), and a job's
        time counts from its start, not from its wait in the queue."""
        if self.stop_submitting and step.action.submits:
            self.finish(step, Outcome.CANCELLED, step.entry, time.monotonic(), self.stop_reason)
            return
        await self._slots.acquire()
        if self.spend is not None and step.action.submits:
            # Counted in the plan's order once a slot is free, not before the wait: the
            # renders that ended meanwhile then count at what they billed (settle).
            refused = self.spend.take(step.job_id)
            if refused is not None:
                self._slots.release()
                self.finish(step, Outcome.OVER_BUDGET, step.entry, time.monotonic(), refused)
                return
        nursery.start_soon(self._walk, step)

    async def settle(self, step: Step, result: JobResult, lock_dir: Path) -> JobResult:
        """Under a spend cap, a render this run admitted counts at what it bills from now
        on (its file's length, read in a worker thread); called before its slot is given
        back, so the next admission sees it. Returns ``result`` with that bill, which the
        report then need not read again. A download the cap never counted is not read."""
        done = result.outcome is Outcome.COMPLETED and result.artifact is not None
        if self.spend is None or step.job is None or not done or step.job_id not in self.spend:
            return result
        assert result.artifact is not None
        path = lock_dir / result.artifact.path
        with trio.CancelScope(shield=True):  # a header's read: the result must be kept
            billed = await trio.to_thread.run_sync(
                billed_credits, path, resolution_of(step.job.form_state)
            )
        self.spend.settle(step.job_id, billed)
        return result if billed is None else replace(result, billed_credits=billed)

    def unspent(self, job_id: str) -> None:
        """``job_id``'s POST cannot have created a job (refused, or never sent): under a
        spend cap its estimate no longer counts, or it would hold later jobs back."""
        if self.spend is not None:
            self.spend.settle(job_id, 0)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Callable[[], None]]:
        """The slot admit() took, given back when the walk ends however it ends, or
        sooner by calling what this yields (once the job needs the service no more)."""
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        try:
            yield release
        finally:
            release()

    def start_grace(self) -> None:
        """The run is being cancelled: submissions in flight get a bounded time."""
        deadline = trio.current_time() + _SUBMIT_GRACE
        for scope in self.shielded:
            scope.deadline = min(scope.deadline, deadline)

    def unanswered(self, why: str) -> None:
        """A job got no usable answer. If the API has not answered once, every job would
        wait out its own retries (an unreachable API would turn 10,000 jobs into a day
        of CI), or leave one more render of unknown outcome: stop asking."""
        if self.client.requests_ok:
            return
        self._unreachable += 1
        if self._unreachable >= _UNREACHABLE_AFTER:
            self.stop(f"not submitted: the API has not answered once ({why})")

    def stop(self, reason: str) -> None:
        if not self.stop_submitting:
            self.stop_submitting, self.stop_reason = True, reason

    def result(
        self,
        step: Step,
        outcome: Outcome,
        entry: LockEntry | None,
        started: float,
        error: str = "",
    ) -> JobResult:
        return JobResult(
            step.job_id,
            step.action,
            outcome,
            error,
            entry.request_id if entry else None,
            # A file the run did not produce or verify is not reported as this run's.
            entry.artifact if entry and outcome is not Outcome.ERROR else None,
            time.monotonic() - started,
        )

    def finish(
        self, step: Step, outcome: Outcome, entry: LockEntry | None, started: float, error: str
    ) -> None:
        self.results.append(self.result(step, outcome, entry, started, error))
        self.progress.job_state(step.job_id, str(outcome))
