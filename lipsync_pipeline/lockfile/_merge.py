"""Three-way, per-job merge of lockfiles (git's merge driver) and the fold of shard
locks into a main lock: pure functions of entries, no I/O.

The rules, per job, comparing OURS and THEIRS with BASE (their common ancestor):

- changed on one side only: that side (a deletion included).
- changed on both sides to the same value: that value.
- deleted on one side, changed on the other: the changed entry (it may hold a paid
  request id; the next ``run`` drops it if the manifest no longer has the job).
- changed on both sides, fingerprints differ: the job's request itself diverged, so
  a human decides (a conflict).
- changed on both sides, same fingerprint: the higher of :data:`PRECEDENCE` wins
  (completed with an artifact > completed without > processing > unknown >
  submitting > failed); "unknown" sits above "submitting" because its POST was
  sent, so the job may exist, while "submitting" only recorded the intent.
- same precedence, same request id: the one with more recorded (deterministically).
- same precedence, different request ids: the one whose render exists (``exists``,
  handed in by the caller: the disk is not this module's business). If both or
  neither exist, a human decides; except when both failed, where nothing is
  reusable and the next run retries whichever is kept.

A request id that the merged entries no longer hold is never dropped silently: it is
either in a :class:`Conflict`'s candidates or listed as :class:`Superseded`. No rule
looks at which side an entry came from once both changed, so swapping OURS and
THEIRS gives the same result, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from lipsync_pipeline.lockfile._entries import LockEntry, Status
from lipsync_pipeline.lockfile._format import (
    CONFLICTS_KEY,
    SUPERSEDED_KEY,
    entry_json,
    render_lock,
)

__all__ = [
    "PRECEDENCE",
    "Conflict",
    "MergeResult",
    "Superseded",
    "fold_locks",
    "merge_locks",
    "render_merge",
]

Entries = Mapping[str, LockEntry]
RenderExists = Callable[[LockEntry], bool]

# Highest first. "completed+artifact" is a completed entry whose render was downloaded.
PRECEDENCE: Final[tuple[str, ...]] = (
    "completed+artifact",
    "completed",
    "processing",
    "unknown",
    "submitting",
    "failed",
)
_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {state: len(PRECEDENCE) - i for i, state in enumerate(PRECEDENCE)}
)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A job a human must decide: the merged lock holds a placeholder (the first
    candidate by precedence), ``candidates`` every entry in play, highest first."""

    job_id: str
    reason: str
    candidates: tuple[LockEntry, ...]


@dataclass(frozen=True, slots=True)
class Superseded:
    """A request id the merged lock no longer holds, decided without a human."""

    job_id: str
    request_id: str
    kept: str | None  # the request id the merged entry holds instead, if any
    reason: str


