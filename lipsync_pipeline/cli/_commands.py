"""Each command: build the use case's request from the flags, call it, hand the
result to the reporter, and say the exit code. No business logic here."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Final

import trio

from lipsync_pipeline.cli._console import ProgressDisplay
from lipsync_pipeline.cli._reporters import Reporter
from lipsync_pipeline.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK
from lipsync_pipeline.run import RunOptions
from lipsync_pipeline.usecases import (
    Checked,
    RunRequest,
    check,
    poll_interval,
    refresh,
    run_pipeline,
    validate,
)

__all__ = ["COMMANDS"]

Command = Callable[[argparse.Namespace, Reporter], int]


def _validate(args: argparse.Namespace, out: Reporter) -> int:
    result = validate(args.manifests, args.lock)
    out.validation(result)
    return EXIT_OK if result.valid else EXIT_INPUT


def _schema(args: argparse.Namespace, out: Reporter) -> int:
    # The same functions the loaders validate with: what is printed is what is enforced.
    if args.lock:
        from lipsync_pipeline.lockfile import lock_schema

        schema: Mapping[str, object] = lock_schema()
    else:
        from lipsync_pipeline.manifest import manifest_schema

        schema = manifest_schema()
    print(json.dumps(schema, indent=2))
    return EXIT_OK


def _checked(args: argparse.Namespace) -> Checked:
    return check(
        args.manifest,
        args.lock,
        only=args.only,
        replace=getattr(args, "replace", ()),
        # As the run would decide: --local resends too (its studio honours the key).
        resend_unknown=getattr(args, "resend_unknown", False) or getattr(args, "local", False),
    )


def _plan(args: argparse.Namespace, out: Reporter) -> int:
    from lipsync_pipeline.estimate import estimate_plan

    checked = _checked(args)
    out.plan(checked, estimate_plan(checked.plan))
    return EXIT_OK


def _status(args: argparse.Namespace, out: Reporter) -> int:
    checked = _checked(args)
    live = {}
    if args.refresh:
        live = trio.run(refresh, checked, RunRequest(args.manifest, base_url=args.base_url))
    out.status(checked, live)
    return EXIT_OK


def _run(args: argparse.Namespace, out: Reporter) -> int:
    if args.dry_run:
        return _plan(args, out)
    request = RunRequest(
        manifest_path=args.manifest,
        lock_path=args.lock,
        local=args.local,
        base_url=args.base_url,
        concurrency=args.concurrency,
        options=RunOptions(
            poll_interval=poll_interval(args.poll_interval, local=args.local),
            job_timeout=args.job_timeout,
            fail_fast=args.fail_fast,
            resend_unknown=args.resend_unknown,
        ),
        only=tuple(args.only),
        replace=tuple(args.replace),
    )
    display = ProgressDisplay(enabled=args.format == "text" and sys.stderr.isatty())
    with display.live():
        report = trio.run(run_pipeline, request, display)
    out.run(report)
    if report.interrupted:
        return EXIT_INTERRUPTED
    if any(r.outcome.is_problem for r in report.results):
        return EXIT_JOBS_FAILED
    return EXIT_OK


COMMANDS: Final[Mapping[str, Command]] = {
    "validate": _validate,
    "schema": _schema,
    "plan": _plan,
    "status": _status,
    "run": _run,
}
