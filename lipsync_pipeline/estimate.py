"""Credit estimates for ``plan``: what the submissions of a plan would cost.

Only local inputs can be measured (their duration is read from the file's
container header with PyAV, no decoding); a job whose timed inputs are URLs is
reported as "unknown" rather than guessed. The rules themselves live in
``pricing`` and are shared with the reference studio.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from lipsync_pipeline.manifest import Job
from lipsync_pipeline.plan import Plan
from lipsync_pipeline.pricing import estimate_credits

__all__ = ["estimate_plan"]

# The output follows the audio (pricing.py): these are the fields that set its length.
_TIMED_FIELDS: Final = ("audio", "left_audio", "right_audio")
_MICROSECONDS: Final = 1_000_000


def _duration(path: Path, cache: dict[Path, float | None]) -> float | None:
    if path not in cache:
        import av  # PyAV is only needed when there is a local file to measure

        try:
            with av.open(str(path)) as container:
                cache[path] = container.duration / _MICROSECONDS if container.duration else None
        except (av.error.FFmpegError, OSError):
            cache[path] = None
    return cache[path]


def _job_credits(job: Job, cache: dict[Path, float | None]) -> int | None:
    durations: dict[str, float] = {}
    for name in _TIMED_FIELDS:
        if name not in job.form_state:
            continue
        path = job.local_inputs.get(name)
        seconds = _duration(path, cache) if path is not None else None
        if seconds is None:
            return None
        durations[name] = seconds
    order = job.form_state.get("order")
    try:
        return estimate_credits(
            job.model,
            str(job.form_state.get("resolution", "480p")),
            durations=durations,
            order=order if isinstance(order, str) else None,
        )
    except ValueError:
        return None


def estimate_plan(plan: Plan) -> Mapping[str, int | None]:
    """Estimated credits per submitting step (None: inputs not measurable here)."""
    cache: dict[Path, float | None] = {}
    return {
        step.job_id: _job_credits(step.job, cache)
        for step in plan.steps
        if step.action.submits and step.job is not None
    }
