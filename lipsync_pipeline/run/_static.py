"""A plan's steps that need no API: moves carried, removals applied, each outcome
recorded. All an up-to-date run does, so it is synchronous and needs no trio."""

from __future__ import annotations

from typing import Final

from lipsync_pipeline.lockfile import LockJournal, write_failure
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import Action, Plan
from lipsync_pipeline.run._moves import carry_moves
from lipsync_pipeline.run._options import NullProgress, ProgressSink
from lipsync_pipeline.run._report import JobResult, Outcome, RunReport

__all__ = ["execute_static", "record_static"]


def execute_static(
    plan: Plan,
    manifest: Manifest,
    journal: LockJournal,
    progress: ProgressSink | None = None,
    report: RunReport | None = None,
) -> RunReport:
    """Carry out ``plan`` when none of its steps calls the API (ValueError otherwise):
    the report of an up-to-date run, or of one that only renames and removes."""
    if any(step.action.touches_api for step in plan.steps):
        raise ValueError("a plan that calls the API needs execute() and a client")
    report = report if report is not None else RunReport()
    results: list[JobResult] = []
    carry_moves(plan.steps, manifest, journal)  # first: every later record builds on it
    record_static(plan, journal, results, progress or NullProgress())
    order = {step.job_id: index for index, step in enumerate(plan.steps)}
    report.results = sorted(results, key=lambda r: order[r.job_id])
    return report


_OUTCOMES: Final = {
    Action.SKIP: Outcome.SKIPPED,
    Action.HOLD: Outcome.UNKNOWN,
    Action.REMOVE: Outcome.REMOVED,
    Action.UNSELECTED: Outcome.UNSELECTED,
    Action.MOVE: Outcome.MOVED,
}


def record_static(
    plan: Plan, journal: LockJournal, results: list[JobResult], progress: ProgressSink
) -> None:
    """Steps that need no API: record their outcome, apply removals."""
    removed = [s.job_id for s in plan.with_action(Action.REMOVE)]
    if removed:
        try:
            journal.drop(removed)
        except OSError as exc:
            raise write_failure(journal.path, exc) from exc
    for step in plan.steps:
        outcome = _OUTCOMES.get(step.action)
        if outcome is None:
            continue
        entry = step.entry
        results.append(
            JobResult(
                step.job_id,
                step.action,
                outcome,
                # A held job's reason is what the user must do about it.
                error=step.reason if step.action is Action.HOLD else "",
                request_id=entry.request_id if entry else None,
                artifact=entry.artifact if entry else None,
            )
        )
        progress.job_state(step.job_id, str(outcome))
