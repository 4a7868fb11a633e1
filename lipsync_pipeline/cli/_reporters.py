"""Reporters: one per output format, picked once by the CLI (as check-jsonschema does).

A use case returns a value; the reporter shows it (each view is imported when it is
shown: ``validate`` needs none of them). Text goes to people (tables on
stdout, see ``_tables`` for how much of one a terminal shows; problems and errors
on stderr); JSON is one document on stdout for machines, errors included, so a
script never parses prose; Markdown (plan and run) is the summary a pull request's
comment shows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from lipsync_pipeline.cli._console import emit_json
from lipsync_pipeline.errors import InputError, LipsyncError, Problem, redact

if TYPE_CHECKING:
    from lipsync_pipeline.api import JobStatus
    from lipsync_pipeline.budget import BudgetCheck
    from lipsync_pipeline.estimate import Estimate
    from lipsync_pipeline.run import RunReport
    from lipsync_pipeline.usecases import Checked, PullReport, Validation

__all__ = ["JsonReporter", "MarkdownReporter", "Reporter", "TextReporter", "reporter_for"]


class Reporter(Protocol):
    def validation(self, result: Validation) -> None: ...
    def plan(
        self, checked: Checked, credits: Estimate, budget: BudgetCheck | None = None
    ) -> None: ...
    def status(self, checked: Checked, live: Mapping[str, JobStatus | str]) -> None: ...
    def run(self, report: RunReport) -> None: ...
    def pull(self, report: PullReport) -> None: ...
    def error(self, exc: LipsyncError) -> None: ...


def validation_json(result: Validation) -> dict[str, Any]:
    files = []
    for f in result.files:
        item: dict[str, Any] = {"file": f.file, "valid": f.valid}
        if f.jobs is not None:  # the manifest itself is valid
            item["jobs"] = f.jobs
            item["matrices"] = [
                {"entry": m.entry, "template": m.template, "ids": list(m.ids)} for m in f.matrices
            ]
        if f.lock is not None:
            item["lock"] = {"file": f.lock.file, "valid": f.lock.valid}
            if f.lock.entries is not None:
                item["lock"]["entries"] = f.lock.entries
        item["errors"] = [p.as_dict() for p in f.problems]
        item["warnings"] = [p.as_dict() for p in f.warnings]
        files.append(item)
    return {"valid": result.valid, "files": files}


class TextReporter:
    def validation(self, result: Validation) -> None:
        for f in result.files:
            if f.valid:
                lock = f.lock
                note = f"; {lock.file}: valid ({lock.entries} entries)" if lock else ""
                print(f"{f.file}: valid ({f.jobs} jobs){note}")
            for problem in f.problems:
                print(problem, file=sys.stderr)
            _warn(f.warnings)

    def plan(self, checked: Checked, credits: Estimate, budget: BudgetCheck | None = None) -> None:
        from lipsync_pipeline.cli._tables import show_table
        from lipsync_pipeline.cli._views import plan_table

        show_table(plan_table(checked, credits))
        _warn(checked.plan.warnings)
        if budget is None:
            return
        if not budget.over:
            print(f"budget: {credits.total} of {budget.cap.credits} credits ({budget.cap.source})")
            return
        for line in budget.lines():
            print(f"over budget: {line}", file=sys.stderr)
        print("over budget: a run would be refused, nothing submitted", file=sys.stderr)

    def status(self, checked: Checked, live: Mapping[str, JobStatus | str]) -> None:
        from lipsync_pipeline.cli._tables import show_table
        from lipsync_pipeline.cli._views import status_table

        show_table(status_table(checked, live))

    def run(self, report: RunReport) -> None:
        from lipsync_pipeline.cli._tables import show_table
        from lipsync_pipeline.cli._views import report_table

        show_table(report_table(report))
        _warn(report.warnings)

    def pull(self, report: PullReport) -> None:
        from lipsync_pipeline.cli._tables import show_table
        from lipsync_pipeline.cli._views import pull_table

        show_table(pull_table(report))

    def error(self, exc: LipsyncError) -> None:
        """A user's mistake: the message, never a traceback."""
        message = redact(str(exc))
        for line in message.splitlines() or [type(exc).__name__]:
            print(f"error: {line}", file=sys.stderr)


def _warn(warnings: Iterable[Problem]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


class JsonReporter:
    def validation(self, result: Validation) -> None:
        emit_json(validation_json(result))

    def plan(self, checked: Checked, credits: Estimate, budget: BudgetCheck | None = None) -> None:
        from lipsync_pipeline.cli._views import plan_json

        emit_json({**plan_json(checked, credits), "budget": budget and budget.as_json()})

    def status(self, checked: Checked, live: Mapping[str, JobStatus | str]) -> None:
        from lipsync_pipeline.cli._views import status_json

        emit_json(status_json(checked, live))

    def run(self, report: RunReport) -> None:
        from lipsync_pipeline.cli._views import report_json

        emit_json(report_json(report))

    def pull(self, report: PullReport) -> None:
        from lipsync_pipeline.cli._views import pull_json

        emit_json(pull_json(report))

    def error(self, exc: LipsyncError) -> None:
        errors: list[dict[str, object]]
        if isinstance(exc, InputError):
            errors = [p.as_dict() for p in exc.problems]
        else:
            errors = [{"message": redact(str(exc))}]
        emit_json({"ok": False, "error": type(exc).__name__, "errors": errors})


class MarkdownReporter(TextReporter):
    """``--format markdown`` (plan and run): the summary a pull-request comment shows;
    errors and everything else as text."""

    def __init__(self, manifest: str) -> None:
        self.manifest = manifest

    def plan(self, checked: Checked, credits: Estimate, budget: BudgetCheck | None = None) -> None:
        from lipsync_pipeline.cli._markdown import plan_markdown

        sys.stdout.write(plan_markdown(self.manifest, checked.plan, credits, budget))

    def run(self, report: RunReport) -> None:
        from lipsync_pipeline.cli._markdown import run_markdown

        sys.stdout.write(run_markdown(self.manifest, report))


def reporter_for(fmt: str, manifest: str = "") -> Reporter:
    if fmt == "markdown":
        return MarkdownReporter(manifest)
    return JsonReporter() if fmt == "json" else TextReporter()
