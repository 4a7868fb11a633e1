"""Deciding, per job, what a run must do: a pure function of manifest and lock.

``plan(manifest, lock, artifacts=...)`` does no I/O. Whatever needs the disk (is
the recorded artifact still there, with the recorded digest?) is checked by the
caller and handed in as ``artifacts``, so ``plan``, ``run`` and ``status`` share
one decision and tests need no files.

The rules (issue 4, "rerun rules"):

========================================  =========  ===================================
lock says                                 action     why
========================================  =========  ===================================
nothing                                   submit     new job
completed, same fingerprint, artifact ok  skip       up to date: zero API calls
completed, same fingerprint, artifact bad download   fetch the output again, never re-render
                                                     (missing, altered, or output_dir moved)
completed, the store holds the render     skip       the file on disk is optional (`pull`)
completed, a URL input changed            submit     `audio` changed at its URL (``changed``,
                                                     from the input check; else skip/download)
processing (request id), same fingerprint resume     poll the recorded id, never resubmit
unknown or submitting, same fingerprint   hold       the POST may have created the job, and the
                                                     API may bill a resend twice: reported, not sent
  ... with ``resend_unknown``             resubmit   same Idempotency-Key (the user's say-so, or an
                                                     API that honours the key: ``--local``)
failed, same fingerprint                  retry      the job's own failure: submit again
any, fingerprint changed                  submit     the request changed
job not in the manifest                   remove     dropped from the lock
========================================  =========  ===================================

``--replace ID`` turns a job's action into ``submit``; ``--only ID`` leaves every
other job (and every removal) untouched; so does ``shard`` (``--shard K/N``) for the jobs
of other shards. ``local=True`` (``--local``): the built-in
studio forgets its jobs when the run that started it ends, so a job to download,
resume or resend renders again there (free) instead.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from lipsync_pipeline.lockfile import LockEntry, LockSnapshot
from lipsync_pipeline.manifest import Job, Manifest
from lipsync_pipeline.shard import Shard

__all__ = [
    "Action",
    "ArtifactState",
    "Plan",
    "Step",
    "changed_reason",
    "plan",
    "unknown_outcome_hint",
]


class Action(enum.StrEnum):
    SKIP = "skip"
    SUBMIT = "submit"
    RESUBMIT = "resubmit"
    RESUME = "resume"
    RETRY = "retry"
    DOWNLOAD = "download"
    HOLD = "hold"  # outcome unknown: reported, never sent without the user's say-so
    REMOVE = "remove"
    UNSELECTED = "unselected"

    @property
    def submits(self) -> bool:
        """Whether this action sends a POST (and so may cost credits)."""
        return self in _SUBMITTING

    @property
    def touches_api(self) -> bool:
        return self not in (Action.SKIP, Action.HOLD, Action.REMOVE, Action.UNSELECTED)


def changed_reason(fields: Collection[str]) -> str:
    """Why a done job renders again: "`audio` changed at its URL"."""
    names = ", ".join(f"`{name}`" for name in sorted(fields))
    return f"{names} changed at {'its URL' if len(fields) == 1 else 'their URLs'}"


def unknown_outcome_hint(job_id: str) -> str:
    """What a user does about a submission whose outcome is unknown; every message about
    one ends with it (plan, status, the run report)."""
    return (
        "check the provider's dashboard, then `run --resend-unknown` (same "
        f"Idempotency-Key) or `run --replace {job_id}` (a new render)"
    )


_SUBMITTING = frozenset({Action.SUBMIT, Action.RESUBMIT, Action.RETRY})
# Actions that need the studio that rendered the job to remember it.
_ASKS_A_PAST_STUDIO = frozenset({Action.DOWNLOAD, Action.RESUME, Action.RESUBMIT})
_LOCAL_FORGETS = "the local studio forgets its jobs, so it renders again (free)"


class ArtifactState(enum.StrEnum):
    """What the caller found on disk for a completed job's artifact."""

    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"
    MOVED = "moved"  # output_dir changed since it was downloaded
    STORED = "stored"  # not on disk as recorded, but the run's object store holds it


