"""A run under a spend cap (``execute(..., spend=SpendLedger)``) against the fake API,
under ``autojump_clock``: a job that would take the estimated total past the cap is
never submitted, is reported as such (not failed, not silently dropped), leaves the
lock as it was, and makes the run exit 6."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import trio
from _fake_api import FakeApi, Render, manifest_text, request_id

from lipsync_pipeline.budget import SpendCap, SpendLedger, billed_credits
from lipsync_pipeline.cli._commands import run_exit_code
from lipsync_pipeline.errors import (
    EXIT_BUDGET,
    EXIT_JOBS_FAILED,
    ApiError,
    RequestRejected,
    TransientApiError,
)
from lipsync_pipeline.estimate import Estimate, JobCost
from lipsync_pipeline.lockfile import LockJournal, load_lock
from lipsync_pipeline.manifest import parse_manifest
from lipsync_pipeline.plan import Action, plan
from lipsync_pipeline.run import Outcome, RunOptions, RunReport, _state, execute

OPTIONS = RunOptions(poll_interval=5.0, job_timeout=math.inf)


async def _run(
    tmp_path: Path, fake: FakeApi, costs: dict[str, int | None], cap: SpendCap
) -> RunReport:
    manifest = parse_manifest(
        manifest_text(*costs), path=tmp_path / "r.yaml", display_name="r.yaml"
    )
    lock_path = tmp_path / "r.lock"
    the_plan = plan(manifest, load_lock(lock_path), artifacts={})
    estimate = Estimate(
        {job: JobCost(c, None if c is not None else "unmeasured") for job, c in costs.items()}
    )
    journal = LockJournal.open(lock_path)
    try:
        return await execute(
            the_plan,
            manifest,
            journal,
            fake,
            concurrency=2,
            options=OPTIONS,
            spend=SpendLedger(cap, estimate.jobs),
        )
    finally:
        journal.compact()
        journal.close()


async def test_a_job_past_the_cap_is_not_submitted_and_says_why(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    costs: dict[str, int | None] = {"a": 40, "b": 30, "c": 20}

    report = await _run(tmp_path, fake, costs, SpendCap(60, "--max-credits 60"))

    outcomes = {r.job_id: r.outcome for r in report.results}
    assert outcomes == {"a": Outcome.COMPLETED, "b": Outcome.OVER_BUDGET, "c": Outcome.COMPLETED}
    assert {call.job_id for call in fake.of("submit")} == {"a", "c"}
    held = next(r for r in report.results if r.job_id == "b")
    assert "past the cap of 60 (--max-credits 60)" in held.error
    assert report.over_budget
    assert run_exit_code(report) == EXIT_BUDGET
    # The lock never heard of b: the next run (with room in the cap) submits it.
    lock = load_lock(tmp_path / "r.lock")
    assert set(lock.entries) == {"a", "c"}
    manifest = parse_manifest(
        manifest_text(*costs), path=tmp_path / "r.yaml", display_name="r.yaml"
    )
    again = plan(manifest, lock, artifacts={})
    assert {s.job_id: s.action for s in again.steps}["b"] is Action.SUBMIT


async def test_unknown_costs_are_held_unless_allowed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    costs: dict[str, int | None] = {"a": None, "b": 10}

    report = await _run(tmp_path, fake, costs, SpendCap(100, "--max-credits 100"))
    assert [r.outcome for r in report.results] == [Outcome.OVER_BUDGET, Outcome.COMPLETED]
    assert [c.job_id for c in fake.of("submit")] == ["b"]

    (tmp_path / "allowed").mkdir()
    allowed = await _run(tmp_path / "allowed", FakeApi(), costs, SpendCap(100, "x", True))
    assert [r.outcome for r in allowed.results] == [Outcome.COMPLETED, Outcome.COMPLETED]


async def test_a_failed_job_under_a_cap_that_held_nothing_exits_1(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    fake.renders[request_id("a")] = Render(end="failed", error="Invalid audio format")
    report = await _run(tmp_path, fake, {"a": 10, "b": 10}, SpendCap(20, "--max-credits 20"))
    assert not report.over_budget
    assert run_exit_code(report) == EXIT_JOBS_FAILED


@pytest.mark.parametrize(
    "refusal",
    [
        RequestRejected("POST /lipsync-image: 422 invalid audio", status=422),
        TransientApiError("POST /lipsync-image: ConnectError: refused"),
    ],
)
async def test_a_submission_that_created_nothing_no_longer_counts(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, refusal: ApiError
) -> None:
    """The cap fits two jobs; a's POST is refused (a 4xx) or never sent: nothing was
    rendered, so b and c both run, as they would without a."""
    fake = FakeApi()
    fake.fail_submit("a", refusal)

    report = await _run(tmp_path, fake, {"a": 10, "b": 10, "c": 10}, SpendCap(20, "cap 20"))

    outcomes = {r.job_id: r.outcome for r in report.results}
    assert outcomes["b"] is Outcome.COMPLETED and outcomes["c"] is Outcome.COMPLETED
    assert outcomes["a"] in (Outcome.FAILED, Outcome.ERROR)
    assert not report.over_budget


async def test_only_renders_the_cap_counted_are_read_for_their_bill(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a was rendered by an earlier run and is only downloaded now: the cap never counted
    it, so its file is not read (a worker thread each) to learn what it billed."""
    fake = FakeApi()
    fake.fail_fetch(request_id("a"), TransientApiError("download: connection reset"))
    await _run(tmp_path, fake, {"a": 10}, SpendCap(20, "cap 20"))  # a: rendered, not fetched
    read: list[str] = []

    def billed(path: Path, resolution: str) -> int | None:
        read.append(path.stem)
        return billed_credits(path, resolution)

    monkeypatch.setattr(_state, "billed_credits", billed)
    report = await _run(tmp_path, fake, {"a": 10, "b": 10}, SpendCap(20, "cap 20"))

    assert [r.outcome for r in report.results] == [Outcome.COMPLETED] * 2
    assert [c.job_id for c in fake.of("submit")] == ["a", "b"]  # a's in the first run
    assert read == ["b"]
