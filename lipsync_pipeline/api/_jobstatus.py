"""A job's status as the API reports it, read tolerantly (``GET /jobs/{id}``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["JobStatus", "milliseconds"]

_FINISHED: Final = frozenset({"completed", "failed"})


@dataclass(frozen=True, slots=True)
class JobStatus:
    """``GET /jobs/{id}``, read tolerantly: unknown statuses mean "not finished yet"."""

    id: str
    model: str  # not stable: "lipsync" while processing, the endpoint's name at the end
    status: str
    output: str | None
    error: str  # "" when none
    execution_time_ms: int | None

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED


def milliseconds(value: Any) -> int | None:
    """executionTime as a count of ms, or None for anything else (negative, NaN, inf,
    a string): a bad value from the server must not make our lockfile unreadable."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return round(value)
