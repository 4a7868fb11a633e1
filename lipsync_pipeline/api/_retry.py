"""When to try an API request again, and how long to wait first.

The rules of *what* is safe to retry live in :mod:`lipsync_pipeline.api._client`; this
module holds the policy values and the parsing of a server's ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import time
from dataclasses import dataclass
from typing import Final

__all__ = ["NOT_ACTED_ON", "RETRY_STATUSES", "RetryPolicy", "Retryable", "retry_after"]

# Answers that say "not now" rather than "no": overloaded, rate-limited, or a gateway
# that lost the upstream. Any other status is final.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
# Of those, the ones that say the request was not acted on: a submission answered so
# created no job. A 5xx may come from a gateway after the service created the job.
NOT_ACTED_ON: Final = frozenset({408, 429})
_MAX_EXPONENT: Final = 60  # 2**60 already exceeds any max_delay; beyond it floats overflow


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: attempt n waits up to min(max_delay, base_delay * 2**(n-1)).

    ``jitter`` is the fraction of that delay drawn at random (1.0 = "full jitter", 0 = none)
    so that many jobs failing together do not come back together. ``attempts`` counts
    every try, the first included. A server's ``Retry-After`` is a floor, capped at
    ``retry_after_cap`` so a hostile or broken header cannot park a run for hours.
    """

    attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    retry_after_cap: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.retry_after_cap) < 0:
            raise ValueError("RetryPolicy delays must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
        wait = backoff * (1.0 - self.jitter * random.random())
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait


class Retryable(Exception):
    """An attempt failed in a way that may be tried again. Never leaves the client.

    ``reached``: the server may have acted on the request (it was sent, and the answer
    was a 5xx or never came). False when it cannot have: the connection was never made,
    or the server said "not now" (429, 408). Reading again is always safe; submitting
    again after ``reached`` is safe only where the API honours ``Idempotency-Key``."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        after: float | None = None,
        reached: bool = True,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.after = after
        self.reached = reached


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date; None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())
