"""``plan``/``run`` as Markdown (a pull-request comment, a CI step summary) and the
step summary file: always within its byte limit, literal text that cannot break the
table, secrets masked, and the runner's file appended to within its 1 MiB cap."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from lipsync_pipeline.budget import BudgetCheck, SpendCap
from lipsync_pipeline.cli._commands import plan_exit_code
from lipsync_pipeline.cli._markdown import (
    MARKDOWN_LIMIT,
    error_markdown,
    plan_markdown,
    run_markdown,
)
from lipsync_pipeline.cli._stepsummary import STEP_SUMMARY_CAP, append_step_summary
from lipsync_pipeline.cli._views import report_table
from lipsync_pipeline.errors import EXIT_BUDGET, EXIT_CHANGES, EXIT_OK, register_secret
from lipsync_pipeline.estimate import Estimate, JobCost
from lipsync_pipeline.lockfile import LockEntry
from lipsync_pipeline.manifest import Job, parse_manifest
from lipsync_pipeline.plan import Action, Plan, Step
from lipsync_pipeline.run import JobResult, Outcome, RunReport

GITHUB_COMMENT_LIMIT = 65_536  # characters
ONE = """\
version: 1
jobs:
  - id: template
    kind: avatar
    image: https://cdn.example.com/a.png
    audio: https://cdn.example.com/a.mp3
"""
_PIPE = re.compile(r"(?<!\\)\|")


def _job(tmp_path: Path, job_id: str) -> Job:
    template = parse_manifest(ONE, path=tmp_path / "r.yaml", display_name="r.yaml").jobs[0]
    return dataclasses.replace(template, id=job_id)


def _cells(row: str) -> list[str]:
    """A table row's cells, split on pipes a Markdown reader sees (not escaped ones)."""
    return _PIPE.split(row.strip())[1:-1]


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and "`" in line]


def _big_change(tmp_path: Path, count: int) -> tuple[Plan, Estimate]:
    """``count`` jobs, every one to change: new, retried after an API error, removed."""
    template = _job(tmp_path, "template")
    steps = []
    costs = {}
    for index in range(count):
        job_id = f"clip-{index:05d}"
        job = dataclasses.replace(template, id=job_id)
        if index % 3 == 0:
            steps.append(Step(job_id, Action.SUBMIT, "new job", job, None))
        elif index % 3 == 1:
            error = "Invalid audio format: the file at https://cdn.example.com/a.mp3 " * 4
            steps.append(Step(job_id, Action.RETRY, f"failed last time ({error})", job, None))
        else:
            steps.append(Step(job_id, Action.REMOVE, "no longer in the manifest", None, None))
            continue
        costs[job_id] = JobCost(10)
    return Plan(tuple(steps)), Estimate(costs)


def test_a_10000_job_change_fits_a_pull_request_comment(tmp_path: Path) -> None:
    plan, estimate = _big_change(tmp_path, 10_000)

    markdown = plan_markdown("renders.yaml", plan, estimate)

    assert len(markdown.encode("utf-8")) <= MARKDOWN_LIMIT < GITHUB_COMMENT_LIMIT
    assert "**10,000 job(s) to change**: 3,334 submit · 3,333 retry · 3,333 remove" in markdown
    assert "estimated **66,670** for 6,667 paid submission(s)" in markdown
    rows = _rows(markdown)
    shown = [_cells(row)[1].strip(" `") for row in rows]
    # The first jobs, in the plan's order, then how many more there are.
    assert shown == [f"clip-{i:05d}" for i in range(len(shown))]
    assert 100 < len(shown) < 10_000
    more = re.search(r"… and ([\d,]+) more", markdown)
    assert more is not None and int(more[1].replace(",", "")) + len(shown) == 10_000
    assert markdown.rstrip().endswith("lists them all)_")


def test_a_small_change_lists_every_job_with_its_credits_and_reason(tmp_path: Path) -> None:
    plan, estimate = _big_change(tmp_path, 3)
    markdown = plan_markdown("renders.yaml", plan, estimate)
    rows = [_cells(row) for row in _rows(markdown)]
    assert [[c.strip() for c in row[:3]] for row in rows] == [
        ["submit", "`clip-00000`", "10"],
        ["retry", "`clip-00001`", "10"],
        ["remove", "`clip-00002`", ""],
    ]
    assert "more" not in markdown


