"""The flags a CI pipeline uses: the spend cap, ``plan --detailed-exitcode``, and the
reports it reads (``--format markdown``, ``run --junit``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lipsync_pipeline.cli._argtypes import bounded
from lipsync_pipeline.errors import EXIT_BUDGET, EXIT_CHANGES

__all__ = ["add_plan_flags", "add_run_flags", "format_flag"]


def format_flag(*, markdown: bool = False) -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    choices = ("text", "json", "markdown") if markdown else ("text", "json")
    flags.add_argument(
        "--format",
        choices=choices,
        default="text",
        help="output for people (text) or machines (json)"
        + ("; markdown: a compact summary for a pull-request comment" if markdown else ""),
    )
    return flags


def _spend_flags(group: argparse._ActionsContainer, *, run: bool) -> None:
    if run:
        what = (
            f"refuse to start (exit {EXIT_BUDGET}, nothing submitted) when the estimated "
            "credits of what the run would submit exceed N, and never submit a job that "
            "would take the estimate past N"
        )
    else:
        what = f"exit {EXIT_BUDGET} when a run would be refused: its estimate exceeds N"
    group.add_argument(
        "--max-credits",
        type=bounded(int, 0),
        metavar="N",
        help=f"the spend cap: {what}; with the manifest's budget:, the lower applies",
    )
    group.add_argument(
        "--allow-unknown-cost",
        action="store_true",
        help="under a spend cap, submit jobs whose cost cannot be estimated (by default "
        "they count as over the cap)",
    )


def add_plan_flags(parser: argparse.ArgumentParser) -> None:
    ci = parser.add_argument_group("CI")
    ci.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help=f"exit 0 when up to date, {EXIT_CHANGES} when a run would change something "
        "(errors keep their own codes), as terraform plan -detailed-exitcode",
    )
    _spend_flags(ci, run=False)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    ci = parser.add_argument_group("spend and CI reports")
    _spend_flags(ci, run=True)
    ci.add_argument(
        "--junit",
        type=Path,
        metavar="PATH",
        help="also write the report as JUnit XML (one testcase per job: failed renders "
        "as failures, up-to-date jobs as skipped), for CI test reports",
    )
