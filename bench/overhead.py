"""Runner overhead: our runner and the baseline script, each in its own process.

The studio runs in a third process (``lipsync-pipeline serve --fast``), so the
runner's CPU time and peak RSS are measured alone, from ``os.wait4``'s rusage of
that one child. API requests are counted by the studio (``/_studio/stats``
deltas), not by the client measuring itself. Each contender gets a fresh studio,
so neither inherits the other's job table. All traffic stays on 127.0.0.1.

While they run, ``keep_cores_awake`` keeps every CPU busy with SCHED_IDLE spinners.
On the VM these figures come from, a CPU left idle comes back slow: the same
CPU-bound loop took 17 ms while the other CPU was busy and 29 ms while it idled,
flipping every few seconds. Runner and studio idle most of the time (they wait on
each other and on timers), so without the spinners their CPU per job swung +-30 %
between identical runs. A SCHED_IDLE task runs only when nothing else wants the
CPU, so it takes no time from the contenders.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Final

import httpx

from lipsync_pipeline._render_delay import RenderDelay

ROOT: Final = Path(__file__).resolve().parents[1]
ASSETS: Final = ROOT / "manifests" / "assets"
API_KEY: Final = "sk_bench_secret"
_URL_LINE: Final = re.compile(r"studio on (http://127\.0\.0\.1:\d+)")
_LOSS_TOLERATED: Final = 0.01
MODEL: Final = "lipsync-image"  # write_manifest's jobs are avatars


@dataclass(frozen=True, slots=True)
class Scenario:
    jobs: int
    concurrency: int
    # The studio's --render-delay: how long each job stays "processing", a figure or a
    # distribution ("0.5-2", "lognormal:30"), drawn per job (lipsync_pipeline._render_delay).
    delay: str
    poll: float  # both contenders' poll interval
    workers: int = 4
    repeats: int = 1  # alternating (ours, baseline) pairs; the table shows medians

    def render_times(self) -> list[float]:
        """Each job's render time, as the studio will draw it for write_manifest's jobs."""
        delay = RenderDelay.parse(self.delay)
        return [delay.seconds_for(MODEL, job_form("", i)) for i in range(self.jobs)]

    @property
    def ideal(self) -> float:
        """The makespan if the client added nothing and saw each completion at once:
        the jobs in manifest order on ``concurrency`` slots, each for its render time."""
        return list_schedule(self.render_times(), self.concurrency)

    @property
    def label(self) -> str:
        return f"N={self.jobs:,} C={self.concurrency} D={self.delay}s P={self.poll:g}s"


def list_schedule(durations: Sequence[float], slots: int) -> float:
    """When the last of ``durations`` ends, each started in order on the first free slot."""
    free = [0.0] * min(slots, len(durations))
    for took in durations:
        heapq.heapreplace(free, free[0] + took)
    return max(free, default=0.0)


@dataclass(frozen=True, slots=True)
class Child:
    """What one finished child process cost."""

    exit_code: int
    wall: float
    cpu: float  # user + system seconds
    max_rss_mb: float
    stdout: str


@dataclass(frozen=True, slots=True)
class Measured:
    contender: str
    scenario: Scenario
    makespan: float  # the contender's whole process, start-up included
    makespan_ratio: float  # makespan / ideal
    in_run: float  # the contender's own account, start-up left out (see _in_run)
    requests_per_job: float
    requests: dict[str, dict[str, int]]  # the studio's delta, by method and status
    cpu_ms_per_job: float
    max_rss_mb: float
    jobs_created: int
    studio_cpu_share: float  # studio CPU seconds / makespan: near 1.0 means it was the limit
    completed: int
    lost: int  # jobs the contender did not complete (each is an error it printed)
    first_errors: list[str]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "scenario": {**asdict(self.scenario), "ideal": self.scenario.ideal}}


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    stdout: IO[bytes],
    stderr: IO[bytes],
    timeout: float,
    cwd: Path = ROOT,
) -> Child:
    """Run a process to the end; its own rusage comes from wait4, not from our children total."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, cwd=cwd)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            proc.kill()  # our own child, by pid
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stdout.flush()
    stdout.seek(0)
    return Child(
        proc.returncode,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,  # KiB on Linux
        stdout.read().decode("utf-8", "replace"),
    )


