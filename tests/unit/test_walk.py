"""The job walk (submit, poll, download, and what the lock says at each point) against a
hand-written fake API under ``autojump_clock``: no sockets, virtual time.

The lock writer fsyncs in a real thread, and the autojump clock moves on whenever the
loop is idle, including while that thread runs. So these tests assert orders, counts,
lock contents and lower bounds on virtual time, never exact durations or upper bounds.
Jobs are admitted in the plan's (the manifest's) order, one per free slot; with more
than one slot, jobs admitted together still race, so no test assumes which of them
the fake sees first.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trio
from _fake_api import FakeApi, Render, manifest_text, request_id

from lipsync_pipeline._staging import StagedFile
from lipsync_pipeline.api import JobStatus
from lipsync_pipeline.errors import (
    AuthError,
    RequestRejected,
    SubmissionUnknown,
    TransientApiError,
)
from lipsync_pipeline.lockfile import Artifact, LockEntry, LockJournal, LockSnapshot, load_lock
from lipsync_pipeline.manifest import Job, Manifest, parse_manifest
from lipsync_pipeline.plan import Action, plan
from lipsync_pipeline.run import JobResult, Outcome, RunOptions, RunReport, execute
from lipsync_pipeline.run._state import RunState

P = 5.0  # the poll interval of most tests (virtual seconds)
# No --job-timeout unless a test is about it: a job whose only deadline is its timeout
# (say, waiting for the lock writer's fsync thread inside the poll loop) would have
# autojump_clock leap straight to it.
NO_TIMEOUT = math.inf
OPTIONS = RunOptions(poll_interval=P, job_timeout=NO_TIMEOUT)
RESEND = RunOptions(poll_interval=P, job_timeout=NO_TIMEOUT, resend_unknown=True)
# Slack for the wake-up grid (see run/_polling); it rounds up, so this is generous.
GRID_SLACK = P / 40
EPS = 1e-6


@dataclass
class Outcomes:
    report: RunReport
    lock: LockSnapshot
    plan_actions: dict[str, Action]

    def of(self, job_id: str) -> Outcome:
        return next(r.outcome for r in self.report.results if r.job_id == job_id)

    def result(self, job_id: str) -> JobResult:
        return next(r for r in self.report.results if r.job_id == job_id)

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.report.results)


def _manifest(tmp_path: Path, *job_ids: str) -> Manifest:
    path = tmp_path / "r.yaml"
    return parse_manifest(manifest_text(*job_ids), path=path, display_name="r.yaml")


def _entry(job: Job, status: str, key: str = "k-old", **fields: object) -> LockEntry:
    return LockEntry(job.id, job.fingerprint, job.model, status, key, **fields)  # type: ignore[arg-type]


def _seed(tmp_path: Path, entries: Iterable[LockEntry]) -> None:
    with LockJournal.open(tmp_path / "r.lock") as journal:
        journal.record(list(entries))
        journal.compact()


async def _run(
    tmp_path: Path,
    fake: FakeApi,
    *job_ids: str,
    concurrency: int = 1,
    options: RunOptions = OPTIONS,
    report: RunReport | None = None,
) -> Outcomes:
    """Plan ``job_ids`` against the lock in ``tmp_path`` and execute it on ``fake``;
    then compact the lock and read it back from disk (also when the run raises)."""
    manifest = _manifest(tmp_path, *job_ids)
    lock_path = tmp_path / "r.lock"
    journal = LockJournal.open(lock_path)
    steps = plan(
        manifest, load_lock(lock_path), artifacts={}, resend_unknown=options.resend_unknown
    )
    report = report if report is not None else RunReport()
    try:
        await execute(
            steps, manifest, journal, fake, concurrency=concurrency, options=options, report=report
        )
    finally:
        journal.compact()
        journal.close()
    return Outcomes(report, load_lock(lock_path), {s.job_id: s.action for s in steps.steps})


# --- the happy path and the rerun rules ---------------------------------------------------


async def test_a_new_job_is_submitted_once_polled_until_done_and_its_digest_locked(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    render = Render(busy_polls=3, execution_time_ms=12345)
    fake = FakeApi()
    fake.renders[request_id("a")] = render

    run = await _run(tmp_path, fake, "a")

    assert run.plan_actions == {"a": Action.SUBMIT}
    assert fake.methods("a") == ["submit"] + ["get_job"] * 4 + ["fetch"]
    assert run.report.requests == {"POST": 1, "GET": 4, "DOWNLOAD": 1}
    result = run.result("a")
    assert (result.outcome, result.request_id, result.error) == (
        Outcome.COMPLETED,
        request_id("a"),
        "",
    )
    entry = run.lock.entries["a"]
    (submit,) = fake.of("submit")
    assert entry.status == "completed"
    assert entry.request_id == request_id("a")
    assert entry.idempotency_key == submit.idempotency_key
    assert entry.execution_time_ms == 12345
    assert (
        entry.artifact
        == result.artifact
        == Artifact("renders/a.mp4", hashlib.sha256(render.video).hexdigest(), len(render.video))
    )
    assert (tmp_path / "renders" / "a.mp4").read_bytes() == render.video
    assert [p.name for p in (tmp_path / "renders").iterdir()] == ["a.mp4"]  # no .part left


async def test_a_processing_job_is_resumed_by_its_recorded_id_and_never_submitted(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    job = _manifest(tmp_path, "a").jobs[0]
    _seed(tmp_path, [_entry(job, "processing", request_id="a-r7")])
    fake = FakeApi()
    fake.renders["a-r7"] = Render(busy_polls=2)

    run = await _run(tmp_path, fake, "a")

    assert run.plan_actions == {"a": Action.RESUME}
    assert fake.of("submit") == []
    assert [c.request_id for c in fake.of("get_job")] == ["a-r7"] * 3
    assert run.of("a") is Outcome.COMPLETED
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id, entry.idempotency_key) == ("completed", "a-r7", "k-old")
    assert entry.artifact is not None


async def test_a_failed_job_is_submitted_again_with_a_new_idempotency_key(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    job = _manifest(tmp_path, "a").jobs[0]
    _seed(tmp_path, [_entry(job, "failed", request_id="a-r0", error="Invalid audio format")])
    fake = FakeApi()

    run = await _run(tmp_path, fake, "a")

    assert run.plan_actions == {"a": Action.RETRY}
    (submit,) = fake.of("submit")
    assert submit.idempotency_key not in (None, "k-old")
    assert run.of("a") is Outcome.COMPLETED
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id, entry.error) == ("completed", request_id("a"), None)
    assert entry.idempotency_key == submit.idempotency_key


async def test_an_interrupted_submission_is_held_then_resent_with_its_key_on_say_so(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A crash between POST and answer leaves 'submitting' and no id: the POST may have
    landed. Held (reported, not sent) until the user says so; then sent again under the
    same key, so an API that honours it can deduplicate."""
    job = _manifest(tmp_path, "a").jobs[0]
    _seed(tmp_path, [_entry(job, "submitting", key="k-interrupted")])
    fake = FakeApi()

    held = await _run(tmp_path, fake, "a")

    assert held.plan_actions == {"a": Action.HOLD}
    assert held.of("a") is Outcome.UNKNOWN and "--resend-unknown" in held.result("a").error
    assert fake.calls == []
    assert held.lock.entries["a"].status == "submitting"

    run = await _run(tmp_path, fake, "a", options=RESEND)

    assert run.plan_actions == {"a": Action.RESUBMIT}
    assert [c.idempotency_key for c in fake.of("submit")] == ["k-interrupted"]
    assert run.of("a") is Outcome.COMPLETED
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id, entry.idempotency_key) == (
        "completed",
        request_id("a"),
        "k-interrupted",
    )


