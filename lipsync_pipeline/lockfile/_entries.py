"""What a lockfile records, as values: one entry per job, its artifact, and a loaded
snapshot of them all."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
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
