"""A run's credits: the spend cap held against the plan's estimate, and what the
renders it completed bill, measured from their outputs (``lipsync_pipeline.budget``
says what the cap means)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from lipsync_pipeline.budget import SpendCap, SpendLedger, billed_credits, enforce_budget
from lipsync_pipeline.estimate import Estimate, RemoteDurations, estimate_plan
from lipsync_pipeline.plan import Action, Plan
from lipsync_pipeline.pricing import resolution_of
from lipsync_pipeline.run import JobResult, Outcome, RunReport

__all__ = ["bill_report", "bill_report_now", "estimate_within", "ledger", "priced"]

# The actions whose completion is a render the API did (and billed) for this run; a
# download fetches one billed before.
_RENDERING_ACTIONS: Final = frozenset({Action.SUBMIT, Action.RESUBMIT, Action.RETRY, Action.RESUME})


def estimate_within(plan: Plan, cap: SpendCap | None, remote: RemoteDurations) -> Estimate:
    """The estimate of ``plan``'s submissions; BudgetExceeded when over ``cap``."""
    estimate = estimate_plan(plan, remote=remote)
    enforce_budget(estimate, cap)
    return estimate


def priced(plan: Plan, first: Estimate, remote: RemoteDurations) -> Estimate:
    """The estimate of the plan made under the run lock, from ``first`` (that of the plan
    checked before it), measuring only submissions it did not price. Not held against
    the cap: the ledger holds back what the cap cannot pay for."""
    return estimate_plan(plan, remote=remote, known=first)


def ledger(cap: SpendCap | None, estimate: Estimate) -> SpendLedger | None:
    return None if cap is None else SpendLedger(cap, estimate.jobs)


def _billed(paths: Mapping[str, tuple[Path, str]]) -> dict[str, int | None]:
    return {job_id: billed_credits(*where) for job_id, where in paths.items()}


async def bill_report(
    report: RunReport,
    plan: Plan,
    estimate: Estimate,
    cap: SpendCap | None,
    lock_dir: Path,
) -> None:
    """Fill in each result's estimated credits (its submission's) and billed credits
    (a render this run completed, from its output's length, by ``pricing``'s rules:
    the API's job status says nothing of cost). Files are read in a worker thread."""
    paths = _unbilled(report, plan, lock_dir)
    billed: dict[str, int | None] = {}
    if paths:
        import trio  # here: an up-to-date run (bill_report_now) never needs it

        billed = await trio.to_thread.run_sync(_billed, paths)
    _credit(report, estimate, cap, billed)


def bill_report_now(
    report: RunReport, plan: Plan, estimate: Estimate, cap: SpendCap | None, lock_dir: Path
) -> None:
    """``bill_report`` in this thread: for a run that rendered nothing (no file to read)."""
    _credit(report, estimate, cap, _billed(_unbilled(report, plan, lock_dir)))


def _unbilled(report: RunReport, plan: Plan, lock_dir: Path) -> dict[str, tuple[Path, str]]:
    """The renders this run completed whose bill is still to read: job id -> (file,
    resolution)."""
    steps = {step.job_id: step for step in plan.steps}
    paths: dict[str, tuple[Path, str]] = {}
    for result in report.results:
        step = steps.get(result.job_id)
        job = None if step is None else step.job
        rendered = result.outcome is Outcome.COMPLETED and result.action in _RENDERING_ACTIONS
        # A bill the spend cap already read (run/_state.settle) is not read again.
        known = result.billed_credits is not None
        if job is not None and rendered and result.artifact is not None and not known:
            resolution = resolution_of(job.form_state)
            paths[result.job_id] = (lock_dir / result.artifact.path, resolution)
    return paths


def _credit(
    report: RunReport, estimate: Estimate, cap: SpendCap | None, billed: Mapping[str, int | None]
) -> None:
    report.budget = None if cap is None else cap.credits

    def credited(result: JobResult) -> JobResult:
        estimated = estimate.credits(result.job_id) if result.action.submits else None
        bill = billed.get(result.job_id, result.billed_credits)
        if estimated == result.estimated_credits and bill == result.billed_credits:
            return result  # a skipped job (most of a rerun's): nothing to fill in
        return dataclasses.replace(result, estimated_credits=estimated, billed_credits=bill)

    report.results = [credited(r) for r in report.results]
