"""plan() is pure: every rerun rule decided from (manifest, lock, artifacts) alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lipsync_pipeline.lockfile import Artifact, LockEntry, LockSnapshot
from lipsync_pipeline.manifest import Manifest, parse_manifest
from lipsync_pipeline.plan import Action, ArtifactState, plan

TEXT = """\
version: 1
jobs:
  - id: a
    kind: avatar
    image: https://cdn.example.com/a.png
    audio: https://cdn.example.com/a.mp3
  - id: b
    kind: video
    video: https://cdn.example.com/b.mp4
    audio: https://cdn.example.com/b.mp3
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return parse_manifest(TEXT, path=tmp_path / "r.yaml", display_name="r.yaml")


def _lock(tmp_path: Path, *entries: LockEntry) -> LockSnapshot:
    return LockSnapshot(tmp_path / "r.lock", {e.job_id: e for e in entries})


def _entry(manifest: Manifest, job_id: str, status: str, **kw: object) -> LockEntry:
    job = next(j for j in manifest.jobs if j.id == job_id)
    fields: dict[str, object] = {"request_id": f"req-{job_id}", "idempotency_key": "k"}
    if status == "completed":
        fields["artifact"] = Artifact(f"renders/{job_id}.mp4", "0" * 64, 10)
    fields.update(kw)
    return LockEntry(job_id=job_id, fingerprint=job.fingerprint, model=job.model,
                     status=status, **fields)  # type: ignore[arg-type]


def _actions(manifest: Manifest, lock: LockSnapshot, **kw: object) -> dict[str, Action]:
    return {s.job_id: s.action for s in plan(manifest, lock, **kw).steps}  # type: ignore[arg-type]


def test_no_lock_submits_everything(manifest: Manifest, tmp_path: Path) -> None:
    the_plan = plan(manifest, _lock(tmp_path))
    assert {s.job_id: s.action for s in the_plan.steps} == {"a": Action.SUBMIT,
                                                             "b": Action.SUBMIT}
    assert not the_plan.is_noop


@pytest.mark.parametrize(
    ("status", "extra", "artifact", "expected"),
    [
        ("completed", {}, ArtifactState.OK, Action.SKIP),
        ("completed", {}, ArtifactState.MISSING, Action.DOWNLOAD),
        ("completed", {}, ArtifactState.CORRUPT, Action.DOWNLOAD),
        ("completed", {"artifact": None}, ArtifactState.OK, Action.DOWNLOAD),
        ("processing", {}, ArtifactState.OK, Action.RESUME),
        # The POST may have created the job: held, never resent without the say-so.
        ("submitting", {"request_id": None}, ArtifactState.OK, Action.HOLD),
        ("unknown", {"request_id": None, "error": "HTTP 502"}, ArtifactState.OK, Action.HOLD),
        ("failed", {"error": "Invalid audio format"}, ArtifactState.OK, Action.RETRY),
    ],
)
def test_rerun_rules(
    manifest: Manifest, tmp_path: Path, status: str, extra: dict[str, object],
    artifact: ArtifactState, expected: Action,
) -> None:
    lock = _lock(tmp_path, _entry(manifest, "a", status, **extra),
                 _entry(manifest, "b", "completed"))
    actions = _actions(manifest, lock, artifacts={"a": artifact})
    assert actions == {"a": expected, "b": Action.SKIP}


@pytest.mark.parametrize("status", ["submitting", "unknown"])
def test_an_unknown_outcome_is_resent_only_with_the_say_so(
    manifest: Manifest, tmp_path: Path, status: str
) -> None:
    lock = _lock(tmp_path, _entry(manifest, "a", status), _entry(manifest, "b", "completed"))
    held = plan(manifest, lock)
    (step,) = held.with_action(Action.HOLD)
    assert "may bill twice" in step.reason and "--resend-unknown" in step.reason
    assert "--replace a" in step.reason
    assert not held.is_noop and not step.action.touches_api and not step.action.submits
    assert _actions(manifest, lock, resend_unknown=True)["a"] is Action.RESUBMIT


def test_changed_fingerprint_submits_whatever_the_status(
    manifest: Manifest, tmp_path: Path
) -> None:
    for status in ("completed", "processing", "failed", "submitting", "unknown"):
        stale = dataclasses.replace(_entry(manifest, "a", status), fingerprint="sha256:" + "1" * 64)
        lock = _lock(tmp_path, stale, _entry(manifest, "b", "completed"))
        assert _actions(manifest, lock)["a"] is Action.SUBMIT


def test_removed_job_is_dropped_unless_only_restricts(manifest: Manifest, tmp_path: Path) -> None:
    gone = dataclasses.replace(_entry(manifest, "a", "completed"), job_id="gone")
    lock = _lock(tmp_path, gone, _entry(manifest, "a", "completed"),
                 _entry(manifest, "b", "completed"))
    assert _actions(manifest, lock)["gone"] is Action.REMOVE
    assert "gone" not in _actions(manifest, lock, only=["a"])


def test_only_and_replace(manifest: Manifest, tmp_path: Path) -> None:
    lock = _lock(tmp_path, _entry(manifest, "a", "completed"), _entry(manifest, "b", "completed"))
    assert _actions(manifest, lock, only=["a"]) == {"a": Action.SKIP, "b": Action.UNSELECTED}
    assert _actions(manifest, lock, replace=["b"]) == {"a": Action.SKIP, "b": Action.SUBMIT}


def test_all_completed_is_a_noop(manifest: Manifest, tmp_path: Path) -> None:
    lock = _lock(tmp_path, _entry(manifest, "a", "completed"), _entry(manifest, "b", "completed"))
    the_plan = plan(manifest, lock)
    assert the_plan.is_noop
    assert not any(s.action.touches_api for s in the_plan.steps)
