"""Chaos: kill -9 the runner at random moments, many times, then let it finish.

What must hold however often the runner dies (issue 5, item 2):

- the lock loads after every kill (torn journal tails are tolerated, nothing else);
- the studio never creates a job the lock does not know about, and never two
  for one manifest job: ``jobs_created`` ends equal to the job count;
- in the end every job is completed and every artifact on disk has the sha256
  and size the lock records, with no half-written download left behind.

The CI-sized version runs in the normal suite; ``LIPSYNC_CHAOS_LONG=1`` runs a
few hundred jobs with at least 50 kills (and prints its figures). Kill moments
come from a seeded RNG so that a failure can be replayed: the seed is printed.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
import trio
from _support import TEST_KEY, StartStudio, avatar_manifest, studio_stats

from lipsync_pipeline.lockfile import LockSnapshot, load_lock
from lipsync_pipeline.studio import Faults

pytestmark = pytest.mark.chaos

CLI: Final = [sys.executable, "-m", "lipsync_pipeline"]
LONG: Final = os.environ.get("LIPSYNC_CHAOS_LONG") == "1"
# Overridable so that a failing run can be replayed with the same kill moments.
SEED: Final = int(os.environ.get("LIPSYNC_CHAOS_SEED", "20240505"))


@dataclass(frozen=True, slots=True)
class Size:
    jobs: int
    kills: int
    concurrency: int
    render_delay: float
    # Kill moments are drawn from [min_alive, max_alive] seconds after spawning. The
    # interpreter needs ~0.4 s to start, so short moments hit start-up and planning,
    # longer ones hit submissions, polls, downloads and lock writes.
    min_alive: float = 0.2
    max_alive: float = 2.0
    # Runs allowed after the last kill: with faults on, a run may end with a job that
    # outlived its retries (exit 1); the next run picks it up.
    finishing_runs: int = 5


# Sized so that K kills land before the work is done: a run progresses roughly
# concurrency / render_delay jobs per second of its life, minus start-up.
CI_SIZE: Final = Size(jobs=40, kills=5, concurrency=4, render_delay=1.0)
LONG_SIZE: Final = Size(
    jobs=400, kills=60, concurrency=4, render_delay=2.0, max_alive=2.5, finishing_runs=10
)
SIZE: Final = LONG_SIZE if LONG else CI_SIZE

# Mild enough that retries (8 attempts) almost always win, harsh enough that most
# runs meet every kind of fault. Retry-After and slowness are kept short so the CI
# version stays fast; the client honours whatever the studio says.
FAULTS: Final = Faults(
    error_rate=0.08,
    rate_limit_rate=0.08,
    retry_after=0.2,
    drop_rate=0.05,
    slow_rate=0.05,
    slow_seconds=0.5,
    seed=SEED,
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    env["LIPSYNC_API_KEY"] = TEST_KEY
    return env


async def _spawn(manifest: Path, root: str, concurrency: int) -> trio.Process:
    return await trio.lowlevel.open_process(
        [
            *CLI,
            "run",
            str(manifest),
            "--base-url",
            f"{root}/api/v1",
            "--poll-interval",
            "0.1",
            "-q",
            "--concurrency",
            str(concurrency),
            # The studio honours Idempotency-Key: a POST with no clear answer (a fault,
            # a kill) may be resent under its key, and must still never create a job twice.
            "--resend-unknown",
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _check_lock_invariants(lock: LockSnapshot, jobs_created: int, when: str) -> None:
    """What must be true of the lock at any instant, even right after a kill -9."""
    # The intent ("submitting") is durable before the POST, so every job the studio
    # created has an entry; more studio jobs than entries means a lost submission.
    assert jobs_created <= len(lock.entries), f"{when}: studio has jobs the lock does not know"
    for entry in lock.entries.values():
        assert entry.status in ("submitting", "unknown", "processing", "completed", "failed"), when
        if entry.status == "processing":
            assert entry.request_id, f"{when}: {entry.job_id} processing without a request id"


def _check_artifacts(lock: LockSnapshot, base: Path) -> None:
    for job_id, entry in sorted(lock.entries.items()):
        assert entry.status == "completed", f"{job_id}: {entry.status} ({entry.error})"
        assert entry.artifact is not None, f"{job_id}: completed without an artifact"
        data = (base / entry.artifact.path).read_bytes()
        assert len(data) == entry.artifact.bytes, job_id
        assert hashlib.sha256(data).hexdigest() == entry.artifact.sha256, job_id


async def _chaos(start_studio: StartStudio, tmp_path: Path, faults: Faults) -> None:
    size = SIZE
    rng = random.Random(SEED)
    root = await start_studio(fast=True, render_delay=size.render_delay, faults=faults)
    ids = [f"c{n:04d}" for n in range(size.jobs)]
    manifest = tmp_path / "renders.yaml"
    manifest.write_text(avatar_manifest(root, ids))
    lock_path = tmp_path / "renders.lock"
    started = time.monotonic()

    kills = natural_exits = 0
    while kills < size.kills:
        proc = await _spawn(manifest, root, size.concurrency)
        alive = rng.uniform(size.min_alive, size.max_alive)
        with trio.move_on_after(alive):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()  # SIGKILL: no finally blocks, no compaction, no flush
            await proc.wait()
            kills += 1
        else:
            natural_exits += 1
        when = f"after kill {kills} (alive {alive:.2f} s, seed {SEED})"
        lock = load_lock(lock_path)  # must load: a torn journal tail is all a kill leaves
        _check_lock_invariants(lock, (await studio_stats(root))["jobs_created"], when)
        if (
            proc.returncode == 0
            and len(lock.entries) == size.jobs
            and all(e.status == "completed" for e in lock.entries.values())
        ):
            pytest.fail(f"the work finished after only {kills} kills: make Size larger ({when})")

    codes = []
    for _ in range(size.finishing_runs):
        proc = await _spawn(manifest, root, size.concurrency)
        codes.append(await proc.wait())
        if codes[-1] == 0:
            break
    elapsed = time.monotonic() - started

    stats = await studio_stats(root)
    # Figures first, so that a failing long run still reports them.
    print(
        f"\nchaos{' (faults)' if faults != Faults() else ''}: jobs={size.jobs} kills={kills} "
        f"natural_exits={natural_exits} finishing_runs={len(codes)} "
        f"elapsed={elapsed:.1f}s jobs_created={stats['jobs_created']} "
        f"idempotent_replays={stats['idempotent_replays']} "
        f"requests_total={stats['requests_total']} seed={SEED}"
    )
    assert codes[-1] == 0, f"the finishing runs exited {codes} (seed {SEED})"
    lock = load_lock(lock_path)
    assert sorted(lock.entries) == ids
    _check_artifacts(lock, tmp_path)
    assert stats["jobs_created"] == size.jobs, f"duplicate submissions (seed {SEED})"
    # A download killed half-way must not leave its temporary file behind for ever.
    leftovers = sorted(p.name for p in (tmp_path / "renders").iterdir() if p.suffix != ".mp4")
    assert leftovers == [], f"stale files in renders/: {leftovers[:5]}"


async def test_kill_9_at_random_moments_loses_nothing_and_pays_once(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    await _chaos(start_studio, tmp_path, Faults())


async def test_kill_9_under_fault_injection_loses_nothing_and_pays_once(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    await _chaos(start_studio, tmp_path, FAULTS)


async def test_a_partial_download_left_by_a_kill_is_removed_by_the_next_run(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    """The long chaos run found these: kill -9 mid-download leaves the client's temp
    file (``.<output>.<12 hex>.part``) beside the output, and nothing ever removed it."""
    root = await start_studio(fast=True)
    manifest = tmp_path / "renders.yaml"
    manifest.write_text(avatar_manifest(root, ["a"]))
    renders = tmp_path / "renders"
    renders.mkdir()
    stale = renders / ".a.mp4.0123456789ab.part"
    stale.write_bytes(b"the first half of a video")
    # Not a dead download of this manifest's jobs: another manifest may share the
    # directory, and a user's own files are not ours to delete.
    kept = [renders / ".b.mp4.0123456789ab.part", renders / "a.part", renders / "notes.txt"]
    for path in kept:
        path.write_bytes(b"not ours")

    proc = await _spawn(manifest, root, 1)

    assert await proc.wait() == 0
    assert not stale.exists()
    assert all(path.exists() for path in kept)
    assert (renders / "a.mp4").exists()
