"""Issue 16's table: each speed target, then and now, measured in one run.

    python -m bench.targets                      # this checkout only
    python -m bench.targets --before 37df8de     # also a commit before the work, side by side
    python -m bench.targets --quick              # 1,000 / 5,000 jobs: a smoke test of the bench

Every figure is a whole process (``python -m lipsync_pipeline ...``, measured by
``bench_scale.measure``: wall, user+system CPU and peak RSS from ``wait4``), beside a
yardstick measured in the same run, so a ratio means something on a noisy machine:
``python -c pass`` for start-up, a bare ``yaml.load(CSafeLoader)`` of the same file
(in its own process) for the manifest sizes, the JSON plan for the text plan.
``--before`` checks the commit out into a temporary worktree and runs the same
commands with that checkout first on ``PYTHONPATH``; both contenders meet the same
generated files, alternating command by command so a busy neighbour slows both alike.

"now" runs twice: as a rerun meets it ("now": the manifest and the lock read twice
before, so read from the manifest and lock caches,
``lipsync_pipeline/manifest/_cache.py`` and ``lipsync_pipeline/lockfile/_cache.py``)
and as a CI runner that keeps no cache meets it ("now, first read":
``LIPSYNC_MANIFEST_CACHE=off``, the YAML read and the lock parsed every time). The
caches live in the run's temporary folder.

The poll row (makespan against a fixed 5 s poller) is ``bench/bench_polling.py``'s
short-render case, each checkout's runner at its own defaults against the same
baseline; it takes minutes, so it is run only with ``--poll``.

Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

BENCH: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from bench_scale import (  # noqa: E402
    MANIFEST_CACHE_ENV,
    RACY_SECONDS,
    Sample,
    best,
    generate,
    measure,
    yaml_load,
)

DEMO: Final = ROOT / "manifests" / "demo.yaml"
# Commit 37df8de is where issue 16's work started (its "today" column).
DEFAULT_BEFORE: Final = "37df8de"
CURVE: Final = (5_000, 10_000, 20_000, 50_000)
NOOP_JOBS: Final = 10_000
VALIDATE_JOBS: Final = 10_000
BIG: Final = 50_000
RENDER_BYTES: Final = 4 * 1024  # the renders' content does not matter, their count does
FIRST_READ: Final = "now, first read"


@dataclass(frozen=True, slots=True)
class Checkout:
    """A tree of lipsync_pipeline to measure: its commands run with it on PYTHONPATH."""

    label: str
    root: Path
    input_check_flag: bool  # whether its plan/run know --no-input-check
    # Set for its commands: "now, first read" turns the manifest and lock caches off, as
    # on a CI runner that keeps no cache; "now" reads an unchanged manifest (and a big
    # unchanged lock) from them.
    env: tuple[tuple[str, str], ...] = ()

    def argv(self, command: str, *args: str) -> tuple[str, ...]:
        extra = (
            ("--no-input-check",) if self.input_check_flag and command in ("plan", "run") else ()
        )
        return (sys.executable, "-m", "lipsync_pipeline", command, *args, *extra)


@contextlib.contextmanager
def on_path(checkout: Checkout) -> Iterator[None]:
    """``bench_scale.measure`` passes ``os.environ`` on: put the checkout first in it,
    with its own settings."""
    names = ("PYTHONPATH", *(name for name, _ in checkout.env))
    old = {name: os.environ.get(name) for name in names}
    os.environ.update({"PYTHONPATH": str(checkout.root), **dict(checkout.env)})
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _prepare(label: str, root: Path) -> Checkout:
    # As pip does on install (this machine sets PYTHONDONTWRITEBYTECODE): a command
    # compiling every module it imports from source starts 2-3x slower.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "lipsync_pipeline")], check=True
    )
    helped = subprocess.run(
        [sys.executable, "-m", "lipsync_pipeline", "plan", "--help"],
        env=dict(os.environ, PYTHONPATH=str(root)),
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Checkout(label, root, "--no-input-check" in helped)


@contextlib.contextmanager
def checkouts(before: str | None) -> Iterator[list[Checkout]]:
    now = _prepare("now", ROOT)
    # The same tree reading every manifest's YAML (a CI runner without a kept cache).
    first = dataclasses.replace(now, label=FIRST_READ, env=((MANIFEST_CACHE_ENV, "off"),))
    found = [first, now]
    if before is None:
        yield found
        return
    with tempfile.TemporaryDirectory(prefix="lipsync-before-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), before],
            check=True,
        )
        try:
            yield [_prepare(f"before ({before})", tree), *found]
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )


def each(
    found: list[Checkout], runs: int, *args: str, command: str, tty: bool = False
) -> dict[str, Sample]:
    """``command *args`` in each checkout, one after the other, each ``runs`` times
    (medians; see ``bench_scale.best``)."""
    out: dict[str, Sample] = {}
    for checkout in found:
        with on_path(checkout):
            # From the checkout's root: ``-m`` puts the working directory first on the path.
            argv = checkout.argv(command, *args)
            out[checkout.label] = best(runs, argv, tty=tty, cwd=checkout.root)
    return out


Curve = dict[int, dict[str, dict[str, Sample]]]  # jobs -> figure -> checkout label -> sample


def measure_all(
    found: list[Checkout], quick: bool, work: Path
) -> tuple[dict[str, dict[str, str]], Curve]:
    """Every row for every checkout, {row: {checkout label: text}}, and the curve."""
    runs = 3 if not quick else 1
    rows: dict[str, dict[str, str]] = {}
    python = best(runs * 3, (sys.executable, "-c", "pass"))
    version = each(found, runs * 3, command="--version")
    rows["`--version` CPU, whole process"] = {
        k: f"{s.cpu / python.cpu:.1f}x `python -c pass`" for k, s in version.items()
    }
    demo = each(found, runs * 3, "-q", str(DEMO), command="validate")
    rows["`validate` 5-job demo, whole process"] = {
        k: f"{s.wall:.2f} s ({s.wall / python.wall:.1f}x `python -c pass`)" for k, s in demo.items()
    }
    sizes = (1_000, 5_000) if quick else CURVE
    curve: Curve = {}
    for jobs in sizes:
        print(f"{jobs:,} jobs ...", file=sys.stderr, flush=True)
        curve[jobs] = _size(found, jobs, runs if jobs <= 10_000 else 1, work)
    small, big = (sizes[0], sizes[-1]) if quick else (VALIDATE_JOBS, BIG)
    c = curve[small]
    rows[f"`validate` {small:,} jobs"] = {
        k: f"{c['validate'][k].wall / c['yaml'][k].wall:.2f}x `yaml.load(CSafeLoader)`"
        for k in c["validate"]
    }
    before = next((f.label for f in found if f.label.startswith("before")), None)

    def then(figure: dict[str, Sample], label: str) -> str:
        """The figure against the commit before the work, same files, same run: the
        issue's absolute targets were set against that commit's figures (its "today")."""
        if before is None or label == before:
            return ""
        return f", {figure[label].wall / figure[before].wall:.2f}x before"

    rows[f"no-op `run`, {small:,} completed jobs"] = {
        k: f"{s.wall:.2f} s ({s.wall / c['yaml'][k].wall:.2f}x `yaml.load`{then(c['noop'], k)})"
        for k, s in c["noop"].items()
    }
    b = curve[big]
    rows[f"text `plan`, {big:,} jobs (terminal / pipe)"] = {
        k: f"{b['tty'][k].wall / b['json'][k].wall:.2f}x / "
        f"{b['piped'][k].wall / b['json'][k].wall:.2f}x the JSON plan"
        for k in b["json"]
    }
    rows[f"`plan`, {big:,} jobs + {big:,}-entry lock"] = {
        k: f"{s.wall:.2f} s, {s.rss_mb:.0f} MB "
        f"({s.wall / b['yaml'][k].wall:.2f}x `yaml.load`{then(b['locked'], k)})"
        for k, s in b["locked"].items()
    }
    return rows, curve


def _size(found: list[Checkout], jobs: int, runs: int, work: Path) -> dict[str, dict[str, Sample]]:
    """The figures of one manifest size, each contender on the same files."""
    folder = Path(tempfile.mkdtemp(dir=work))
    manifest = generate(folder, jobs, RENDER_BYTES)
    m, nolock = str(manifest), str(folder / "absent.lock")
    # Renders older than the digests file by its racy margin, as on a later rerun.
    time.sleep(RACY_SECONDS + 1)
    out: dict[str, dict[str, Sample]] = {"yaml": {}}
    for checkout in found:
        out["yaml"][checkout.label] = best(runs, yaml_load(manifest))
        # A manifest validated twice before: in the cache (if any; the manifest cache
        # keeps an entry at the second reading of the same bytes).
        with on_path(checkout):
            for _ in range(2):
                measure(checkout.argv("validate", "-q", m, "--lock", nolock), cwd=checkout.root)
    out["validate"] = each(found, runs, "-q", m, "--lock", nolock, command="validate")
    out["json"] = each(found, runs, "-q", m, "--lock", nolock, "--format", "json", command="plan")
    out["piped"] = each(found, runs, "-q", m, "--lock", nolock, command="plan")
    out["tty"] = each(found, runs, "-q", m, "--lock", nolock, tty=True, command="plan")
    for checkout in found:  # the first run after the renders appeared hashes them: not timed
        with on_path(checkout):
            argv = checkout.argv("run", "--local", "-q", m, "--format", "json")
            # Twice, as a rerun meets the lock: read twice before (the lock cache keeps
            # a lock's entry at the second read of the same bytes).
            measure(argv, cwd=checkout.root)
            measure(argv, cwd=checkout.root)
    out["noop"] = each(found, runs, "--local", "-q", m, "--format", "json", command="run")
    out["locked"] = each(found, runs, "-q", m, "--format", "json", command="plan")
    return out


TARGETS: Final = {
    "`--version` CPU, whole process": "≤ 3x `python -c pass`",
    "`validate` 5-job demo, whole process": "≤ 0.15 s",
    "`validate` 10,000 jobs": "≤ 1.2x `yaml.load`",
    "no-op `run`, 10,000 completed jobs": "≤ 1.0 s (0.27x the 3.7 s then)",
    "text `plan`, 50,000 jobs (terminal / pipe)": "≤ 1.5x the JSON plan",
    "`plan`, 50,000 jobs + 50,000-entry lock": "≤ 3 s (0.27x the 11.2 s then), ≤ 250 MB",
    "makespan vs a fixed 5 s poller, 0.5-2 s renders": "≤ 1.0x, fewer status calls",
}


def table(rows: dict[str, dict[str, str]], labels: Sequence[str]) -> str:
    head = ["measure", *labels, "target"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(labels) + 1)]
    for name, values in rows.items():
        cells = [values.get(label, "") for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {TARGETS.get(name, '')} |")
    return "\n".join(lines)


def curve_table(curve: Curve, labels: Sequence[str]) -> str:
    """Wall seconds per size: a linear command's column grows like the job count."""
    what = (
        ("validate", "validate"),
        ("plan, no lock (JSON)", "json"),
        ("plan + lock (JSON)", "locked"),
        ("no-op run", "noop"),
        ("yaml.load", "yaml"),
    )
    head = ["jobs", *(f"{name} ({label})" for name, _ in what for label in labels)]
    lines = ["| " + " | ".join(head) + " |", "|---:|" + "---:|" * (len(head) - 1)]
    for jobs, figures in curve.items():
        cells = [f"{figures[key][label].wall:.2f}" for _, key in what for label in labels]
        lines.append(f"| {jobs:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def poll_row(found: list[Checkout], quick: bool, work: Path) -> dict[str, str]:
    """The short-render case of ``bench_polling`` for each checkout's runner at its
    defaults, against the fixed 5 s baseline of the same run: {checkout label: text}."""
    from bench import bench_polling
    from bench.overhead import keep_cores_awake

    out = {}
    with keep_cores_awake():
        for checkout in found:
            if checkout.label == FIRST_READ:
                continue  # the same runner as "now": the manifest cache is not in this case
            print(f"polling, {checkout.label} ...", file=sys.stderr, flush=True)
            folder = work / f"poll-{len(out)}"
            folder.mkdir()
            case = bench_polling.run(folder, quick=quick, tree=checkout.root, only="short")
            ratio = case["short"]["ratio"]
            out[checkout.label] = (
                f"{ratio['makespan_s']:.2f}x ({ratio['in_run_s']:.2f}x start-up left out), "
                f"{ratio['status_calls_per_job']:.2f}x the status calls"
            )
    return out


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before",
        metavar="COMMIT",
        help=f"also measure this commit (e.g. {DEFAULT_BEFORE}, issue 16's start)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 jobs only")
    parser.add_argument("--poll", action="store_true", help="also run bench_poll (minutes)")
    parser.add_argument("--tmp", type=Path, help="where to generate (default: $TMPDIR)")
    args = parser.parse_args(argv)
    with (
        checkouts(args.before) as found,
        tempfile.TemporaryDirectory(dir=args.tmp, prefix="lipsync-targets-") as work,
    ):
        # A cache of this run's own, outside the generated folders: not the user's.
        os.environ["LIPSYNC_CACHE_DIR"] = str(Path(work) / "cache")
        rows, curve = measure_all(found, args.quick, Path(work))
        if args.poll:
            poll = poll_row(found, args.quick, Path(work))
            rows["makespan vs a fixed 5 s poller, 0.5-2 s renders"] = poll
    labels = [c.label for c in found]
    text = table(rows, labels) + "\n\nWall seconds by size:\n\n" + curve_table(curve, labels)
    print(text)
    return text


if __name__ == "__main__":
    main()
