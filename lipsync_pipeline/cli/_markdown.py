"""``plan`` and ``run`` as Markdown: a compact summary for a pull-request comment or
a CI step summary (``--format markdown``, ``$GITHUB_STEP_SUMMARY``).

Counts by action (or outcome), credits, the budget, and the jobs that matter (those
a run would change; those that went wrong) with their reasons. Always within a byte
limit: GitHub refuses a comment over 65,536 characters, so the default leaves room
for a wrapper; past it, the first jobs and "... and N more". Text that comes from
outside (reasons holding an API's error, file names) is escaped so it cannot break
the table or inject markup, and redacted like every other output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final

from lipsync_pipeline.budget import TOP_JOBS, BudgetCheck
from lipsync_pipeline.cli._runsummary import RunSummary
from lipsync_pipeline.errors import redact
from lipsync_pipeline.estimate import Estimate
from lipsync_pipeline.plan import NO_CHANGE, Action, Plan, Step
from lipsync_pipeline.pricing import BILLING_RULE
from lipsync_pipeline.run import Outcome, RunReport

__all__ = ["MARKDOWN_LIMIT", "error_markdown", "plan_markdown", "run_markdown"]

# Bytes (UTF-8, so never more characters): under GitHub's 65,536-character comment
# limit with room for a heading or a marker a workflow adds around it.
MARKDOWN_LIMIT: Final = 60_000
_CELL: Final = 300  # characters of one table cell, at most
_SPECIAL: Final = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]|~#"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def _text(value: object, width: int = _CELL) -> str:
    """Outside text as one literal Markdown line: redacted, cut, escaped."""
    text = " ".join(redact(str(value)).split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.translate(_SPECIAL)


def _size(lines: Iterable[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` bytes of ``text``, cut on a character boundary."""
    return text.encode("utf-8")[: max(0, limit)].decode("utf-8", "ignore")


def _fit(head: list[str], rows: Iterable[str], count: int, table: list[str], limit: int) -> str:
    """``head``, then a table of as many of the ``count`` ``rows`` as fit in ``limit``
    bytes, then "... and N more" when some did not. Rows are made only as needed."""
    if not count:
        return _cut("\n".join(head) + "\n", limit)
    lines = [*head, "", *table]
    used = _size(lines)
    kept = 0
    for row in rows:
        left = count - kept - 1
        reserve = _size(["", _more(left)]) if left else 0
        size = len(row.encode("utf-8")) + 1
        if used + size + reserve > limit:
            break
        lines.append(row)
        used += size
        kept += 1
    if kept < count:
        lines += ["", _more(count - kept)]
    return _cut("\n".join(lines) + "\n", limit)


def _more(count: int) -> str:
    return f"_… and {count:,} more (the command's text or JSON output lists them all)_"


def _counts(counts: Counter[str], order: Iterable[str]) -> str:
    ranked = [name for name in order if counts[name]]
    return " · ".join(f"{counts[name]:,} {name}" for name in ranked) or "no jobs"


def _credits_line(estimate: Estimate) -> str:
    line = f"**Credits:** estimated **{estimate.total:,}** for {len(estimate.jobs):,} paid "
    line += f"submission(s) ({BILLING_RULE})"
    unknown = estimate.unknown
    if unknown:
        named = ", ".join(
            f"`{job}` ({_text(estimate.jobs[job].unknown, 120)})" for job in unknown[:TOP_JOBS]
        )
        more = f" and {len(unknown) - TOP_JOBS:,} more" if len(unknown) > TOP_JOBS else ""
        line += f"; **{len(unknown):,} of unknown cost**: {named}{more}"
    return line


def _budget_line(budget: BudgetCheck | None) -> list[str]:
    if budget is None:
        return []
    cap = budget.cap
    if not budget.over:
        return [
            f"**Budget:** {budget.estimate.total:,} of {cap.credits:,} credits "
            f"({_text(cap.source)}) ✅"
        ]
    head = (
        f"❌ **Over budget** ({_text(cap.source)}): `run` would refuse it, nothing submitted "
        "(exit 6)"
    )
    return [head, *(f"- {_text(line)}" for line in budget.findings())]


