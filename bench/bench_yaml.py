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
from bench_validate import CDN, manifest_text

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


def merged_text(jobs: int) -> str:
    """``manifest_text(jobs)`` with each kind's shared fields merged from an anchor."""
    lines = [
        "version: 1",
        "concurrency: 16",
        "defaults:",
        "  resolution: 720p",
        "x-avatar: &avatar {kind: avatar, audio: assets/voice.wav}",
        "x-dialog: &dialog {kind: dialog, image: assets/face.png, order: meanwhile}",
        'x-video: &video {kind: video, prompt: "calm, 12:30 light"}',
        "jobs:",
    ]
    for i in range(jobs):
        if i % 3 == 0:
            lines += [
                "  - <<: *avatar",
                f"    id: job-{i:05d}",
                f"    image: {CDN}/faces/{i}.png",
                f"    seed: {i}",
            ]
        elif i % 3 == 1:
            lines += [
                "  - <<: *dialog",
                f"    id: job-{i:05d}",
                f"    left_audio: {CDN}/l/{i}.mp3",
                f"    right_audio: {CDN}/r/{i}.mp3",
            ]
        else:
            lines += [
                "  - <<: *video",
                f"    id: job-{i:05d}",
                f"    video: {CDN}/v/{i}.mp4",
                f"    audio: {CDN}/a/{i}.mp3",
            ]
    return "\n".join(lines) + "\n"


def _measure(folder: Path, name: str, text: str) -> tuple[Path, dict[str, Any]]:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    load_manifest(path)  # warms caches (the schema, its compiled check)
    best = dict.fromkeys(CONTENDERS, float("inf"))
    jobs = text.count("\n  - ")
    for _ in range(_runs(jobs)):
        for contender, call in CONTENDERS.items():
            best[contender] = min(best[contender], _cpu(lambda c=call: c(path)))  # type: ignore[misc]
    memory = {contender: _memory(contender, path) for contender in ("load_manifest", "yaml.load")}
    return path, {"mb": path.stat().st_size / 1e6, "cpu": best, "memory": memory}


def _print_row(label: str, row: dict[str, Any]) -> None:
    cpu, memory = row["cpu"], row["memory"]
    ours, bare, paused = cpu["load_manifest"], cpu["yaml.load"], cpu["yaml.load, gc paused"]
    print(
        f"{label:>7} {row['mb']:>5.1f} | {ours:>12.3f}s {bare:>8.3f}s "
        f"{ours / bare:>5.2f}x | {paused:>8.3f}s {ours / paused:>5.2f}x | "
        f"{memory['load_manifest']['peak_mb']:>8.0f} "
        f"{memory['yaml.load']['peak_mb']:>8.0f} "
        f"{memory['load_manifest']['held_mb']:>8.0f}",
        flush=True,
    )


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
        written = folder
        for jobs in sizes:
            written, row = _measure(folder, f"jobs-{jobs}.yaml", manifest_text(jobs))
            _print_row(f"{jobs:,}", row)
        merged, row = _measure(folder, f"merged-{sizes[-1]}.yaml", merged_text(sizes[-1]))
        fingerprints = [[j.fingerprint for j in load_manifest(p).jobs] for p in (written, merged)]
        assert fingerprints[0] == fingerprints[1], "the merged manifest must be the same jobs"
        _print_row("<<:", row)
    print(
        "CPU seconds, best of 5 (3 from 20,000 jobs), contenders alternating; ratio = "
        "load_manifest / yardstick.\n<<: the largest size again, each kind's shared "
        "fields merged from an anchor (<<: *avatar): the same jobs and fingerprints.\n"
        "peak MB: tracemalloc's peak during the call (fresh process each; yaml MB: the "
        "same for yaml.load); held MB: what the returned Manifest keeps."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
