"""argparse ``type=`` callables for bounded numbers, shared by every command.

argparse turns an ``ArgumentTypeError`` into "argument --port: invalid value"
plus our reason, with exit 2 and no traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from lipsync_pipeline._render_delay import RenderDelay

__all__ = ["bounded", "render_delay"]

_N = TypeVar("_N", int, float)


def bounded(
    kind: Callable[[str], _N],
    low: _N,
    high: _N | None = None,
    *,
    exclusive_low: bool = False,
) -> Callable[[str], _N]:
    """A parser for ``kind`` values in [low, high] (or (low, high] if ``exclusive_low``)."""
    if exclusive_low:
        reason = f"must be greater than {low}"
    elif high is None:
        reason = f"must be at least {low}"
    else:
        reason = f"must be between {low} and {high}"

    def parse(text: str) -> _N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if exclusive_low else value < low
        # NaN fails every comparison: "not value <= high" keeps it out too.
        if too_low or value != value or (high is not None and not value <= high):
            raise argparse.ArgumentTypeError(reason)
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def render_delay(text: str) -> RenderDelay:
    """``serve --render-delay``: ``SECONDS``, ``LOW-HIGH`` or ``lognormal:MEDIAN[:SIGMA]``."""
    try:
        return RenderDelay.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