def plan_markdown(
    manifest: str,
    plan: Plan,
    estimate: Estimate,
    budget: BudgetCheck | None = None,
    *,
    limit: int = MARKDOWN_LIMIT,
) -> str:
    """The plan of ``manifest`` (its name as typed) in at most ``limit`` bytes."""
    name = _text(manifest)
    head = [f"<!-- lipsync-pipeline plan: {name} -->", f"### lipsync-pipeline plan: {name}", ""]
    changed = [s for s in plan.steps if s.action not in NO_CHANGE]
    if plan.is_noop:
        head.append("✅ **Up to date**: a run would make no API call.")
    else:
        head.append(
            f"**{len(changed):,} job(s) to change**: "
            + _counts(plan.counts(), (str(a) for a in Action))
        )
    if estimate.jobs:
        head += ["", _credits_line(estimate)]
    budget_lines = _budget_line(budget)
    if budget_lines:
        head += ["", *budget_lines]
    held = len(plan.with_action(Action.HOLD))
    if held:
        head += [
            "",
            f"⚠️ {held:,} submission(s) of unknown outcome held: resending may "
            "bill twice (see `lipsync-pipeline status`)",
        ]

    def row(step: Step) -> str:
        cost = estimate.credits(step.job_id)
        credits = "" if cost is None else f"{cost:,}"
        if step.action.submits and cost is None:
            credits = "unknown"
        return f"| {step.action} | `{step.job_id}` | {credits} | {_text(step.reason)} |"

    table = ["| action | job | credits | why |", "|---|---|--:|---|"]
    return _fit(head, map(row, changed), len(changed), table, limit)


def run_markdown(manifest: str, report: RunReport, *, limit: int = MARKDOWN_LIMIT) -> str:
    """What a run of ``manifest`` did, in at most ``limit`` bytes."""
    name = _text(manifest)
    head = [f"<!-- lipsync-pipeline run: {name} -->", f"### lipsync-pipeline run: {name}", ""]
    summary = RunSummary.of(report)
    problems = [r for r in report.results if r.outcome.is_problem]
    mark = "❌" if problems or report.interrupted else "✅"
    head.append(
        f"{mark} {_counts(summary.counts, (str(o) for o in Outcome))} in "
        f"{report.elapsed:.1f} s; {summary.requests:,} API request(s)"
    )
    head += [line for why, what in summary.stops for line in ("", f"**{why}**: {_text(what)}")]
    if summary.credits:
        line = f"**Credits:** estimated {report.estimated_credits:,}; billed "
        line += f"**{report.billed_credits:,}** for {summary.rendered:,} render(s) "
        line += "(from their lengths)"
        if report.budget is not None:
            line += f"; cap {report.budget:,}"
        if summary.over_budget:
            line += f"; {summary.over_budget:,} job(s) not submitted: over the cap"
        head += ["", line]
    rows = (f"| {r.outcome} | `{r.job_id}` | {_text(r.error)} |" for r in problems)
    table = ["| outcome | job | error |", "|---|---|---|"]
    return _fit(head, rows, len(problems), table, limit)


def error_markdown(
    command: str, manifest: str, message: str, *, limit: int = MARKDOWN_LIMIT
) -> str:
    """A command that stopped on an error (an invalid manifest, the spend cap)."""
    # The message is cut first, so that the fence around it always closes.
    text = _cut(redact(message), limit - 1000)
    fence = "~~~"
    while fence in text:
        fence += "~"
    name = _text(manifest)
    lines = [
        f"<!-- lipsync-pipeline {command}: {name} -->",
        f"### lipsync-pipeline {command}: {name}",
        "",
        f"❌ **{command} stopped**:",
        "",
        fence + "text",
        text,
        fence,
    ]
    return _cut("\n".join(lines) + "\n", limit)