@dataclass(frozen=True, slots=True)
class MergeResult:
    entries: Mapping[str, LockEntry]
    conflicts: tuple[Conflict, ...] = ()
    superseded: tuple[Superseded, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.conflicts


def _state(entry: LockEntry) -> str:
    if entry.status == "completed" and entry.artifact is not None:
        return "completed+artifact"
    status: Status = entry.status
    return status


def _canonical(entry: LockEntry) -> str:
    return json.dumps(entry_json(entry), sort_keys=True, ensure_ascii=False)


def _order(entry: LockEntry) -> tuple[int, bool, str, str]:
    """Precedence, then "more recorded", then a total order on the values themselves,
    so that a choice never depends on which side an entry came from."""
    has_store = entry.artifact is not None and entry.artifact.store_key is not None
    return (_RANK[_state(entry)], has_store, entry.request_id or "", _canonical(entry))


def merge_locks(
    base: Entries, ours: Entries, theirs: Entries, *, exists: RenderExists | None = None
) -> MergeResult:
    """The three-way merge of whole locks (see the module's rules)."""
    has_render = exists or (lambda entry: entry.artifact is not None)
    merged: dict[str, LockEntry] = {}
    conflicts: list[Conflict] = []
    superseded: list[Superseded] = []
    for job_id in sorted(set(base) | set(ours) | set(theirs)):
        kept, conflict, lost = _merge_job(
            job_id, base.get(job_id), ours.get(job_id), theirs.get(job_id), has_render
        )
        if kept is not None:
            merged[job_id] = kept
        if conflict is not None:
            conflicts.append(conflict)
        superseded.extend(lost)
    return MergeResult(
        MappingProxyType(merged),
        tuple(conflicts),
        tuple(sorted(superseded, key=lambda s: (s.job_id, s.request_id))),
    )


def _merge_job(
    job_id: str,
    base: LockEntry | None,
    ours: LockEntry | None,
    theirs: LockEntry | None,
    exists: RenderExists,
) -> tuple[LockEntry | None, Conflict | None, list[Superseded]]:
    if ours == theirs:
        return ours, None, []
    if ours == base or theirs == base:
        kept, other = (theirs, ours) if ours == base else (ours, theirs)
        # One side changed (or deleted) it; the other's request id, if the change lost
        # it, is a render the base paid for and this side no longer mentions.
        return kept, None, _lost(job_id, other, kept, "replaced on the other side")
    if ours is None or theirs is None:
        kept = ours or theirs
        return kept, None, []
    first, second = sorted((ours, theirs), key=_order, reverse=True)
    if first.fingerprint != second.fingerprint:
        reason = "the job's request differs on each side (fingerprint): pick one"
        return first, Conflict(job_id, reason, (first, second)), []
    if _RANK[_state(first)] != _RANK[_state(second)] or first.request_id == second.request_id:
        why = f"{_state(first)} beats {_state(second)}"
        return first, None, _lost(job_id, second, first, why)
    if first.status == "failed":
        return first, None, _lost(job_id, second, first, "both failed: the next run retries")
    first_ok, second_ok = exists(first), exists(second)
    if first_ok != second_ok:
        kept, other = (first, second) if first_ok else (second, first)
        return kept, None, _lost(job_id, other, kept, "its render does not exist here")
    reason = (
        f"both {_state(first)} under different request ids, "
        + ("both renders exist" if first_ok else "neither render exists here")
        + ": keep one"
    )
    return first, Conflict(job_id, reason, (first, second)), []


def _lost(
    job_id: str, dropped: LockEntry | None, kept: LockEntry | None, reason: str
) -> list[Superseded]:
    if dropped is None or dropped.request_id is None:
        return []
    kept_id = None if kept is None else kept.request_id
    if dropped.request_id == kept_id:
        return []
    return [Superseded(job_id, dropped.request_id, kept_id, reason)]


def fold_locks(
    main: Entries, shards: Iterable[Entries], *, exists: RenderExists | None = None
) -> MergeResult:
    """Fold shard locks into ``main``: each shard holds only its own jobs, so it is
    merged as "main with this shard's entries over it" (a job a shard does not
    mention is unchanged, not deleted). Disjoint shards never conflict; a job found
    in two shards is decided by the merge rules."""
    result = MergeResult(main)
    conflicts: list[Conflict] = []
    superseded: list[Superseded] = []
    for shard in shards:
        theirs = {**result.entries, **shard}
        result = merge_locks(main, result.entries, theirs, exists=exists)
        conflicts.extend(result.conflicts)
        superseded.extend(result.superseded)
    unique = {(s.job_id, s.request_id): s for s in superseded}
    return MergeResult(
        result.entries,
        _one_conflict_per_job(conflicts),
        tuple(unique[k] for k in sorted(unique)),
    )


def _one_conflict_per_job(conflicts: Iterable[Conflict]) -> tuple[Conflict, ...]:
    """A job found in three shards can conflict at two fold steps, the second with
    the first's placeholder: its candidates are the union of both, or the entry the
    placeholder stood in for would be lost."""
    by_job: dict[str, Conflict] = {}
    for conflict in conflicts:
        earlier = by_job.get(conflict.job_id)
        if earlier is None:
            by_job[conflict.job_id] = conflict
            continue
        candidates = {_canonical(e): e for e in (*earlier.candidates, *conflict.candidates)}
        ranked = sorted(candidates.values(), key=_order, reverse=True)
        by_job[conflict.job_id] = Conflict(conflict.job_id, earlier.reason, tuple(ranked))
    return tuple(by_job[job_id] for job_id in sorted(by_job))


def render_merge(result: MergeResult) -> bytes:
    """The merged lock's bytes. Clean: exactly :func:`render_lock`'s. With conflicts,
    two more keys say what a human must decide and which request ids were set aside;
    a loader refuses such a lock, so a run never builds on an undecided merge."""
    data = render_lock(result.entries.values())
    if result.clean:
        return data
    report: dict[str, Any] = {
        CONFLICTS_KEY: {
            c.job_id: {"candidates": [entry_json(e) for e in c.candidates], "reason": c.reason}
            for c in result.conflicts
        },
        SUPERSEDED_KEY: [
            {"job": s.job_id, "kept": s.kept, "reason": s.reason, "request_id": s.request_id}
            for s in result.superseded
        ],
    }
    extra = json.dumps(report, indent=2, ensure_ascii=False)[1:-2]  # without the braces
    assert data.endswith(b"\n}\n")
    return data[: -len(b"\n}\n")] + b"," + extra.encode() + b"\n}\n"
