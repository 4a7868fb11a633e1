"""The use cases behind the commands: each loads, checks and acts, returning a typed
result that the CLI shows; none of them prints.
"""

from __future__ import annotations

from lipsync_pipeline.usecases._run import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    LOCAL_POLL_INTERVAL,
    Checked,
    RunRequest,
    check,
    check_lock,
    lock_beside,
    refresh,
    resolve_remote,
    run_pipeline,
)

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "LOCAL_POLL_INTERVAL",
    "Checked",
    "RunRequest",
    "check",
    "check_lock",
    "lock_beside",
    "refresh",
    "resolve_remote",
    "run_pipeline",
]
