"""The poll schedule: a fixed poller's moments, minus those learned render times rule out.

The yardstick is the script a user would write (``bench/baseline.py``): POST, then a GET
every P seconds, which learns of a completion at the first ``submission + k * P`` after it.
The runner must never learn later than that, and must not poll more often.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import trio
import trio.testing
from _fake_api import FakeApi, Render, manifest_text

from lipsync_pipeline.api import JobStatus
from lipsync_pipeline.lockfile import LockJournal, load_lock
from lipsync_pipeline.manifest import parse_manifest
from lipsync_pipeline.plan import plan
from lipsync_pipeline.run import DEFAULT_POLL_INTERVAL, Outcome, RunOptions, execute
from lipsync_pipeline.run._polling import PollSchedule

KEY = ("lipsync-image", "480p")
P = 5.0
GRID = 0.01  # the wake-up grid at P = 5 s: a twentieth of P, at most 10 ms


def fixed_poller(render: float, interval: float = P) -> tuple[float, int]:
    """(seconds after submission it learns of the completion, polls it made)."""
    polls = max(1, math.ceil(render / interval))
    return polls * interval, polls


def test_the_default_interval_is_the_apis_quickest() -> None:
    assert DEFAULT_POLL_INTERVAL == 5.0  # the API page asks for 5-10 s


def test_without_history_a_new_job_is_polled_at_the_fixed_pollers_moments() -> None:
    schedule = PollSchedule(P)
    assert schedule.first_poll(KEY, 100.0) == 105.0
    # Each answer is followed by the next moment of the same job, whatever its phase.
    assert schedule.next_poll(100.0, 105.0, 105.02) == 110.0
    assert schedule.next_poll(100.0, 110.0, 110.3) == 115.0
    # No jitter: two jobs submitted alike are polled alike.
    assert {PollSchedule(P).first_poll(KEY, 100.0) for _ in range(50)} == {105.0}


def test_a_slow_answer_is_followed_by_a_whole_interval() -> None:
    schedule = PollSchedule(P)
    # Answered 3 s after its moment (a Retry-After waited out): the server asked us to
    # slow down, and the API asks for 5-10 s between polls. The next moment, 2 s on, and
    # the one 7 s on are too soon after a slow answer.
    assert schedule.next_poll(100.0, 105.0, 108.0) == 115.0
    assert schedule.next_poll(100.0, 105.0, 110.0) == 115.0
    assert schedule.next_poll(100.0, 105.0, 110.01) == 120.0
    for late in (1.01, 1.5, 2.4, 4.9, 5.0, 7.3, 12.0):
        answered = 105.0 + late
        following = schedule.next_poll(100.0, 105.0, answered)
        assert following >= answered + P
        assert following < answered + 2 * P  # and the first such moment
        assert (following - 100.0) / P == pytest.approx(round((following - 100.0) / P))
    # An answer in time (latency, under a fifth of the interval) keeps the next moment.
    assert schedule.next_poll(100.0, 105.0, 106.0) == 110.0


def test_learned_render_times_skip_only_the_moments_sure_to_hear_processing() -> None:
    schedule = PollSchedule(P, [(KEY, float(s)) for s in range(20, 41)])  # 20-40 s renders
    head = schedule.head(KEY)
    assert head == 21.0  # all but the quickest twentieth took at least this
    # 5, 10, 15 and 20 s are left out; 25 s is the fixed poller's next moment.
    assert schedule.first_poll(KEY, 100.0) == 125.0
    # Other models and resolutions learn separately.
    assert schedule.head(("lipsync-image", "720p")) is None
    assert schedule.first_poll(("lipsync-image", "720p"), 100.0) == 105.0


def test_a_head_on_a_moment_keeps_that_moment() -> None:
    schedule = PollSchedule(P, [(KEY, 20.0)] * 5)
    assert schedule.first_poll(KEY, 0.0) == 20.0


def test_a_few_samples_are_needed_before_any_poll_is_skipped() -> None:
    schedule = PollSchedule(P, [(KEY, 60.0)] * 2)
    assert schedule.first_poll(KEY, 0.0) == P
    schedule.learn(KEY, 60.0)
    assert schedule.first_poll(KEY, 0.0) == 60.0


@pytest.mark.parametrize(("low", "high"), [(0.5, 2.0), (20.0, 40.0), (3.0, 70.0)])
def test_never_later_and_never_more_polls_than_a_fixed_poller(low: float, high: float) -> None:
    rng = random.Random(7)
    schedule = PollSchedule(P)
    for _ in range(300):
        render = rng.uniform(low, high)
        submitted = rng.uniform(0, 1000)
        due, polls = schedule.first_poll(KEY, submitted), 1
        while due - submitted < render:
            # Answered a few ms after each poll.
            due, polls = schedule.next_poll(submitted, due, due + 0.02), polls + 1
        seen, fixed_polls = fixed_poller(render)
        head = schedule.head(KEY)
        if head is None or render >= head:
            assert due - submitted == pytest.approx(seen)
        else:  # one of the quickest twentieth: seen at the first moment kept
            first = schedule.first_poll(KEY, submitted) - submitted
            assert due - submitted == pytest.approx(max(seen, first))
        assert polls <= fixed_polls
        schedule.learn(KEY, render)


@pytest.mark.parametrize("render", [0.5, 3.0, 12.0, 23.7, 40.0])
def test_jobs_without_an_execution_time_never_push_the_first_poll_past_the_render(
    render: float,
) -> None:
    # The walker's loop, as _walk._poll runs it: a job whose API answers no
    # executionTime teaches what learn_done is given, and the next job starts from it.
    schedule, latency = PollSchedule(P), 0.02
    for n in range(3000):
        submitted = 1000.0 * n
        due, processing_for = schedule.first_poll(KEY, submitted), None
        while True:
            asked = schedule.wake_at(due)
            if asked - submitted >= render:
                break
            processing_for = asked - submitted
            due = schedule.next_poll(submitted, due, asked + latency)
        schedule.learn_done(KEY, None, processing_for)
        # Every job is seen no later than the fixed poller sees it (give or take the
        # wake-up grid), the 3000th as the first.
        assert due - submitted <= fixed_poller(render)[0] + 1e-6, n
    # Long renders are still learned: of the polls sure to hear "processing", all but
    # the last (the lower bound learned) are left out.
    assert schedule.first_poll(KEY, 0.0) >= fixed_poller(render)[0] - P


def test_what_a_completed_job_teaches() -> None:
    schedule = PollSchedule(P)
    for _ in range(5):  # done at its first poll, no executionTime: nothing known
        schedule.learn_done(KEY, None, None)
    assert schedule.head(KEY) is None
    for _ in range(5):  # the API's executionTime wins over the lower bound
        schedule.learn_done(KEY, 30.0, 10.01)
    assert schedule.head(KEY) == 30.0


def test_a_resumed_job_is_asked_soon_and_spread_out() -> None:
    schedule = PollSchedule(P, [(KEY, 60.0)] * 10)
    firsts = [schedule.resumed_poll(100.0) for _ in range(200)]
    assert all(100.0 <= t <= 100.0 + P / 4 for t in firsts)
    assert len({round(t, 3) for t in firsts}) > 50  # spread, not in step
    # Later polls keep to the interval from the first.
    assert schedule.next_poll(firsts[0], firsts[0], firsts[0] + 0.02) == pytest.approx(
        firsts[0] + P
    )


def test_wake_ups_share_a_grid_and_never_come_early() -> None:
    schedule = PollSchedule(P)
    wakes = [schedule.wake_at(100.0 + i * 0.0003) for i in range(100)]
    # 100 polls due over 30 ms wake at a handful of instants, not 100.
    assert len(set(wakes)) <= 4
    assert all(0 <= w - (100.0 + i * 0.0003) <= GRID + 1e-9 for i, w in enumerate(wakes))
    # The grid is a twentieth of the interval when that is under 10 ms.
    tight = PollSchedule(0.1)
    assert all(0 <= tight.wake_at(t / 7) - t / 7 <= 0.005 + 1e-9 for t in range(100))


def test_old_samples_age_out() -> None:
    schedule = PollSchedule(1.0, [(KEY, 100.0)] * 600)
    for _ in range(600):
        schedule.learn(KEY, 2.0)
    assert schedule.head(KEY) == 2.0


# --- the runner's walk, in virtual time ---------------------------------------------------
# The lock writer fsyncs in a real thread and the autojump clock moves on while it runs
# (see test_walk), so these assert counts and lower bounds on virtual time only; that
# no poll comes later than a fixed poller's is the schedule's, tested above.


class TimedApi(FakeApi):
    """The fake API, its jobs done ``render`` virtual seconds after their submission."""

    def __init__(self, render: dict[str, float]) -> None:
        super().__init__(latency=0.02)
        self.render = render

    async def get_job(self, request_id: str) -> JobStatus:
        job_id = request_id.rsplit("-r", 1)[0]
        elapsed = trio.current_time() - self.of("submit", job_id)[-1].done
        took = self.render[job_id]
        self.renders[request_id] = (
            Render(busy_polls=0, execution_time_ms=round(took * 1000))
            if elapsed >= took
            else Render(end=None)
        )
        return await super().get_job(request_id)


async def _walk(
    tmp_path: Path, renders: tuple[float, float], jobs: int, concurrency: int, seed: int
) -> TimedApi:
    """Run ``jobs`` jobs whose render times are uniform in ``renders``; all complete."""
    rng = random.Random(seed)
    ids = [f"j{n}" for n in range(jobs)]
    api = TimedApi({job_id: rng.uniform(*renders) for job_id in ids})
    path = tmp_path / "r.yaml"
    manifest = parse_manifest(manifest_text(*ids), path=path, display_name="r.yaml")
    journal = LockJournal.open(tmp_path / "r.lock")
    try:
        steps = plan(manifest, load_lock(tmp_path / "r.lock"), artifacts={})
        options = RunOptions(poll_interval=P, job_timeout=math.inf)
        report = await execute(
            steps, manifest, journal, api, concurrency=concurrency, options=options
        )
    finally:
        journal.close()
    assert [r.outcome for r in report.results] == [Outcome.COMPLETED] * jobs
    return api


async def test_a_short_render_costs_one_status_call_a_whole_interval_on(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    api = await _walk(tmp_path, (0.5, 2.0), jobs=12, concurrency=4, seed=1)

    for job_id in api.render:
        (submit,) = api.of("submit", job_id)
        (poll,) = api.of("get_job", job_id)  # one status call, as the fixed poller makes
        assert poll.at >= submit.done + P - 1e-6


async def test_long_renders_skip_the_early_polls_once_render_times_are_known(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    api = await _walk(tmp_path, (20.0, 40.0), jobs=12, concurrency=3, seed=2)
    ids = list(api.render)

    ours = fixed = 0
    for job_id in ids:
        polls = len(api.of("get_job", job_id))
        fixed_polls = fixed_poller(api.render[job_id])[1]
        assert polls <= fixed_polls
        ours, fixed = ours + polls, fixed + fixed_polls
    # Once five renders are known, all of 20-40 s, the head is at least 20 - 20 / 4 s:
    # the polls at 5 and 10 s are left out.
    fifth_done = sorted(api.of("get_job", job_id)[-1].done for job_id in ids)[4]
    learned = [job_id for job_id in ids if api.of("submit", job_id)[0].at >= fifth_done]
    assert len(learned) >= 3
    for job_id in learned:
        first = api.of("get_job", job_id)[0]
        assert first.at >= api.of("submit", job_id)[0].done + 15.0 - 1e-6
    assert ours <= fixed - 2 * len(learned)
