"""Pure decisions around an input check: which URLs a plan needs asked, which jobs'
inputs changed, the lengths the estimate reads, and what the lock records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from lipsync_pipeline.estimate import TIMED_FIELDS
from lipsync_pipeline.inputs._findings import Need, Probed, Target
from lipsync_pipeline.lockfile import InputVersion
from lipsync_pipeline.manifest import INPUT_FIELDS, Job
from lipsync_pipeline.plan import Plan

__all__ = ["changes", "durations", "plan_targets", "url_inputs", "versions_for"]

_NEED_ORDER: Final = (Need.VERSION, Need.LENGTH_IF_NEW, Need.LENGTH)


def url_inputs(job: Job) -> dict[str, str]:
    """The job's inputs given as URLs, by formState field: every input that is not a
    local file (the manifest reader accepts nothing else)."""
    return {
        name: value
        for name in INPUT_FIELDS
        if name not in job.local_inputs and isinstance(value := job.form_state.get(name), str)
    }


def plan_targets(plan: Plan) -> dict[str, Target]:
    """Every distinct URL the plan needs asked, and for what.

    A job to submit needs its timed inputs' lengths (the estimate) and every URL
    input's version (the lock records it). A done job whose lock entry records its
    inputs needs their versions now (a changed one renders again, and then its length
    is needed too). Other jobs (held, resumed, unselected) ask nothing."""
    needs: dict[str, Need] = {}
    known: dict[str, list[InputVersion]] = {}
    for step in plan.steps:
        job, entry = step.job, step.entry
        if job is None:
            continue
        recorded = entry.input_versions() if entry is not None else {}
        submits = step.action.submits
        if not submits and not (step.action.done and recorded):
            continue
        for name, url in url_inputs(job).items():
            timed = name in TIMED_FIELDS
            if submits:
                need = Need.LENGTH if timed else Need.VERSION
            elif name in recorded:
                need = Need.LENGTH_IF_NEW if timed else Need.VERSION
                if recorded[name] not in known.setdefault(url, []):
                    known[url].append(recorded[name])
            else:
                continue
            before = needs.get(url, Need.VERSION)
            needs[url] = max(before, need, key=_NEED_ORDER.index)
    return {url: Target(url, need, tuple(known.get(url, ()))) for url, need in needs.items()}


def changes(
    plan: Plan, probed: Mapping[str, Probed]
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """(job id -> fields whose URL serves another version than the lock records,
    warnings for inputs that could not be compared). An input that cannot be checked
    keeps its render: an unreachable origin must not cost a re-render."""
    changed: dict[str, tuple[str, ...]] = {}
    warnings: list[str] = []
    for step in plan.steps:
        job, entry = step.job, step.entry
        if job is None or entry is None or not step.action.done or not entry.inputs:
            continue
        urls = url_inputs(job)
        fields: list[str] = []
        for name, then in entry.inputs:
            found = probed.get(urls.get(name, ""))
            if found is None:
                continue  # not a URL any more (the fingerprint changed), or not asked
            if found.version is None:
                warnings.append(
                    f"job {job.id}: `{name}` could not be checked ({found.problem}); "
                    "keeping its render"
                )
                continue
            same = then.compare(found.version)
            if same is None:
                warnings.append(
                    f"job {job.id}: `{name}`: the origin gives nothing to compare with what "
                    "the lock recorded (no ETag, Last-Modified or size); keeping its render"
                )
            elif not same:
                fields.append(name)
        if fields:
            changed[job.id] = tuple(fields)
    return changed, tuple(warnings)


def durations(
    targets: Mapping[str, Target], probed: Mapping[str, Probed]
) -> dict[str, float | str]:
    """URL -> seconds, or why unknown, for every URL whose length was asked for."""
    out: dict[str, float | str] = {}
    for url, target in targets.items():
        if target.need is Need.VERSION:
            continue
        found = probed.get(url)
        if found is not None and found.seconds is not None:
            out[url] = found.seconds
        elif found is not None and found.problem is not None:
            out[url] = found.problem
    return out


def versions_for(
    job: Job, versions: Mapping[str, InputVersion]
) -> tuple[tuple[str, InputVersion], ...]:
    """What the lock records for ``job`` at submission: each URL input's version now."""
    return tuple(
        (name, versions[url])
        for name, url in sorted(url_inputs(job).items())
        if url in versions and not versions[url].empty
    )