async def test_a_submission_of_unknown_outcome_is_recorded_held_and_resent_on_say_so(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    fake.fail_submit("a", SubmissionUnknown("POST /lipsync-image: HTTP 502: Bad Gateway"))

    first = await _run(tmp_path, fake, "a")

    assert first.of("a") is Outcome.UNKNOWN
    assert "502" in first.result("a").error and "dashboard" in first.result("a").error
    (sent,) = fake.of("submit")
    entry = first.lock.entries["a"]
    assert (entry.status, entry.request_id) == ("unknown", None)
    assert entry.idempotency_key == sent.idempotency_key and "502" in (entry.error or "")

    second = await _run(tmp_path, fake, "a")

    assert second.plan_actions == {"a": Action.HOLD} and len(fake.of("submit")) == 1
    assert second.of("a") is Outcome.UNKNOWN

    third = await _run(tmp_path, fake, "a", options=RESEND)

    assert third.plan_actions == {"a": Action.RESUBMIT}
    assert [c.idempotency_key for c in fake.of("submit")] == [sent.idempotency_key] * 2
    assert third.of("a") is Outcome.COMPLETED
    assert third.lock.entries["a"].request_id == request_id("a")


@pytest.mark.parametrize("before", [None, "failed", "completed-elsewhere"])
async def test_a_submission_never_sent_puts_the_lock_back(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, before: str | None
) -> None:
    """No connection (or a refusal before the API acted): nothing can exist, so the
    lock is as the run found it, and the next run submits afresh, without a warning."""
    job = _manifest(tmp_path, "a").jobs[0]
    old = None
    if before == "failed":
        old = _entry(job, "failed", error="Invalid audio format")
    elif before == "completed-elsewhere":  # the manifest changed since: a new request
        old = replace(_entry(job, "completed", request_id="r0"), fingerprint="sha256:" + "1" * 64)
    if old is not None:
        _seed(tmp_path, [old])
    fake = FakeApi()
    fake.fail_submit("a", TransientApiError("POST /lipsync-image: ConnectError: refused"))

    run = await _run(tmp_path, fake, "a")

    assert run.of("a") is Outcome.ERROR and "ConnectError" in run.result("a").error
    assert len(fake.of("submit")) == 1
    assert run.lock.entries.get("a") == old
    again = await _run(tmp_path, fake, "a")
    assert again.plan_actions["a"] in (Action.SUBMIT, Action.RETRY)
    assert again.of("a") is Outcome.COMPLETED


async def test_a_download_that_failed_is_fetched_next_run_without_rendering_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    fake.fail_fetch(request_id("a"), TransientApiError("download: connection reset"))

    first = await _run(tmp_path, fake, "a")

    assert first.of("a") is Outcome.ERROR
    assert first.result("a").artifact is None
    entry = first.lock.entries["a"]
    assert (entry.status, entry.request_id, entry.artifact) == ("completed", request_id("a"), None)
    assert entry.output_url

    second = await _run(tmp_path, fake, "a")

    assert second.plan_actions == {"a": Action.DOWNLOAD}
    assert len(fake.of("submit")) == 1
    # Output URLs may expire: the job is asked again for a fresh one, then fetched.
    assert fake.methods("a")[-2:] == ["get_job", "fetch"]
    assert second.of("a") is Outcome.COMPLETED
    assert second.lock.entries["a"].artifact is not None


# --- failures -----------------------------------------------------------------------------


async def test_a_rejected_submission_is_recorded_failed_with_the_apis_message(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    message = "POST /lipsync-image: 422 formState.audio: not a reachable URL"
    fake.fail_submit("a", RequestRejected(message, status=422))

    run = await _run(tmp_path, fake, "a", "b")

    assert run.of("a") is Outcome.FAILED
    assert message in run.result("a").error
    entry = run.lock.entries["a"]
    assert entry.status == "failed" and entry.request_id is None
    assert entry.error is not None and message in entry.error
    assert fake.methods("a") == ["submit"]  # nothing to poll: no job was created
    assert run.of("b") is Outcome.COMPLETED  # one bad request does not stop the others


@pytest.mark.parametrize(
    ("error", "recorded"),
    [("Invalid audio format", "Invalid audio format"), ("", "without a reason")],
)
async def test_a_render_the_api_reports_failed_is_recorded_failed_and_not_fetched(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, error: str, recorded: str
) -> None:
    fake = FakeApi(default_render=Render(busy_polls=1, end="failed", error=error))

    run = await _run(tmp_path, fake, "a")

    assert run.of("a") is Outcome.FAILED
    assert recorded in run.result("a").error
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id, entry.artifact) == ("failed", request_id("a"), None)
    assert entry.error is not None and recorded in entry.error
    assert fake.methods("a") == ["submit", "get_job", "get_job"]


async def test_job_timeout_leaves_the_job_processing_for_the_next_run_to_resume(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi(default_render=Render(end=None))  # never finishes
    options = RunOptions(poll_interval=P, job_timeout=6 * P)

    first = await _run(tmp_path, fake, "a", options=options)

    result = first.result("a")
    assert (result.outcome, result.request_id) == (Outcome.TIMED_OUT, request_id("a"))
    assert "still processing" in result.error
    entry = first.lock.entries["a"]
    assert (entry.status, entry.request_id) == ("processing", request_id("a"))
    methods = fake.methods("a")
    assert methods[0] == "submit" and methods.count("submit") == 1
    assert set(methods[1:]) == {"get_job"}  # polled, and neither fetched nor resubmitted
    calls = len(fake.calls)
    await trio.sleep(10 * P)
    assert len(fake.calls) == calls  # nothing left behind still polling

    fake.renders[request_id("a")] = Render(busy_polls=0)
    second = await _run(tmp_path, fake, "a")

    assert second.plan_actions == {"a": Action.RESUME}
    assert second.of("a") is Outcome.COMPLETED
    assert len(fake.of("submit")) == 1
    assert second.lock.entries["a"].request_id == request_id("a")


async def test_a_request_the_api_no_longer_knows_is_an_error_not_a_second_render(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    job = _manifest(tmp_path, "a").jobs[0]
    _seed(tmp_path, [_entry(job, "processing", request_id="a-r3")])
    fake = FakeApi()
    fake.forget("a-r3")

    run = await _run(tmp_path, fake, "a")

    assert run.of("a") is Outcome.ERROR
    assert "404" in run.result("a").error
    assert fake.methods("a") == ["get_job"]
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id) == ("processing", "a-r3")


async def test_the_local_studio_forgetting_a_job_renders_it_again_under_a_new_key(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    job = _manifest(tmp_path, "a").jobs[0]
    _seed(tmp_path, [_entry(job, "processing", request_id="a-r3")])
    fake = FakeApi()
    fake.forget("a-r3")
    options = RunOptions(poll_interval=P, job_timeout=NO_TIMEOUT, resubmit_forgotten=True)

    run = await _run(tmp_path, fake, "a", options=options)

    assert run.of("a") is Outcome.COMPLETED
    assert fake.methods("a")[:2] == ["get_job", "submit"]
    (submit,) = fake.of("submit")
    assert submit.idempotency_key != "k-old"
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id) == ("completed", request_id("a"))
    assert entry.idempotency_key == submit.idempotency_key


async def test_a_forgotten_job_is_not_rendered_again_once_the_run_stops_submitting(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, a = _manifest(tmp_path, "b", "a").jobs
    _seed(
        tmp_path,
        [_entry(b, "processing", request_id="b-r3"), _entry(a, "processing", request_id="a-r3")],
    )
    fake = FakeApi()
    fake.renders["b-r3"] = Render(busy_polls=0, end="failed", error="Invalid audio format")
    fake.renders["a-r3"] = Render(busy_polls=1_000, end=None)  # still rendering
    # b's failure stops the run (--fail-fast); the studio forgets a at that moment, and
    # a's poll is answered only then, so it meets the 404 with the run stopped however
    # long b's lock record takes in real time (the virtual clock jumps while a thread
    # fsyncs: polls answered meanwhile would pile up without end under a busy CPU).
    stop = RunState.stop
    stopped = trio.Event()

    def stop_and_forget(state: RunState, reason: str) -> None:
        stop(state, reason)
        fake.forget("a-r3")
        stopped.set()

    get_job = fake.get_job

    async def answered_once_stopped(rid: str) -> JobStatus:
        if rid == "a-r3":
            await stopped.wait()
        return await get_job(rid)

    monkeypatch.setattr(RunState, "stop", stop_and_forget)
    monkeypatch.setattr(fake, "get_job", answered_once_stopped)
    options = RunOptions(
        poll_interval=P, job_timeout=NO_TIMEOUT, resubmit_forgotten=True, fail_fast=True
    )

    run = await _run(tmp_path, fake, "b", "a", concurrency=2, options=options)

    assert run.of("b") is Outcome.FAILED
    assert run.of("a") is Outcome.CANCELLED
    assert "--fail-fast" in run.result("a").error
    assert set(fake.methods("a")) == {"get_job"}  # asked, forgotten, not sent again
    entry = run.lock.entries["a"]
    assert (entry.status, entry.request_id) == ("processing", "a-r3")  # the next run will


async def test_an_unknown_status_like_queued_is_taken_as_not_finished(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi(default_render=Render(busy_polls=3, busy_status="queued"))

    run = await _run(tmp_path, fake, "a")

    assert run.of("a") is Outcome.COMPLETED
    assert fake.methods("a") == ["submit"] + ["get_job"] * 4 + ["fetch"]
    assert run.lock.entries["a"].status == "completed"


# --- run-wide stops -----------------------------------------------------------------------


async def test_fail_fast_stops_submitting_after_the_first_failed_job(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi(default_render=Render(end="failed", error="Invalid audio format"))
    options = RunOptions(poll_interval=P, job_timeout=NO_TIMEOUT, fail_fast=True)

    run = await _run(tmp_path, fake, "a", "b", "c", options=options)

    (submit,) = fake.of("submit")  # the first admitted (with several slots: any of them)
    assert run.of(submit.job_id) is Outcome.FAILED
    others = [r for r in run.report.results if r.job_id != submit.job_id]
    assert [r.outcome for r in others] == [Outcome.CANCELLED] * 2
    assert all("--fail-fast" in r.error for r in others)
    assert set(run.lock.entries) == {submit.job_id}  # the others were never begun
    assert run.lock.entries[submit.job_id].status == "failed"


async def test_fail_fast_still_finishes_jobs_that_were_already_submitted(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    old = ["old1", "old2", "old3"]
    _seed(
        tmp_path,
        [
            _entry(job, "processing", request_id=f"{job.id}-r1")
            for job in _manifest(tmp_path, *old).jobs
        ],
    )
    fake = FakeApi(default_render=Render(end="failed", error="Invalid audio format"))
    for job_id in old:
        fake.renders[f"{job_id}-r1"] = Render(busy_polls=1)
    options = RunOptions(poll_interval=P, job_timeout=NO_TIMEOUT, fail_fast=True)
    new = [f"x{n}" for n in range(8)]

    # One slot, the resumed jobs spread among the new: jobs are admitted in this order,
    # so old2 and old3 are resumed after x0 has failed and fail-fast has stopped the
    # submissions; they finish all the same (resuming costs nothing).
    ids = [old[0], *new[:4], old[1], *new[4:], old[2]]
    run = await _run(tmp_path, fake, *ids, options=options)

    assert [run.of(job_id) for job_id in old] == [Outcome.COMPLETED] * 3  # they cost nothing
    assert (run.count(Outcome.FAILED), run.count(Outcome.CANCELLED)) == (1, len(new) - 1)
    assert len(fake.of("submit")) == 1


class _DiskFullFor(FakeApi):
    """Its downloads of ``job_id`` cannot be put in place (the rename fails: EIO)."""

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id

    async def fetch(self, url: str, dest: Path) -> StagedFile:
        staged = await super().fetch(url, dest)
        if dest.stem != self.job_id:
            return staged
        return _Unpublishable(staged.tmp, staged.dest, staged.sha256, staged.size)


@dataclass(frozen=True)
class _Unpublishable(StagedFile):
    def publish(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


async def test_a_file_that_cannot_be_written_stops_the_job_already_started_before_its_post(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """One slot, given back once a's render is in hand: b starts while a's file is
    being put in place. That fails, and b, not yet sent, is not paid for."""
    fake = _DiskFullFor("a")

    run = await _run(tmp_path, fake, "a", "b", "c")

    assert run.of("a") is Outcome.ERROR and "Input/output error" in run.report.storage_error
    assert [run.of("b"), run.of("c")] == [Outcome.CANCELLED] * 2
    assert [c.job_id for c in fake.of("submit")] == ["a"]
    assert set(run.lock.entries) == {"a"}  # b's "submitting" was taken back
    assert run.lock.entries["a"].status == "completed"  # paid: the next run downloads it


async def test_a_refused_key_aborts_the_whole_run(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    fake.fail_every_submit(AuthError("POST /lipsync-image: 401 invalid API key", status=401))
    report = RunReport()

    with pytest.raises(AuthError, match="401"):
        await _run(tmp_path, fake, "a", "b", "c", report=report)

    assert len(fake.of("submit")) == 1  # the first refusal ends it; nobody else tries
    assert fake.of("get_job") == []
    assert {r.job_id for r in report.results} == {"a", "b", "c"}
    assert Outcome.COMPLETED not in {r.outcome for r in report.results}
    assert {e.status for e in load_lock(tmp_path / "r.lock").entries.values()} <= {"submitting"}


async def test_an_api_that_never_answered_stops_the_run_after_three_jobs(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi()
    fake.fail_every_submit(TransientApiError("POST /lipsync-image: connection refused"))
    ids = ["a", "b", "c", "d", "e", "f"]

    run = await _run(tmp_path, fake, *ids)

    assert len(fake.of("submit")) == 3
    assert (run.count(Outcome.ERROR), run.count(Outcome.CANCELLED)) == (3, 3)
    cancelled = [r for r in run.report.results if r.outcome is Outcome.CANCELLED]
    assert all("has not answered" in r.error for r in cancelled)
    # Never sent, so nothing to hold or resend: the lock is as it was (empty).
    assert run.lock.entries == {}


# --- timing and concurrency ---------------------------------------------------------------


async def test_a_new_jobs_first_poll_waits_most_of_the_interval_after_the_answer(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi(default_render=Render(busy_polls=2))
    ids = [f"j{n}" for n in range(8)]

    run = await _run(tmp_path, fake, *ids, concurrency=8)

    assert run.count(Outcome.COMPLETED) == len(ids)
    for job_id in ids:
        (submit,) = fake.of("submit", job_id)
        polls = fake.of("get_job", job_id)
        assert len(polls) == 3
        # The first poll is timed from the POST's answer: a whole interval (no jitter).
        assert polls[0].at >= submit.done + 0.75 * P - GRID_SLACK - EPS
        # Later ones from the previous poll's answer, never in a burst.
        for before, after in itertools.pairwise(polls):
            assert after.at >= before.done + 0.75 * P - GRID_SLACK - EPS


async def test_a_rerun_waits_for_the_render_time_the_lock_remembers_before_polling(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Renders of this model and resolution took a minute: a poll sooner is wasted."""
    done = _manifest(tmp_path, "h1", "h2", "h3").jobs
    _seed(
        tmp_path,
        [
            _entry(
                job,
                "completed",
                request_id=f"{job.id}-r1",
                execution_time_ms=60_000,
                artifact=Artifact(f"renders/{job.id}.mp4", "0" * 64, 1),
            )
            for job in done
        ],
    )
    fake = FakeApi(default_render=Render(busy_polls=0))

    run = await _run(tmp_path, fake, "h1", "h2", "h3", "new")

    assert run.plan_actions == {
        "h1": Action.SKIP,
        "h2": Action.SKIP,
        "h3": Action.SKIP,
        "new": Action.SUBMIT,
    }
    assert run.of("new") is Outcome.COMPLETED
    (submit,) = fake.of("submit")
    first_poll = fake.of("get_job", "new")[0]
    assert first_poll.at >= submit.done + 60.0 - GRID_SLACK - EPS
    assert {c.job_id for c in fake.calls} == {"new"}  # skipped jobs cost no request


async def test_no_more_than_concurrency_jobs_are_in_flight_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeApi(default_render=Render(busy_polls=2))
    ids = [f"j{n}" for n in range(6)]

    run = await _run(tmp_path, fake, *ids, concurrency=2)

    assert run.count(Outcome.COMPLETED) == len(ids)
    assert len(fake.of("submit")) == len(ids)
    # In flight, as the API sees it: from the POST until the download is answered.
    assert fake.max_active == 2
