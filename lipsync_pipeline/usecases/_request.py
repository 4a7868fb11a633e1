"""What ``run`` was asked to do, and the check that comes before any of it.

Apart from ``usecases/_run.py`` so that the CLI can check a run (manifest, lock,
plan: where a user's mistake shows) before it imports trio, httpx and the runner,
which only a run that passes needs."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lipsync_pipeline.run import RunOptions
from lipsync_pipeline.shard import Shard
from lipsync_pipeline.usecases._check import Checked, check

if TYPE_CHECKING:
    from lipsync_pipeline.inputs import InputCheck

__all__ = ["RunRequest", "check_run"]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What ``run`` was asked to do. ``base_url``/``api_key`` None: from the environment."""

    manifest_path: Path
    lock_path: Path | None = None
    # --output-dir: replaces the manifest's output_dir, and may lead outside its tree.
    output_dir: Path | None = None
    local: bool = False
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a repr or a log
    concurrency: int | None = None
    options: RunOptions = field(default_factory=RunOptions)
    only: Collection[str] = ()
    replace: Collection[str] = ()
    store: str | None = None  # --store URL: in place of the manifest's store:
    verify: bool = False  # --verify: ask the store about each render the lock says it keeps
    shard: Shard | None = None  # --shard K/N: only its jobs, into its own lock
    max_credits: int | None = None  # --max-credits: the spend cap (with budget:, the lower)
    allow_unknown_cost: bool = False  # --allow-unknown-cost: submit jobs of unknown cost
    # Ask the origins of URL inputs (lengths, changed inputs; see ``input_check``).
    # None: no request to them (the library's default; the CLI asks unless
    # --no-input-check), and no input versions recorded in the lock.
    inputs: InputCheck | None = None


def check_run(request: RunRequest) -> Checked:
    """The manifest, lock and plan of ``request`` (no network, nothing written): what
    ``run_pipeline`` starts from. Raises the located errors of bad input."""
    return check(
        request.manifest_path,
        request.lock_path,
        only=request.only,
        replace=request.replace,
        resend_unknown=request.options.resend_unknown,
        verify_artifacts=False,
        local=request.local,
        store=request.store,
        output_dir=request.output_dir,
        shard=request.shard,
    )
