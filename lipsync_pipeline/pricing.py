"""Credits a generation costs, per the pricing rules of the lipsync.studio API page.

The rules (``docs/api-contract.md``, "Pricing"), and what we decided where
the page is silent:

* The billed length is the **output** length:

  - ``lipsync-image``: the audio's length.
  - ``lipsync-video``: the audio's length. The video is trimmed or looped to the
    audio, so the output follows the audio. (The page's billing sentence names the
    audio for trims and the video for extensions; we bill the output length in both
    cases, because that is what is rendered.)
  - ``lipsync-image-multi``: ``order: meanwhile`` (the default) bills the longer of
    the two audios; the sequential orders ``left_right`` and ``right_left`` bill
    their sum.

* Partial seconds round **up** to whole seconds (a provider bills started
  seconds), except a sliver of at most ``ROUNDING_TOLERANCE`` seconds: decoders pad
  audio (AAC adds ~8 ms to a 3.000 s clip), and that must not cost a whole second.
* A generation is billed at least ``MINIMUM_SECONDS`` (5 s).
* 480p costs 2 credits per second, 720p costs 4.

Examples from the page: 3 s of audio at 720p -> 5 s x 4 = 20 credits; 10 s at
480p -> 10 s x 2 = 20 credits.

Pure functions: no I/O, so ``plan`` and the reference studio share them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

__all__ = [
    "BILLING_RULE",
    "CREDITS_PER_SECOND",
    "DEFAULT_RESOLUTION",
    "MINIMUM_SECONDS",
    "ORDERS",
    "ROUNDING_TOLERANCE",
    "billed_seconds",
    "credits_for_output",
    "estimate_credits",
    "output_seconds",
    "resolution_of",
]

CREDITS_PER_SECOND: Final[Mapping[str, int]] = {"480p": 2, "720p": 4}
DEFAULT_RESOLUTION: Final = "480p"  # the API's, for a job that names none
MINIMUM_SECONDS: Final = 5
# How an estimate is to be read, in the words plan shows next to it.
BILLING_RULE: Final = f"billed on output length, minimum {MINIMUM_SECONDS} s"
ROUNDING_TOLERANCE: Final = 0.05
ORDERS: Final = ("meanwhile", "left_right", "right_left")
_DEFAULT_ORDER: Final = "meanwhile"


def _duration(durations: Mapping[str, float], field: str) -> float:
    try:
        value = float(durations[field])
    except KeyError:
        raise ValueError(f"missing the duration of {field!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"duration of {field!r} must be a finite number >= 0, got {value!r}")
    return value


def output_seconds(
    model: str, *, durations: Mapping[str, float], order: str | None = None
) -> float:
    """Length in seconds of the video a generation produces.

    ``durations`` maps formState input fields (``audio``, ``video``, ``left_audio``,
    ``right_audio``) to their lengths in seconds; only the fields the model's
    output depends on are required.
    """
    if model in ("lipsync-image", "lipsync-video"):
        return _duration(durations, "audio")
    if model == "lipsync-image-multi":
        left = _duration(durations, "left_audio")
        right = _duration(durations, "right_audio")
        chosen = order or _DEFAULT_ORDER
        if chosen not in ORDERS:
            raise ValueError(f"unknown order {chosen!r}; expected one of {', '.join(ORDERS)}")
        return max(left, right) if chosen == "meanwhile" else left + right
    raise ValueError(f"unknown model {model!r}")


def billed_seconds(model: str, *, durations: Mapping[str, float], order: str | None = None) -> int:
    """Whole seconds billed: the output length rounded up, at least ``MINIMUM_SECONDS``."""
    return _whole_seconds(output_seconds(model, durations=durations, order=order))


def resolution_of(form_state: Mapping[str, object]) -> str:
    """The resolution a job renders (and is billed) at."""
    return str(form_state.get("resolution", DEFAULT_RESOLUTION))


def _whole_seconds(seconds: float) -> int:
    whole = math.ceil(max(0.0, seconds - ROUNDING_TOLERANCE))
    return max(MINIMUM_SECONDS, whole)


def _rate(resolution: str) -> int:
    try:
        return CREDITS_PER_SECOND[resolution]
    except KeyError:
        raise ValueError(
            f"unknown resolution {resolution!r}; expected one of {', '.join(CREDITS_PER_SECOND)}"
        ) from None


def credits_for_output(resolution: str, seconds: float) -> int:
    """Credits billed for a render whose output lasts ``seconds`` (measured from the
    file itself: what a run reports as billed, next to the estimate from the inputs)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"an output length must be a finite number >= 0, got {seconds!r}")
    return _whole_seconds(seconds) * _rate(resolution)


def estimate_credits(
    model: str,
    resolution: str,
    *,
    durations: Mapping[str, float],
    order: str | None = None,
) -> int:
    """Credits for one generation: billed seconds times the resolution's rate."""
    rate = _rate(resolution)
    return billed_seconds(model, durations=durations, order=order) * rate
