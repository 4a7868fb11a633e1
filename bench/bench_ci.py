"""What the CI reports cost (issue 13): reading a render's length to bill it, and the
Markdown of a 10,000-job plan.

Run: ``python bench/bench_ci.py``. Not a test: figures, each with its yardstick
measured in the same run.

- Billing reads every render a run completed. The movie header (``_mp4``) against
  PyAV's ``av.open`` (the yardstick), CPU per file, on the repository's MP4.
- The PR comment of a 10,000-job change: its size against the 60 KB limit, and its
  CPU time against ``plan_json`` of the same plan (what ``plan --format json`` builds).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import av

from lipsync_pipeline._mp4 import movie_seconds
from lipsync_pipeline.cli._markdown import MARKDOWN_LIMIT, plan_markdown
from lipsync_pipeline.cli._views import plan_json
from lipsync_pipeline.estimate import Estimate, JobCost
from lipsync_pipeline.lockfile import LockSnapshot
from lipsync_pipeline.manifest import parse_manifest
from lipsync_pipeline.plan import Action, Plan, Step
from lipsync_pipeline.usecases import Checked

ROOT: Final = Path(__file__).resolve().parents[1]
CLIP: Final = ROOT / "manifests" / "assets" / "clip.mp4"
JOBS: Final = 10_000
RUNS: Final = 5


def _cpu(fn: Callable[[], Any], repeat: int) -> float:
    """Median CPU seconds of one call over ``RUNS`` runs of ``repeat`` calls."""
    times = []
    for _ in range(RUNS):
        start = time.process_time()
        for _ in range(repeat):
            fn()
        times.append((time.process_time() - start) / repeat)
    return statistics.median(times)


def _pyav() -> float | None:
    with av.open(str(CLIP)) as container:
        return None if container.duration is None else container.duration / 1_000_000


def _big_plan() -> Checked:
    text = "version: 1\njobs:\n  - id: t\n    kind: avatar\n"
    text += "    image: https://cdn.example.com/a.png\n    audio: https://cdn.example.com/a.mp3\n"
    manifest = parse_manifest(text, path=ROOT / "bench.yaml", display_name="renders.yaml")
    template = manifest.jobs[0]
    steps = tuple(
        Step(
            f"clip-{i:05d}",
            Action.SUBMIT,
            "new job",
            dataclasses.replace(template, id=f"clip-{i:05d}"),
            None,
        )
        for i in range(JOBS)
    )
    jobs = tuple(step.job for step in steps if step.job is not None)
    return Checked(
        dataclasses.replace(manifest, jobs=jobs),
        LockSnapshot(ROOT / "bench.lock", {}),
        Plan(steps),
        {},
    )


def main() -> None:
    header, yardstick = _cpu(lambda: movie_seconds(CLIP), 200), _cpu(_pyav, 20)
    print(
        f"render length, CPU per file: movie header {header * 1e6:.0f} us, "
        f"av.open {yardstick * 1e6:.0f} us ({yardstick / header:.0f}x)"
    )
    checked = _big_plan()
    estimate = Estimate({s.job_id: JobCost(10) for s in checked.plan.steps})
    markdown = plan_markdown("renders.yaml", checked.plan, estimate)
    md_cpu = _cpu(lambda: plan_markdown("renders.yaml", checked.plan, estimate), 1)
    json_cpu = _cpu(lambda: plan_json(checked, estimate), 1)
    print(
        f"plan --format markdown, {JOBS:,} jobs to submit: {len(markdown.encode()):,} bytes "
        f"(limit {MARKDOWN_LIMIT:,}), {md_cpu * 1e3:.1f} ms CPU; plan_json "
        f"{json_cpu * 1e3:.1f} ms ({md_cpu / json_cpu:.2f}x)"
    )


if __name__ == "__main__":
    main()
