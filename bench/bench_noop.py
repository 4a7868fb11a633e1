"""The up-to-date rerun and the plan of a big locked manifest (issue 16's targets).

Run: ``python bench/bench_noop.py [--sizes 5000,10000,20000,50000] [--runs N]``, or
from ``run_all`` through :func:`figures` (a dict). Not a test: nothing here asserts
a timing.

Per size, a manifest (``bench_scale``'s generator: three kinds, URL and shared local
inputs), a lock saying every job completed, and each render on disk; one ``run
--local`` first hashes the renders and remembers their digests, as a first rerun
does. Then, whole processes, as a user meets them:

* ``run --local --format json``: nothing due (no studio, no API call);
* ``plan --format json --no-input-check``: every job checked against the lock;

each as a rerun meets it (the manifest validated and the lock parsed before: read from
the manifest and lock caches, which live in the run's temporary folder) and,
``*_first_read``, as a CI runner that keeps no cache meets it
(``LIPSYNC_MANIFEST_CACHE=off``: the YAML read and the lock parsed every time).

Each against yardsticks measured in the same run: ``python -c pass``, the bare
parse of the same manifest (``yaml.load(CSafeLoader)``) and of the same lock
(``json.load``). Wall time, CPU time and peak RSS come from ``wait4`` (see
``bench_scale.measure``); the scaling curve is CPU microseconds per job.

The commands run as ``python -m lipsync_pipeline``, which puts the working directory
first on ``sys.path``: to measure another checkout (``PYTHONPATH=...``), run this from
a directory that holds no ``lipsync_pipeline``, or both figures are this checkout's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run_all imports this as bench.bench_noop
    sys.path.insert(0, str(HERE))

from bench_scale import (  # noqa: E402
    RACY_SECONDS,
    RUN,
    Sample,
    best,
    compile_bytecode,
    generate,
    measure,
    yaml_load,
    yaml_read_every_time,
)

SIZES: Final = (5_000, 10_000, 20_000, 50_000)
NOOP_JOBS: Final = 10_000  # the no-op run's target is stated at this size
# The digests file is written once a check has hashed 32 MiB: every size gets there.
RENDERS_TOTAL: Final = 40 << 20


def _python(code: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code, *args)


def _json_load(path: Path) -> tuple[str, ...]:
    return _python("import sys, json; json.load(open(sys.argv[1], 'rb'))", str(path))


def _figures(s: Sample) -> dict[str, float]:
    return {"wall_s": round(s.wall, 3), "cpu_s": round(s.cpu, 3), "rss_mb": round(s.rss_mb, 1)}


def _against(s: Sample, parse_cpu: float, jobs: int) -> dict[str, float]:
    """A command's figures, its CPU against the parse yardstick's and per job."""
    return {
        **_figures(s),
        "cpu_vs_yaml_plus_json": round(s.cpu / parse_cpu, 2),
        "cpu_us_per_job": round(s.cpu / jobs * 1e6, 1),
    }


def one_size(root: Path, jobs: int, runs: int) -> dict[str, Any]:
    """Every figure of one manifest size (generated under ``root``)."""
    manifest = generate(root, jobs, max(1024, RENDERS_TOTAL // jobs))
    lock = root / "big.lock"
    noop = (*RUN, "run", "--local", "-q", str(manifest), "--format", "json")
    measure(noop)  # hashes every render once and remembers the digests
    # The renders must be older than the digests file by its racy margin, as they are
    # when someone reruns later: else each rerun hashes them again.
    time.sleep(RACY_SECONDS + 1)
    yaml_floor = best(runs, yaml_load(manifest))
    json_floor = best(runs, _json_load(lock))
    plan_argv = (*RUN, "plan", "-q", str(manifest), "--format", "json", "--no-input-check")
    measure(noop)  # after the racy margin: the manifest cache's entry is trusted from now on
    plan = best(runs, plan_argv)
    rerun = best(runs, noop)
    with yaml_read_every_time():  # as on a CI runner that keeps no cache
        plan_cold, rerun_cold = best(runs, plan_argv), best(runs, noop)
    parse = yaml_floor.cpu + json_floor.cpu
    return {
        "jobs": jobs,
        "manifest_mb": round(manifest.stat().st_size / 1e6, 1),
        "lock_mb": round(lock.stat().st_size / 1e6, 1),
        "yaml_load": _figures(yaml_floor),
        "json_load": _figures(json_floor),
        "plan": _against(plan, parse, jobs),
        "noop_run": _against(rerun, parse, jobs),
        "plan_first_read": _against(plan_cold, parse, jobs),
        "noop_first_read": _against(rerun_cold, parse, jobs),
    }


def figures(sizes: Sequence[int] = SIZES, runs: int = 3, tmp: Path | None = None) -> dict[str, Any]:
    """The figures as a dict (for ``run_all``): the yardstick, then each size's."""
    compile_bytecode()
    python = best(runs * 2, _python("pass"))
    by_size = []
    for jobs in sizes:
        with tempfile.TemporaryDirectory(dir=tmp) as folder:
            # The manifest cache of this run's own (beside the case, not in it).
            os.environ["LIPSYNC_CACHE_DIR"] = str(Path(folder) / "cache")
            print(f"no-op run and plan, {jobs:,} jobs ...", file=sys.stderr, flush=True)
            case = Path(folder) / "case"
            case.mkdir()
            by_size.append(one_size(case, jobs, runs if jobs <= NOOP_JOBS else 1))
    for row in by_size:
        row["noop_run"]["cpu_vs_python"] = round(row["noop_run"]["cpu_s"] / python.cpu, 1)
    return {"python_c_pass": _figures(python), "sizes": by_size}


def _print(result: dict[str, Any]) -> None:
    py = result["python_c_pass"]
    print(f"python -c pass: {py['wall_s']:.3f} s wall, {py['cpu_s']:.3f} s CPU")
    print(f"{'jobs':>7} {'what':<15} {'wall s':>7} {'cpu s':>7} {'MB':>6} {'x parse':>8} us/job")
    for row in result["sizes"]:
        floor = row["yaml_load"]["cpu_s"] + row["json_load"]["cpu_s"]
        print(f"{row['jobs']:>7} {'parse':<15} {'':>7} {floor:7.3f} {'':>6} {'1.00':>8}")
        for what in ("plan", "noop_run", "plan_first_read", "noop_first_read"):
            f = row[what]
            print(
                f"{row['jobs']:>7} {what:<15} {f['wall_s']:7.3f} {f['cpu_s']:7.3f} "
                f"{f['rss_mb']:6.0f} {f['cpu_vs_yaml_plus_json']:8.2f} {f['cpu_us_per_job']:7.1f}"
            )
    print("x parse: CPU against yaml.load(CSafeLoader) of the manifest + json.load of the lock")
    print(
        "*_first_read: LIPSYNC_MANIFEST_CACHE=off, the YAML read and the lock parsed"
        " as a CI runner with no cache"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="job counts")
    parser.add_argument("--runs", type=int, default=3, help=f"runs per figure up to {NOOP_JOBS:,}")
    parser.add_argument("--tmp", type=Path, help="where to generate (default: $TMPDIR)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    _print(figures(sizes, args.runs, args.tmp))


if __name__ == "__main__":
    main()
