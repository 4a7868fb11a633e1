"""``--local``: everything that differs when the run renders on the built-in studio.

The studio starts in the run's own nursery on a loopback port and serves exactly
the manifest's local input files; it is polled often (it is free to ask); a job
it no longer knows (it forgets them when the process ends) is rendered again
rather than reported; a submission whose outcome is unknown is sent again with its
Idempotency-Key, which the studio honours (and it bills nothing); and no webhook
leaves the machine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

from lipsync_pipeline._net import is_loopback_host
from lipsync_pipeline.run import DEFAULT_POLL_INTERVAL
from lipsync_pipeline.settings import Remote

if TYPE_CHECKING:  # the CLI's help reads LOCAL_POLL_INTERVAL: this module imports cheaply
    import trio

    from lipsync_pipeline.manifest import Job, Manifest
    from lipsync_pipeline.plan import Plan
    from lipsync_pipeline.run import InputResolver, RunOptions

__all__ = [
    "LOCAL_POLL_INTERVAL",
    "LocalStudio",
    "local_options",
    "poll_interval",
    "start_local_studio",
]

# The in-process studio is free to ask: poll it often so the demo is snappy.
LOCAL_POLL_INTERVAL: Final = 0.5
# The local studio accepts any key of the documented form; this one is ours.
_LOCAL_KEY: Final = "sk_local_pipeline"


def poll_interval(given: float | None, *, local: bool) -> float:
    """Seconds between polls: the flag's, else the local studio's or the API's default."""
    if given is not None:
        return given
    return LOCAL_POLL_INTERVAL if local else DEFAULT_POLL_INTERVAL


def local_options(options: RunOptions) -> RunOptions:
    """How a run on the built-in studio differs: a job it forgot is rendered again, and
    a submission of unknown outcome is resent (the studio honours Idempotency-Key, and
    renders for free). Applied before planning, so the plan resends rather than holds."""
    return dataclasses.replace(options, resubmit_forgotten=True, resend_unknown=True)


@dataclass(frozen=True, slots=True)
class LocalStudio:
    """A started studio and how a run talks to it."""

    remote: Remote
    manifest: Manifest  # webhooks to other hosts removed
    resolve_inputs: InputResolver  # local paths -> the studio's /assets/ URLs

    def local_plan(self, plan: Plan) -> Plan:
        """``plan`` with this manifest's jobs: the runner submits each step's own job,
        so a step still holding the original job would hand its webhook to the studio."""
        from lipsync_pipeline.plan import Plan

        jobs = {job.id: job for job in self.manifest.jobs}
        return Plan(
            tuple(
                step if step.job is None else dataclasses.replace(step, job=jobs[step.job_id])
                for step in plan.steps
            )
        )


async def start_local_studio(nursery: trio.Nursery, manifest: Manifest) -> LocalStudio:
    """Start the studio in ``nursery`` (it stops when the nursery is cancelled)."""
    # Imported here: the studio pulls in PyAV and starlette, which a remote run never needs.
    from lipsync_pipeline.studio import StudioConfig, serve_studio

    config = StudioConfig(
        assets_dir=manifest.path.parent,
        asset_files=_local_files(manifest),
        env_proxies=False,  # everything it fetches is on loopback
    )
    root = await nursery.start(serve_studio, config)
    return LocalStudio(
        Remote(f"{root}/api/v1", _LOCAL_KEY),
        _local_webhooks_only(manifest),
        _local_resolver(manifest, root),
    )


def _local_files(manifest: Manifest) -> frozenset[str]:
    base = manifest.path.parent
    return frozenset(
        path.relative_to(base).as_posix()
        for job in manifest.jobs
        for path in job.local_inputs.values()
    )


def _local_resolver(manifest: Manifest, root_url: str) -> InputResolver:
    base = manifest.path.parent

    def resolve(job: Job) -> Mapping[str, Any]:
        form = dict(job.form_state)
        for name, path in job.local_inputs.items():
            relative = path.relative_to(base).as_posix()
            form[name] = f"{root_url}/assets/{quote(relative)}"
        return form

    return resolve


def _local_webhooks_only(manifest: Manifest) -> Manifest:
    """On the local studio, a webhook to a real host would leave the machine."""
    import structlog  # here: the CLI's help text reads this module's constants

    jobs = []
    for job in manifest.jobs:
        host = urlsplit(job.webhook).hostname if job.webhook else None
        if job.webhook and not is_loopback_host(host or ""):
            structlog.get_logger(__name__).warning(
                "not sending a non-loopback webhook from --local", job=job.id
            )
            job = dataclasses.replace(job, webhook=None)
        jobs.append(job)
    return dataclasses.replace(manifest, jobs=tuple(jobs))
