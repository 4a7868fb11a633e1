"""Manifest reading against its yardstick: ``load_manifest`` vs a bare ``yaml.load``.

Run: ``python bench/bench_yaml.py [JOBS ...]`` (default 5,000 10,000 20,000 50,000).
Not a test: timings belong in a benchmark, not in a pass/fail suite.

For each size it writes ``bench_validate``'s generated manifest (all three kinds,
https inputs and shared local assets), then, in this one run:

- CPU time (``time.process_time``, best of a few, the two contenders alternating so
  that a busy neighbour slows both alike) of ``load_manifest(path)`` (YAML, schema,
  semantic checks, fingerprints: what ``validate`` does per manifest) and of the
  yardstick, ``yaml.load(f, Loader=yaml.CSafeLoader)`` of the same file, as a user
  would write it (the garbage collector on), and the ratio of the two. The same
  ``yaml.load`` with the collector paused (as ``load_manifest`` pauses it) is shown
  too: the stricter yardstick, libyaml's own speed.
- Memory of each, in a fresh child process, by ``tracemalloc``: the peak during the
  call, and what is still held once it returned (the result kept alive, garbage
  collected).

To measure another checkout (e.g. before a change), put its root first on the path:
``PYTHONPATH=/path/to/old/checkout python bench/bench_yaml.py``; the first line says
which ``lipsync_pipeline`` was measured.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_validate import manifest_text

import lipsync_pipeline
from lipsync_pipeline.manifest import load_manifest

SIZES: Final = (5_000, 10_000, 20_000, 50_000)


def _runs(jobs: int) -> int:
    return 5 if jobs <= 10_000 else 3


def _bare_load(path: Path) -> Any:
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


def _paused_load(path: Path) -> Any:
    gc.disable()
    try:
        return _bare_load(path)
    finally:
        gc.enable()


CONTENDERS: Final[dict[str, Callable[[Path], Any]]] = {
    "load_manifest": load_manifest,
    "yaml.load": _bare_load,
    "yaml.load, gc paused": _paused_load,
}


def _child(name: str, path: Path) -> None:
    """In a fresh process: peak and retained memory of one call (printed as JSON).

    tracemalloc counts what Python allocates (resident-set figures hide frees behind
    the allocator's arenas, so "held" would equal "peak")."""
    gc.collect()
    tracemalloc.start()
    result = CONTENDERS[name](path)
    peak = tracemalloc.get_traced_memory()[1]
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(json.dumps({"peak_mb": peak / 1e6, "held_mb": held / 1e6, "kept": bool(result)}))


def _memory(name: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def _cpu(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def _measure(jobs: int, folder: Path) -> dict[str, Any]:
    path = folder / f"jobs-{jobs}.yaml"
    path.write_text(manifest_text(jobs), encoding="utf-8")
    assert len(load_manifest(path).jobs) == jobs  # also warms caches (schema, imports)
    best = dict.fromkeys(CONTENDERS, float("inf"))
    for _ in range(_runs(jobs)):
        for name, contender in CONTENDERS.items():
            best[name] = min(best[name], _cpu(lambda c=contender: c(path)))  # type: ignore[misc]
    memory = {name: _memory(name, path) for name in ("load_manifest", "yaml.load")}
    return {
        "jobs": jobs,
        "mb": path.stat().st_size / 1e6,
        "cpu": best,
        "memory": memory,
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        _child(argv[1], Path(argv[2]))
        return
    sizes = [int(a) for a in argv] or list(SIZES)
    print(f"lipsync_pipeline from {Path(lipsync_pipeline.__file__).parent}")
    print(f"yaml {yaml.__version__}, libyaml: {yaml.__with_libyaml__}")
    header = (
        f"{'jobs':>7} {'MB':>5} | {'load_manifest':>13} {'yaml.load':>9} {'ratio':>6} | "
        f"{'gc paused':>9} {'ratio':>6} | {'peak MB':>8} {'yaml MB':>8} {'held MB':>8}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench-yaml-") as tmp:
        folder = Path(tmp)
        (folder / "assets").mkdir()
        (folder / "assets" / "voice.wav").write_bytes(b"RIFF" + bytes(64_000))
        (folder / "assets" / "face.png").write_bytes(b"\x89PNG" + bytes(64_000))
        for jobs in sizes:
            row = _measure(jobs, folder)
            cpu, memory = row["cpu"], row["memory"]
            ours, bare, paused = (
                cpu["load_manifest"],
                cpu["yaml.load"],
                cpu["yaml.load, gc paused"],
            )
            print(
                f"{jobs:>7,} {row['mb']:>5.1f} | {ours:>12.3f}s {bare:>8.3f}s "
                f"{ours / bare:>5.2f}x | {paused:>8.3f}s {ours / paused:>5.2f}x | "
                f"{memory['load_manifest']['peak_mb']:>8.0f} "
                f"{memory['yaml.load']['peak_mb']:>8.0f} "
                f"{memory['load_manifest']['held_mb']:>8.0f}",
                flush=True,
            )
    print(
        "CPU seconds, best of 5 (3 from 20,000 jobs), contenders alternating; ratio = "
        "load_manifest / yardstick.\npeak MB: tracemalloc's peak during the call (fresh "
        "process each; yaml MB: the same for yaml.load); held MB: what the returned "
        "Manifest keeps."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
