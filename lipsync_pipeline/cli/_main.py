"""The ``lipsync-pipeline`` command: parses flags, calls the pipeline, formats results.

``main()`` returns the exit code (documented in ``--help``); no business logic here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import trio

from lipsync_pipeline import __version__
from lipsync_pipeline.cli._argtypes import bounded
from lipsync_pipeline.cli._console import (
    ProgressDisplay,
    configure_logging,
    emit_json,
    print_error,
    stdout_console,
)
from lipsync_pipeline.errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    LipsyncError,
    LockfileError,
    ManifestError,
    StorageError,
    UsageError,
)
from lipsync_pipeline.run import DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL, RunOptions
from lipsync_pipeline.usecases import (
    API_KEY_ENV,
    BASE_URL_ENV,
    LOCAL_POLL_INTERVAL,
    Checked,
    RunRequest,
    check,
    check_lock,
    lock_beside,
    refresh,
    run_pipeline,
)

__all__ = ["main"]

_EPILOG: Final = f"""\
examples:
  lipsync-pipeline validate manifests/demo.yaml
  lipsync-pipeline plan manifests/demo.yaml
  lipsync-pipeline run manifests/demo.yaml --local      # built-in studio, no key, no network
  {API_KEY_ENV}=sk_... lipsync-pipeline run renders.yaml  # the hosted API
  lipsync-pipeline status renders.yaml --format json

exit codes:
  0    everything valid / every job completed
  1    some job failed, timed out or could not finish (the next run resumes it)
  2    invalid manifest, lockfile or command line (nothing was changed)
  3    another run holds the lockfile
  4    the API refused us (bad key, unreachable, repeated server errors)
  5    a write failed (disk full, read-only, permissions); what was recorded stays
  130  interrupted (Ctrl-C / SIGTERM): in-flight jobs are recorded; run again to resume