@pytest.mark.parametrize("limit", [300, 2048, 10_000])
def test_any_limit_is_respected(tmp_path: Path, limit: int) -> None:
    plan, estimate = _big_change(tmp_path, 500)
    assert len(plan_markdown("renders.yaml", plan, estimate, limit=limit).encode()) <= limit


def test_outside_text_cannot_break_the_table_or_inject_markup(tmp_path: Path) -> None:
    job = _job(tmp_path, "a")
    reason = "failed last time (bad | input\nline two `code` <img src=x onerror=alert(1)> \\|)"
    plan = Plan((Step("a", Action.RETRY, reason, job, None),))
    markdown = plan_markdown("my|renders.yaml", plan, Estimate({"a": JobCost(None, "why")}))
    (row,) = _rows(markdown)
    cells = _cells(row)
    assert len(cells) == 4
    assert cells[2].strip() == "unknown"
    assert "<img" not in markdown and "&lt;img" in markdown
    assert "line two" in cells[3]  # the newline became a space, in the same cell
    assert "\\`code\\`" in cells[3]


def test_secrets_are_masked(tmp_path: Path) -> None:
    secret = "presigned-secret-value-1234"
    register_secret(secret)
    job = _job(tmp_path, "a")
    plan = Plan((Step("a", Action.RETRY, f"failed last time (token {secret})", job, None),))
    report = RunReport([JobResult("a", Action.RETRY, Outcome.FAILED, f"fetch {secret} failed")])
    for markdown in (
        plan_markdown("r.yaml", plan, Estimate({"a": JobCost(10)})),
        run_markdown("r.yaml", report),
        error_markdown("run", "r.yaml", f"cannot use {secret}"),
    ):
        # (escaped in table cells, so that it shows as *** rather than as emphasis)
        assert secret not in markdown
        assert "***" in markdown or "\\*\\*\\*" in markdown


def test_up_to_date_and_the_budget(tmp_path: Path) -> None:
    job = _job(tmp_path, "a")
    noop = Plan((Step("a", Action.SKIP, "up to date", job, None),))
    assert "✅ **Up to date**" in plan_markdown("r.yaml", noop, Estimate({}))

    plan = Plan((Step("a", Action.SUBMIT, "new job", job, None),))
    estimate = Estimate({"a": JobCost(20)})
    within = BudgetCheck(SpendCap(50, "r.yaml:2:9: budget"), estimate)
    assert "**Budget:** 20 of 50 credits (r.yaml:2:9: budget) ✅" in plan_markdown(
        "r.yaml", plan, estimate, within
    )
    over = BudgetCheck(SpendCap(10, "--max-credits 10"), estimate)
    markdown = plan_markdown("r.yaml", plan, estimate, over)
    assert "❌ **Over budget** (--max-credits 10): `run` would refuse it" in markdown
    assert "estimated at 20 credits, over the cap of 10" in markdown
    assert "dearest: a 20" in markdown


def test_plan_exit_codes(tmp_path: Path) -> None:
    job = _job(tmp_path, "a")
    noop = Plan((Step("a", Action.SKIP, "up to date", job, None),))
    change = Plan((Step("a", Action.SUBMIT, "new job", job, None),))
    over = BudgetCheck(SpendCap(0, "--max-credits 0"), Estimate({"a": JobCost(10)}))
    assert plan_exit_code(noop, None, detailed=True) == EXIT_OK
    assert plan_exit_code(change, None, detailed=False) == EXIT_OK
    assert plan_exit_code(change, None, detailed=True) == EXIT_CHANGES == 7
    assert plan_exit_code(change, over, detailed=True) == EXIT_BUDGET == 6
    assert len({EXIT_OK, EXIT_CHANGES, EXIT_BUDGET, 1, 2, 3, 4, 5, 130}) == 9


