"""What ``plan``, ``status`` and ``run`` show: one table and one JSON shape each.

Tables are :class:`TableView` values; ``_tables`` decides how much of one a terminal
shows. Nothing here imports rich, an HTTP client or trio: ``plan --format json`` and
a piped ``plan`` load only what they print."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from lipsync_pipeline.cli._console import Rows
from lipsync_pipeline.cli._runsummary import RunSummary
from lipsync_pipeline.cli._tables import TableView
from lipsync_pipeline.manifest import INPUT_FIELDS
from lipsync_pipeline.plan import NO_CHANGE, Action, ArtifactState, Step
from lipsync_pipeline.pricing import BILLING_RULE
from lipsync_pipeline.run import Outcome

if TYPE_CHECKING:
    from lipsync_pipeline.api import JobStatus
    from lipsync_pipeline.estimate import Estimate, JobCost
    from lipsync_pipeline.lockfile import LockEntry
    from lipsync_pipeline.run import JobResult, RunReport
    from lipsync_pipeline.usecases import Checked, PullReport

__all__ = [
    "plan_json",
    "plan_table",
    "pull_json",
    "pull_table",
    "report_json",
    "report_table",
    "status_json",
    "status_table",
]


def _inputs(step: Step) -> dict[str, str]:
    if step.job is None:
        return {}
    form = step.job.form_state
    return {name: str(form[name]) for name in INPUT_FIELDS if name in form}


def _name(value: str) -> str:
    return value.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]


def _step_json(step: Step, costs: Mapping[str, JobCost]) -> dict[str, Any]:
    """A plan's step and its estimated cost, one dict built once: ``plan --format
    json`` makes 50,000 of them."""
    job, entry = step.job, step.entry
    cost = costs.get(step.job_id)
    out: dict[str, Any] = {"job": step.job_id, "action": str(step.action), "reason": step.reason}
    if job is not None:
        out["kind"] = job.kind
        out["template"] = job.template
        out["model"] = job.model
        out["fingerprint"] = job.fingerprint
        out["form_state"] = dict(job.form_state)
        out["webhook"] = job.webhook
    if entry is not None:
        out["recorded"] = {
            "status": entry.status,
            "request_id": entry.request_id,
            "fingerprint": entry.fingerprint,
        }
    if step.moved_from is not None:
        out["moved_from"] = step.moved_from
    if cost is None:
        out["estimated_credits"] = None
    else:
        out["estimated_credits"] = cost.credits
        if cost.unknown is not None:
            out["cost_unknown"] = cost.unknown  # why: "audio: https://host/x.mp3: HTTP 404"
    return out


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no jobs"


def _credits_note(credits: Estimate) -> str:
    note = f"estimated {credits.total} credits"
    unknown = len(credits.unknown)
    if unknown:
        note += f" (+{unknown} job(s) of unknown cost)"
    return f"{note}; {BILLING_RULE}"


def plan_json(checked: Checked, credits: Estimate) -> dict[str, Any]:
    steps = checked.plan.steps
    return {
        "estimated_credits": credits.total,
        "unestimated_jobs": list(credits.unknown),
        "manifest": checked.manifest.display_name,
        "lock": str(checked.lock.path),
        "up_to_date": checked.plan.is_noop,
        "counts": dict(checked.plan.counts()),
        "submissions": sum(1 for s in steps if s.action.submits),
        "steps": Rows(steps, partial(_step_json, costs=credits.jobs)),
        "warnings": [p.as_dict() for p in checked.plan.warnings],
        "input_check": {
            "urls": checked.inputs.asked,
            "requests": checked.inputs.requests,
            "bytes_read": checked.inputs.bytes_read,
            "warnings": list(checked.inputs.warnings),
        },
    }


def _why(step: Step) -> str:
    """The reason; a new job a matrix made also says which (its id template)."""
    job = step.job
    if job is None or job.template is None or step.entry is not None:
        return step.reason
    return f"{step.reason} from {job.template}"


# The rows a terminal keeps when a table is too long for it are the others: the jobs a
# run would touch (not plan.NO_CHANGE).
_QUIET_OUTCOMES: Final = frozenset({"skipped", "unselected"})


def plan_table(checked: Checked, credits: Estimate) -> TableView:
    rows = []
    for step in checked.plan.steps:
        job = step.job
        # The file's name: a query string may be a presigned URL's signature.
        inputs = ", ".join(_name(v) for v in _inputs(step).values())
        cost = credits.credits(step.job_id)
        rows.append(
            [
                str(step.action),
                step.job_id,
                job.kind if job else "",
                inputs,
                ("?" if step.action.submits else "") if cost is None else str(cost),
                _why(step),
            ]
        )
    submissions = sum(1 for s in checked.plan.steps if s.action.submits)
    foot = (
        "up to date: a run would make no API call"
        if checked.plan.is_noop
        else f"{_summary(checked.plan.counts())}; {submissions} paid submission(s), "
        + _credits_note(credits)
    )
    held = len(checked.plan.with_action(Action.HOLD))
    if held:
        foot += f"\n{held} submission(s) of unknown outcome held: resending may bill twice"
    foot += "".join(f"\n{line}" for line in _unknown_costs(credits))
    foot += "".join(f"\nwarning: {w}" for w in checked.inputs.warnings)
    return TableView(
        f"plan for {checked.manifest.display_name}",
        ("ACTION", "JOB", "KIND", "INPUTS", "CREDITS", "WHY"),
        rows,
        foot,
        [s.action not in NO_CHANGE for s in checked.plan.steps],
    )


_SHOWN_UNKNOWN: Final = 10


def _unknown_costs(credits: Estimate) -> list[str]:
    """Why costs are unknown, one line per job (the first few)."""
    unknown = credits.unknown
    lines = [f"cost unknown: {j}: {credits.jobs[j].unknown}" for j in unknown[:_SHOWN_UNKNOWN]]
    if len(unknown) > _SHOWN_UNKNOWN:
        lines.append(f"... and {len(unknown) - _SHOWN_UNKNOWN} more job(s) of unknown cost")
    return lines


def status_json(checked: Checked, live: Mapping[str, JobStatus | str]) -> dict[str, Any]:
    jobs = []
    for step in checked.plan.steps:
        entry = step.entry
        row: dict[str, Any] = {
            "job": step.job_id,
            "next": str(step.action),
            "reason": step.reason,
            "recorded": None,
        }
        if step.moved_from is not None:
            row["moved_from"] = step.moved_from
        if entry is not None:
            row["recorded"] = {
                "status": entry.status,
                "request_id": entry.request_id,
                "output_url": entry.output_url,
                "error": entry.error,
                "execution_time_ms": entry.execution_time_ms,
                "artifact": None if entry.artifact is None else entry.artifact.as_json(),
                "artifact_state": str(checked.artifacts[step.job_id])
                if step.job_id in checked.artifacts
                else None,
                "location": _location(entry, checked.artifacts.get(step.job_id)),
            }
        if step.job_id in live:
            status = live[step.job_id]
            row["live"] = (
                {"status": "unknown", "output": None, "error": status}
                if isinstance(status, str)
                else {"status": status.status, "output": status.output, "error": status.error}
            )
        jobs.append(row)
    return {"manifest": checked.manifest.display_name, "lock": str(checked.lock.path), "jobs": jobs}


def _location(entry: LockEntry, state: ArtifactState | None) -> str | None:
    """Where the render lives, as far as the lock and the disk tell (no store request):
    "disk", "store", "both", or None when it is nowhere we know of."""
    artifact = entry.artifact
    if artifact is None:
        return None
    on_disk = state is ArtifactState.OK
    in_store = artifact.store_key is not None
    return {(True, True): "both", (True, False): "disk", (False, True): "store"}.get(
        (on_disk, in_store)
    )


def status_table(checked: Checked, live: Mapping[str, JobStatus | str]) -> TableView:
    rows = []
    notable = []
    for item in status_json(checked, live)["jobs"]:
        recorded = item["recorded"] or {}
        artifact = recorded.get("artifact") or {}
        state = recorded.get("status", "—")
        if "live" in item:
            state += f" (API: {item['live']['status']})"
        rows.append(
            [
                item["job"],
                state,
                recorded.get("request_id") or "",
                artifact.get("path", ""),
                recorded.get("location") or str(recorded.get("artifact_state") or ""),
                f"{item['next']}: {item['reason']}",
            ]
        )
        notable.append(item["next"] not in NO_CHANGE or "live" in item)
    return TableView(
        f"status of {checked.manifest.display_name}",
        ("JOB", "STATUS", "REQUEST", "ARTIFACT", "WHERE", "NEXT RUN"),
        rows,
        notable=notable,
    )


def report_json(report: RunReport) -> dict[str, Any]:
    return {
        "interrupted": report.interrupted,
        "storage_error": report.storage_error or None,
        "store_error": report.store_error or None,
        "api_error": report.api_error or None,
        "elapsed_seconds": round(report.elapsed, 3),
        "requests": report.requests,
        "store_requests": report.store_requests,
        "counts": dict(Counter(str(r.outcome) for r in report.results)),
        "estimated_credits": report.estimated_credits,
        "billed_credits": report.billed_credits,
        "budget": report.budget,
        "jobs": Rows(report.results, _result_json),
        "warnings": [p.as_dict() for p in report.warnings],
    }


def _result_json(r: JobResult) -> dict[str, Any]:
    return {
        "job": r.job_id,
        "action": str(r.action),
        "outcome": str(r.outcome),
        "error": r.error,
        "request_id": r.request_id,
        "artifact": None if r.artifact is None else r.artifact.as_json(),
        "seconds": round(r.seconds, 3),
        "estimated_credits": r.estimated_credits,
        "billed_credits": r.billed_credits,
    }


def report_table(report: RunReport) -> TableView:
    rows = [
        [
            r.job_id,
            str(r.action),
            str(r.outcome),
            r.artifact.path if r.artifact else "",
            f"{r.seconds:.1f}s" if r.action.touches_api else "",
            r.error,
        ]
        for r in report.results
    ]
    summary = RunSummary.of(report)
    foot = f"{_summary(summary.counts)} in {report.elapsed:.1f}s; "
    foot += f"{summary.requests} API request(s)"
    if report.store_requests:
        foot += f", {sum(report.store_requests.values())} store request(s)"
    foot += _credits_done(report, summary)
    foot += "".join(f"; {why}: {what}" for why, what in summary.stops)
    unknown = summary.counts[str(Outcome.UNKNOWN)]
    if unknown:
        foot += (
            f"\n{unknown} submission(s) of unknown outcome: the API may have created (and "
            "billed) them. Check the provider's dashboard, then `run --resend-unknown` to "
            "send them again with the same Idempotency-Key, or `run --replace ID`"
        )
    return TableView(
        None,
        ("JOB", "ACTION", "OUTCOME", "FILE", "TIME", "ERROR"),
        rows,
        foot,
        [str(r.outcome) not in _QUIET_OUTCOMES for r in report.results],
    )


def _credits_done(report: RunReport, summary: RunSummary) -> str:
    if not summary.credits:
        return ""
    note = f"; credits: estimated {report.estimated_credits}, billed {report.billed_credits}"
    note += f" ({summary.rendered} render(s), from their lengths)"
    if report.budget is not None:
        note += f", cap {report.budget}"
    if summary.over_budget:
        note += f"; {summary.over_budget} job(s) not submitted: over the cap"
    return note


def pull_json(report: PullReport) -> dict[str, Any]:
    return {
        "manifest": report.manifest,
        "store": report.store,
        "ok": report.ok,
        "counts": dict(Counter(str(r.outcome) for r in report.results)),
        "store_requests": report.store_requests,
        "jobs": [
            {
                "job": r.job_id,
                "outcome": str(r.outcome),
                "path": r.path,
                "store_key": r.store_key,
                "bytes": r.bytes,
                "error": r.error,
            }
            for r in report.results
        ],
    }


def pull_table(report: PullReport) -> TableView:
    rows = [
        [r.job_id, str(r.outcome), r.path, "" if r.bytes is None else str(r.bytes), r.error]
        for r in report.results
    ]
    counts = Counter(str(r.outcome) for r in report.results)
    calls = sum(report.store_requests.values())
    return TableView(
        f"pull from {report.store}",
        ("JOB", "OUTCOME", "FILE", "BYTES", "ERROR"),
        rows,
        f"{_summary(counts)}; {calls} store request(s)",
        [str(r.outcome) != "present" for r in report.results],
    )
