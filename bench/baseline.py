"""The baseline: what a user would write instead of lipsync-pipeline.

    LIPSYNC_API_KEY=sk_... python bench/baseline.py MANIFEST BASE_URL OUT_DIR \
        --concurrency C --poll-interval P

A thread pool of C threads sharing one synchronous ``httpx.Client`` with C
connections: per job, POST, then sleep and GET every ``P`` seconds until the job
ends (as the API page suggests), then download the output. No lockfile, no
retries, no validation beyond reading the YAML. It polls *after* the first sleep,
not at once: the cheaper of the two obvious ways to write the loop, so the
comparison does not flatter our runner.

Prints one JSON line: ``{"completed": n, "failed": n, "errors": n, "seconds": s}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

MODELS: Final = {
    "avatar": "lipsync-image",
    "dialog": "lipsync-image-multi",
    "video": "lipsync-video",
}
NOT_FORM_STATE: Final = frozenset({"id", "kind", "webhook"})


def render_one(client: httpx.Client, base: str, job: dict[str, Any], out: Path, poll: float) -> str:
    form = {k: v for k, v in job.items() if k not in NOT_FORM_STATE}
    answer = client.post(f"{base}/{MODELS[job['kind']]}", json={"formState": form})
    answer.raise_for_status()
    request_id = answer.json()["id"]
    while True:
        time.sleep(poll)
        status = client.get(f"{base}/jobs/{request_id}").json()
        if status["status"] in ("completed", "failed"):
            break
    if status["status"] == "failed":
        return "failed"
    with (
        client.stream("GET", status["output"]) as video,
        (out / f"{job['id']}.mp4").open("wb") as sink,
    ):
        for chunk in video.iter_bytes():
            sink.write(chunk)
    return "completed"


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("manifest", type=Path)
    args.add_argument("base_url")
    args.add_argument("out", type=Path)
    args.add_argument("--concurrency", type=int, default=4)
    args.add_argument("--poll-interval", type=float, default=5.0)
    opts = args.parse_args()
    started = time.monotonic()
    jobs = yaml.safe_load(opts.manifest.read_text("utf-8"))["jobs"]
    opts.out.mkdir(parents=True, exist_ok=True)
    key = os.environ["LIPSYNC_API_KEY"]
    # A careful user sizes the pool to the threads that share it: with httpx's default
    # limits (100 connections, 20 kept alive) 250 threads queue for a connection and
    # reconnect all the time, and the bench measured that contention, not the script.
    # An idle connection is dropped after 4 s, not httpx's 5: the studio (hypercorn)
    # closes one after 5 s idle, so a GET every 5 s on a kept connection races the
    # close and fails "Server disconnected" (its user would see that at once and fix
    # it so). The timeout is raised from 5 s so that a busy studio does not fail jobs.
    limits = httpx.Limits(
        max_connections=opts.concurrency,
        max_keepalive_connections=opts.concurrency,
        keepalive_expiry=4.0,
    )
    with (
        httpx.Client(
            headers={"Authorization": f"Bearer {key}"}, timeout=30.0, limits=limits
        ) as client,
        ThreadPoolExecutor(max_workers=opts.concurrency) as pool,
    ):
        futures = [
            pool.submit(
                render_one, client, opts.base_url.rstrip("/"), job, opts.out, opts.poll_interval
            )
            for job in jobs
        ]
        outcomes = {"completed": 0, "failed": 0, "errors": 0}
        for future in futures:
            try:
                outcomes[future.result()] += 1
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                outcomes["errors"] += 1
                print(f"job error: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(json.dumps({**outcomes, "seconds": round(time.monotonic() - started, 3)}))
    return 0 if outcomes["completed"] == len(jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
