"""The command line: every command, flag and help text, and nothing that acts on them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline import __version__
from lipsync_pipeline.cli._argtypes import bounded
from lipsync_pipeline.cli._ciflags import add_plan_flags, add_run_flags, format_flag
from lipsync_pipeline.cli._lockcmd import add_lock_parser
from lipsync_pipeline.cli._serve import add_serve_parser
from lipsync_pipeline.run import DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL
from lipsync_pipeline.settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    CACHE_DIR_ENV,
    DEFAULT_BASE_URL,
    MANIFEST_CACHE_ENV,
    PRIVATE_INPUTS_ENV,
    STEP_SUMMARY_ENV,
)
from lipsync_pipeline.usecases import LOCAL_POLL_INTERVAL

__all__ = ["build_parser"]

_EPILOG: Final = f"""\
examples:
  lipsync-pipeline validate manifests/demo.yaml
  lipsync-pipeline plan manifests/demo.yaml
  lipsync-pipeline run manifests/demo.yaml --local      # built-in studio, no key, no network
  {API_KEY_ENV}=sk_... lipsync-pipeline run renders.yaml  # the hosted API
  lipsync-pipeline status renders.yaml --format json
  lipsync-pipeline pull renders.yaml                    # renders from the store to output_dir
  lipsync-pipeline run renders.yaml --shard 2/4         # one CI job of four; then `lock fold`
  lipsync-pipeline lock install-merge-driver            # git merges renders.lock per job

exit codes:
  0    everything valid / every job completed
  1    some job failed, timed out or could not finish (the next run resumes it), or
       a submission's outcome is unknown (held; see --resend-unknown)
  2    invalid manifest, lockfile or command line, or a write that would go through
       a symbolic link (nothing was changed)
  3    another run holds the lockfile
  4    the API refused us or let no job through (bad key, unreachable, repeated
       server errors), or the object store refused a write
  5    a write failed (disk full, read-only, permissions); what was recorded stays.
       An up-to-date run writes nothing, so it succeeds on a read-only checkout
  6    over the spend cap (--max-credits, budget:): the run was refused before any
       submission, or held jobs back (over_budget); `plan` exits 6 when a run would
       be refused. Checked after 3-5, before 1
  7    plan --detailed-exitcode only: changes pending (0: up to date)
  130  interrupted (Ctrl-C / SIGTERM): in-flight jobs are recorded; run again to resume

environment:
  {API_KEY_ENV}   API key (sk_<id>_<secret>) for the hosted API; never logged or stored
  {BASE_URL_ENV}  API base URL (default {DEFAULT_BASE_URL})
  {STEP_SUMMARY_ENV}  plan and run append their Markdown summary to this file
                       (GitHub Actions sets it; see docs/github-actions.md)
  {CACHE_DIR_ENV} where plan/run cache input lengths and ETags, and every command
                     the manifests and big locks it read (default
                     $XDG_CACHE_HOME/lipsync-pipeline, else ~/.cache/lipsync-pipeline)
  {MANIFEST_CACHE_ENV}=off  read the manifest's YAML and parse the lock every time
                     (no manifest or lock cache)
  {PRIVATE_INPUTS_ENV}=1  the input check may ask private-network and loopback
                     addresses (without it: loopback only if the API is, or --local)
"""


def _logging_flags() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="log lines on stderr (auto: console on a terminal, else JSON)",
    )
    verbosity = flags.add_mutually_exclusive_group()
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
    return flags


def _manifest_flags(*, replace: bool) -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("manifest", type=Path, metavar="MANIFEST")
    flags.add_argument(
        "--lock",
        type=Path,
        metavar="PATH",
        help="lockfile (default: the manifest's name with .lock)",
    )
    flags.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write renders here (relative to the working directory) instead of the "
        "manifest's output_dir; the only way to write outside the manifest's directory",
    )
    flags.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="consider only this job (repeatable)",
    )
    if replace:
        flags.add_argument(
            "--shard",
            metavar="K/N",
            help="only the jobs of shard K of N (a stable hash of each job id; K counts "
            "from 1), recorded in their own lock: the lock's name + .shard-K-of-N unless "
            "--lock; `lock fold` gathers them",
        )
        flags.add_argument(
            "--replace",
            action="append",
            default=[],
            metavar="ID",
            help="render this job again even if up to date (repeatable)",
        )
        flags.add_argument(
            "--resend-unknown",
            action="store_true",
            help="send again, with the same Idempotency-Key, submissions whose outcome is "
            "unknown (sent, then no clear answer): those the lock holds as unknown and any "
            "of this run. The hosted API does not promise to honour the key, so this may "
            "bill twice: check its dashboard first. --local implies it",
        )
    return flags


def _input_check_flag(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--no-input-check",
        action="store_true",
        help="do not ask the origins of URL inputs anything. By default each distinct "
        "input URL is asked, a few at a time: its media length for the estimate (range "
        "requests: the header, not the file) and its ETag/Last-Modified/size, so that a "
        "job whose input was replaced at the same URL renders again; cached in "
        f"${CACHE_DIR_ENV} (default ~/.cache/lipsync-pipeline), a second plan sends one "
        "conditional request per URL. With this flag: no request; lengths only from that "
        "cache (else unknown), replaced inputs not noticed. For inputs pinned by URL",
    )


def _store_flag(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--store",
        metavar="URL",
        help="object store in place of the manifest's store: (s3://bucket/prefix, gs://, "
        "az://, file:///abs/path); credentials from the environment (AWS_ACCESS_KEY_ID, ...)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse, plus the rule between two flags that it cannot express: ``run
    --dry-run`` renders nothing, so ``--junit PATH`` would silently write no file."""

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        namespace, rest = super().parse_known_args(*args, **kwargs)
        if getattr(namespace, "dry_run", False) and getattr(namespace, "junit", None) is not None:
            self.error(
                "--junit PATH is not allowed with --dry-run: a dry run renders nothing, "
                "so there is no report to write (drop one of the two flags)"
            )
        return namespace, rest


