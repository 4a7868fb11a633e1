"""``status --refresh``: ask the API about every unfinished job of the lock (read-only)."""

from __future__ import annotations

from lipsync_pipeline.api import ApiClient, JobStatus
from lipsync_pipeline.errors import ConfigError, RequestRejected
from lipsync_pipeline.usecases._admit import resolve_remote
from lipsync_pipeline.usecases._check import Checked
from lipsync_pipeline.usecases._request import RunRequest
from lipsync_pipeline.usecases._run import MAX_CONNECTIONS

__all__ = ["refresh"]


async def refresh(checked: Checked, request: RunRequest) -> dict[str, JobStatus | str]:
    """Each processing job's live status. A job the API cannot answer for maps to the
    reason, so one bad id does not hide the rest."""
    if any(job.local_inputs for job in checked.manifest.jobs):
        raise ConfigError(
            "--refresh asks the hosted API; this manifest renders on the local studio, "
            "whose jobs end with the run that started them"
        )
    remote = resolve_remote(request, checked.manifest)
    unfinished = {
        job_id: entry.request_id
        for job_id, entry in checked.lock.entries.items()
        if entry.status == "processing" and entry.request_id
    }
    found: dict[str, JobStatus | str] = {}
    async with ApiClient(
        remote.base_url, remote.api_key, max_connections=MAX_CONNECTIONS
    ) as client:
        for job_id, request_id in sorted(unfinished.items()):
            try:
                found[job_id] = await client.get_job(request_id)
            except RequestRejected as exc:
                found[job_id] = str(exc)
    return found
