"""Credit estimates for ``plan`` and the spend cap: what a plan's submissions would cost.

Each timed input's duration comes from one of two places: a local file's container
header (read with PyAV, no decoding) or, for a URL, the ``remote`` mapping the caller
hands in (URL -> seconds, or the reason its length could not be read). A job with an
input whose length is not known is "unknown" with that reason, never a guess. The
rules themselves live in ``pricing`` and are shared with the reference studio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lipsync_pipeline._media import UnreadableMedia, media_seconds
from lipsync_pipeline.manifest import Job
from lipsync_pipeline.plan import Plan
from lipsync_pipeline.pricing import estimate_credits, resolution_of

__all__ = ["Estimate", "JobCost", "RemoteDurations", "estimate_plan"]

# The output follows the audio (pricing.py): these are the fields that set its length.
TIMED_FIELDS: Final = ("audio", "left_audio", "right_audio")
_NOT_PROBED: Final = "remote input not measured"

# URL -> its duration in seconds, or the reason it could not be read.
RemoteDurations = Mapping[str, float | str]


@dataclass(frozen=True, slots=True)
class JobCost:
    """One submission's estimated credits, or ``None`` and why it is unknown."""

    credits: int | None
    unknown: str | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """Estimated credits of every submitting step, in plan order."""

    jobs: Mapping[str, JobCost]

    @property
    def total(self) -> int:
        """The sum over the jobs whose cost is known."""
        return sum(c.credits for c in self.jobs.values() if c.credits is not None)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Ids of the jobs whose cost could not be estimated, sorted."""
        return tuple(sorted(j for j, c in self.jobs.items() if c.credits is None))

    def credits(self, job_id: str) -> int | None:
        cost = self.jobs.get(job_id)
        return None if cost is None else cost.credits

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` dearest jobs (id, credits), dearest first, ties by id."""
        known = [(j, c.credits) for j, c in self.jobs.items() if c.credits is not None]
        return sorted(known, key=lambda item: (-item[1], item[0]))[:n]


def _local_duration(path: Path, cache: dict[Path, float | str]) -> float | str:
    if path not in cache:
        try:
            seconds = media_seconds(path)
        except UnreadableMedia:
            cache[path] = f"{path.name}: not a readable media file"
        else:
            cache[path] = f"{path.name}: no duration in its header" if seconds is None else seconds
    return cache[path]


def _job_cost(job: Job, remote: RemoteDurations, cache: dict[Path, float | str]) -> JobCost:
    durations: dict[str, float] = {}
    for name in TIMED_FIELDS:
        if name not in job.form_state:
            continue
        path = job.local_inputs.get(name)
        if path is not None:
            seconds = _local_duration(path, cache)
        else:
            seconds = remote.get(str(job.form_state[name]), _NOT_PROBED)
        if isinstance(seconds, str):
            return JobCost(None, f"{name}: {seconds}")
        durations[name] = seconds
    order = job.form_state.get("order")
    try:
        credits = estimate_credits(
            job.model,
            resolution_of(job.form_state),
            durations=durations,
            order=order if isinstance(order, str) else None,
        )
    except ValueError as exc:
        return JobCost(None, str(exc))
    return JobCost(credits)


def estimate_plan(
    plan: Plan, *, remote: RemoteDurations | None = None, known: Estimate | None = None
) -> Estimate:
    """Estimated credits per submitting step; URL inputs are looked up in ``remote``.
    ``known``: an estimate already made (``run``'s, before its run lock), whose jobs'
    costs are taken as they are instead of measuring their inputs again."""
    cache: dict[Path, float | str] = {}
    remote = remote or {}
    done = {} if known is None else known.jobs
    return Estimate(
        {
            step.job_id: done[step.job_id]
            if step.job_id in done
            else _job_cost(step.job, remote, cache)
            for step in plan.steps
            if step.action.submits and step.job is not None
        }
    )
