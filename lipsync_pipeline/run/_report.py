"""What a run did, job by job: the values the CLI prints and ``--format json`` emits."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lipsync_pipeline.errors import Problem
from lipsync_pipeline.lockfile import Artifact
from lipsync_pipeline.plan import Action

__all__ = ["JobResult", "Outcome", "RunReport"]


class Outcome(enum.StrEnum):
    COMPLETED = "completed"  # rendered (or already was) and the artifact is on disk
    SKIPPED = "skipped"  # up to date, nothing done
    FAILED = "failed"  # the job itself failed at the API: final for this run
    ERROR = "error"  # we could not finish talking to the API; the next run resumes
    TIMED_OUT = "timed_out"  # still processing after --job-timeout; the next run resumes
    # Sent, no clear answer (now or in an earlier run): the job may exist and be billed.
    # Not sent again without --resend-unknown; the report says what to do.
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"  # not started (Ctrl-C, --fail-fast, an unreachable API)
    # Not submitted: it would have taken the run's estimated credits past the spend cap
    # (lipsync_pipeline.budget). The lock is untouched, so the next run submits it.
    OVER_BUDGET = "over_budget"
    IN_FLIGHT = "in_flight"  # interrupted while submitted or processing; the next run resumes
    REMOVED = "removed"  # dropped from the lock
    UNSELECTED = "unselected"  # outside --only
    MOVED = "moved"  # renamed by moved:: entry and file carried to the new id, no API call

    @property
    def is_problem(self) -> bool:
        return self in _PROBLEMS


_PROBLEMS = frozenset(
    {
        Outcome.FAILED,
        Outcome.ERROR,
        Outcome.TIMED_OUT,
        Outcome.UNKNOWN,
        Outcome.CANCELLED,
        Outcome.IN_FLIGHT,
        Outcome.OVER_BUDGET,
    }
)


@dataclass(frozen=True, slots=True)
class JobResult:
    job_id: str
    action: Action
    outcome: Outcome
    error: str = ""
    request_id: str | None = None
    artifact: Artifact | None = None
    seconds: float = 0.0
    # Credits: the plan's estimate for a submission (None: not a submission, or of
    # unknown cost), and what a render completed by this run bills, measured from
    # its output's length (None: nothing rendered, or the file could not be read).
    estimated_credits: int | None = None
    billed_credits: int | None = None


@dataclass(slots=True)
class RunReport:
    results: list[JobResult] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    store_requests: dict[str, int] = field(default_factory=dict)  # HEAD/PUT/GET/... to the store
    elapsed: float = 0.0
    interrupted: bool = False
    # Why the run as a whole fell short, beyond its jobs' own outcomes: the CLI's exit
    # code says which (5 before 4 before 1), so CI can tell "fix the disk" or "the API
    # is down" from "a job failed". Empty when it does not apply.
    storage_error: str = ""  # an output could not be written (disk full, read-only)
    store_error: str = ""  # the object store refused a render mid-run (exit 4, like the API)
    api_error: str = ""  # no job got through: the API was unreachable or kept failing
    warnings: tuple[Problem, ...] = ()  # the plan's (a stale moved: entry), located
    budget: int | None = None  # the spend cap in force (credits), if any

    @property
    def estimated_credits(self) -> int:
        """The estimate of the run's submissions whose cost is known."""
        return sum(r.estimated_credits or 0 for r in self.results)

    @property
    def billed_credits(self) -> int:
        """What the renders this run completed bill, from their outputs' lengths."""
        return sum(r.billed_credits or 0 for r in self.results)

    @property
    def over_budget(self) -> bool:
        """Some job was not submitted because of the spend cap (exit 6)."""
        return any(r.outcome is Outcome.OVER_BUDGET for r in self.results)
