"""The input check's pure decisions: which URLs to ask, which jobs changed, what the plan
does about it, and what the lock records at submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lipsync_pipeline.inputs import Need, Probed, changes, plan_targets, versions_for
from lipsync_pipeline.inputs._targets import durations
from lipsync_pipeline.lockfile import Artifact, InputVersion, LockEntry, LockSnapshot
from lipsync_pipeline.manifest import Manifest, parse_manifest
from lipsync_pipeline.plan import Action, ArtifactState, plan

CDN = "https://cdn.example.com"
TEXT = f"""\
version: 1
jobs:
  - id: a
    kind: avatar
    image: {CDN}/face.png
    audio: {CDN}/a.mp3
  - id: b
    kind: avatar
    image: {CDN}/face.png
    audio: {CDN}/b.mp3
  - id: c
    kind: avatar
    image: face.png
    audio: {CDN}/c.mp3?X-Amz-Signature=abc
"""
V1 = InputVersion(etag='"1"', bytes=10)
V2 = InputVersion(etag='"2"', bytes=10)
FACE = InputVersion(etag='"face"', bytes=5)


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    (tmp_path / "face.png").write_bytes(b"png")
    return parse_manifest(TEXT, path=tmp_path / "r.yaml", display_name="r.yaml")


def done(manifest: Manifest, job_id: str, **kw: Any) -> LockEntry:
    job = next(j for j in manifest.jobs if j.id == job_id)
    return LockEntry(
        job_id=job_id,
        fingerprint=job.fingerprint,
        model=job.model,
        status=kw.pop("status", "completed"),
        idempotency_key="k",
        request_id=f"r-{job_id}",
        artifact=Artifact(f"renders/{job_id}.mp4", "0" * 64, 1),
        **kw,
    )


def lock(tmp_path: Path, *entries: LockEntry) -> LockSnapshot:
    return LockSnapshot(tmp_path / "r.lock", {e.job_id: e for e in entries})


def test_a_job_to_submit_asks_lengths_of_audio_and_versions_of_the_rest(
    manifest: Manifest, tmp_path: Path
) -> None:
    targets = plan_targets(plan(manifest, lock(tmp_path)))
    assert {url: t.need for url, t in targets.items()} == {
        f"{CDN}/face.png": Need.VERSION,  # asked once for two jobs
        f"{CDN}/a.mp3": Need.LENGTH,
        f"{CDN}/b.mp3": Need.LENGTH,
        f"{CDN}/c.mp3?X-Amz-Signature=abc": Need.LENGTH,  # c's face.png is a local file
    }


def test_a_done_job_asks_only_what_its_lock_entry_recorded(
    manifest: Manifest, tmp_path: Path
) -> None:
    entries = (
        done(manifest, "a", inputs=(("audio", V1), ("image", FACE))),
        done(manifest, "b"),  # an older lock: nothing recorded, nothing to compare
        done(manifest, "c", status="processing", inputs=(("audio", V1),)),  # resumed
    )
    targets = plan_targets(plan(manifest, lock(tmp_path, *entries)))
    assert {url: (t.need, t.known) for url, t in targets.items()} == {
        f"{CDN}/a.mp3": (Need.LENGTH_IF_NEW, (V1,)),
        f"{CDN}/face.png": (Need.VERSION, (FACE,)),
    }


def test_unselected_jobs_ask_nothing(manifest: Manifest, tmp_path: Path) -> None:
    targets = plan_targets(plan(manifest, lock(tmp_path), only=["b"]))
    assert set(targets) == {f"{CDN}/face.png", f"{CDN}/b.mp3"}


def test_changed_inputs_are_found_and_unknown_ones_kept_with_a_warning(
    manifest: Manifest, tmp_path: Path
) -> None:
    entries = (
        done(manifest, "a", inputs=(("audio", V1), ("image", FACE))),
        done(manifest, "b", inputs=(("audio", V1), ("image", FACE))),
        done(manifest, "c", inputs=(("audio", InputVersion(bytes=10)),)),
    )
    probed = {
        f"{CDN}/face.png": Probed(FACE),
        f"{CDN}/a.mp3": Probed(V2),  # replaced at the same URL
        f"{CDN}/b.mp3": Probed(None, problem=f"{CDN}/b.mp3: HTTP 503"),
        f"{CDN}/c.mp3?X-Amz-Signature=abc": Probed(InputVersion(etag='"x"')),
    }
    changed, warnings = changes(plan(manifest, lock(tmp_path, *entries)), probed)
    assert changed == {"a": ("audio",)}
    assert len(warnings) == 2
    assert "job b: `audio` could not be checked" in warnings[0] and "HTTP 503" in warnings[0]
    assert "keeping its render" in warnings[0]
    assert "job c: `audio`" in warnings[1] and "nothing to compare" in warnings[1]


@pytest.mark.parametrize(
    ("status", "artifact", "before", "after"),
    [
        ("completed", ArtifactState.OK, Action.SKIP, Action.SUBMIT),
        ("completed", ArtifactState.MISSING, Action.DOWNLOAD, Action.SUBMIT),
        ("processing", ArtifactState.OK, Action.RESUME, Action.RESUME),  # paid: finish it
        ("failed", ArtifactState.OK, Action.RETRY, Action.RETRY),
        ("unknown", ArtifactState.OK, Action.HOLD, Action.HOLD),  # never sent unasked
    ],
)
def test_a_changed_input_renders_a_done_job_again_and_nothing_else(
    manifest: Manifest,
    tmp_path: Path,
    status: str,
    artifact: ArtifactState,
    before: Action,
    after: Action,
) -> None:
    entry = done(manifest, "a", status=status, inputs=(("audio", V1),))
    snapshot = lock(tmp_path, entry)
    kw: dict[str, Any] = {"artifacts": {"a": artifact}, "only": ["a"]}
    assert plan(manifest, snapshot, **kw).steps[0].action is before
    step = plan(manifest, snapshot, changed={"a": ("audio",)}, **kw).steps[0]
    assert step.action is after
    if after is Action.SUBMIT:
        assert step.reason == "`audio` changed at its URL"


def test_the_reason_names_every_changed_field(manifest: Manifest, tmp_path: Path) -> None:
    snapshot = lock(tmp_path, done(manifest, "a"))
    step = plan(manifest, snapshot, only=["a"], changed={"a": ("image", "audio")}).steps[0]
    assert step.reason == "`audio`, `image` changed at their URLs"


def test_the_lock_records_url_inputs_only(manifest: Manifest) -> None:
    job_c = manifest.jobs[2]
    versions = {f"{CDN}/c.mp3?X-Amz-Signature=abc": V1, f"{CDN}/face.png": FACE}
    assert versions_for(job_c, versions) == (("audio", V1),)  # its image is a local file
    assert versions_for(manifest.jobs[0], {f"{CDN}/a.mp3": InputVersion()}) == ()


def test_lengths_for_the_estimate_come_with_their_reasons(
    manifest: Manifest, tmp_path: Path
) -> None:
    targets = plan_targets(plan(manifest, lock(tmp_path)))
    probed = {
        f"{CDN}/face.png": Probed(FACE),
        f"{CDN}/a.mp3": Probed(V1, seconds=3.5),
        f"{CDN}/b.mp3": Probed(None, problem=f"{CDN}/b.mp3: HTTP 404"),
    }
    assert durations(targets, probed) == {
        f"{CDN}/a.mp3": 3.5,
        f"{CDN}/b.mp3": f"{CDN}/b.mp3: HTTP 404",
    }