@dataclass(frozen=True, slots=True)
class Step:
    job_id: str
    action: Action
    reason: str
    job: Job | None
    entry: LockEntry | None


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]

    def counts(self) -> Counter[str]:
        return Counter(str(step.action) for step in self.steps)

    @property
    def is_noop(self) -> bool:
        """True when running would change nothing: no API call, no lock change."""
        return all(s.action in (Action.SKIP, Action.UNSELECTED) for s in self.steps)

    def with_action(self, *actions: Action) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action in actions)


def plan(
    manifest: Manifest,
    lock: LockSnapshot,
    *,
    artifacts: Mapping[str, ArtifactState] | None = None,
    only: Collection[str] = (),
    replace: Collection[str] = (),
    local: bool = False,
    resend_unknown: bool = False,
    shard: Shard | None = None,
    changed: Mapping[str, Collection[str]] | None = None,
) -> Plan:
    """Decide each job's action. ``artifacts`` maps job ids of completed entries
    to what is on disk; a completed job absent from it counts as ``OK``.
    ``resend_unknown``: submissions whose outcome is unknown are sent again (with their
    key) rather than held. ``changed``: job id -> the input fields whose URL now serves
    another version than the lock records (found by the caller: ``inputs.examine``)."""
    artifacts = artifacts or {}
    changed = changed or {}
    selected = set(only)
    steps: list[Step] = []
    for job in manifest.jobs:
        entry = lock.entries.get(job.id)
        if selected and job.id not in selected:
            steps.append(Step(job.id, Action.UNSELECTED, "not selected by --only", job, entry))
            continue
        if shard is not None and not shard.holds(job.id):
            why = f"in another shard than {shard}"
            steps.append(Step(job.id, Action.UNSELECTED, why, job, entry))
            continue
        if job.id in replace:
            steps.append(Step(job.id, Action.SUBMIT, "forced by --replace", job, entry))
            continue
        state = artifacts.get(job.id, ArtifactState.OK)
        # The local studio renders for free and honours the key: nothing to hold there.
        action, reason = _decide(job, entry, state, resend_unknown=resend_unknown or local)
        if action in (Action.SKIP, Action.DOWNLOAD) and changed.get(job.id):
            action, reason = Action.SUBMIT, changed_reason(changed[job.id])
        if local and action in _ASKS_A_PAST_STUDIO:
            action, reason = Action.SUBMIT, f"{reason.split(':')[0]}; {_LOCAL_FORGETS}"
        steps.append(Step(job.id, action, reason, job, entry))
    # A shard's lock holds only its own jobs: whatever else it lacks is not a removal.
    if not selected and shard is None:
        present = {job.id for job in manifest.jobs}
        for job_id in sorted(set(lock.entries) - present):
            steps.append(
                Step(job_id, Action.REMOVE, "no longer in the manifest", None, lock.entries[job_id])
            )
    return Plan(tuple(steps))


def _decide(
    job: Job, entry: LockEntry | None, artifact: ArtifactState, *, resend_unknown: bool
) -> tuple[Action, str]:
    if entry is None:
        return Action.SUBMIT, "new job"
    if entry.fingerprint != job.fingerprint:
        return Action.SUBMIT, "request changed since the last render"
    if entry.status == "completed":
        if entry.artifact is None or artifact is ArtifactState.MISSING:
            return Action.DOWNLOAD, "completed, output file missing: downloading again"
        if artifact is ArtifactState.CORRUPT:
            return Action.DOWNLOAD, "completed, output file does not match its digest"
        if artifact is ArtifactState.MOVED:
            return Action.DOWNLOAD, "completed, output_dir changed: downloading it there"
        if artifact is ArtifactState.STORED:
            return Action.SKIP, "up to date (in the store)"
        return Action.SKIP, "up to date"
    if entry.status == "processing" and entry.request_id:
        return Action.RESUME, f"still processing as {entry.request_id}: polling it"
    if entry.status in ("submitting", "unknown") or (
        entry.status == "processing" and not entry.request_id
    ):
        how = "sent, no clear answer" if entry.status == "unknown" else "interrupted while sending"
        if resend_unknown:
            return Action.RESUBMIT, f"outcome unknown ({how}): resending with the same key"
        hint = unknown_outcome_hint(job.id)
        return Action.HOLD, f"outcome unknown ({how}): resending may bill twice; {hint}"
    if entry.status == "failed":
        return Action.RETRY, f"failed last time ({entry.error or 'no reason given'})"
    return Action.SUBMIT, f"unknown recorded status {entry.status!r}"
