"""``run --shard K/N`` then ``lock fold``: a manifest spread over N runs ends in the
lock one full run writes, and the API sees every job exactly once."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from _support import StartStudio, avatar_manifest, remote_request, studio_stats

from lipsync_pipeline.lockfile import LockEntry, load_lock
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.shard import Shard
from lipsync_pipeline.usecases import fold_files, run_pipeline

# The issue asks for 1,000 jobs: that is 2,000 fast-mode renders here (the shards,
# then a full run to compare with), 32 s on 2 cores, CPU-bound in studio and client
# alike (more concurrency does not help). 500 keeps it ~16 s, inside the suite's
# budget; LIPSYNC_SHARD_JOBS=1000 runs the full size (it passes, 32 s).
JOBS = int(os.environ.get("LIPSYNC_SHARD_JOBS", "500"))
SHARDS = 4
CONCURRENCY = 64


def _comparable(entry: LockEntry) -> LockEntry:
    """What two runs of one job agree on: not what each submission draws afresh (its
    Idempotency-Key, the API's request id, link and timing)."""
    return dataclasses.replace(
        entry, idempotency_key="", request_id=None, output_url=None, execution_time_ms=None
    )


async def test_shards_run_one_after_another_and_folded_equal_one_full_run(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    started = time.monotonic()
    root = await start_studio(fast=True)
    ids = [f"job-{n:04d}" for n in range(JOBS)]
    sharded, full = tmp_path / "sharded", tmp_path / "full"
    for directory in (sharded, full):
        directory.mkdir()
        (directory / "renders.yaml").write_text(avatar_manifest(root, ids))

    shard_locks = []
    for index in range(1, SHARDS + 1):
        shard = Shard(index, SHARDS)
        report = await run_pipeline(
            remote_request(sharded / "renders.yaml", root, shard=shard, concurrency=CONCURRENCY)
        )
        assert {r.outcome for r in report.results} <= {Outcome.COMPLETED, Outcome.UNSELECTED}
        lock = sharded / f"renders.lock.shard-{index}-of-{SHARDS}"
        assert set(load_lock(lock).entries) == {i for i in ids if shard.holds(i)}
        shard_locks.append(lock)
    assert (await studio_stats(root))["jobs_created"] == JOBS  # every job, exactly once

    result = fold_files(sharded / "renders.lock", shard_locks)
    assert result.clean and not result.superseded

    other = await start_studio(fast=True)
    (full / "renders.yaml").write_text(avatar_manifest(root, ids))  # same inputs, same jobs
    await run_pipeline(remote_request(full / "renders.yaml", other, concurrency=CONCURRENCY))
    folded = load_lock(sharded / "renders.lock").entries
    whole = load_lock(full / "renders.lock").entries
    assert len(folded) == JOBS
    assert {k: _comparable(e) for k, e in folded.items()} == {
        k: _comparable(e) for k, e in whole.items()
    }

    # The folded lock is the main lock now: a plain run finds nothing to do.
    again = await run_pipeline(remote_request(sharded / "renders.yaml", root))
    assert {r.outcome for r in again.results} == {Outcome.SKIPPED}
    assert (await studio_stats(root))["jobs_created"] == JOBS
    elapsed = time.monotonic() - started
    print(f"{JOBS} jobs in {SHARDS} shards, folded, and a full run: {elapsed:.1f} s")
