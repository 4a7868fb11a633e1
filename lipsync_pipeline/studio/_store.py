"""The studio's in-memory state: jobs, idempotency keys, and the counters of ``/_studio/stats``.

Everything here runs on the event loop only (never in a worker thread), so plain
dicts need no locks; the check-then-insert of an idempotency key has no ``await``
in between, which is what makes concurrent duplicate POSTs safe.

API keys are never stored: a job's owner is a digest of the key.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

__all__ = ["Job", "JobStatus", "JobStore", "Stats", "owner_of"]

JobStatus = Literal["processing", "completed", "failed"]
# The provider's own example shows this model name while a job is processing.
PROCESSING_MODEL: Final = "lipsync"


def owner_of(api_key: str) -> str:
    """A stable, non-reversible identity for an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:24]


@dataclass(slots=True)
class Job:
    id: str
    owner: str
    model: str
    form_state: Mapping[str, Any]
    webhook: str | None
    base_url: str  # how the client reached us: output URLs are built on it
    created: float  # trio clock
    fail_injected: bool = False
    status: JobStatus = "processing"
    output_path: Path | None = None
    error: str = ""
    execution_ms: int | None = None
    credits: int | None = None

    @property
    def finished(self) -> bool:
        return self.status != "processing"

    def public(self) -> dict[str, Any]:
        """The job exactly as ``GET /api/v1/jobs/{id}`` and webhooks show it."""
        return {
            "id": self.id,
            "model": self.model if self.finished else PROCESSING_MODEL,
            "status": self.status,
            "output": f"{self.base_url}/outputs/{self.id}.mp4"
            if self.status == "completed"
            else None,
            "error": self.error,
            "executionTime": self.execution_ms,
            "timings": None,
        }


@dataclass(slots=True)
class Stats:
    jobs_created: int = 0
    idempotent_replays: int = 0
    credits_estimated: int = 0
    billed_seconds: int = 0
    output_seconds: float = 0.0
    render_seconds: float = 0.0
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    webhooks: Counter[str] = field(default_factory=Counter)

    def record_request(self, method: str, status: str) -> None:
        self.requests[(method, status)] += 1


class JobStore:
    """Jobs by id, and idempotency keys per owner."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.stats = Stats()

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job if it exists *and* belongs to ``owner``: others' jobs are not found."""
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def replay(self, owner: str, key: str, request_digest: bytes) -> Job | Literal[False] | None:
        """The job an idempotency key already created; False if it was for another request."""
        entry = self._idempotency.get((owner, key))
        if entry is None:
            return None
        job_id, digest = entry
        if digest != request_digest:
            return False
        self.stats.idempotent_replays += 1
        return self.jobs[job_id]

    def create(
        self,
        *,
        owner: str,
        model: str,
        form_state: Mapping[str, Any],
        webhook: str | None,
        base_url: str,
        now: float,
        idempotency: tuple[str, bytes] | None,
    ) -> Job:
        job = Job(
            id=str(uuid.uuid4()),
            owner=owner,
            model=model,
            form_state=form_state,
            webhook=webhook,
            base_url=base_url,
            created=now,
        )
        self.jobs[job.id] = job
        if idempotency is not None:
            key, digest = idempotency
            self._idempotency[(owner, key)] = (job.id, digest)
        self.stats.jobs_created += 1
        return job

    def snapshot(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON of ``/_studio/stats``."""
        s = self.stats
        by_method: dict[str, dict[str, int]] = {}
        for (method, status), count in sorted(s.requests.items()):
            by_method.setdefault(method, {})[status] = count
        by_status = Counter(job.status for job in self.jobs.values())
        return {
            "jobs_created": s.jobs_created,
            "jobs_by_status": {
                k: by_status.get(k, 0) for k in ("processing", "completed", "failed")
            },
            "idempotent_replays": s.idempotent_replays,
            "requests": by_method,
            "requests_total": sum(s.requests.values()),
            "credits_estimated": s.credits_estimated,
            "billed_seconds": s.billed_seconds,
            "output_seconds": round(s.output_seconds, 3),
            "render_seconds": round(s.render_seconds, 3),
            "webhooks": {k: s.webhooks.get(k, 0) for k in ("delivered", "failed", "attempts")},
            **extra,
        }