_SPIN: Final = (
    "import os\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True: pass\n"
)


@contextlib.contextmanager
def keep_cores_awake() -> Iterator[None]:
    """One SCHED_IDLE busy loop per CPU for the duration (see the module docstring)."""
    if not hasattr(os, "SCHED_IDLE"):  # not Linux: measure as the machine comes
        yield
        return
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for proc in spinners:
            proc.kill()  # our own children, by pid
            proc.wait()


@dataclass(slots=True)
class Studio:
    root: str
    proc: subprocess.Popen[bytes]
    cpu: float = 0.0  # filled in when it stops

    def stats(self) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {API_KEY}"}  # the stats need a key the studio accepts
        data: dict[str, Any] = httpx.get(
            f"{self.root}/_studio/stats", headers=auth, timeout=30
        ).json()
        return data


@contextlib.contextmanager
def studio(scenario: Scenario, log: IO[bytes]) -> Iterator[Studio]:
    """A fast-mode studio in its own process, on a free loopback port."""
    argv = [
        sys.executable,
        "-m",
        "lipsync_pipeline",
        "serve",
        "-q",
        "--fast",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--render-delay",
        str(scenario.delay),
        "--workers",
        str(scenario.workers),
        "--assets",
        str(ASSETS),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().decode()
        found = _URL_LINE.search(line)
        if not found:
            raise RuntimeError(f"the studio did not print its URL: {line!r}")
        running = Studio(found.group(1), proc)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = 0
            if "running" in locals():
                running.cpu = usage.ru_utime + usage.ru_stime
        finally:
            proc.stdout.close()


def job_form(root: str, i: int) -> dict[str, Any]:
    """The form state of write_manifest's i-th job, as both contenders send it."""
    return {
        "image": f"{root}/assets/face.png",
        "audio": f"{root}/assets/voice-a.wav",
        "resolution": "480p",
        "seed": i,
    }


def write_manifest(path: Path, root: str, jobs: int) -> None:
    """Avatar jobs on the studio's own /assets/ URLs; a distinct seed makes each unique."""
    lines = ["version: 1", "output_dir: renders", "jobs:"]
    for i in range(jobs):
        lines += [f"  - id: job-{i:05d}", "    kind: avatar"]
        lines += [f"    {name}: {value}" for name, value in job_form(root, i).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for method, counts in after["requests"].items():
        for status, n in counts.items():
            d = n - before["requests"].get(method, {}).get(status, 0)
            if d:
                out.setdefault(method, {})[status] = d
    return out


def _child_env() -> dict[str, str]:
    env = dict(os.environ, LIPSYNC_API_KEY=API_KEY)
    env.pop("LIPSYNC_BASE_URL", None)  # the command line says where to go
    return env


def _ours_argv(manifest: Path, root: str, s: Scenario, *, defaults: bool = False) -> list[str]:
    """Our runner's command line; ``defaults``: its own poll interval, not ``s.poll``."""
    poll = [] if defaults else ["--poll-interval", str(s.poll)]
    return [
        sys.executable,
        "-m",
        "lipsync_pipeline",
        "run",
        str(manifest),
        "--base-url",
        f"{root}/api/v1",
        "--concurrency",
        str(s.concurrency),
        *poll,
        "-q",
        "--format",
        "json",
    ]


def _count(child: Child, outcome: str) -> int:
    """Jobs with ``outcome`` in a child's JSON summary (ours: report counts; baseline: flat)."""
    text = child.stdout.strip()
    if not text:
        return 0
    data = json.loads(text)
    counts = data.get("counts", data)
    return int(counts.get(outcome, 0))


def _in_run(child: Child) -> float:
    """The contender's own account of its run, start-up left out: ours from the first
    job's admission (after loading, checking and planning), the baseline's from after
    its imports (its YAML load included)."""
    text = child.stdout.strip()
    if not text:
        return 0.0
    data = json.loads(text)
    return float(data.get("elapsed_seconds", data.get("seconds", 0.0)))


def measure(
    contender: str,
    s: Scenario,
    work: Path,
    *,
    assets: str | None = None,
    tree: Path = ROOT,
    defaults: bool = False,
) -> tuple[Measured, Path | None]:
    """One contender on one scenario, on a fresh studio. Returns our manifest path for reuse.

    ``assets``: the root URL whose /assets/ the jobs' inputs are on (default: the studio
    under test's own, whose stats then count its own input downloads too). ``tree``: the
    checkout whose runner is "ours" (run from there, so ``-m`` finds its package first;
    the studio is always this one). ``defaults``: ours at its own poll interval."""
    timeout = s.ideal * 6 + 120
    folder = work / f"{contender}-{s.jobs}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "bench.yaml"
    with (
        (folder / "studio.log").open("w+b") as studio_log,
        (folder / "stdout").open("w+b") as out,
        (folder / "stderr").open("w+b") as err,
    ):
        with studio(s, studio_log) as st:
            write_manifest(manifest, assets or st.root, s.jobs)
            env, cwd = _child_env(), ROOT
            if contender == "ours":
                argv = _ours_argv(manifest, st.root, s, defaults=defaults)
                env, cwd = {**env, "PYTHONPATH": str(tree)}, tree
            else:
                argv = [
                    sys.executable,
                    str(ROOT / "bench" / "baseline.py"),
                    str(manifest),
                    f"{st.root}/api/v1",
                    str(folder / "renders"),
                    "--concurrency",
                    str(s.concurrency),
                    "--poll-interval",
                    str(s.poll),
                ]
            before = st.stats()
            child = run_child(argv, env=env, stdout=out, stderr=err, timeout=timeout, cwd=cwd)
            after = st.stats()
        completed = _count(child, "completed")
        # A lost job or two is a finding to report (the baseline has no retries), not a
        # reason to throw the run away; more means the bench itself is broken.
        if completed < s.jobs * (1 - _LOSS_TOLERATED):
            err.seek(0)
            raise RuntimeError(
                f"{contender} {s.label}: exit {child.exit_code}, {completed}/{s.jobs} completed:\n"
                + err.read().decode("utf-8", "replace")[-2000:]
            )
        err.seek(0)
        errors = [
            line
            for line in err.read().decode("utf-8", "replace").splitlines()
            if "error" in line.lower()
        ][:5]
    delta = _delta(before, after)
    total = sum(n for counts in delta.values() for n in counts.values())
    measured = Measured(
        contender=contender,
        scenario=s,
        makespan=child.wall,
        makespan_ratio=child.wall / s.ideal,
        in_run=_in_run(child),
        requests_per_job=total / s.jobs,
        requests=delta,
        cpu_ms_per_job=child.cpu * 1000 / s.jobs,
        max_rss_mb=child.max_rss_mb,
        jobs_created=after["jobs_created"] - before["jobs_created"],
        studio_cpu_share=st.cpu / child.wall,
        completed=completed,
        lost=s.jobs - completed,
        first_errors=errors,
    )
    return measured, manifest if contender == "ours" else None


def noop_rerun(manifest: Path, s: Scenario, work: Path) -> dict[str, Any]:
    """Rerun ``manifest`` whose lock says all is completed: no API call may reach the studio."""
    folder = manifest.parent
    # A fresh studio on a new port: the manifest's URLs name the old one, which does
    # not matter, since a run that plans no work must not open a client at all.
    with (
        (folder / "studio-noop.log").open("w+b") as studio_log,
        (folder / "stdout-noop").open("w+b") as out,
        (folder / "stderr-noop").open("w+b") as err,
        studio(s, studio_log) as st,
    ):
        before = st.stats()
        child = run_child(
            _ours_argv(manifest, st.root, s), env=_child_env(), stdout=out, stderr=err, timeout=300
        )
        after = st.stats()
    calls = after["requests_total"] - before["requests_total"]
    skipped = _count(child, "skipped")
    assert calls == 0, f"the no-op rerun made {calls} API calls"
    assert child.exit_code == 0 and skipped == s.jobs, (child.exit_code, skipped)
    return {
        "jobs": s.jobs,
        "wall_s": child.wall,
        "api_calls": calls,
        "cpu_s": child.cpu,
        "max_rss_mb": child.max_rss_mb,
        "skipped": skipped,
    }
