"""Each command: build the use case's request from the flags, call it, hand the
result to the reporter, and say the exit code. No business logic here.

Each command imports its use case when it runs, not when this module loads: a
command pays only for what it uses (``validate`` never loads trio, httpx or the
studio; ``tests/acceptance/test_import_sets.py`` holds every command to its list)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Final

from lipsync_pipeline.errors import (
    EXIT_API,
    EXIT_BUDGET,
    EXIT_CHANGES,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_STORAGE,
)

if TYPE_CHECKING:
    from lipsync_pipeline.budget import BudgetCheck
    from lipsync_pipeline.cli._reporters import Reporter
    from lipsync_pipeline.inputs import InputCheck, Progress
    from lipsync_pipeline.plan import Plan
    from lipsync_pipeline.run import RunReport
    from lipsync_pipeline.shard import Shard
    from lipsync_pipeline.usecases import Checked

__all__ = ["COMMANDS", "logs", "plan_exit_code", "run_exit_code"]

Command = Callable[[argparse.Namespace, "Reporter"], int]


def logs(args: argparse.Namespace) -> bool:
    """Whether the command may log, and so needs logging configured before it starts
    (structlog costs ~0.1 s to import): those that talk to the API or a store, or
    serve. ``run`` configures it once its check has passed (``_run``). The others
    print what they have to say (plan's input check too: see ``inputs._examine``)."""
    # run configures its own, once its check has passed (``_run``).
    return args.command in ("pull", "serve", "lock") or (args.command == "status" and args.refresh)


def _validate(args: argparse.Namespace, out: Reporter) -> int:
    from lipsync_pipeline.usecases import validate

    result = validate(args.manifests, args.lock)
    out.validation(result)
    return EXIT_OK if result.valid else EXIT_INPUT


def _schema(args: argparse.Namespace, out: Reporter) -> int:
    import json

    from lipsync_pipeline.usecases import schema_document

    print(json.dumps(schema_document(lock=args.lock), indent=2))
    return EXIT_OK


def _shard(args: argparse.Namespace) -> Shard | None:
    from lipsync_pipeline.shard import parse_shard

    text = getattr(args, "shard", None)
    return None if text is None else parse_shard(text)


def _input_check(args: argparse.Namespace, progress: Progress | None) -> InputCheck:
    """plan's and run's input check, as the flags say (``--no-input-check``)."""
    from lipsync_pipeline.usecases import input_check

    return input_check(
        base_url=getattr(args, "base_url", None),
        local=args.local,
        ask=not args.no_input_check,
        progress=progress,
    )


def _checked(args: argparse.Namespace, inputs: InputCheck | None = None) -> Checked:
    from lipsync_pipeline.usecases import check

    return check(
        args.manifest,
        args.lock,
        only=args.only,
        replace=getattr(args, "replace", ()),
        local=getattr(args, "local", False),
        store=getattr(args, "store", None),
        output_dir=args.output_dir,
        # As the run would decide: --local resends too (its studio honours the key).
        resend_unknown=getattr(args, "resend_unknown", False) or getattr(args, "local", False),
        shard=_shard(args),
        inputs=inputs,
    )


def _plan(args: argparse.Namespace, out: Reporter) -> int:
    from lipsync_pipeline.budget import check_budget, spend_cap
    from lipsync_pipeline.cli._console import count_line
    from lipsync_pipeline.cli._markdown import plan_markdown
    from lipsync_pipeline.cli._stepsummary import append_step_summary, summary_on_error
    from lipsync_pipeline.estimate import estimate_plan

    name = str(args.manifest)
    progress = count_line("checking inputs at their URLs", enabled=sys.stderr.isatty())
    with summary_on_error("plan", name):
        checked = _checked(args, _input_check(args, progress))
        estimate = estimate_plan(checked.plan, remote=checked.remote)
        cap = spend_cap(
            checked.manifest,
            getattr(args, "max_credits", None),
            allow_unknown=getattr(args, "allow_unknown_cost", False),
        )
        budget = check_budget(estimate, cap)
    out.plan(checked, estimate, budget)
    append_step_summary(
        lambda limit: plan_markdown(name, checked.plan, estimate, budget, limit=limit)
    )
    return plan_exit_code(checked.plan, budget, detailed=getattr(args, "detailed_exitcode", False))


def plan_exit_code(plan: Plan, budget: BudgetCheck | None, *, detailed: bool) -> int:
    """``plan``'s exit code: 6 when a run would be refused by the spend cap; with
    ``--detailed-exitcode``, 7 when a run would change something, else 0."""
    if budget is not None and budget.over:
        return EXIT_BUDGET
    if detailed and not plan.is_noop:
        return EXIT_CHANGES
    return EXIT_OK


def _status(args: argparse.Namespace, out: Reporter) -> int:
    checked = _checked(args)
    live = {}
    if args.refresh:
        import trio

        from lipsync_pipeline.usecases import RunRequest, refresh

        live = trio.run(refresh, checked, RunRequest(args.manifest, base_url=args.base_url))
    out.status(checked, live)
    return EXIT_OK


def _run(args: argparse.Namespace, out: Reporter) -> int:
    if args.dry_run:
        return _plan(args, out)
    from lipsync_pipeline._quietlog import held, hold_lines, release_lines
    from lipsync_pipeline.cli._console import ProgressDisplay, configure_logging
    from lipsync_pipeline.cli._stepsummary import append_step_summary, summary_on_error
    from lipsync_pipeline.run import RunOptions
    from lipsync_pipeline.usecases import (
        RunRequest,
        admit_run,
        check_run,
        poll_interval,
        run_up_to_date,
    )

    display = ProgressDisplay(enabled=args.format == "text" and sys.stderr.isatty())
    request = RunRequest(
        manifest_path=args.manifest,
        lock_path=args.lock,
        output_dir=args.output_dir,
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
        store=args.store,
        verify=args.verify,
        shard=_shard(args),
        max_credits=args.max_credits,
        allow_unknown_cost=args.allow_unknown_cost,
        inputs=_input_check(args, display.inputs_checked),
    )
    name = str(args.manifest)
    with summary_on_error("run", name):
        if args.junit is not None:
            from lipsync_pipeline.cli._junit import check_junit_path

            check_junit_path(args.junit)  # before anything is paid for
        # A bad manifest or lock is refused here, before structlog, trio, httpx and
        # the runner are imported: a mistake costs what `plan` costs, not a run's
        # start-up. The check logs nothing (plan runs it with logging unconfigured).
        checked = check_run(request)
        # Logging (structlog: ~0.1 s) is configured once the run goes the whole way, or
        # when there are lines to show (a changed input, a cache ignored): until then
        # they are held (_quietlog), and an up-to-date run shows none of the cost.
        hold_lines()
        try:
            with display.live():
                admitted = admit_run(request, checked)
                # Nothing due: done in this thread, without trio and the runner.
                report = run_up_to_date(admitted, display)
                if report is None:
                    configure_logging(args.log_format, args.verbosity)
                    release_lines()
                    import trio

                    from lipsync_pipeline.usecases import run_pipeline

                    run = partial(run_pipeline, admitted.request, display, admitted=admitted)
                    report = trio.run(run)
        finally:
            if held():  # lines of a run up to date, or of one refused before it began
                configure_logging(args.log_format, args.verbosity)
            release_lines()
    from lipsync_pipeline.cli._markdown import run_markdown

    out.run(report)
    append_step_summary(lambda limit: run_markdown(name, report, limit=limit))
    if args.junit is not None:
        from lipsync_pipeline.cli._junit import write_junit

        write_junit(args.junit, report, name)
    return run_exit_code(report)


def run_exit_code(report: RunReport) -> int:
    """The exit code of a run that ended (the table in ``--help``), most urgent first:
    an interruption, a disk that refused an output, an API that let nothing through
    or an object store that refused a render, jobs the spend cap held back, then any
    job's own problem."""
    if report.interrupted:
        return EXIT_INTERRUPTED
    if report.storage_error:
        return EXIT_STORAGE
    if report.api_error or report.store_error:
        return EXIT_API
    if report.over_budget:
        return EXIT_BUDGET
    if any(r.outcome.is_problem for r in report.results):
        return EXIT_JOBS_FAILED
    return EXIT_OK


def _pull(args: argparse.Namespace, out: Reporter) -> int:
    import trio

    from lipsync_pipeline.usecases import pull

    report = trio.run(partial(pull, args.manifest, args.lock, only=args.only, store=args.store))
    out.pull(report)
    return EXIT_OK if report.ok else EXIT_JOBS_FAILED


def _lock(args: argparse.Namespace, out: Reporter) -> int:
    from lipsync_pipeline.cli._lockcmd import lock_command

    return lock_command(args)


COMMANDS: Final[Mapping[str, Command]] = {
    "validate": _validate,
    "schema": _schema,
    "plan": _plan,
    "status": _status,
    "run": _run,
    "pull": _pull,
    "lock": _lock,
}
