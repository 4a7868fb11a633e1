"""How the commands scale with the manifest: start-up, and 5,000 to 50,000 jobs.

Run: ``python bench/bench_scale.py [--sizes 5000,10000,20000,50000] [--runs N]``.
Not a test (timings belong in a benchmark, never in the pass/fail suite).

Every figure is a whole process (``python -m lipsync_pipeline ...``), as a user or a
pre-commit hook meets it, with its CPU time, wall time and peak RSS from ``wait4``.
Each is printed with a ratio against a yardstick measured in the same run, so the
table means something on a noisy machine:

* start-up (``--version``, ``--help``, ``validate`` of the 5-job demo) against
  ``python -c pass``;
* per size, against ``yaml.load(CSafeLoader)`` of the same file (the parser's floor):
  ``validate``, ``plan --format json`` and the text ``plan`` (piped to a file, and
  on a pseudo-terminal; both against the JSON plan) of a manifest with no lock yet;
  then with a lock holding every job completed and each render on disk: ``plan
  --format json`` and a no-op ``run --local`` (nothing due: no studio, no API
  call), first as they meet renders nobody hashed yet, then as a rerun does.

Bytecode is compiled first (``compileall``, as pip does on install; this machine
sets ``PYTHONDONTWRITEBYTECODE``). Peak RSS includes the ~20 MB of the bench
process itself: a child's peak counts its parent's memory until it execs.

The generated manifest mixes the three kinds, https inputs and local assets shared
by many jobs, as a real one would. The lock is written with the library's own
``render_lock``, every render a small file of ``--render-bytes`` (default 64 KiB)
whose digest the lock records.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEMO: Final = Path(__file__).resolve().parent.parent / "manifests" / "demo.yaml"
SIZES: Final = (5_000, 10_000, 20_000, 50_000)
CDN: Final = "https://cdn.example.com"
RUN: Final = (sys.executable, "-m", "lipsync_pipeline")
RACY_SECONDS: Final = 3  # lipsync_pipeline._digests.RACY_SECONDS (absent before it existed)
MANIFEST_CACHE_ENV: Final = "LIPSYNC_MANIFEST_CACHE"  # lipsync_pipeline.settings
# The generated inputs are on cdn.example.com: asking their origins (the input check)
# would time the network, or wait on a DNS that is not there.
OFFLINE: Final = ("--no-input-check",)


@contextlib.contextmanager
def yaml_read_every_time() -> Iterator[None]:
    """The manifest cache off inside (also for the commands started there): figures of
    reading the YAML, as a CI runner that keeps no cache meets them."""
    old = os.environ.get(MANIFEST_CACHE_ENV)
    os.environ[MANIFEST_CACHE_ENV] = "off"
    try:
        yield
    finally:
        if old is None:
            del os.environ[MANIFEST_CACHE_ENV]
        else:
            os.environ[MANIFEST_CACHE_ENV] = old


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    cpu: float
    rss_mb: float


def _drain(fd: int) -> None:
    """Read a pseudo-terminal's output until the child closes it (else it blocks)."""
    while True:
        try:
            if not os.read(fd, 1 << 16):
                return
        except OSError:  # EIO: the child side closed
            return


