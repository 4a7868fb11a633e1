"""Executing a plan: one trio nursery, bounded concurrency, every state change durable.

:func:`execute` carries renamed jobs' entries and files (``moved:``, in ``_moves``),
records the steps that need no API (skips, removals), starts the
lock writer, and admits every other step, in the plan's order, as a task of one
nursery; each job's walk through the API (submit, poll, download, and what the lock
says at each point) is in ``_walk``. Cancellation (Ctrl-C) leaves every job in
flight recorded, and submissions already sent get a bounded grace to learn their
request id.

``RunState``'s slots bound jobs in flight at the service (submitted and not
finished), which is what ``concurrency`` means to a user; HTTP connections are
bounded separately, in the client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final

import trio

from lipsync_pipeline.budget import SpendLedger
from lipsync_pipeline.errors import unwrap_group
from lipsync_pipeline.lockfile import InputVersion, LockJournal, LockWriter
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import Plan
from lipsync_pipeline.run._api import Api
from lipsync_pipeline.run._moves import carry_moves
from lipsync_pipeline.run._options import (
    MS,
    InputResolver,
    KeepRender,
    NullProgress,
    ProgressSink,
    RunOptions,
)
from lipsync_pipeline.run._polling import PollSchedule, RenderKey, render_key
from lipsync_pipeline.run._report import Outcome, RunReport
from lipsync_pipeline.run._state import RunState
from lipsync_pipeline.run._static import execute_static, record_static
from lipsync_pipeline.run._walk import JobWalker

__all__ = [
    "execute",
]

_DEFAULT_OPTIONS: Final = RunOptions()  # frozen, so one shared default is safe
_RESUMES: Final = "interrupted in flight; the next run resumes it"
# What the lock says of a job that may be at the service (a submission rolled back
# before it was sent leaves the entry as it was: that job was not in flight).
_MAYBE_SENT: Final = frozenset({"submitting", "processing", "unknown"})


def _history(plan: Plan) -> list[tuple[RenderKey, float]]:
    """Render times the lock remembers, to schedule first polls from the start."""
    return [
        (render_key(step.job), step.entry.execution_time_ms / MS)
        for step in plan.steps
        if step.job is not None
        and step.entry is not None
        and step.entry.status == "completed"
        and step.entry.execution_time_ms
    ]


async def execute(
    plan: Plan,
    manifest: Manifest,
    journal: LockJournal,
    client: Api | None,
    *,
    concurrency: int,
    options: RunOptions = _DEFAULT_OPTIONS,
    resolve_inputs: InputResolver | None = None,
    progress: ProgressSink | None = None,
    report: RunReport | None = None,
    keep_render: KeepRender | None = None,
    spend: SpendLedger | None = None,
    input_versions: Mapping[str, InputVersion] | None = None,
) -> RunReport:
    """Carry out ``plan``. Cancellation (Ctrl-C) leaves every in-flight job
    recorded. ``client`` may be None only when no step needs the API.
    ``keep_render`` (with an object store) uploads each render before it is recorded;
    ``spend`` (a spend cap) admits a submission only while what it counts stays within
    it: the estimates of the jobs admitted, each replaced by what its render billed once
    its file is in, and nothing for a POST refused or never sent.
    ``input_versions``: URL -> what it serves now (the input check), recorded in the
    entry of each job submitted, so that a later plan notices a changed input.

    Results go into ``report`` (a new one if not given) even when the run is
    cancelled, so a caller that cancels still gets to show what happened."""
    progress = progress or NullProgress()
    report = report if report is not None else RunReport()
    order = {step.job_id: index for index, step in enumerate(plan.steps)}
    if client is None:
        # Up to date (or only moves and removals): no walker, no poll schedule to learn.
        return execute_static(plan, manifest, journal, progress, report)
    writer = LockWriter(journal)
    walker = JobWalker(
        manifest,
        writer,
        options,
        resolve_inputs or (lambda job: job.form_state),
        progress,
        max(1, concurrency),
        journal.path,
        PollSchedule(options.poll_interval, _history(plan)),
        keep_render,
        input_versions or {},
    )
    run = walker.state  # admission, stop flag and results for the whole run
    run.spend = spend
    started = time.monotonic()
    carry_moves(plan.steps, manifest, journal)  # first: every later record builds on it
    record_static(plan, journal, run.results, progress)
    active = [s for s in plan.steps if s.action.touches_api]
    for step in active:
        progress.job_state(step.job_id, "queued")
    run.client = client
    try:
        async with trio.open_nursery() as outer:
            outer.start_soon(writer.run)
            outer.start_soon(_grace_on_cancel, run)
            try:
                async with trio.open_nursery() as jobs:
                    for step in active:
                        await run.admit(step, jobs)
            finally:
                outer.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
    finally:
        with trio.CancelScope(shield=True):
            # (The writer task flushed what was pending on its way out.)
            finished = {r.job_id for r in run.results}
            for step in active:
                if step.job_id in finished:
                    continue
                recorded = journal.entries.get(step.job_id)
                sent = recorded is not None and recorded.status in _MAYBE_SENT
                if step.job_id in run.started and sent:
                    # Submitted or being submitted: the lock knows it, the next run resumes.
                    began = run.started[step.job_id]
                    run.finish(step, Outcome.IN_FLIGHT, step.entry, began, _RESUMES)
                else:
                    run.finish(step, Outcome.CANCELLED, step.entry, started, "interrupted")
            report.results = sorted(run.results, key=lambda r: order[r.job_id])
            report.requests = dict(client.requests)
            report.elapsed = time.monotonic() - started
            report.storage_error = run.storage_error
            report.store_error = run.store_error
            report.api_error = _api_error(run)
    return report


# Outcomes that mean the API answered this job: its completion, failure or progress.
_ANSWERED: Final = frozenset({Outcome.COMPLETED, Outcome.FAILED, Outcome.TIMED_OUT})


def _api_error(run: RunState) -> str:
    """Why no job got through to the API, or "": only when some job ended on an API
    error and none got an answer (the API is down or answers every request with 5xx).
    One job failing among others that went through is that job's failure (exit 1)."""
    if not run.api_errors:
        return ""
    if any(r.outcome in _ANSWERED for r in run.results if r.action.touches_api):
        return ""
    return run.api_errors[0]


async def _grace_on_cancel(run: RunState) -> None:
    """Wakes only when the run is cancelled, to bound the shielded submissions."""
    try:
        await trio.sleep_forever()
    finally:
        run.start_grace()
