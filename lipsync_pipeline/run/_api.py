"""What the runner needs of an API: the seam where a test puts a fake.

:class:`~lipsync_pipeline.api.ApiClient` is the real thing (HTTP, retries,
timeouts); the runner knows only this protocol, so the job walk can be tested
against a hand-written fake under ``trio.testing.MockClock`` with no socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from lipsync_pipeline._staging import StagedFile
from lipsync_pipeline.api import JobStatus

__all__ = ["Api"]


class Api(Protocol):
    """Submit, poll and fetch, with the counts a run report shows.

    Errors are the :class:`~lipsync_pipeline.errors.ApiError` family: an
    ``AuthError`` ends the run, ``RequestRejected`` (a definite 4xx) fails the
    job, ``TransientApiError`` means retries ran out."""

    @property
    def requests(self) -> Mapping[str, int]:
        """Requests sent so far, by method ("POST", "GET", "DOWNLOAD")."""

    @property
    def requests_ok(self) -> int:
        """Answers that were not a transport failure, 5xx or 429."""

    async def submit(
        self,
        model: str,
        form_state: Mapping[str, Any],
        *,
        webhook: str | None,
        idempotency_key: str,
    ) -> str:
        """Create a job; returns its request id."""

    async def get_job(self, request_id: str) -> JobStatus:
        """The job's status as the API reports it."""

    async def fetch(self, url: str, dest: Path) -> StagedFile:
        """The output at ``url``, hashed, in a temp file beside ``dest`` (not yet in place)."""
