"""``run`` reads the lock to plan, then again under its run lock: what another run
recorded in between is what it builds on, and an unchanged lock is parsed once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _support import StartStudio, avatar_manifest, remote_request, studio_stats

from lipsync_pipeline._fs import atomic_write
from lipsync_pipeline.lockfile import LockJournal, _format
from lipsync_pipeline.plan import Action
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.usecases import check_run, run_pipeline


def _settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour from now: every file written so far is long settled (none racily clean)."""
    monkeypatch.setattr(_format, "_now_ns", lambda: time.time_ns() + 3600 * 10**9)


@pytest.mark.parametrize("settled", [True, False], ids=["settled", "just-written"])
async def test_a_run_builds_on_what_another_run_recorded_after_its_check(
    start_studio: StartStudio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settled: bool
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["a", "b"]))
    await run_pipeline(remote_request(path, root))
    lock = tmp_path / "renders.lock"
    finished = lock.read_bytes()
    with LockJournal.open(lock) as journal:  # as it was before b rendered
        journal.drop(["b"])
        journal.compact()
    if settled:
        _settled(monkeypatch)
    request = remote_request(path, root)
    checked = check_run(request)
    assert {s.job_id: s.action for s in checked.plan.steps}["b"] is Action.SUBMIT
    created = (await studio_stats(root))["jobs_created"]

    atomic_write(lock, finished)  # another run rendered b and compacted meanwhile
    report = await run_pipeline(request, checked=checked)

    assert {r.job_id: r.outcome for r in report.results} == dict.fromkeys("ab", Outcome.SKIPPED)
    assert (await studio_stats(root))["jobs_created"] == created
    assert lock.read_bytes() == finished


async def test_an_up_to_date_run_parses_its_lock_once(
    start_studio: StartStudio,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lock_parses: list[str],
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["a", "b"]))
    await run_pipeline(remote_request(path, root))
    _settled(monkeypatch)
    lock_parses.clear()

    report = await run_pipeline(remote_request(path, root))

    assert {r.job_id: r.outcome for r in report.results} == dict.fromkeys("ab", Outcome.SKIPPED)
    # By check(); not again under the run lock.
    assert lock_parses == [str(tmp_path / "renders.lock")]
