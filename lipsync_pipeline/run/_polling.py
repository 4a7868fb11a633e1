"""When to ask the API about a job again: the poll schedule.

The yardstick is the script a user would write: POST, then every ``interval``
seconds a GET until the job ends. Whatever the render time, that poller learns of
a completion at the first of its moments ``submission + k * interval`` (k >= 1)
after it. This schedule polls at those same moments, so it learns of a completion
no later than that poller does (but for the two cases said below), and leaves out
the early moments that are sure to hear "processing":

- **the learned head.** The schedule learns how long renders of each (model,
  resolution) take, from the execution times the lock recorded in earlier runs and
  from this run's finished jobs. A moment earlier than the render time that all but
  the quickest twentieth of them took at least is skipped: for renders of a minute,
  the first eleven polls of a 5 s poller. (With fewer than twenty known, the
  quickest of them less the mean gap between them stands in for that twentieth.) A
  job that does finish that early is seen at the first moment kept, later than the
  fixed poller would have seen it. The hosted API's ``executionTime`` may leave out
  time spent queueing; if so, it errs short and fewer moments are skipped, not more.
  When a job ends without an ``executionTime``, what is learned is when the last poll
  that heard "processing" was sent: the render took longer than that, so this too errs
  short. (Not when the "completed" answer came: that is a poll moment plus latency,
  past the render; learned, it would put the next jobs' first polls after it, their
  answers later still, and the head would creep up with each job.)
- **no jitter.** Moving a poll off its moment either makes it later (slower than the
  fixed poller) or earlier (it misses a completion the fixed poller's poll would
  have seen, which costs a whole interval). Each job's polls keep the phase of its
  own submission; submissions are spread by the API's answers and by slots freeing
  as jobs end. Jobs submitted in one burst do poll in one burst, as the fixed
  poller's do. A job resumed from the lock has no submission moment in this run:
  those are spread over the first quarter interval, so that thousands of them do
  not all ask at once.
- **after a slow answer** (a 429's Retry-After waited out, retries: one that came
  more than a fifth of an interval after its moment), the next poll is the first
  moment at least a whole interval after that answer: the server asked us to slow
  down, and the API asks for 5-10 s between polls. (A poller that sleeps an interval
  after each answer polls then; this is up to an interval later.) After an answer in
  time, the next poll is the next moment, an interval after the last one was sent.

Wake-ups are rounded *up* to a grid of a twentieth of the interval, at most 10 ms:
the polls due within one step wake together and share the event loop's
iterations, where one poll alone pays for several (measured on a 50 ms grid with
polls a second apart: a fifth fewer iterations and ~15 % less CPU per poll; a
finer grid merges fewer). Rounding up never polls before a fixed poller's moment,
and is at most 10 ms later. Not 50 ms: with every job of a wave up to that late,
the wave's last one nearly always is, and 50 ms a wave was 1 % of a 5 s makespan.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from lipsync_pipeline.manifest import Job

__all__ = ["PollSchedule", "RenderKey", "render_key"]

RenderKey = tuple[str, str]  # (model, resolution)


def render_key(job: Job) -> RenderKey:
    """Jobs whose renders take alike: the same model at the same resolution."""
    return job.model, str(job.form_state.get("resolution", ""))


# Moments before the render time that all but this fraction of renders exceeded are
# skipped: the fraction of jobs seen up to one interval late for the polls saved.
_HEAD_QUANTILE: Final = 0.05
_MIN_SAMPLES: Final = 3
# Old samples age out so a queue that speeds up or slows down is followed.
_MAX_SAMPLES: Final = 512
# Resumed jobs' first polls are spread over this fraction of the interval.
_RESUME_SPREAD: Final = 0.25
# An answer later than this fraction of the interval after its moment is slow: the
# next poll is then a whole interval after the answer, not at the next moment.
_SLOW_ANSWER: Final = 0.2
_GRID_FRACTION: Final = 0.05
_MAX_GRID: Final = 0.01  # seconds
# Floating-point slack when a moment is compared with a time.
_EPS: Final = 1e-9


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

    def learn_done(
        self, key: RenderKey, execution_time: float | None, processing_for: float | None
    ) -> None:
        """Record a render this run saw completed: ``execution_time`` (seconds) if the
        API gave one; else ``processing_for``, how long after submission the last poll
        that heard "processing" was sent (a lower bound), if any; else nothing."""
        if execution_time is not None:
            self.learn(key, execution_time)
        elif processing_for is not None:
            self.learn(key, processing_for)

    def head(self, key: RenderKey) -> float | None:
        """The render time all but the quickest twentieth of renders take at least, as
        far as the known ones tell; None until a few are known."""
        ranked = self._samples.get(key, [])
        n = len(ranked)
        if n < _MIN_SAMPLES:
            return None
        if n * _HEAD_QUANTILE >= 1:
            return ranked[int(n * _HEAD_QUANTILE)]
        # Too few for a twentieth: the quickest of n renders is beaten by the next one
        # once in n + 1. Step below it by the mean gap between known renders, about how
        # far the quickest of many lies under the quickest of these few.
        return max(0.0, ranked[0] - (ranked[-1] - ranked[0]) / (n - 1))

    def first_poll(self, key: RenderKey, submitted: float) -> float:
        """When to poll a job first that the API accepted at ``submitted``: its first
        moment ``submitted + k * interval`` (k >= 1) not before the learned head."""
        k = 1
        head = self.head(key)
        if head is not None:
            k = max(k, math.ceil(head / self.interval - _EPS))
        return submitted + k * self.interval

    def resumed_poll(self, now: float) -> float:
        """When to poll first a job resumed from the lock: soon (it may be long done),
        spread out. Its later polls keep to the interval from this one."""
        return now + random.uniform(0, self.interval * _RESUME_SPREAD)

    def next_poll(self, anchor: float, due: float, answered: float) -> float:
        """The poll after the one due at ``due`` and answered at ``answered``: the next
        moment ``anchor + k * interval``; after a slow answer, the first such moment at
        least a whole interval after it."""
        earliest = due + self.interval
        if answered - due > self.interval * _SLOW_ANSWER:
            earliest = max(earliest, answered + self.interval)
        k = max(1, math.ceil((earliest - anchor) / self.interval - _EPS))
        return anchor + k * self.interval

    def wake_at(self, due: float) -> float:
        """When to wake for a poll due at ``due``: the next grid point, never before."""
        grid = min(self.interval * _GRID_FRACTION, _MAX_GRID)
        if grid <= 0:
            return due
        return math.ceil(due / grid - _EPS) * grid
