"""Every benchmark, one table: ``python -m bench`` or ``python bench/run_all.py``.

    python -m bench            # the full set (about 8 minutes on 2 cores)
    python -m bench --quick    # a tenth of the jobs: a smoke test of the bench itself
    python -m bench --skip-runner   # only the in-process parts (lock, validation, render)

Prints a Markdown table (the one in bench/RESULTS.md) and writes bench/results.json
(git-ignored). Method and meaning of each figure: bench/RESULTS.md. Not a test:
pytest collects only tests/, and nothing here asserts a timing, only correctness
facts (every job completed; the no-op rerun made zero API calls).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/run_all.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

from bench import micro  # noqa: E402
from bench.overhead import (  # noqa: E402
    Measured,
    Scenario,
    keep_cores_awake,
    measure,
    noop_rerun,
)

# Render times are drawn per job from a range (the same draws for both contenders; see
# lipsync_pipeline._render_delay): one fixed D is the best case for a client that learns
# render times, and with D a multiple of the poll interval a phase accident for a
# fixed-period poller. Means 1.5 s and 2.5 s, as the fixed delays were before.
# C is chosen so the studio (one Python process on a 2-core machine it shares with the
# runner) stays near half a core: "studio CPU / makespan" in the table checks that.
# The 1,000-job scenario is short enough to repeat: three alternating pairs, medians.
SCENARIOS: Final = (
    Scenario(jobs=1_000, concurrency=100, delay="1-2", poll=1.0, repeats=3),
    Scenario(jobs=10_000, concurrency=250, delay="2-3", poll=1.0),
)
PACKAGES: Final = (
    "lipsync-pipeline",
    "httpx",
    "httpcore",
    "trio",
    "hypercorn",
    "starlette",
    "av",
    "PyYAML",
    "jsonschema",
    "structlog",
)


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next(
        (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kb / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
        "packages": versions,
    }


def _ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}" if base else "n/a"


def _median(runs: list[Measured], metric: str) -> float:
    return statistics.median(float(getattr(m, metric)) for m in runs)


def _medians(runs: list[Measured]) -> Measured:
    """One row's worth: each figure the median over the repeats (the first run's details)."""
    numbers = (
        "makespan",
        "makespan_ratio",
        "requests_per_job",
        "cpu_ms_per_job",
        "max_rss_mb",
        "studio_cpu_share",
    )
    return dataclasses.replace(
        runs[0], **{k: _median(runs, k) for k in numbers}, lost=max(m.lost for m in runs)
    )


def _overhead_rows(
    ours_runs: list[Measured], base_runs: list[Measured]
) -> list[tuple[str, str, str, str]]:
    ours, base = _medians(ours_runs), _medians(base_runs)
    s = ours.scenario
    pairs = len(ours_runs)
    title = f"**{s.label}** (ideal {s.ideal:g} s)"
    if pairs > 1:
        title += f", median of {pairs} alternating pairs"
    compared = (  # (label, Measured attribute, digits)
        ("makespan, s", "makespan", 1),
        ("makespan / ideal", "makespan_ratio", 2),
        ("API requests per job", "requests_per_job", 2),
        ("runner CPU ms per job", "cpu_ms_per_job", 2),
        ("runner peak RSS, MB", "max_rss_mb", 0),
    )
    rows = [(title, "", "", "")]
    for label, name, digits in compared:
        o, b = float(getattr(ours, name)), float(getattr(base, name))
        rows.append((label, f"{o:.{digits}f}", f"{b:.{digits}f}", _ratio(o, b)))
    rows += [
        ("jobs not completed", str(ours.lost), str(base.lost), ""),
        ("studio CPU / makespan", f"{ours.studio_cpu_share:.2f}",
         f"{base.studio_cpu_share:.2f}", ""),
    ]  # fmt: skip
    if pairs > 1:
        pairs_cpu = zip(ours_runs, base_runs, strict=True)
        cpu = sorted(o.cpu_ms_per_job / b.cpu_ms_per_job for o, b in pairs_cpu)
        rows.insert(
            5, ("CPU ratio of each pair, lowest-highest", "", "", f"{cpu[0]:.2f}-{cpu[-1]:.2f}")
        )
    return rows


def table(results: dict[str, Any], runs: list[tuple[list[Measured], list[Measured]]]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for ours, base in runs:
        rows += _overhead_rows(ours, base)
    if "noop" in results:
        n = results["noop"]
        rows += [
            (f"**no-op rerun, {n['jobs']:,} jobs completed in the lock**", "", "", ""),
            ("wall time, s (whole process)", f"{n['wall_s']:.2f}", "", ""),
            ("API calls (studio count)", str(n["api_calls"]), "", ""),
        ]
    lock = results["lock"]
    rows.append((f"**lock durability, {lock['jobs']:,} entries**", "", "", ""))
    for size, r in lock["by_batch"].items():
        rows.append((f"durable changes/s, batch {size}", f"{r['changes_per_s']:,.0f}", "", ""))
    rows += [
        ("compact() (full rewrite), s", f"{lock['compact_s']:.3f}", "", ""),
        ("LockJournal.open(), s", f"{lock['open_s']:.3f}", "", ""),
    ]
    v = results["validation"]
    rows += [
        (f"**validation, {v['jobs']:,} jobs**", "", "", ""),
        ("validate (load_manifest), s", f"{v['validate_s']:.3f}", "", ""),
        ("plan, empty lock, s", f"{v['plan_new_s']:.3f}", "", ""),
        ("plan, all completed, s", f"{v['plan_all_completed_s']:.3f}", "", ""),
    ]
    rows.append(("**studio render speed (real-time factor)**", "", "", ""))
    for resolution, r in results["render"].items():
        rows.append((f"RTF {resolution} ({r['video_s']:g} s of video)", f"{r['rtf']:.1f}", "", ""))
    lines = ["| measure | ours | baseline | ours / baseline |", "|---|---:|---:|---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark; print one table.")
    parser.add_argument("--quick", action="store_true", help="a tenth of the jobs")
    parser.add_argument(
        "--skip-runner",
        action="store_true",
        help="skip the runner-vs-baseline runs (the slow part)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine()}
    runs: list[tuple[list[Measured], list[Measured]]] = []
    if not args.skip_runner:
        with tempfile.TemporaryDirectory(prefix="lipsync-bench-") as folder, keep_cores_awake():
            work = Path(folder)
            for full in SCENARIOS:
                s = dataclasses.replace(full, jobs=full.jobs // scale)
                ours_runs: list[Measured] = []
                base_runs: list[Measured] = []
                for pair in range(s.repeats):
                    print(
                        f"runner vs baseline: {s.label}, pair {pair + 1}/{s.repeats} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    ours, manifest = measure("ours", s, work / f"pair{pair}")
                    ours_runs.append(ours)
                    # Reuse the biggest run's lock: every job is completed there.
                    if full is SCENARIOS[-1] and manifest is not None and pair == 0:
                        print("no-op rerun ...", file=sys.stderr, flush=True)
                        results["noop"] = noop_rerun(manifest, s, work)
                    base, _ = measure("baseline", s, work / f"pair{pair}")
                    base_runs.append(base)
                runs.append((ours_runs, base_runs))
        results["overhead"] = [
            [[o.as_json(), b.as_json()] for o, b in zip(ours, base, strict=True)]
            for ours, base in runs
        ]
    print("lock durability ...", file=sys.stderr, flush=True)
    results["lock"] = micro.lock_durability(micro.LOCK_JOBS // scale)
    print("validation ...", file=sys.stderr, flush=True)
    results["validation"] = micro.validation(micro.bench_validate.JOBS // scale)
    print("render speed ...", file=sys.stderr, flush=True)
    results["render"] = micro.render_speed()
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    text = table(results, runs)
    results["table"] = text
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    m = results["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['ram_gib']} GiB RAM, Python "
        f"{m['python']}, commit {m['commit']}"
    )
    print(text)
    print(f"\nbench took {results['bench_seconds']} s; figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
