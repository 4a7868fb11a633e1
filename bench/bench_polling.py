"""Polling: our runner's default schedule against the fixed 5 s poller a user would write.

    python -m bench.bench_polling            # both cases, about 6 minutes on 2 cores
    python -m bench.bench_polling --quick    # a few jobs per case: a smoke test

Our runner at its defaults (5 s, the API's quickest, with learned render times
leaving out the polls that are too early) and ``bench/baseline.py`` with
``--poll-interval 5``, each in its own process on a fresh studio, at render
times drawn per job from 0.5-2 s (every job done before its first poll) and
20-40 s (several polls each). The studio draws the same render time for the same
job for both contenders (``lipsync_pipeline._render_delay``).

Status calls are counted by the studio, not by the contenders: the jobs' inputs
live on a second studio (only its /assets/), so the studio under test sees only the
contender's POSTs, status GETs and output downloads, and status calls per job are
(GETs - completed downloads) / jobs. Makespans come two ways: the whole process
(what a user waits for, start-up included) and the contender's own account of
its run (start-up left out: our runner's imports, input check and plan against the
script's imports), since the first holds a fixed start-up cost the second shows
apart. The yardstick ``fixed-poller ideal`` is a poller with no overhead at all:
each job holds its slot until the first multiple of 5 s at or after its render
time, jobs in manifest order.

From run_all: ``results["polling"] = bench_polling.run(work)`` (a dict of figures,
ratios against the baseline measured in the same run) inside ``keep_cores_awake()``,
and ``rows += bench_polling.rows(results["polling"])`` for its table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_polling.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

from bench import overhead  # noqa: E402
from bench.overhead import Measured, Scenario  # noqa: E402

POLL: Final = 5.0  # the runner's default; the baseline is told so
# The short case runs in under two minutes (two pairs of four waves); the long one
# has three rounds of jobs per slot, so that later rounds can use what the first
# taught (about 3.5 minutes for one pair).
CASES: Final = {
    "short": (Scenario(jobs=200, concurrency=50, delay="0.5-2", poll=POLL), 2),
    "long": (Scenario(jobs=30, concurrency=10, delay="20-40", poll=POLL), 1),
}
QUICK: Final = {
    "short": (Scenario(jobs=60, concurrency=20, delay="0.5-2", poll=POLL), 1),
    "long": (Scenario(jobs=8, concurrency=4, delay="20-40", poll=POLL), 1),
}


def status_calls(m: Measured) -> int:
    """Status GETs: every GET the studio under test answered, less one download per job."""
    gets = sum(m.requests.get("GET", {}).values())
    if gets < m.completed:
        raise RuntimeError(f"{m.contender}: {gets} GETs for {m.completed} completed jobs")
    return gets - m.completed


def fixed_poller_ideal(s: Scenario) -> tuple[float, float]:
    """(makespan, status calls per job) of a fixed-interval poller that costs nothing."""
    held = [max(1, math.ceil(r / s.poll)) * s.poll for r in s.render_times()]
    return overhead.list_schedule(held, s.concurrency), sum(h / s.poll for h in held) / s.jobs


def _figures(runs: list[Measured]) -> dict[str, float]:
    """Medians over the pairs' runs of one contender."""
    return {
        "makespan_s": statistics.median(m.makespan for m in runs),
        "in_run_s": statistics.median(m.in_run for m in runs),
        "status_calls_per_job": statistics.median(status_calls(m) / m.scenario.jobs for m in runs),
        "cpu_ms_per_job": statistics.median(m.cpu_ms_per_job for m in runs),
        "lost": max(m.lost for m in runs),
    }


