"""The spend cap's rules (lipsync_pipeline.budget): which cap applies, what is over it,
what the refusal says, and how a run admits submissions under it; plus ``budget:`` in
the manifest and the credits a render of a given length bills."""

from __future__ import annotations

from pathlib import Path

import pytest

from lipsync_pipeline.budget import (
    SpendCap,
    SpendLedger,
    check_budget,
    enforce_budget,
    spend_cap,
)
from lipsync_pipeline.errors import EXIT_BUDGET, BudgetExceeded, ManifestError
from lipsync_pipeline.estimate import Estimate, JobCost
from lipsync_pipeline.manifest import Manifest, parse_manifest
from lipsync_pipeline.pricing import credits_for_output

JOBS = """\
jobs:
  - id: a
    kind: avatar
    image: https://cdn.example.com/a.png
    audio: https://cdn.example.com/a.mp3
"""


def _manifest(tmp_path: Path, head: str = "") -> Manifest:
    text = f"version: 1\n{head}{JOBS}"
    return parse_manifest(text, path=tmp_path / "r.yaml", display_name="r.yaml")


def _estimate(**costs: int | None) -> Estimate:
    return Estimate(
        {
            job: JobCost(credits, None if credits is not None else "audio: not measured")
            for job, credits in costs.items()
        }
    )


def test_the_manifest_budget_is_read_with_where_it_was_written(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, "concurrency: 2\nbudget: 500\n")
    assert (manifest.budget, manifest.budget_mark) == (500, (3, 9))
    assert _manifest(tmp_path).budget is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-1", "must be at least 0, not -1"),
        ("lots", "expected a whole number, got the text 'lots'"),
        ("2.5", "expected a whole number, got 2.5"),
        ("[100]", "expected a whole number, got a list"),
    ],
)
def test_a_bad_budget_is_a_located_manifest_error(tmp_path: Path, value: str, says: str) -> None:
    with pytest.raises(ManifestError) as caught:
        _manifest(tmp_path, f"budget: {value}\n")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column, problem.where) == ("r.yaml", 2, 9, "budget")
    assert problem.message.startswith(says)


def test_the_lower_cap_wins_and_says_where_it_comes_from(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, "budget: 100\n")
    assert spend_cap(manifest, None) == SpendCap(100, "r.yaml:2:9: budget")
    assert spend_cap(manifest, 40) == SpendCap(40, "--max-credits 40")
    # A flag cannot loosen the reviewed cap; on a tie, the located one is named.
    assert spend_cap(manifest, 400) == SpendCap(100, "r.yaml:2:9: budget")
    assert spend_cap(manifest, 100) == SpendCap(100, "r.yaml:2:9: budget")
    assert spend_cap(_manifest(tmp_path), None) is None
    assert spend_cap(_manifest(tmp_path), 0, allow_unknown=True) == SpendCap(
        0, "--max-credits 0", allow_unknown=True
    )


def test_an_estimate_over_the_cap_is_refused_naming_estimate_cap_and_dearest_jobs() -> None:
    estimate = _estimate(a=10, b=40, c=20, d=10, e=5, f=5, g=5)
    cap = SpendCap(60, "r.yaml:2:9: budget")
    with pytest.raises(BudgetExceeded) as caught:
        enforce_budget(estimate, cap)
    assert caught.value.exit_code == EXIT_BUDGET == 6
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "r.yaml:2:9: budget: the run would submit 7 job(s) estimated at 95 credits, "
        "over the cap of 60"
    )
    assert lines[1] == "dearest: b 40, c 20, a 10, d 10, e 5, and 2 more"
    assert lines[-1] == "nothing was submitted"


def test_exactly_the_cap_is_within_it() -> None:
    enforce_budget(_estimate(a=30, b=30), SpendCap(60, "--max-credits 60"))
    enforce_budget(_estimate(), SpendCap(0, "--max-credits 0"))  # nothing to submit
    check = check_budget(_estimate(a=30, b=30), SpendCap(60, "--max-credits 60"))
    assert check is not None and not check.over and check.lines() == []
    assert check_budget(_estimate(a=1), None) is None


def test_unknown_cost_counts_as_over_unless_allowed() -> None:
    estimate = _estimate(a=10, b=None)
    with pytest.raises(BudgetExceeded) as caught:
        enforce_budget(estimate, SpendCap(1000, "--max-credits 1000"))
    message = str(caught.value)
    assert "1 of the 2 job(s) the run would submit have an unknown cost" in message
    assert "unknown cost: b (audio: not measured); --allow-unknown-cost" in message
    enforce_budget(estimate, SpendCap(1000, "--max-credits 1000", allow_unknown=True))
    # Allowing unknown costs does not lift the cap on the known ones.
    with pytest.raises(BudgetExceeded):
        enforce_budget(estimate, SpendCap(5, "--max-credits 5", allow_unknown=True))


