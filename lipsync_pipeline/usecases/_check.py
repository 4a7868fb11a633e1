"""``plan`` and ``status``: load and validate the manifest and its lock, look at the
outputs on disk, and plan. No write; no network unless an input check is asked for
(``plan`` and ``run`` ask the origins of URL inputs; ``status`` never does)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from lipsync_pipeline._gc import settled
from lipsync_pipeline.errors import ConfigError, LockfileError, Problem, format_where
from lipsync_pipeline.lockfile import (
    LockSnapshot,
    default_lock_path,
    journal_path,
    load_lock,
    locate,
)
from lipsync_pipeline.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from lipsync_pipeline.estimate import RemoteDurations
    from lipsync_pipeline.inputs import InputCheck, InputFindings, Progress
    from lipsync_pipeline.plan import ArtifactState, Plan
    from lipsync_pipeline.shard import Shard

__all__ = [
    "Checked",
    "check",
    "check_lock",
    "consistent_lock",
    "examine_inputs",
    "input_check",
    "lock_beside",
    "with_store",
]


def _no_findings() -> InputFindings:
    """The findings of no input check (imported here: ``validate`` never makes one)."""
    from lipsync_pipeline.inputs import InputFindings

    return InputFindings()


@dataclass(frozen=True, slots=True)
class Checked:
    """A validated manifest, its lock and the plan: what ``plan`` and ``status`` show."""

    manifest: Manifest
    lock: LockSnapshot
    plan: Plan
    artifacts: Mapping[str, ArtifactState]
    # URL input -> its duration in seconds or why unknown (issue 13: filled by the
    # input check; empty without one), for ``estimate_plan(remote=...)``.
    remote: RemoteDurations = field(default_factory=dict)
    # Everything the input check learnt: versions for the lock, changed inputs, warnings.
    inputs: InputFindings = field(default_factory=lambda: _no_findings())
    # ``plan`` as it was made (same selection and options), to make again with what the
    # input check found (``changed=``); set by ``check``.
    replan: Callable[..., Plan] | None = field(default=None, repr=False, compare=False)


def check(
    manifest_path: Path,
    lock_path: Path | None = None,
    *,
    only: Collection[str] = (),
    replace: Collection[str] = (),
    resend_unknown: bool = False,
    verify_artifacts: bool = True,
    local: bool = False,
    store: str | None = None,
    output_dir: Path | None = None,
    shard: Shard | None = None,
    inputs: InputCheck | None = None,
) -> Checked:
    """Load, validate and plan, with no write (but the input cache's). Raises InputError.

    ``resend_unknown``: plan to resend submissions of unknown outcome (else held).
    ``verify_artifacts=False`` skips hashing the outputs (``run`` verifies them
    once, under its run lock); ``local``: plan for the built-in studio; ``store``: a
    store URL in place of the manifest's (``--store``); ``output_dir``: the user's
    ``--output-dir``; ``shard``: only that shard's jobs, from its own lock once it
    exists (``--shard``); ``inputs``: ask the origins of URL inputs (their lengths for
    the estimate; a job whose input changed at its URL is submitted again). None: no
    network at all."""
    # Here, not at the top: ``validate`` shares this module and needs none of them.
    from lipsync_pipeline.plan import plan
    from lipsync_pipeline.usecases._outputs import check_artifacts
    from lipsync_pipeline.usecases._shard import readable_shard_lock

    # Built once and kept for the whole command: out of the collector's way (_gc).
    with settled():
        manifest = with_store(load_manifest(manifest_path, output_dir=output_dir), store)
        _check_selection(manifest, only, "--only")
        _check_selection(manifest, replace, "--replace")
        if only and set(replace) - set(only):
            ignored = ", ".join(sorted(set(replace) - set(only)))
            raise ConfigError(f"--replace {ignored}: not selected by --only, so it would not run")
        if shard is not None:
            lock_path = readable_shard_lock(manifest_path, shard, lock_path)
        lock = consistent_lock(manifest, lock_path or lock_beside(manifest))
        artifacts = check_artifacts(manifest, lock) if verify_artifacts else {}
        planner = partial(
            plan,
            manifest,
            lock,
            artifacts=artifacts,
            only=only,
            replace=replace,
            local=local,
            resend_unknown=resend_unknown,
            shard=shard,
        )
        checked = Checked(manifest, lock, planner(), artifacts, replan=planner)
    return checked if inputs is None else examine_inputs(checked, inputs)


def examine_inputs(checked: Checked, inputs: InputCheck) -> Checked:
    """``checked`` with what the origins of its URL inputs say (lengths, versions), and
    planned again (``checked.replan(changed=...)``) if an input changed at its URL. The
    plan without the origins' word says which URLs need asking."""
    from lipsync_pipeline.inputs import examine

    found = examine(checked.plan, inputs)
    planned = checked.plan
    if found.changed:
        assert checked.replan is not None, "a Checked from check() knows how it was planned"
        planned = checked.replan(changed=found.changed)
    return dataclasses.replace(checked, plan=planned, remote=found.remote, inputs=found)


def input_check(
    *,
    base_url: str | None = None,
    local: bool = False,
    ask: bool = True,
    progress: Progress | None = None,
) -> InputCheck:
    """The input check of ``plan``/``run`` against the API at ``base_url`` (None: from
    the environment) or ``--local``: which addresses it may ask (the renderer's rule,
    ``settings.input_policy``) and where its cache is. ``ask=False``: --no-input-check."""
    from lipsync_pipeline.inputs import InputCheck
    from lipsync_pipeline.settings import cache_dir, input_policy

    return InputCheck(input_policy(base_url, local=local), cache_dir(), ask=ask, progress=progress)


def with_store(manifest: Manifest, url: str | None) -> Manifest:
    """The manifest with ``--store URL`` in place of its own ``store:`` (if given)."""
    if url is None:
        return manifest
    # Imported only for a store: obstore and its helpers cost ~0.3 s of start-up.
    from lipsync_pipeline.store import parse_store_config

    return dataclasses.replace(manifest, store=parse_store_config(url, where="--store"))


def lock_beside(manifest: Manifest | Path) -> Path:
    """The manifest's default lockfile (given the manifest or its path as typed), named
    as the user wrote the manifest's path, so messages say "renders.lock:3:5", not an
    absolute path (the process never changes directory). Normalised as the manifest's
    own path was: "link/../x.yaml" is the x.yaml beside link's parent by spelling, and
    so is its lock, wherever link points."""
    typed = manifest if isinstance(manifest, Path) else manifest.display_name
    return default_lock_path(Path(os.path.normpath(typed)))


def check_lock(manifest: Manifest, lock_path: Path | None = None) -> LockSnapshot | None:
    """What ``validate`` checks beyond the manifest: the lock (the default one beside it
    unless given), if it exists: its format, a pending journal, and its agreement with
    the manifest. Both files are committed, so a bad merge of either should fail before
    any run. None when there is no lock yet. Raises LockfileError; reads only."""
    path = lock_path or lock_beside(manifest)
    if not (path.exists() or journal_path(path).exists()):
        return None
    return consistent_lock(manifest, path)


def consistent_lock(manifest: Manifest, path: Path) -> LockSnapshot:
    """The lock at ``path`` (empty if missing), refused if it contradicts the manifest."""
    lock = load_lock(path)
    _check_consistency(manifest, lock)
    return lock


def _check_consistency(manifest: Manifest, lock: LockSnapshot) -> None:
    """An entry with the job's fingerprint must agree on what the fingerprint covers.

    No run writes a contradiction; a hand edit or a bad merge does, and trusting
    such an entry would skip or resume the wrong render."""
    problems = []
    for job in manifest.jobs:
        entry = lock.entries.get(job.id)
        if entry is None or entry.fingerprint != job.fingerprint:
            continue
        seed = job.form_state.get("seed")
        for field_name, recorded, expected in (
            ("model", entry.model, job.model),
            ("seed", entry.seed, seed if entry.seed is not None else None),
        ):
            if recorded != expected:
                where = ("jobs", job.id, field_name)
                problems.append(
                    Problem(
                        str(lock.path),
                        *locate(lock.path, where),
                        format_where(where),
                        f"{recorded!r} contradicts the manifest, which asks {expected!r} for job "
                        f"{job.id!r} with the same fingerprint: the lock was edited or merged by "
                        "hand; fix the entry, or delete it to render the job again",
                    )
                )
    if problems:
        raise LockfileError(problems)


def _check_selection(manifest: Manifest, ids: Collection[str], flag: str) -> None:
    known = {job.id for job in manifest.jobs}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise ConfigError(
            f"{flag}: no job {', '.join(map(repr, unknown))} in {manifest.display_name} "
            f"(jobs: {', '.join(sorted(known)[:10])}{', ...' if len(known) > 10 else ''})"
        )
