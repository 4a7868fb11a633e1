"""The use cases behind the commands: each loads, checks and acts, returning a typed
result that the CLI shows; none of them prints.

Private modules: ``_check`` (plan and status: manifest + lock + outputs -> plan; the
input check of plan and run), ``_validate`` (validate), ``_request`` (what run was
asked, checked before the run's heavy imports), ``_admit`` (a run's checks before its
lock: key, store, cap, links, input check), ``_uptodate`` (an up-to-date run, in this
thread, without trio; unlocked on a read-only checkout), ``_run`` (run, the whole way),
``_guards`` (links refused where a run writes), ``_refresh`` (status --refresh),
``_local`` (what ``--local`` changes), ``_outputs`` (rendered files on disk), ``_serve``
(the studio as a foreground server), ``_schema`` (the JSON Schemas), ``_store`` (a run's
object store: preflight, inputs, --verify), ``_pull`` (pull), ``_lockmerge`` (lock
merge, lock fold, install-merge-driver), ``_shard`` (a shard's own lock for --shard
K/N), ``_spend`` (a run's credits: the spend cap, billed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.usecases._admit import DEFAULT_CONCURRENCY, Admitted, admit_run
    from lipsync_pipeline.usecases._check import (
        Checked,
        check,
        check_lock,
        input_check,
        lock_beside,
    )
    from lipsync_pipeline.usecases._local import LOCAL_POLL_INTERVAL, poll_interval
    from lipsync_pipeline.usecases._lockmerge import (
        DRIVER_COMMAND,
        DRIVER_NAME,
        DriverSetup,
        FileMerge,
        driver_warning,
        fold_files,
        install_merge_driver,
        merge_files,
    )
    from lipsync_pipeline.usecases._pull import Pulled, PullOutcome, PullReport, pull
    from lipsync_pipeline.usecases._refresh import refresh
    from lipsync_pipeline.usecases._request import RunRequest, check_run
    from lipsync_pipeline.usecases._run import run_pipeline
    from lipsync_pipeline.usecases._schema import schema_document
    from lipsync_pipeline.usecases._serve import ServeRequest, serve
    from lipsync_pipeline.usecases._uptodate import run_up_to_date
    from lipsync_pipeline.usecases._validate import (
        FileValidation,
        LockValidation,
        MatrixIds,
        Validation,
        validate,
    )

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DRIVER_COMMAND",
    "DRIVER_NAME",
    "LOCAL_POLL_INTERVAL",
    "Admitted",
    "Checked",
    "DriverSetup",
    "FileMerge",
    "FileValidation",
    "LockValidation",
    "MatrixIds",
    "PullOutcome",
    "PullReport",
    "Pulled",
    "RunRequest",
    "ServeRequest",
    "Validation",
    "admit_run",
    "check",
    "check_lock",
    "check_run",
    "driver_warning",
    "fold_files",
    "input_check",
    "install_merge_driver",
    "lock_beside",
    "merge_files",
    "poll_interval",
    "pull",
    "refresh",
    "run_pipeline",
    "run_up_to_date",
    "schema_document",
    "serve",
    "validate",
]

# Imported on first use (see lipsync_pipeline/_lazy.py); type checkers read the imports above.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_admit": ("DEFAULT_CONCURRENCY", "Admitted", "admit_run"),
            "_check": ("Checked", "check", "check_lock", "input_check", "lock_beside"),
            "_local": ("LOCAL_POLL_INTERVAL", "poll_interval"),
            "_lockmerge": (
                "DRIVER_COMMAND",
                "DRIVER_NAME",
                "DriverSetup",
                "FileMerge",
                "driver_warning",
                "fold_files",
                "install_merge_driver",
                "merge_files",
            ),
            "_pull": ("Pulled", "PullOutcome", "PullReport", "pull"),
            "_refresh": ("refresh",),
            "_request": ("RunRequest", "check_run"),
            "_run": ("run_pipeline",),
            "_schema": ("schema_document",),
            "_serve": ("ServeRequest", "serve"),
            "_uptodate": ("run_up_to_date",),
            "_validate": (
                "FileValidation",
                "LockValidation",
                "MatrixIds",
                "Validation",
                "validate",
            ),
        },
    )