def measure(argv: Sequence[str], *, tty: bool = False, cwd: Path | None = None) -> Sample:
    """One whole process: wall clock, user+system CPU and peak RSS (from wait4)."""
    reader: threading.Thread | None = None
    if tty:
        master, slave = pty.openpty()
        out: int = slave
        reader = threading.Thread(target=_drain, args=(master,), daemon=True)
    else:
        sink = open(os.devnull, "wb")  # noqa: SIM115 - closed below
        out = sink.fileno()
    env = dict(os.environ, COLUMNS="120", LINES="40")
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, cwd=cwd, env=env)
    if reader is not None:
        os.close(slave)
        reader.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if reader is not None:
        reader.join()
        os.close(master)
    else:
        sink.close()
    if proc.returncode not in (0,):
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}\n{err.decode()[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def best(runs: int, argv: Sequence[str], **kw: object) -> Sample:
    """Medians of a few runs (wall and CPU separately), peak RSS the largest seen."""
    samples = [measure(argv, **kw) for _ in range(runs)]  # type: ignore[arg-type]
    return Sample(
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        max(s.rss_mb for s in samples),
    )


def manifest_text(jobs: int) -> str:
    lines = ["version: 1", "concurrency: 16", "defaults:", "  resolution: 720p", "jobs:"]
    for i in range(jobs):
        lines.append(f"  - id: job-{i:05d}")
        if i % 3 == 0:
            lines += [
                "    kind: avatar",
                f"    image: {CDN}/faces/{i}.png",
                "    audio: assets/voice.wav",
                f"    seed: {i}",
            ]
        elif i % 3 == 1:
            lines += [
                "    kind: dialog",
                "    image: assets/face.png",
                f"    left_audio: {CDN}/l/{i}.mp3",
                f"    right_audio: {CDN}/r/{i}.mp3",
                "    order: meanwhile",
            ]
        else:
            lines += [
                "    kind: video",
                f"    video: {CDN}/v/{i}.mp4",
                f"    audio: {CDN}/a/{i}.mp3",
                '    prompt: "calm, 12:30 light"',
            ]
    return "\n".join(lines) + "\n"


def write_case(root: Path, jobs: int, render_bytes: int) -> tuple[Path, Path]:
    """A manifest of ``jobs`` jobs under ``root`` and a lock saying all are completed,
    each render on disk. Returns (manifest, lock)."""
    from lipsync_pipeline.lockfile import Artifact, LockEntry, artifact_relpath, render_lock
    from lipsync_pipeline.manifest import load_manifest

    (root / "assets").mkdir(parents=True)
    (root / "assets" / "voice.wav").write_bytes(b"RIFF" + bytes(64_000))
    (root / "assets" / "face.png").write_bytes(b"\x89PNG" + bytes(64_000))
    path = root / "big.yaml"
    path.write_text(manifest_text(jobs), encoding="utf-8")
    manifest = load_manifest(path)
    lock_path = root / "big.lock"
    manifest.output_dir.mkdir()
    filler = os.urandom(render_bytes)
    entries = []
    for job in manifest.jobs:
        out = manifest.output_path(job.id)
        data = job.id.encode() + filler[len(job.id) :]
        out.write_bytes(data)
        artifact = Artifact(
            artifact_relpath(out, lock_path), hashlib.sha256(data).hexdigest(), len(data)
        )
        entries.append(
            LockEntry(
                job.id,
                job.fingerprint,
                job.model,
                "completed",
                idempotency_key=hashlib.md5(job.id.encode()).hexdigest(),
                seed=job.form_state.get("seed"),
                request_id=f"req-{job.id}",
                output_url=f"{CDN}/out/{job.id}.mp4",
                execution_time_ms=1234,
                artifact=artifact,
            )
        )
    lock_path.write_bytes(render_lock(entries))
    return path, lock_path


def generate(root: Path, jobs: int, render_bytes: int) -> Path:
    """``write_case`` in a child process: the bench itself stays small, since a child's
    peak RSS counts its parent's memory until it execs (vfork shares it)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from bench_scale import write_case; "
        "write_case(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))"
    )
    here = str(Path(__file__).resolve().parent)
    subprocess.run(
        [sys.executable, "-c", code, here, str(root), str(jobs), str(render_bytes)], check=True
    )
    return root / "big.yaml"


def _row(label: str, s: Sample, ratio: float | None = None, against: str = "") -> str:
    text = f"{label:<44} {s.wall:8.3f} s {s.cpu:8.3f} s cpu {s.rss_mb:8.1f} MB"
    if ratio is not None:
        text += f"   {ratio:6.2f}x {against}"
    return text


def startup(runs: int) -> None:
    yard = best(runs * 2, (sys.executable, "-c", "pass"))
    print(_row("python -c pass (yardstick)", yard))
    for label, argv in (
        ("--version", (*RUN, "--version")),
        ("--help", (*RUN, "--help")),
        ("schema", (*RUN, "schema")),
        ("validate demo (5 jobs)", (*RUN, "validate", "-q", str(DEMO))),
        ("plan demo (5 jobs)", (*RUN, "plan", "-q", str(DEMO), "--lock", "/nonexistent.lock")),
    ):
        s = best(runs * 2, argv)
        print(_row(label, s, s.cpu / yard.cpu, "python -c pass (CPU)"))


def yaml_load(path: str | Path) -> tuple[str, ...]:
    """The parser's floor: libyaml (CSafeLoader) reading the same file, nothing else."""
    code = "import sys, yaml; yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)"
    return (sys.executable, "-c", code, str(path))


def scale(sizes: Sequence[int], runs: int, render_bytes: int, keep: Path | None) -> None:
    for jobs in sizes:
        with tempfile.TemporaryDirectory(dir=keep) as folder:
            manifest = generate(Path(folder), jobs, render_bytes)
            # The renders must be older than the digests file by its racy margin, as they
            # are when someone reruns later: else the second run hashes them again.
            time.sleep(RACY_SECONDS + 1)
            m, nolock = str(manifest), str(Path(folder) / "absent.lock")
            print(f"--- {jobs:,} jobs ({manifest.stat().st_size / 1e6:.1f} MB manifest)")
            n = runs if jobs <= 10_000 else 1
            floor = best(n, yaml_load(m))
            print(_row("yaml.load(CSafeLoader) (yardstick)", floor))
            validate = best(n, (*RUN, "validate", "-q", m, "--lock", nolock))
            print(_row("validate", validate, validate.wall / floor.wall, "yaml.load"))
            js = best(n, (*RUN, "plan", "-q", m, "--lock", nolock, "--format", "json", *OFFLINE))
            print(_row("plan --format json (no lock)", js, js.wall / floor.wall, "yaml.load"))
            piped = best(n, (*RUN, "plan", "-q", m, "--lock", nolock, *OFFLINE))
            print(_row("plan, text piped (no lock)", piped, piped.wall / js.wall, "JSON plan"))
            tty = best(n, (*RUN, "plan", "-q", m, "--lock", nolock, *OFFLINE), tty=True)
            print(_row("plan, text on a terminal (no lock)", tty, tty.wall / js.wall, "JSON plan"))
            first = measure((*RUN, "plan", "-q", m, "--format", "json", *OFFLINE))
            print(_row("plan --format json, all done, renders hashed", first))
            noop = (*RUN, "run", "--local", "-q", m, "--format", "json", *OFFLINE)
            hashed = measure(noop)
            print(_row("run --local, nothing due, renders hashed", hashed))
            again = best(n, noop)
            print(
                _row("run --local, nothing due, rerun", again, again.wall / floor.wall, "yaml.load")
            )
            locked = best(n, (*RUN, "plan", "-q", m, "--format", "json", *OFFLINE))
            print(
                _row(
                    "plan --format json, all done, rerun",
                    locked,
                    locked.wall / floor.wall,
                    "yaml.load",
                )
            )


def compile_bytecode() -> None:
    """As pip does on install: this machine sets PYTHONDONTWRITEBYTECODE, and a command
    that compiles every module it imports from source starts 2-3x slower."""
    import lipsync_pipeline

    folder = Path(lipsync_pipeline.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder)], check=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="job counts")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure up to 10k jobs")
    parser.add_argument("--render-bytes", type=int, default=64 * 1024)
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--tmp", type=Path, help="where to generate (default: $TMPDIR)")
    parser.add_argument("--no-compile", action="store_true", help="leave bytecode alone")
    args = parser.parse_args(argv)
    if not args.no_compile:
        compile_bytecode()
    # Every figure here is of reading the YAML (targets.py measures the cache too).
    with yaml_read_every_time():
        if not args.no_startup:
            startup(args.runs)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        scale(sizes, args.runs, args.render_bytes, args.tmp)


if __name__ == "__main__":
    main()
