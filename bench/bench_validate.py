"""How long validating a 10,000-job manifest takes (the budget: well under 2 s).

Run: ``python bench/bench_validate.py [JOBS]``. Not a test (pytest collects only
``tests/``): timings belong in a benchmark, not in a pass/fail suite.

It writes a generated manifest with all three kinds (https inputs, plus local
assets shared by many jobs, as a real manifest would) to a temporary directory,
then prints the best of a few runs of ``load_manifest`` and of the YAML step alone
with libyaml (``CSafeLoader``) and with the pure-Python loader.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # micro imports this as bench.bench_validate
    sys.path.insert(0, str(HERE))

from bench_scale import CDN, manifest_text, yaml_read_every_time  # noqa: E402

from lipsync_pipeline.manifest import load_manifest  # noqa: E402
from lipsync_pipeline.manifest._yaml import load_yaml  # noqa: E402

__all__ = ["CDN", "manifest_text", "yaml_read_every_time"]  # bench_yaml, micro use them

JOBS: Final = 10_000
RUNS: Final = 3


def best(runs: int, action: Callable[[], object]) -> float:
    """Best wall-clock time of a few runs (other processes only ever add time)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu(action: Callable[[], object]) -> float:
    """CPU time of one run: steadier than wall time on a shared machine."""
    start = time.process_time()
    action()
    return time.process_time() - start


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else JOBS
    with tempfile.TemporaryDirectory() as folder, yaml_read_every_time():
        root = Path(folder)
        (root / "assets").mkdir()
        (root / "assets" / "voice.wav").write_bytes(b"RIFF" + bytes(64_000))
        (root / "assets" / "face.png").write_bytes(b"\x89PNG" + bytes(64_000))
        path = root / "big.yaml"
        text = manifest_text(jobs)
        path.write_text(text, encoding="utf-8")
        manifest = load_manifest(path)
        assert len(manifest.jobs) == jobs
        total = best(RUNS, lambda: load_manifest(path))
        total_cpu = cpu(lambda: load_manifest(path))
        c_yaml = best(RUNS, lambda: load_yaml(text, display_name="big.yaml"))
        py_yaml = best(1, lambda: load_yaml(text, display_name="big.yaml", c_loader=False))
    print(f"manifest: {jobs:,} jobs, {len(text) / 1e6:.2f} MB")
    print(
        f"load_manifest (validate + fingerprints): {total:.3f} s  (best of {RUNS}; "
        f"CPU {total_cpu:.3f} s)"
    )
    print(f"YAML step, libyaml (CSafeLoader):        {c_yaml:.3f} s")
    print(f"YAML step, pure Python (SafeLoader):     {py_yaml:.3f} s")
    print(f"C loader speed-up over pure Python:      {py_yaml / c_yaml:.1f}x")


if __name__ == "__main__":
    main()
