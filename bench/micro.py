"""In-process benchmarks: lock durability, manifest validation + plan, render speed.

These need no studio process: they time one library call at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

from bench import bench_render, bench_validate
from lipsync_pipeline.lockfile import Artifact, LockEntry, LockJournal, LockSnapshot
from lipsync_pipeline.manifest import load_manifest
from lipsync_pipeline.plan import plan

LOCK_JOBS: Final = 10_000
BATCH_SIZES: Final = (1, 10, 100)
# Batch size 1 costs one fsync per change: bound each size by time, not by count,
# so a slow disk cannot stretch the whole bench past its budget.
BATCH_BUDGET_S: Final = 4.0


def _processing(i: int) -> LockEntry:
    return LockEntry(
        job_id=f"job-{i:05d}",
        fingerprint="sha256:" + f"{i:064x}",
        model="lipsync-image",
        status="processing",
        idempotency_key=uuid.uuid4().hex,
        seed=i,
        request_id=str(uuid.uuid4()),
    )


def lock_durability(jobs: int = LOCK_JOBS) -> dict[str, Any]:
    """Durable state changes per second on a lock of ``jobs`` entries, by batch size.

    Batches mimic the runner's group commit (one journal append + one fdatasync per
    batch). Each change really changes an entry (LockJournal.record skips no-ops).
    """
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as folder:
        path = Path(folder) / "bench.lock"
        store = LockJournal.open(path)
        store.record([_processing(i) for i in range(jobs)])
        store.compact()
        store.close()
        start = time.perf_counter()
        store = LockJournal.open(path)
        open_s = time.perf_counter() - start
        entries = list(store.entries.values())
        rates: dict[str, Any] = {}
        serial = 0
        for size in BATCH_SIZES:
            changes = 0
            start = time.perf_counter()
            while changes < jobs and time.perf_counter() - start < BATCH_BUDGET_S:
                batch = []
                for _ in range(size):
                    serial += 1
                    entry = entries[serial % len(entries)]
                    batch.append(
                        dataclasses.replace(
                            entry,
                            status="completed",
                            execution_time_ms=serial,
                            artifact=Artifact(f"renders/{entry.job_id}.mp4", f"{serial:064x}", 1),
                        )
                    )
                store.record(batch)
                changes += size
            elapsed = time.perf_counter() - start
            rates[str(size)] = {
                "changes": changes,
                "seconds": round(elapsed, 3),
                "changes_per_s": changes / elapsed,
                "fsyncs_per_s": changes / size / elapsed,
            }
        start = time.perf_counter()
        rewrote = store.compact()
        compact_s = time.perf_counter() - start
        store.close()
        size_bytes = path.stat().st_size
    assert rewrote, "the compaction had changes to write"
    return {
        "jobs": jobs,
        "open_s": open_s,
        "by_batch": rates,
        "compact_s": compact_s,
        "lock_bytes": size_bytes,
    }


def validation(jobs: int = bench_validate.JOBS) -> dict[str, Any]:
    """Validate (load_manifest: the YAML read, the manifest cache off) and plan a
    generated manifest, as `plan` does."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-validate-") as folder,
        bench_validate.yaml_read_every_time(),
    ):
        root = Path(folder)
        # bench_validate's manifest names these local assets; their bytes feed fingerprints.
        (root / "assets").mkdir()
        (root / "assets" / "voice.wav").write_bytes(b"RIFF" + bytes(64_000))
        (root / "assets" / "face.png").write_bytes(b"\x89PNG" + bytes(64_000))
        path = root / "big.yaml"
        path.write_text(bench_validate.manifest_text(jobs), encoding="utf-8")
        manifest = load_manifest(path)
        assert len(manifest.jobs) == jobs
        load_s = bench_validate.best(bench_validate.RUNS, lambda: load_manifest(path))
        empty = LockSnapshot(root / "big.lock", {})
        # A lock saying every job is completed: the no-op rerun's plan.
        done = Artifact("renders/x.mp4", "0" * 64, 1)  # plan() trusts absent disk states
        full = LockSnapshot(
            root / "big.lock",
            {
                job.id: LockEntry(
                    job.id, job.fingerprint, job.model, "completed", uuid.uuid4().hex, artifact=done
                )
                for job in manifest.jobs
            },
        )
        plan_new_s = bench_validate.best(bench_validate.RUNS, lambda: plan(manifest, empty))
        plan_done_s = bench_validate.best(bench_validate.RUNS, lambda: plan(manifest, full))
        assert plan(manifest, full).is_noop
    return {
        "jobs": jobs,
        "validate_s": load_s,
        "plan_new_s": plan_new_s,
        "plan_all_completed_s": plan_done_s,
    }


def render_speed() -> dict[str, Any]:
    """bench_render's per-resolution totals (the 'all' rows of its table)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        bench_render.main()
    found: dict[str, Any] = {}
    for line in buffer.getvalue().splitlines():
        fields = line.split()
        if fields and fields[0] == "all":
            resolution, video_s, wall_s, rtf = fields[1], *map(float, fields[2:5])
            found[resolution] = {"video_s": video_s, "wall_s": wall_s, "rtf": rtf}
    if set(found) != {"480p", "720p"}:
        raise RuntimeError(f"unexpected bench_render output:\n{buffer.getvalue()}")
    return found