def build_parser() -> argparse.ArgumentParser:
    # Subcommands' parsers are of the same class, so `run` itself refuses, with its usage.
    top: argparse.ArgumentParser = _Parser(
        prog="lipsync-pipeline",
        description="Lip-sync rendering as GitOps: a YAML manifest in git, a lockfile beside "
        "it, and a runner that renders only what is new, changed, unfinished or failed.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    logs, fmt, fmt_md = _logging_flags(), format_flag(), format_flag(markdown=True)

    p = sub.add_parser(
        "validate",
        parents=[fmt, logs],
        help="check manifests; exit 2 if invalid",
        description="Validate manifests against the schema and the semantic "
        "checks, and the lockfile beside each one if it exists (its format and its "
        "agreement with the manifest). Every problem is reported as "
        "FILE:LINE:COL: PATH: message (a job a matrix made is named by its entry "
        "and combination: jobs[2] (lang=fr).audio). Reads only: no network, no write. "
        "--format json also lists the ids each matrix entry expands to.",
    )
    p.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    p.add_argument(
        "--lock",
        type=Path,
        metavar="PATH",
        help="check this lockfile instead of the one beside the manifest (the manifest's "
        "name with .lock, checked if it exists); only with a single MANIFEST",
    )
    p.set_defaults(command="validate")

    p = sub.add_parser(
        "schema",
        parents=[logs],
        help="print the JSON Schema",
        description="Print the manifest's JSON Schema (2020-12), for editors "
        "and CI. With --lock, the lockfile's.",
    )
    p.add_argument("--lock", action="store_true", help="print the lockfile schema instead")

    p = sub.add_parser(
        "plan",
        parents=[fmt_md, logs, _manifest_flags(replace=True)],
        help="show what a run would do",
        description="Show each job's action (submit, resume, retry, download, "
        "skip, remove, move), why, and the credits it would cost, without any API "
        "call or write to the project. URL inputs are asked their length and version, "
        "a few requests each (see --no-input-check). move: a job renamed under the "
        "manifest's moved: keeps its render (no API call). A new job that a matrix "
        "made names its id template (JSON: a template field per step).",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="plan for `run --local` (the built-in studio renders again what it forgot)",
    )
    add_plan_flags(p)
    _input_check_flag(p)

    p = sub.add_parser(
        "run",
        parents=[fmt_md, logs, _manifest_flags(replace=True)],
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
    _store_flag(remote)
    remote.add_argument(
        "--verify",
        action="store_true",
        help="with a store: check each stored render's size and digest (one HEAD each) "
        "instead of trusting the lock",
    )
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
        help=f"seconds between status polls (default {DEFAULT_POLL_INTERVAL:g}; "
        f"{LOCAL_POLL_INTERVAL:g} with --local): a job is polled at its submission plus "
        "whole intervals, leaving out those the render times already seen say are too "
        "early",
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
    add_run_flags(p)
    _input_check_flag(tuning)

    p = sub.add_parser(
        "status",
        parents=[fmt, logs, _manifest_flags(replace=False)],
        help="the lock's view of each job",
        description="Show what the lockfile records for each job and what the "
        "next run would do. --refresh asks the API about unfinished jobs.",
    )
    p.add_argument("--refresh", action="store_true", help="ask the API (read-only)")
    p.add_argument("--base-url", metavar="URL", help=f"API base URL (env {BASE_URL_ENV})")
    _store_flag(p)

    p = sub.add_parser(
        "pull",
        parents=[fmt, logs, _manifest_flags(replace=False)],
        help="copy renders from the store into output_dir",
        description="Copy each completed render the lock says the store keeps into the "
        "manifest's output_dir, verifying its sha256; files already there and intact are "
        "left alone. No API call. Exit 1 if a render could not be restored.",
    )
    _store_flag(p)

    add_lock_parser(sub, [fmt, logs])
    add_serve_parser(sub, logs)
    return top
