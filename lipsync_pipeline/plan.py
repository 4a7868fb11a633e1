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
nothing, but ``moved:`` names an old id   move       completed: the old entry and its output
  whose entry has the same request                   file are carried to the new id, 0 API calls
  (the old id's seed, see below)
  ... not completed                       as above   the entry is carried first, then the rules
                                                     above apply under the new id (processing:
                                                     resumed, never resubmitted; unknown: held)
  ... the request changed too             submit     "renamed from ..., and the request changed"
========================================  =========  ===================================

Seeds and renames: a job that sets no seed gets one derived from its id, and the
fingerprint covers the seed, so a renamed job's own derived seed differs from the
one it was rendered with. The rule (``as_recorded``): a job that sets no seed keeps
the seed its lock entry records (for a carried entry without one: the one derived
from the old id) whenever the request is otherwise unchanged, i.e. whenever the
fingerprint computed with that seed is the entry's; it then renders, resumes and
is recorded with that seed, so a rename is no change, not now and not after the
``moved:`` entry is deleted. Every other job (and every job of an existing lock,
whose entry records the seed its id derives) keeps its fingerprint exactly as
before. A job that changed otherwise renders anew with the seed of its own id, as
does ``--replace``.

A ``moved:`` entry that carries nothing is a warning (``Plan.warnings``), not an
error: neither id is in the lock (the job renders as new), or the new id already
has its entry (the move was applied: the entry can be deleted). A run refuses a
move (exit 2, located) whose new output path holds another file: never overwritten.

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
from dataclasses import dataclass, replace
from typing import Final

from lipsync_pipeline.errors import Problem
from lipsync_pipeline.lockfile import LockEntry, LockSnapshot, artifact_relpath
from lipsync_pipeline.manifest import Job, Manifest, derive_seed, reseeded
from lipsync_pipeline.shard import Shard

__all__ = [
    "NO_CHANGE",
    "Action",
    "ArtifactState",
    "Plan",
    "Step",
    "as_recorded",
    "changed_reason",
    "moved_warnings",
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
    MOVE = "move"  # renamed (moved:): entry and output file carried to the new id

    @property
    def submits(self) -> bool:
        """Whether this action sends a POST (and so may cost credits)."""
        return self in _SUBMITTING

    @property
    def done(self) -> bool:
        """Whether the job's render is done (kept, or its output fetched again): what a
        URL input changed since (``changed``) turns into a new render."""
        return self in _DONE

    @property
    def touches_api(self) -> bool:
        return self not in (
            Action.SKIP,
            Action.HOLD,
            Action.REMOVE,
            Action.UNSELECTED,
            Action.MOVE,
        )


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
_DONE = frozenset({Action.SKIP, Action.DOWNLOAD})
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
    # The old id whose entry ``entry`` is, carried by ``moved:`` (the run records it
    # under ``job_id`` and drops the old one before anything else).
    moved_from: str | None = None


# What a run does for these is nothing: no API call, no lock change.
NO_CHANGE: Final = frozenset({Action.SKIP, Action.UNSELECTED})


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    warnings: tuple[Problem, ...] = ()  # located, for plan/run/validate to show

    def counts(self) -> Counter[str]:
        return Counter(str(step.action) for step in self.steps)

    @property
    def is_noop(self) -> bool:
        """True when running would change nothing: no API call, no lock change."""
        return all(s.action in NO_CHANGE for s in self.steps)

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
    moves = {m.to_id: m.from_id for m in manifest.moved}
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
        old_id = moves.get(job.id) if entry is None else None
        source = None if old_id is None else lock.entries.get(old_id)
        if old_id is not None and source is not None:
            step = _moved(manifest, lock, job, old_id, source, resend_unknown or local, local)
            steps.append(step)
            continue
        job = as_recorded(job, entry)
        state = artifacts.get(job.id, ArtifactState.OK)
        # The local studio renders for free and honours the key: nothing to hold there.
        action, reason = _decide(job, entry, state, resend_unknown=resend_unknown or local)
        if action.done and changed.get(job.id):
            action, reason = Action.SUBMIT, changed_reason(changed[job.id])
        if local and action in _ASKS_A_PAST_STUDIO:
            action, reason = Action.SUBMIT, f"{reason.split(':')[0]}; {_LOCAL_FORGETS}"
        steps.append(Step(job.id, action, reason, job, entry))
    carried = {s.moved_from for s in steps if s.moved_from is not None}
    # A shard's lock holds only its own jobs: whatever else it lacks is not a removal.
    if not selected and shard is None:
        present = {job.id for job in manifest.jobs} | carried
        for job_id in sorted(set(lock.entries) - present):
            steps.append(
                Step(job_id, Action.REMOVE, "no longer in the manifest", None, lock.entries[job_id])
            )
    return Plan(tuple(steps), moved_warnings(manifest, lock, shard))


def as_recorded(job: Job, entry: LockEntry | None) -> Job:
    """``job`` as its lock entry knows it: a job that sets no seed keeps the seed the
    entry records (for an entry without one, the seed its own id derives) when the
    request is otherwise unchanged; else ``job`` itself (see the module's docstring)."""
    if entry is None or not job.seed_derived:
        return job
    seed = derive_seed(entry.job_id) if entry.seed is None else entry.seed
    if seed == job.form_state.get("seed") or entry.fingerprint == job.fingerprint:
        return job
    kept = reseeded(job, seed)
    return kept if kept.fingerprint == entry.fingerprint else job


def _moved(
    manifest: Manifest,
    lock: LockSnapshot,
    job: Job,
    old_id: str,
    source: LockEntry,
    resend_unknown: bool,
    local: bool,
) -> Step:
    """The step of a job renamed by ``moved:`` whose old id has a lock entry."""
    kept = as_recorded(job, source)
    if kept.fingerprint != source.fingerprint:
        why = f"renamed from {old_id} (moved:), and the request changed since its last render"
        return Step(job.id, Action.SUBMIT, why, job, None)
    artifact = source.artifact
    if artifact is not None:
        artifact = replace(artifact, path=artifact_relpath(manifest.output_path(job.id), lock.path))
    entry = replace(source, job_id=job.id, artifact=artifact)
    if entry.status == "completed":
        why = f"moved from {old_id}: the render is kept and its file renamed (no API call)"
        return Step(job.id, Action.MOVE, why, kept, entry, old_id)
    action, reason = _decide(kept, entry, ArtifactState.OK, resend_unknown=resend_unknown)
    if local and action in _ASKS_A_PAST_STUDIO:
        action, reason = Action.SUBMIT, f"{reason.split(':')[0]}; {_LOCAL_FORGETS}"
    return Step(job.id, action, f"moved from {old_id}; {reason}", kept, entry, old_id)


def moved_warnings(
    manifest: Manifest, lock: LockSnapshot, shard: Shard | None = None
) -> tuple[Problem, ...]:
    """``moved:`` entries that carry nothing, located: neither id in the lock, or the
    move already applied. A shard's lock holds its own jobs only: others are not looked at."""
    found = []
    for move in manifest.moved:
        if shard is not None and not shard.holds(move.to_id):
            continue
        if move.to_id in lock.entries:
            message = (
                f"already applied: {move.to_id!r} has its own entry in {lock.path.name}, "
                "so this entry carries nothing and can be deleted"
            )
        elif move.from_id not in lock.entries:
            message = (
                f"stale: neither {move.from_id!r} nor {move.to_id!r} is in {lock.path.name}, "
                f"so {move.to_id!r} renders as a new job; delete this entry"
            )
        else:
            continue
        found.append(Problem(manifest.display_name, move.line, move.column, move.where, message))
    return tuple(found)


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
