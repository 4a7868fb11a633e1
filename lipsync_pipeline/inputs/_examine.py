"""``examine(plan, check)``: the input check of one ``plan`` or ``run``, start to end."""

from __future__ import annotations

from typing import Any

from lipsync_pipeline._quietlog import logger
from lipsync_pipeline.errors import register_signature
from lipsync_pipeline.inputs._cache import InputCache
from lipsync_pipeline.inputs._findings import InputCheck, InputFindings, Probed, Target
from lipsync_pipeline.inputs._targets import changes, durations, plan_targets
from lipsync_pipeline.plan import Plan

__all__ = ["examine"]


def _log() -> Any:
    return logger(__name__)


def examine(plan: Plan, check: InputCheck) -> InputFindings:
    """Ask the origins of the plan's URL inputs (see ``plan_targets``) what they serve:
    lengths for the estimate, versions for the lock, and the jobs whose input changed.

    Blocking (worker threads); no exception for an input that cannot be read, only a
    reason. ``check.ask`` False: no request, lengths from the cache only."""
    targets = plan_targets(plan)
    if not targets:
        return InputFindings()
    for url in targets:
        # A presigned input's signature is a credential: masked wherever text leaves us.
        register_signature(url)
    cache = InputCache.load(check.cache_dir)
    if not check.ask:
        return InputFindings(remote=durations(targets, _from_cache(targets, cache)))
    from lipsync_pipeline.inputs._probe import probe_all  # httpx and PyAV: only now

    probed = probe_all(targets, cache, check)
    cache.save()
    changed, warnings = changes(plan, probed)
    for warning in warnings:
        _log().warning(warning)
    findings = InputFindings(
        remote=durations(targets, probed),
        versions={url: p.version for url, p in probed.items() if p.version is not None},
        changed=changed,
        warnings=warnings,
        asked=len(targets),
        requests=sum(p.requests for p in probed.values()),
        bytes_read=sum(p.bytes_read for p in probed.values()),
    )
    _log().debug(
        "inputs checked",
        urls=findings.asked,
        requests=findings.requests,
        bytes=findings.bytes_read,
        changed=len(changed),
    )
    return findings


def _from_cache(targets: dict[str, Target], cache: InputCache) -> dict[str, Probed]:
    from lipsync_pipeline.store import redact_url

    found: dict[str, Probed] = {}
    for url in targets:
        cached = cache.get(url)
        if cached is not None and cached.seconds is not None:
            found[url] = Probed(cached.version, cached.seconds)
        else:
            why = "not measured: --no-input-check, and not in the cache from an earlier plan"
            found[url] = Probed(None, problem=f"{redact_url(url)}: {why}")
    return found