def test_the_run_summary_lists_what_went_wrong_and_the_credits() -> None:
    entry = LockEntry("a", "sha256:" + "0" * 64, "lipsync-image", "failed", "k")
    assert entry.status == "failed"
    report = RunReport(
        [
            JobResult(
                "a", Action.SUBMIT, Outcome.COMPLETED, estimated_credits=10, billed_credits=12
            ),
            JobResult(
                "b", Action.SUBMIT, Outcome.FAILED, "Invalid audio format", estimated_credits=10
            ),
            JobResult("c", Action.SUBMIT, Outcome.OVER_BUDGET, "not submitted: over the cap"),
            JobResult("d", Action.SKIP, Outcome.SKIPPED),
        ],
        budget=25,
    )
    markdown = run_markdown("r.yaml", report)
    assert "❌ 1 completed · 1 skipped · 1 failed · 1 over_budget" in markdown
    assert (
        "**Credits:** estimated 20; billed **12** for 1 render(s) (from their lengths); cap 25"
        "; 1 job(s) not submitted: over the cap" in (markdown)
    )
    assert [_cells(row)[:2] for row in _rows(markdown)] == [
        [" failed ", " `b` "],
        [" over_budget ", " `c` "],
    ]


def test_the_text_and_markdown_summaries_say_the_same_about_a_run() -> None:
    """One summary of a run: every reason it stopped short (a full disk, then Ctrl-C)
    and the jobs the cap held, in the terminal's table and in the Markdown alike."""
    report = RunReport(
        [
            JobResult("a", Action.SUBMIT, Outcome.COMPLETED, estimated_credits=10),
            JobResult("b", Action.SUBMIT, Outcome.OVER_BUDGET, "not submitted: over the cap"),
        ],
        interrupted=True,
        storage_error="renders/a.mp4: No space left on device",
        budget=10,
    )
    foot = report_table(report).foot or ""
    markdown = run_markdown("r.yaml", report)
    for said in (
        "interrupted: run again to resume",
        "stopped: renders/a.mp4: No space left on device",
        "1 job(s) not submitted: over the cap",
    ):
        assert said in foot
        assert said in markdown.replace("**", "")


def test_an_error_summary_always_closes_its_fence() -> None:
    markdown = error_markdown("plan", "r.yaml", "r.yaml:3:1: bad\n~~~\nstill the message")
    lines = markdown.splitlines()
    fences = [i for i, line in enumerate(lines) if line.startswith("~~~~")]
    assert [lines[i] for i in fences] == ["~~~~text", "~~~~"]
    assert lines[fences[0] + 1 : fences[1]] == ["r.yaml:3:1: bad", "~~~", "still the message"]
    huge = error_markdown("plan", "r.yaml", "x" * 200_000, limit=5000)
    assert len(huge.encode()) <= 5000 and huge.rstrip().endswith("~~~")


# --- $GITHUB_STEP_SUMMARY ------------------------------------------------------------------


def test_the_summary_is_appended_after_what_the_step_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step_summary"
    summary.write_text("# earlier\n")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert not append_step_summary(lambda limit: "### ours\n")  # no runner, no file
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_step_summary(lambda limit: "### ours\n")
    assert summary.read_text() == "# earlier\n\n### ours\n"


def test_the_summary_fits_what_is_left_of_one_mebibyte(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary"
    summary.write_bytes(b"x" * (STEP_SUMMARY_CAP - 10_000))
    plan, estimate = _big_change(tmp_path, 2_000)
    assert append_step_summary(
        lambda limit: plan_markdown("r.yaml", plan, estimate, limit=limit), summary
    )
    size = summary.stat().st_size
    assert STEP_SUMMARY_CAP - 10_000 < size <= STEP_SUMMARY_CAP
    # Full: nothing more is written (GitHub would drop the whole step's summary).
    assert not append_step_summary(lambda limit: "### more\n", summary)
    assert summary.stat().st_size == size


def test_the_summary_is_never_written_through_a_link_or_into_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    link = tmp_path / "step_summary"
    link.symlink_to(target)
    assert not append_step_summary(lambda limit: "### ours\n", link)
    assert target.read_text() == "keep\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert not append_step_summary(lambda limit: "### ours\n", fifo)  # no reader: no hang
    missing_dir = tmp_path / "no" / "such" / "file"
    assert not append_step_summary(lambda limit: "### ours\n", missing_dir)