def test_the_ledger_admits_in_order_while_the_total_fits() -> None:
    estimate = _estimate(a=40, b=30, c=20, d=None)
    ledger = SpendLedger(SpendCap(60, "--max-credits 60"), estimate.jobs)
    assert ledger.take("a") is None
    refused = ledger.take("b")
    assert refused is not None
    assert "30 credits would take the run's credits to 70 (estimates, and what the " in refused
    assert "renders done billed), past the cap of 60" in refused
    assert ledger.take("c") is None  # a cheaper job after it still fits
    assert ledger.spent == 60
    unknown = ledger.take("d")
    assert unknown is not None and "cost is unknown (audio: not measured)" in unknown
    assert ledger.take("never-estimated") is not None


def test_the_ledger_submits_unknown_costs_when_allowed_counting_nothing() -> None:
    estimate = _estimate(a=None, b=60)
    ledger = SpendLedger(SpendCap(60, "--max-credits 60", allow_unknown=True), estimate.jobs)
    assert ledger.take("a") is None
    assert ledger.take("b") is None
    assert ledger.spent == 60


def test_a_render_done_counts_at_what_it_billed_not_its_estimate() -> None:
    estimate = _estimate(a=None, b=10, c=10)
    ledger = SpendLedger(SpendCap(20, "--max-credits 20", allow_unknown=True), estimate.jobs)
    assert ledger.take("a") is None  # unknown, allowed: counts as 0 until it is measured
    ledger.settle("a", 15)
    ledger.settle("b", 99)  # never admitted: nothing to settle
    assert ledger.spent == 15
    refused = ledger.take("b")
    assert refused is not None and "would take the run's credits to 25" in refused
    ledger.settle("a", None)  # a render whose length cannot be read keeps what it had
    assert ledger.spent == 15


def test_the_ledger_counts_what_each_admitted_job_comes_to_after_any_mix_of_changes() -> None:
    """spent is kept as a running total (not summed on each admission): after takes,
    refusals, bills, re-bills and unreadable bills it is still the plain sum."""
    estimate = _estimate(a=10, b=20, c=30, d=50, e=None)
    ledger = SpendLedger(SpendCap(70, "--max-credits 70", allow_unknown=True), estimate.jobs)
    counted: dict[str, int] = {}
    for job in ("a", "b", "c", "d", "e"):  # d does not fit: refused, not counted
        if ledger.take(job) is None:
            counted[job] = estimate.jobs[job].credits or 0
    for job, billed in (("a", 5), ("a", 7), ("b", 0), ("c", None), ("e", 12), ("d", 3)):
        ledger.settle(job, billed)
        if job in counted and billed is not None:
            counted[job] = billed
        assert ledger.spent == sum(counted.values())
    assert counted == {"a": 7, "b": 0, "c": 30, "e": 12}
    assert "d" not in ledger and "a" in ledger
    refused = ledger.take("d")
    assert refused is not None and "would take the run's credits to 99" in refused


@pytest.mark.parametrize(
    ("resolution", "seconds", "credits"),
    [
        ("480p", 3.0, 10),  # the 5 s minimum
        ("720p", 3.0, 20),
        ("480p", 10.0, 20),
        ("480p", 5.5, 12),  # started seconds are billed
        ("480p", 6.03, 12),  # an encoder's padding is not a second
        ("720p", 6.2, 28),
    ],
)
def test_a_render_bills_its_output_length(resolution: str, seconds: float, credits: int) -> None:
    assert credits_for_output(resolution, seconds) == credits


def test_an_output_length_that_is_not_a_length_is_refused() -> None:
    for bad in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ValueError):
            credits_for_output("480p", bad)
    with pytest.raises(ValueError, match="resolution"):
        credits_for_output("1080p", 3.0)


def test_the_plan_under_the_run_lock_reuses_the_first_estimate(tmp_path: Path) -> None:
    """run prices its plan once; the plan made under the run lock takes those costs and
    measures only the submissions the first plan did not have."""
    from lipsync_pipeline.estimate import estimate_plan
    from lipsync_pipeline.lockfile import LockSnapshot
    from lipsync_pipeline.plan import plan

    job_b = JOBS.removeprefix("jobs:\n").replace("id: a", "id: b")
    manifest = parse_manifest(
        f"version: 1\n{JOBS}{job_b}",
        path=tmp_path / "r.yaml",
        display_name="r.yaml",
    )
    the_plan = plan(manifest, LockSnapshot(tmp_path / "r.lock", {}), artifacts={})
    remote = {"https://cdn.example.com/a.mp3": 3.0}
    first = Estimate({"a": JobCost(40)})  # as the first estimate priced it

    priced = estimate_plan(the_plan, remote=remote, known=first)

    assert priced.jobs == {"a": JobCost(40), "b": JobCost(10)}  # b measured: 3 s -> 5 s
