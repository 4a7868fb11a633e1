"""What a lockfile records, as values: one entry per job, its artifact, and a loaded
snapshot of them all."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal, get_args

from lipsync_pipeline.lockfile._inputs import Inputs, InputVersion

__all__ = [
    "LOCK_VERSION",
    "STATUSES",
    "Artifact",
    "LockEntry",
    "LockSnapshot",
    "Status",
    "artifact_relpath",
    "new_artifact",
    "new_entry",
]

# Not bumped for "unknown": a version-1 reader that meets it refuses the lock with a
# located error (the status is not in its schema) rather than misreading it, while a
# bump would make every lock this version writes unreadable to older ones in a team.
LOCK_VERSION: Final = 1
# submitting: intent recorded before a POST (a crash there leaves the outcome unknown);
# unknown: the POST was sent and got no clear answer, so the job may exist;
# processing: the API accepted it under request_id; completed / failed: its final word.
Status = Literal["submitting", "unknown", "processing", "completed", "failed"]
STATUSES: Final = frozenset(get_args(Status))


@dataclass(frozen=True, slots=True)
class Artifact:
    """A downloaded result: ``path`` is POSIX, relative to the lockfile's directory;
    ``store_key`` where the object store keeps it (relative to the store's URL), if
    the run had a store."""

    path: str
    sha256: str
    bytes: int
    store_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"bytes": self.bytes, "path": self.path, "sha256": self.sha256}
        if self.store_key is not None:
            data["store_key"] = self.store_key
        return data


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One job's recorded state (see ``schemas/lock.schema.json`` for each field)."""

    job_id: str
    fingerprint: str
    model: str
    status: Status
    idempotency_key: str
    seed: int | None = None
    request_id: str | None = None
    output_url: str | None = None
    error: str | None = None
    execution_time_ms: int | None = None
    artifact: Artifact | None = None
    # What each URL input was when the job was submitted, by field (see ``_inputs``).
    inputs: Inputs = ()

    def input_versions(self) -> dict[str, InputVersion]:
        return dict(self.inputs)


@dataclass(frozen=True, slots=True)
class LockSnapshot:
    """A loaded lockfile with any pending journal folded in."""

    path: Path
    entries: Mapping[str, LockEntry]


def artifact_relpath(file: Path, lock_path: Path) -> str:
    """How a lock records an artifact: POSIX, relative to the lock's directory, with
    '..' where the output directory sits beside it rather than below."""
    return Path(os.path.relpath(file, lock_path.parent)).as_posix()


# Building without __init__: a frozen dataclass's __init__ sets each field through
# object.__setattr__, a generic lookup per field; setting each slot through its own
# descriptor builds the same object in half the time (~50 ms of reading a
# 50,000-entry lock). For values already checked; tests pin the result to __init__'s.
_new: Final = object.__new__
_ENTRY_SLOTS: Final = tuple(getattr(LockEntry, f.name).__set__ for f in fields(LockEntry))
_ARTIFACT_SLOTS: Final = tuple(getattr(Artifact, f.name).__set__ for f in fields(Artifact))


def new_entry(job_id: str, values: tuple[Any, ...]) -> LockEntry:
    """``LockEntry(job_id, *values)``, with every field after the job id given."""
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11 = _ENTRY_SLOTS
    (v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11) = values
    entry: LockEntry = _new(LockEntry)
    s0(entry, job_id)
    s1(entry, v1)
    s2(entry, v2)
    s3(entry, v3)
    s4(entry, v4)
    s5(entry, v5)
    s6(entry, v6)
    s7(entry, v7)
    s8(entry, v8)
    s9(entry, v9)
    s10(entry, v10)
    s11(entry, v11)
    return entry


def new_artifact(path: str, sha256: str, size: int, store_key: str | None) -> Artifact:
    """``Artifact(path, sha256, size, store_key)``, as ``new_entry`` builds."""
    s0, s1, s2, s3 = _ARTIFACT_SLOTS
    artifact: Artifact = _new(Artifact)
    s0(artifact, path)
    s1(artifact, sha256)
    s2(artifact, size)
    s3(artifact, store_key)
    return artifact
