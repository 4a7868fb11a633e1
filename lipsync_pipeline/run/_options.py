"""How a run is tuned and what it reports to: options, progress, and the hooks a
use case plugs in (where inputs come from, where renders are kept)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:  # the CLI's help reads the defaults below: they must import cheaply
    from lipsync_pipeline._staging import StagedFile
    from lipsync_pipeline.manifest import Job

__all__ = [
    "DEFAULT_JOB_TIMEOUT",
    "DEFAULT_POLL_INTERVAL",
    "MS",
    "InputResolver",
    "KeepRender",
    "NullProgress",
    "ProgressSink",
    "RunOptions",
]

# The API page asks for a poll every 5-10 s. 5 s learns of a completion as soon as the
# script a user would write does; the learned head (see _polling) is what saves polls.
DEFAULT_POLL_INTERVAL: Final = 5.0
MS: Final = 1000.0
# Generations are capped at ~10 minutes of output; an hour covers a slow queue.
DEFAULT_JOB_TIMEOUT: Final = 3600.0


@dataclass(frozen=True, slots=True)
class RunOptions:
    poll_interval: float = DEFAULT_POLL_INTERVAL
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    fail_fast: bool = False
    # The in-process studio forgets its jobs when the process ends, so a resumed
    # request id can be unknown there; only then is resubmitting the right answer.
    resubmit_forgotten: bool = False
    # A submission whose outcome is unknown may be sent again, with its key: recorded
    # ones (the plan resends rather than holds them) and this run's (the client retries
    # them). The user's say-so (--resend-unknown), or an API that honours the key.
    resend_unknown: bool = False


class ProgressSink(Protocol):
    def job_state(self, job_id: str, state: str) -> None: ...


InputResolver = Callable[["Job"], Mapping[str, Any]]
# With an object store: upload a downloaded render (job id, staged file) -> its key.
KeepRender = Callable[[str, "StagedFile"], Awaitable[str]]


class NullProgress:
    def job_state(self, job_id: str, state: str) -> None:
        pass