environment:
  {API_KEY_ENV}   API key (sk_<id>_<secret>) for the hosted API; never logged or stored
  {BASE_URL_ENV}  API base URL (default https://lipsync.studio/api/v1)
"""


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lipsync-pipeline",
        description="Lip-sync rendering as GitOps: a YAML manifest in git, a lockfile beside "
        "it, and a runner that renders only what is new, changed, unfinished or failed.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="output for people (text) or machines (json)",
    )
    common.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="log lines on stderr (auto: console on a terminal, else JSON)",
    )
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=1,
        dest="verbosity",
        default=0,
        help="debug logs",
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", help="warnings only"
    )

    p = sub.add_parser(
        "validate",
        parents=[common],
        help="check manifests; exit 2 if invalid",
        description="Validate manifests against the schema and the semantic "
        "checks, and the lockfile beside each one if it exists (its format and its "
        "agreement with the manifest). Every problem is reported as "
        "FILE:LINE:COL: PATH: message. Reads only: no network, no write.",
    )
    p.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    p.add_argument(
        "--lock",
        type=Path,
        metavar="PATH",
        help="the lockfile to check, for one MANIFEST run with --lock (default: the "
        "manifest's name with .lock, checked if it exists)",
    )
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema",
        description="Print the manifest's JSON Schema (2020-12), for editors "
        "and CI. With --lock, the lockfile's.",
    )
    p.add_argument("--lock", action="store_true", help="print the lockfile schema instead")
    p.set_defaults(func=_cmd_schema)

    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument("manifest", type=Path, metavar="MANIFEST")
    selection.add_argument(
        "--lock",
        type=Path,
        metavar="PATH",
        help="lockfile (default: the manifest's name with .lock)",
    )
    selection.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="consider only this job (repeatable)",
    )
    selection.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="ID",
        help="render this job again even if up to date (repeatable)",
    )

    p = sub.add_parser(
        "plan",
        parents=[common, selection],
        help="show what a run would do",
        description="Show each job's action (submit, resume, retry, download, "
        "skip, remove) and why, without any API call or write.",
    )
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser(
        "run",
        parents=[common, selection],
        help="render what is due",
        description="Validate, plan and render: only jobs that are new, "
        "changed, unfinished or failed. The lockfile records every step.",
    )
    remote = p.add_argument_group("where to render")
    remote.add_argument(
        "--local",
        action="store_true",
        help="start the built-in reference studio: no key, no network",
    )
    remote.add_argument("--base-url", metavar="URL", help=f"API base URL (env {BASE_URL_ENV})")
    tuning = p.add_argument_group("how")
    tuning.add_argument(
        "--concurrency",
        type=bounded(int, 1),
        metavar="N",
        help="jobs in flight at once (default: the manifest's, else 4)",
    )
    tuning.add_argument(
        "--poll-interval",
        type=bounded(float, 0.0, exclusive_low=True),
        metavar="SECONDS",
        help=f"seconds between status polls (default {DEFAULT_POLL_INTERVAL:g} "
        f"± 25%%; {LOCAL_POLL_INTERVAL:g} with --local)",
    )
    tuning.add_argument(
        "--job-timeout",
        type=bounded(float, 0.0, exclusive_low=True),
        metavar="SECONDS",
        default=DEFAULT_JOB_TIMEOUT,
        help="give up waiting for one job after this long (it stays "
        "resumable; default %(default)g)",
    )
    tuning.add_argument(
        "--fail-fast", action="store_true", help="stop submitting after the first failed job"
    )
    tuning.add_argument("--dry-run", action="store_true", help="only plan (same as `plan`)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "status",
        parents=[common, selection],
        help="the lock's view of each job",
        description="Show what the lockfile records for each job and what the "
        "next run would do. --refresh asks the API about unfinished jobs.",
    )
    p.add_argument("--refresh", action="store_true", help="ask the API (read-only)")
    p.add_argument("--base-url", metavar="URL", help=f"API base URL (env {BASE_URL_ENV})")
    p.set_defaults(func=_cmd_status)

    from lipsync_pipeline.cli._serve import add_serve_parser

    add_serve_parser(sub, common)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors and --help
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    configure_logging(args.log_format, args.verbosity)
    try:
        code: int = args.func(args)
        return code
    except LipsyncError as exc:
        print_error(exc, args.format)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `lipsync-pipeline schema | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # The last line of defence: a file-system error we did not foresee is still
        # a message, not a traceback.
        error = StorageError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        print_error(error, args.format)
        return error.exit_code


def _cmd_validate(args: argparse.Namespace) -> int:
    from lipsync_pipeline.manifest import load_manifest

    if args.lock is not None and len(args.manifests) > 1:
        raise UsageError("--lock names the lockfile of one manifest; give only one MANIFEST")
    files: list[dict[str, Any]] = []
    for path in args.manifests:
        try:
            manifest = load_manifest(path)
        except ManifestError as exc:
            files.append({"file": str(path), "valid": False, "problems": exc.problems})
            continue
        checked: dict[str, Any] = {"file": str(path), "jobs": len(manifest.jobs)}
        lock_path = args.lock or lock_beside(manifest)
        try:
            lock = check_lock(manifest, args.lock)
        except LockfileError as exc:
            lock_report = {"file": str(lock_path), "valid": False}
            files.append({**checked, "valid": False, "lock": lock_report, "problems": exc.problems})
            continue
        if lock is not None:
            checked["lock"] = {"file": str(lock_path), "valid": True, "entries": len(lock.entries)}
        files.append({**checked, "valid": True, "problems": ()})
    ok = all(f["valid"] for f in files)
    if args.format == "json":
        emit_json(
            {
                "valid": ok,
                "files": [
                    {
                        **{k: v for k, v in f.items() if k != "problems"},
                        "errors": [p.as_dict() for p in f["problems"]],
                    }
                    for f in files
                ],
            }
        )
        return EXIT_OK if ok else EXIT_INPUT
    for f in files:
        if f["valid"]:
            lock = f.get("lock")
            lock_note = f"; {lock['file']}: valid ({lock['entries']} entries)" if lock else ""
            print(f"{f['file']}: valid ({f['jobs']} jobs){lock_note}")
        for problem in f["problems"]:
            print(problem, file=sys.stderr)
    return EXIT_OK if ok else EXIT_INPUT


def _cmd_schema(args: argparse.Namespace) -> int:
    from importlib import resources

    name = "lock.schema.json" if args.lock else "manifest.schema.json"
    text = resources.files("lipsync_pipeline").joinpath("schemas", name).read_text("utf-8")
    print(json.dumps(json.loads(text), indent=2))
    return EXIT_OK


def _checked(args: argparse.Namespace) -> Checked:
    return check(args.manifest, args.lock, only=args.only, replace=args.replace)


def _cmd_plan(args: argparse.Namespace) -> int:
    from lipsync_pipeline.cli._views import plan_json, plan_table
    from lipsync_pipeline.estimate import estimate_plan

    checked = _checked(args)
    credits = estimate_plan(checked.plan)
    if args.format == "json":
        emit_json(plan_json(checked, credits))
    else:
        stdout_console().print(plan_table(checked, credits))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from lipsync_pipeline.cli._views import status_json, status_table

    checked = _checked(args)
    live = {}
    if args.refresh:
        live = trio.run(refresh, checked, RunRequest(args.manifest, base_url=args.base_url))
    if args.format == "json":
        emit_json(status_json(checked, live))
    else:
        stdout_console().print(status_table(checked, live))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from lipsync_pipeline.cli._views import report_json, report_table

    if args.dry_run:
        return _cmd_plan(args)
    interval = args.poll_interval or (LOCAL_POLL_INTERVAL if args.local else DEFAULT_POLL_INTERVAL)
    request = RunRequest(
        manifest_path=args.manifest,
        lock_path=args.lock,
        local=args.local,
        base_url=args.base_url,
        api_key=os.environ.get(API_KEY_ENV),
        concurrency=args.concurrency,
        options=RunOptions(
            poll_interval=interval, job_timeout=args.job_timeout, fail_fast=args.fail_fast
        ),
        only=tuple(args.only),
        replace=tuple(args.replace),
    )
    display = ProgressDisplay(enabled=args.format == "text" and sys.stderr.isatty())
    with display.live():
        report = trio.run(run_pipeline, request, display)
    if args.format == "json":
        emit_json(report_json(report))
    else:
        stdout_console().print(report_table(report))
    if report.interrupted:
        return EXIT_INTERRUPTED
    if any(r.outcome.is_problem for r in report.results):
        return EXIT_JOBS_FAILED
    return EXIT_OK
