"""Executing a plan: one trio nursery, bounded concurrency, every state change durable.

Private modules: ``_runner`` (execute), ``_api`` (the Api protocol the runner needs),
``_state`` (admission, stop flag, results), ``_walk`` (one job's walk through the
API), ``_moves`` (renames: entries and files carried to new ids), ``_storage`` (the
object store's part of a run), ``_options`` (RunOptions, progress and the hooks a use
case plugs in), ``_polling`` (the poll schedule), ``_report`` (what a run did, job by
job), ``_static`` (the steps that need no API: all an up-to-date run does, without
trio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.run._api import Api
    from lipsync_pipeline.run._options import (
        DEFAULT_JOB_TIMEOUT,
        DEFAULT_POLL_INTERVAL,
        InputResolver,
        KeepRender,
        ProgressSink,
        RunOptions,
    )
    from lipsync_pipeline.run._report import JobResult, Outcome, RunReport
    from lipsync_pipeline.run._runner import execute
    from lipsync_pipeline.run._static import execute_static

__all__ = [
    "DEFAULT_JOB_TIMEOUT",
    "DEFAULT_POLL_INTERVAL",
    "Api",
    "InputResolver",
    "JobResult",
    "KeepRender",
    "Outcome",
    "ProgressSink",
    "RunOptions",
    "RunReport",
    "execute",
    "execute_static",
]

# Imported on first use (see lipsync_pipeline/_lazy.py); type checkers read the imports above.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_api": ("Api",),
            "_options": (
                "DEFAULT_JOB_TIMEOUT",
                "DEFAULT_POLL_INTERVAL",
                "InputResolver",
                "KeepRender",
                "ProgressSink",
                "RunOptions",
            ),
            "_report": ("JobResult", "Outcome", "RunReport"),
            "_runner": ("execute",),
            "_static": ("execute_static",),
        },
    )
