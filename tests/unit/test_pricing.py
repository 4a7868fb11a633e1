from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipsync_pipeline.pricing import billed_seconds, estimate_credits, output_seconds


def test_the_api_pages_examples() -> None:
    assert estimate_credits("lipsync-image", "720p", durations={"audio": 3.0}) == 20
    assert estimate_credits("lipsync-image", "480p", durations={"audio": 10.0}) == 20


def test_video_bills_the_output_which_follows_the_audio() -> None:
    short_video = {"audio": 12.0, "video": 4.0}
    long_video = {"audio": 12.0, "video": 40.0}
    assert billed_seconds("lipsync-video", durations=short_video) == 12
    assert billed_seconds("lipsync-video", durations=long_video) == 12


@pytest.mark.parametrize(
    ("order", "seconds"),
    [(None, 7.0), ("meanwhile", 7.0), ("left_right", 10.0), ("right_left", 10.0)],
)
def test_multi_orders(order: str | None, seconds: float) -> None:
    durations = {"left_audio": 3.0, "right_audio": 7.0}
    assert output_seconds("lipsync-image-multi", durations=durations, order=order) == seconds
    assert estimate_credits("lipsync-image-multi", "480p", durations=durations, order=order) == (
        seconds * 2
    )


def test_partial_seconds_round_up_but_codec_padding_does_not() -> None:
    assert billed_seconds("lipsync-image", durations={"audio": 6.2}) == 7
    assert billed_seconds("lipsync-image", durations={"audio": 6.008}) == 6


@pytest.mark.parametrize(
    ("model", "resolution", "durations", "order"),
    [
        ("nope", "480p", {"audio": 1.0}, None),
        ("lipsync-image", "1080p", {"audio": 1.0}, None),
        ("lipsync-image", "480p", {}, None),
        ("lipsync-image", "480p", {"audio": -1.0}, None),
        ("lipsync-image-multi", "480p", {"left_audio": 1.0, "right_audio": 1.0}, "both"),
    ],
)
def test_invalid_arguments(
    model: str, resolution: str, durations: dict[str, float], order: str | None
) -> None:
    with pytest.raises(ValueError):
        estimate_credits(model, resolution, durations=durations, order=order)


@given(st.floats(min_value=0, max_value=600), st.sampled_from(["480p", "720p"]))
def test_minimum_and_monotonic(seconds: float, resolution: str) -> None:
    credits = estimate_credits("lipsync-image", resolution, durations={"audio": seconds})
    rate = 2 if resolution == "480p" else 4
    assert credits >= 5 * rate
    assert credits <= estimate_credits(
        "lipsync-image", resolution, durations={"audio": seconds + 1}
    )
