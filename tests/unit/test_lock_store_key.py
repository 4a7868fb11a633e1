"""The artifact's store key: recorded and read back, optional (old locks load), checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lipsync_pipeline.errors import LockfileError
from lipsync_pipeline.lockfile import Artifact, LockEntry, load_lock, render_lock

_SHA = "ab" * 32


def _entry(artifact: Artifact) -> LockEntry:
    return LockEntry(
        job_id="intro",
        fingerprint="sha256:" + "0" * 64,
        model="lipsync-image",
        status="completed",
        idempotency_key="k",
        artifact=artifact,
    )


def test_store_key_round_trips(tmp_path: Path) -> None:
    artifact = Artifact("renders/intro.mp4", _SHA, 12, f"renders/intro/{_SHA}.mp4")
    lock = tmp_path / "r.lock"
    lock.write_bytes(render_lock([_entry(artifact)]))
    assert load_lock(lock).entries["intro"].artifact == artifact


def test_a_lock_without_store_keys_loads_and_renders_unchanged(tmp_path: Path) -> None:
    artifact = Artifact("renders/intro.mp4", _SHA, 12)
    data = render_lock([_entry(artifact)])
    assert b"store_key" not in data
    lock = tmp_path / "r.lock"
    lock.write_bytes(data)
    assert load_lock(lock).entries["intro"].artifact == artifact


@pytest.mark.parametrize("key", ["../etc/passwd", f"renders/intro/{_SHA}.mp4?X-Amz-Signature=1", 7])
def test_a_bad_store_key_is_a_located_error(tmp_path: Path, key: object) -> None:
    doc = json.loads(render_lock([_entry(Artifact("renders/intro.mp4", _SHA, 12))]))
    doc["jobs"]["intro"]["artifact"]["store_key"] = key
    lock = tmp_path / "r.lock"
    lock.write_text(json.dumps(doc, indent=2))
    with pytest.raises(LockfileError) as caught:
        load_lock(lock)
    assert "store_key" in str(caught.value) and "r.lock:" in str(caught.value)
