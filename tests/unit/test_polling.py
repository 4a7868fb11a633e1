"""The poll schedule: learn render times, skip the polls that are sure to say 'processing'."""

from __future__ import annotations

from lipsync_pipeline.run._polling import PollSchedule

KEY = ("lipsync-image", "480p")


def test_without_history_it_polls_at_the_interval_with_jitter() -> None:
    schedule = PollSchedule(6.0)
    delays = [schedule.first_delay(KEY, resumed=False) for _ in range(200)]
    assert min(delays) >= 4.5 and max(delays) <= 7.5
    assert len({round(d, 3) for d in delays}) > 50  # spread, not in step


def test_a_resumed_job_is_asked_soon() -> None:
    schedule = PollSchedule(6.0, [(KEY, 60.0)] * 10)
    assert all(schedule.first_delay(KEY, resumed=True) <= 1.5 for _ in range(100))


def test_first_poll_waits_for_the_quickest_renders_seen() -> None:
    schedule = PollSchedule(6.0, [(KEY, float(s)) for s in range(40, 140)])
    typical = schedule.typical(KEY)
    assert typical is not None and 45 <= typical <= 55  # the tenth percentile
    assert all(schedule.first_delay(KEY, resumed=False) >= typical for _ in range(100))
    # Other models and resolutions learn separately.
    assert schedule.typical(("lipsync-image", "720p")) is None


def test_wake_ups_share_a_grid_and_stay_close_to_the_delay() -> None:
    schedule = PollSchedule(6.0)
    grid = 6.0 / 20
    wakes = [schedule.wake_at(100.0 + i * 0.013, 5.0) for i in range(100)]
    # 100 polls spread over 1.3 s wake at a handful of instants, not 100.
    assert len(set(wakes)) <= 6
    assert all(abs(w - (100.0 + i * 0.013 + 5.0)) <= grid / 2 + 1e-9 for i, w in enumerate(wakes))
    assert schedule.wake_at(50.0, 0.0) >= 50.0  # never in the past


def test_old_samples_age_out() -> None:
    schedule = PollSchedule(1.0, [(KEY, 100.0)] * 600)
    for _ in range(600):
        schedule.learn(KEY, 2.0)
    assert schedule.typical(KEY) == 2.0
