"""``serve --render-delay``: a fixed delay, a uniform range or a log-normal, drawn per job."""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest

from lipsync_pipeline._render_delay import RenderDelay
from lipsync_pipeline.studio import StudioConfig

MODEL = "lipsync-image"


def form(n: int, host: str = "http://127.0.0.1:8765") -> dict[str, object]:
    return {"image": f"{host}/assets/face.png", "audio": f"{host}/assets/a.wav", "seed": n}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", RenderDelay("fixed", 0.0)),
        ("2.5", RenderDelay("fixed", 2.5)),
        ("0.5-2", RenderDelay("uniform", 0.5, 2.0)),
        (" 20 - 40 ", RenderDelay("uniform", 20.0, 40.0)),
        ("3-3", RenderDelay("uniform", 3.0, 3.0)),
        ("lognormal:30", RenderDelay("lognormal", 30.0, 0.5)),
        ("LogNormal:1.5:0.25", RenderDelay("lognormal", 1.5, 0.25)),
    ],
)
def test_the_three_forms_parse(text: str, expected: RenderDelay) -> None:
    assert RenderDelay.parse(text) == expected
    assert RenderDelay.parse(str(expected)) == expected  # printed as it is written


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "not a number of seconds >= 0; expected SECONDS, LOW-HIGH or lognormal"),
        ("-1", "not a number of seconds >= 0"),
        ("inf", "not a number of seconds >= 0"),
        ("2-1", "the range 2-1 ends below where it starts"),
        ("1-2-3", "not a number"),
        ("lognormal:", "expected SECONDS, LOW-HIGH or lognormal:MEDIAN[:SIGMA]"),
        ("lognormal:0", "a lognormal's median must be > 0"),
        ("lognormal:5:x", "'x' is not a number"),
        ("lognormal:5:1:2", "expected SECONDS"),
        ("lognormal:1:1000", "a lognormal's sigma must be <= 3"),
        ("lognormal:1:3.01", "a lognormal's sigma must be <= 3"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + repr(text).replace("[", r"\[")) as caught:
        RenderDelay.parse(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("2-1", "the range 2-1 ends below"),
        # Not at the first job's draw, where math.exp would overflow.
        ("lognormal:1:1000", "a lognormal's sigma must be <= 3"),
    ],
)
def test_the_cli_refuses_a_bad_spec_without_a_traceback(spec: str, reason: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lipsync_pipeline", "serve", "--render-delay", spec],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"argument --render-delay: '{spec}': {reason}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("spec", ["lognormal:100:3", "lognormal:1e300:3", "1e300", "1-1000000000"])
def test_no_draw_crashes_or_lasts_more_than_a_day(spec: str) -> None:
    delay = RenderDelay.parse(spec)
    draws = [delay.seconds_for(MODEL, form(n)) for n in range(2000)]
    assert all(0 <= d <= 86_400 for d in draws)
    assert max(draws) == 86_400  # the long tail (or the whole range) is clamped


def test_a_uniform_range_spreads_jobs_over_it() -> None:
    delay = RenderDelay.parse("0.5-2")
    draws = [delay.seconds_for(MODEL, form(n)) for n in range(2000)]
    assert 0.5 <= min(draws) < 0.52 and 1.98 < max(draws) <= 2.0
    assert statistics.mean(draws) == pytest.approx(1.25, abs=0.03)
    # Each quarter of the range gets about a quarter of the jobs.
    quarters = [sum(0.5 + q * 0.375 <= d < 0.5 + (q + 1) * 0.375 for d in draws) for q in range(4)]
    assert all(420 <= n <= 580 for n in quarters)


def test_a_lognormal_has_its_median_and_spread() -> None:
    delay = RenderDelay.parse("lognormal:30:0.5")
    draws = sorted(delay.seconds_for(MODEL, form(n)) for n in range(2000))
    assert statistics.median(draws) == pytest.approx(30, rel=0.05)
    # Half the jobs within exp(±0.674 sigma) of the median: 21.4 s to 42.0 s.
    assert draws[500] == pytest.approx(21.4, rel=0.06)
    assert draws[1500] == pytest.approx(42.0, rel=0.06)
    assert draws[0] > 0


def test_a_jobs_draw_is_fixed_by_its_inputs_not_by_the_studios_address() -> None:
    delay = RenderDelay.parse("lognormal:10")
    here = delay.seconds_for(MODEL, form(7))
    assert delay.seconds_for(MODEL, form(7)) == here
    assert delay.seconds_for(MODEL, form(7, host="http://127.0.0.1:40001")) == here
    assert delay.seconds_for(MODEL, form(8)) != here
    assert delay.seconds_for("lipsync-video", form(7)) != here


def test_the_studio_config_takes_a_figure_or_a_distribution() -> None:
    assert StudioConfig(render_delay=1.5).render_seconds(MODEL, form(1)) == 1.5
    spread = StudioConfig(render_delay=RenderDelay.parse("20-40"))
    assert 20 <= spread.render_seconds(MODEL, form(1)) <= 40
    with pytest.raises(ValueError, match=">= 0"):
        StudioConfig(render_delay=-1.0)


def test_a_plain_figure_in_the_config_is_a_render_time_like_any_other() -> None:
    """A library user's StudioConfig(render_delay=<seconds>) gets the same rules as
    --render-delay: at most a day, and a figure that is no render time is refused."""
    assert StudioConfig(render_delay=1e9).render_seconds("lipsync-image", {}) == 86_400
    assert StudioConfig(render_delay=2).render_seconds("lipsync-image", {}) == 2.0
    with pytest.raises(ValueError):
        StudioConfig(render_delay=-1)
