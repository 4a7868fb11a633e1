"""Renames with ``moved:`` against a real studio on loopback: no API call, the render
kept byte for byte under its new name, and ``status``, ``pull`` and ``--verify``
still finding it afterwards (a file:// store keeps it under the old id's key)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
from _support import ASSETS, FAST_POLL, TEST_KEY, StartStudio, avatar_manifest, remote_request
from _support import studio_stats as stats

from lipsync_pipeline.lockfile import LockEntry, LockJournal, load_lock
from lipsync_pipeline.manifest import derive_seed, load_manifest
from lipsync_pipeline.plan import Action
from lipsync_pipeline.run import Outcome, RunReport
from lipsync_pipeline.shard import Shard, shard_index
from lipsync_pipeline.usecases import (
    PullOutcome,
    RunRequest,
    check,
    fold_files,
    pull,
    run_pipeline,
)

MOVED = "moved:\n  - {from: intro-v1, to: intro}\n"


def _outcomes(report: RunReport) -> dict[str, Outcome]:
    return {r.job_id: r.outcome for r in report.results}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_renamed_job_is_moved_with_no_api_call_and_the_next_run_is_a_noop(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["intro-v1", "other"]))
    await run_pipeline(remote_request(path, root))
    old = load_lock(tmp_path / "renders.lock").entries["intro-v1"]
    digest = _digest(tmp_path / "renders" / "intro-v1.mp4")
    before = await stats(root)

    path.write_text(avatar_manifest(root, ["intro", "other"]) + MOVED)
    planned = check(path).plan
    assert {s.job_id: (s.action, s.moved_from) for s in planned.steps} == {
        "intro": (Action.MOVE, "intro-v1"),
        "other": (Action.SKIP, None),
    }
    report = await run_pipeline(remote_request(path, root))

    assert _outcomes(report) == {"intro": Outcome.MOVED, "other": Outcome.SKIPPED}
    assert report.requests == {}
    after = await stats(root)
    assert (after["requests"], after["jobs_created"]) == (before["requests"], 2)
    assert not (tmp_path / "renders" / "intro-v1.mp4").exists()
    assert _digest(tmp_path / "renders" / "intro.mp4") == digest
    entries = load_lock(tmp_path / "renders.lock").entries
    assert sorted(entries) == ["intro", "other"]
    new = entries["intro"]
    assert (new.request_id, new.idempotency_key, new.fingerprint, new.seed) == (
        old.request_id,
        old.idempotency_key,
        old.fingerprint,
        derive_seed("intro-v1"),
    )
    assert new.artifact is not None and new.artifact.sha256 == digest
    assert new.artifact.path == "renders/intro.mp4"

    lock_file = tmp_path / "renders.lock"
    data, mtime = lock_file.read_bytes(), lock_file.stat().st_mtime_ns
    again = await run_pipeline(remote_request(path, root))
    assert _outcomes(again) == {"intro": Outcome.SKIPPED, "other": Outcome.SKIPPED}
    assert again.requests == {} and (await stats(root))["requests"] == before["requests"]
    assert lock_file.read_bytes() == data and lock_file.stat().st_mtime_ns == mtime
    (warning,) = again.warnings
    assert warning.where == "moved[0]" and "already applied" in warning.message

    # The moved: entry deleted later: still up to date (the job keeps its recorded seed).
    path.write_text(avatar_manifest(root, ["intro", "other"]))
    assert check(path).plan.is_noop


async def test_a_rename_that_also_changes_the_request_renders_it(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["intro-v1"]))
    await run_pipeline(remote_request(path, root))

    path.write_text(avatar_manifest(root, ["intro"], extra="resolution: 720p") + MOVED)
    planned = {s.job_id: s for s in check(path).plan.steps}
    assert planned["intro"].reason == (
        "renamed from intro-v1 (moved:), and the request changed since its last render"
    )
    report = await run_pipeline(remote_request(path, root))

    results = {r.job_id: r for r in report.results}
    assert results["intro"].action is Action.SUBMIT
    assert results["intro"].outcome is Outcome.COMPLETED
    assert results["intro-v1"].action is Action.REMOVE
    assert (await stats(root))["jobs_created"] == 2
    entry = load_lock(tmp_path / "renders.lock").entries["intro"]
    assert entry.seed == derive_seed("intro")  # a new render: the seed of its own id


async def test_a_renamed_job_still_processing_is_resumed_under_its_new_id(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["intro-v1"]))
    job = load_manifest(path).jobs[0]
    async with httpx.AsyncClient() as client:
        landed = await client.post(
            f"{root}/api/v1/{job.model}",
            json={"formState": dict(job.form_state)},
            headers={"Authorization": f"Bearer {TEST_KEY}", "Idempotency-Key": "k-1"},
        )
    request_id = landed.json()["id"]
    entry = LockEntry(
        job.id,
        job.fingerprint,
        job.model,
        "processing",
        "k-1",
        seed=job.form_state["seed"],
        request_id=request_id,
    )
    with LockJournal.open(tmp_path / "renders.lock") as journal:
        journal.record([entry])
        journal.compact()

    path.write_text(avatar_manifest(root, ["intro"]) + MOVED)
    report = await run_pipeline(remote_request(path, root))

    (result,) = report.results
    assert (result.job_id, result.action, result.outcome) == (
        "intro",
        Action.RESUME,
        Outcome.COMPLETED,
    )
    assert "POST" not in report.requests
    assert (await stats(root))["jobs_created"] == 1
    final = load_lock(tmp_path / "renders.lock").entries
    assert list(final) == ["intro"] and final["intro"].request_id == request_id
    assert (tmp_path / "renders" / "intro.mp4").stat().st_size > 0


async def test_status_pull_and_verify_find_a_moved_render_in_the_store(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    for name in ("face.png", "voice-a.wav"):
        shutil.copy(ASSETS / name, tmp_path / "assets" / name)
    job = "    kind: avatar\n    image: assets/face.png\n    audio: assets/voice-a.wav\n"
    head = f"version: 1\nstore: file://{tmp_path / 'store'}\njobs:\n"
    path = tmp_path / "renders.yaml"
    path.write_text(f"{head}  - id: intro-v1\n{job}")
    await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))
    old = load_lock(tmp_path / "renders.lock").entries["intro-v1"]
    assert old.artifact is not None and old.artifact.store_key is not None

    path.write_text(f"{head}  - id: intro\n{job}{MOVED}")
    report = await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))
    assert _outcomes(report) == {"intro": Outcome.MOVED}
    moved = load_lock(tmp_path / "renders.lock").entries["intro"]
    assert moved.artifact is not None
    assert moved.artifact.store_key == old.artifact.store_key  # still valid: never deleted

    (tmp_path / "renders" / "intro.mp4").unlink()
    checked = check(path)
    assert [(s.job_id, s.action, s.reason) for s in checked.plan.steps] == [
        ("intro", Action.SKIP, "up to date (in the store)")
    ]
    pulled = await pull(path)
    assert [(r.job_id, r.outcome) for r in pulled.results] == [("intro", PullOutcome.PULLED)]
    assert _digest(tmp_path / "renders" / "intro.mp4") == old.artifact.sha256

    verified = await run_pipeline(RunRequest(path, local=True, options=FAST_POLL, verify=True))
    assert _outcomes(verified) == {"intro": Outcome.SKIPPED}
    # One HEAD, for the key recorded under the old id: found intact, nothing uploaded.
    assert verified.store_requests == {"HEAD": 1}


async def test_a_shard_moves_a_job_whose_old_id_hashes_to_another_shard(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    old_id = "intro-v1"
    # A new id whose shard is not the old id's: the shard's first run must seed its lock
    # with the old id's entry, or it would render the job again.
    other = shard_index(old_id, 2)
    new_id = next(f"intro-{n}" for n in range(100) if shard_index(f"intro-{n}", 2) != other)
    shard = Shard(shard_index(new_id, 2), 2)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, [old_id]))
    await run_pipeline(remote_request(path, root))
    before = await stats(root)

    path.write_text(
        avatar_manifest(root, [new_id]) + f"moved:\n  - {{from: {old_id}, to: {new_id}}}\n"
    )
    report = await run_pipeline(remote_request(path, root, shard=shard))

    assert _outcomes(report) == {new_id: Outcome.MOVED}
    assert (await stats(root))["requests"] == before["requests"]
    shard_lock = tmp_path / f"renders.lock{shard.suffix}"
    assert list(load_lock(shard_lock).entries) == [new_id]
    assert fold_files(tmp_path / "renders.lock", [shard_lock]).clean
    # The folded lock still has the old id (a shard never deletes what it does not hold):
    # the next full run drops it, with no API call.
    final = await run_pipeline(remote_request(path, root))
    assert {r.job_id: r.action for r in final.results} == {
        new_id: Action.SKIP,
        old_id: Action.REMOVE,
    }
    assert (await stats(root))["requests"] == before["requests"]