def run_case(
    name: str, s: Scenario, pairs: int, work: Path, assets: str, tree: Path = ROOT
) -> dict[str, Any]:
    """One case: ``pairs`` alternating (ours, baseline) runs; ours is ``tree``'s runner
    at its own default poll interval (the baseline is told ``s.poll``)."""
    ours_runs: list[Measured] = []
    base_runs: list[Measured] = []
    for pair in range(pairs):
        print(
            f"polling, {name}: {s.label}, pair {pair + 1}/{pairs} ...", file=sys.stderr, flush=True
        )
        folder = work / f"{name}-pair{pair}"
        ours = overhead.measure("ours", s, folder, assets=assets, tree=tree, defaults=True)
        ours_runs.append(ours[0])
        base_runs.append(overhead.measure("baseline", s, folder, assets=assets)[0])
    ours, base = _figures(ours_runs), _figures(base_runs)
    ideal_makespan, ideal_calls = fixed_poller_ideal(s)
    return {
        "scenario": {**dataclasses.asdict(s), "label": s.label},
        "pairs": pairs,
        "ours": ours,
        "baseline": base,
        "fixed_poller_ideal": {"makespan_s": ideal_makespan, "status_calls_per_job": ideal_calls},
        "ratio": {k: ours[k] / base[k] if base[k] else math.nan for k in ours if k != "lost"},
        "pair_makespan_ratios": [
            o.makespan / b.makespan for o, b in zip(ours_runs, base_runs, strict=True)
        ],
        "pair_in_run_ratios": [
            o.in_run / b.in_run for o, b in zip(ours_runs, base_runs, strict=True)
        ],
    }


def run(
    work: Path, *, quick: bool = False, tree: Path = ROOT, only: str | None = None
) -> dict[str, Any]:
    """Both cases (or ``only`` one); every ratio is ours / the baseline measured in the
    same run. ``tree``: the checkout whose runner is measured (another commit's, say)."""
    cases = QUICK if quick else CASES
    with (
        (work / "assets-studio.log").open("w+b") as log,
        overhead.studio(Scenario(jobs=0, concurrency=1, delay="0", poll=POLL), log) as assets,
    ):
        return {
            name: run_case(name, s, pairs, work, assets.root, tree)
            for name, (s, pairs) in cases.items()
            if only in (None, name)
        }


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, ours, baseline, ours / baseline) rows, as run_all's table has them."""
    out: list[tuple[str, str, str, str]] = []
    for case in results.values():
        ours, base, ratio = case["ours"], case["baseline"], case["ratio"]
        ideal = case["fixed_poller_ideal"]
        title = f"**polling, {case['scenario']['label']}** (default schedule vs fixed 5 s)"
        if case["pairs"] > 1:
            title += f", median of {case['pairs']} alternating pairs"
        out += [
            (title, "", "", ""),
            ("makespan, s (whole process)", f"{ours['makespan_s']:.1f}",
             f"{base['makespan_s']:.1f}", f"{ratio['makespan_s']:.3f}"),
            ("makespan, s (start-up left out)", f"{ours['in_run_s']:.1f}",
             f"{base['in_run_s']:.1f}", f"{ratio['in_run_s']:.3f}"),
            ("fixed-poller ideal makespan, s", f"{ideal['makespan_s']:.1f}", "", ""),
            ("status calls per job", f"{ours['status_calls_per_job']:.2f}",
             f"{base['status_calls_per_job']:.2f}", f"{ratio['status_calls_per_job']:.2f}"),
            ("fixed-poller status calls per job", f"{ideal['status_calls_per_job']:.2f}", "", ""),
            ("contender CPU ms per job (whole process)", f"{ours['cpu_ms_per_job']:.1f}",
             f"{base['cpu_ms_per_job']:.1f}", f"{ratio['cpu_ms_per_job']:.2f}"),
            ("jobs not completed", str(ours["lost"]), str(base["lost"]), ""),
        ]  # fmt: skip
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| measure | ours | baseline | ours / baseline |", "|---|---:|---:|---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few jobs per case")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lipsync-poll-")))
        stack.enter_context(overhead.keep_cores_awake())
        results = run(work, quick=args.quick)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
