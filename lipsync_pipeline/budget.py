"""The spend cap: ``run --max-credits N`` and the manifest's ``budget: N``.

What we decided:

* **Both given: the lower wins.** The manifest's cap is reviewed in a pull request;
  a flag in a CI job may tighten it for one run, never loosen it.
* **Before anything is submitted**, the estimate of what the run would submit
  (:func:`lipsync_pipeline.estimate.estimate_plan`) is held against the cap: above
  it, the run is refused (:class:`BudgetExceeded`, exit 6) with the estimate, the cap
  and the dearest jobs. ``plan`` makes the same check and exits 6 too, so a pull
  request that would blow the budget fails its plan check before it is merged.
* **A job of unknown cost counts as over the cap**, unless ``--allow-unknown-cost``:
  then it is submitted and counts as 0 (nobody could tell its cost; that is the
  user's say-so).
* **While running**, :class:`SpendLedger` admits submissions in the plan's order
  while what it counts stays within the cap: each admitted job at its estimate until
  its render is done, then at what that render bills (its output's length,
  :func:`billed_credits`). A job that would take it past is not submitted
  (``Outcome.OVER_BUDGET``, the run exits 6) and a cheaper one after it still may
  be. After the check above passed, this bites when a render bills more than its
  estimate (a job of unknown cost, allowed at 0, is the usual one), or when the
  plan made under the run lock submits jobs the checked one did not (another run
  changed the lock meanwhile, or ``--local`` found renders missing from disk).

Credits are estimates: billed on the output's length, which follows the audio
(``pricing``). A run reports what it billed, measured from each render, beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._media import UnreadableMedia, media_seconds
from lipsync_pipeline._mp4 import movie_seconds
from lipsync_pipeline.errors import BudgetExceeded
from lipsync_pipeline.estimate import Estimate, JobCost
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.pricing import credits_for_output

__all__ = [
    "BudgetCheck",
    "SpendCap",
    "SpendLedger",
    "billed_credits",
    "check_budget",
    "enforce_budget",
    "spend_cap",
]

# How many of the dearest jobs (and of the jobs of unknown cost) a message names.
TOP_JOBS: Final = 5


@dataclass(frozen=True, slots=True)
class SpendCap:
    """At most ``credits`` (estimated) per run. ``source`` says where the cap comes
    from, for messages: ``--max-credits`` or ``renders.yaml:3:9: budget``."""

    credits: int
    source: str
    allow_unknown: bool = False


def spend_cap(
    manifest: Manifest, max_credits: int | None, *, allow_unknown: bool = False
) -> SpendCap | None:
    """The cap in force: the lower of ``max_credits`` (the flag) and the manifest's
    ``budget:`` (the manifest's on a tie: it can be located); None when neither is set."""
    caps = []
    if manifest.budget is not None:
        line, column = manifest.budget_mark
        where = f"{manifest.display_name}:{line}:{column}: budget"
        caps.append(SpendCap(manifest.budget, where, allow_unknown))
    if max_credits is not None:
        caps.append(SpendCap(max_credits, f"--max-credits {max_credits}", allow_unknown))
    return min(caps, key=lambda cap: cap.credits) if caps else None


def _names(items: list[str], total: int) -> str:
    more = total - len(items)
    return ", ".join(items) + (f", and {more} more" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """An estimate held against a cap: over it or not, and what to say about it."""

    cap: SpendCap
    estimate: Estimate

    @property
    def unknown_blocks(self) -> bool:
        return bool(self.estimate.unknown) and not self.cap.allow_unknown

    @property
    def over(self) -> bool:
        return self.estimate.total > self.cap.credits or self.unknown_blocks

    def lines(self) -> list[str]:
        """What is wrong, first line located at the cap's source; [] when within it."""
        found = self.findings()
        return [f"{self.cap.source}: {found[0]}", *found[1:]] if found else []

    def findings(self) -> list[str]:
        """What is wrong, unlocated: the totals, the dearest jobs, the unknown ones."""
        if not self.over:
            return []
        jobs, total, cap = len(self.estimate.jobs), self.estimate.total, self.cap.credits
        if total > cap:
            head = (
                f"the run would submit {jobs} job(s) estimated at {total} credits, over "
                f"the cap of {cap}"
            )
        else:
            head = (
                f"{len(self.estimate.unknown)} of the {jobs} job(s) the "
                f"run would submit have an unknown cost, which counts as over the cap of "
                f"{cap} (the others are estimated at {total} credits)"
            )
        out = [head]
        top = self.estimate.top(TOP_JOBS)
        if top:
            dearest = [f"{job} {credits}" for job, credits in top]
            known = len(self.estimate.jobs) - len(self.estimate.unknown)
            out.append(f"dearest: {_names(dearest, known)}")
        if self.unknown_blocks:
            unknown = self.estimate.unknown
            named = [f"{job} ({self.estimate.jobs[job].unknown})" for job in unknown[:TOP_JOBS]]
            out.append(
                f"unknown cost: {_names(named, len(unknown))}; --allow-unknown-cost submits "
                "them anyway"
            )
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "cap": self.cap.credits,
            "source": self.cap.source,
            "allow_unknown_cost": self.cap.allow_unknown,
            "estimated_credits": self.estimate.total,
            "unknown_cost_jobs": list(self.estimate.unknown),
            "over": self.over,
        }


def check_budget(estimate: Estimate, cap: SpendCap | None) -> BudgetCheck | None:
    return None if cap is None else BudgetCheck(cap, estimate)


def enforce_budget(estimate: Estimate, cap: SpendCap | None) -> None:
    """Raise BudgetExceeded when what a run would submit is over ``cap``."""
    check = check_budget(estimate, cap)
    if check is not None and check.over:
        raise BudgetExceeded("\n".join([*check.lines(), "nothing was submitted"]))


def billed_credits(path: Path, resolution: str) -> int | None:
    """What the render at ``path`` bills, from its length (the API's job status says
    nothing of cost): its MP4 movie header, else what PyAV makes of the file. None
    when it cannot tell. Reads the file: call it from a worker thread."""
    seconds = movie_seconds(path)
    if seconds is None:
        try:
            seconds = media_seconds(path)  # only for an output that is not a plain MP4
        except UnreadableMedia:
            return None
    try:
        return None if seconds is None else credits_for_output(resolution, seconds)
    except ValueError:
        return None


class SpendLedger:
    """Admission under the cap during one run: each submission, in the plan's order,
    is admitted while what is counted stays within it. A job counts at its estimate
    (an unknown one allowed at 0) until :meth:`settle` says what its render billed."""

    def __init__(self, cap: SpendCap, costs: Mapping[str, JobCost]) -> None:
        self.cap = cap
        self._costs = costs
        self._counted: dict[str, int] = {}  # job admitted -> its estimate, then its bill
        # Their sum, kept as they change: summing on each admission was quadratic
        # (14 s of a 50,000-job run spent adding).
        self._spent = 0

    @property
    def spent(self) -> int:
        """Credits counted so far: estimates of the admitted jobs, bills of those done."""
        return self._spent

    def __contains__(self, job_id: object) -> bool:
        """Whether ``job_id`` was admitted (and so counts)."""
        return job_id in self._counted

    def take(self, job_id: str) -> str | None:
        """Admit ``job_id``'s submission and count its cost; or why it is not sent."""
        cost = self._costs.get(job_id)
        credits = None if cost is None else cost.credits
        if credits is None and not self.cap.allow_unknown:
            why = "not estimated" if cost is None else cost.unknown
            return (
                f"not submitted: its cost is unknown ({why}) and counts as over the "
                f"cap of {self.cap.credits} ({self.cap.source}); --allow-unknown-cost "
                "submits it"
            )
        credits = credits or 0  # unknown, allowed: the user's say-so that it fits
        if self.spent + credits > self.cap.credits:
            return (
                f"not submitted: {credits} credits would take the run's credits to "
                f"{self.spent + credits} (estimates, and what the renders done billed), "
                f"past the cap of {self.cap.credits} ({self.cap.source})"
            )
        self._counted[job_id] = credits
        self._spent += credits
        return None

    def settle(self, job_id: str, billed: int | None) -> None:
        """An admitted job's render is done and bills ``billed`` credits: count that
        from now on instead of its estimate (None: not measurable, the estimate stays)."""
        if job_id in self._counted and billed is not None:
            self._spent += billed - self._counted[job_id]
            self._counted[job_id] = billed
