"""What a store must never do: skip an altered render, write where a pull request
says, record a presigned link in the lock, or show a signature an API echoes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lipsync_pipeline.errors import ManifestError, redact
from lipsync_pipeline.lockfile import Artifact, LockEntry, LockSnapshot, entry_json
from lipsync_pipeline.manifest import parse_manifest
from lipsync_pipeline.plan import Action, ArtifactState, plan
from lipsync_pipeline.run._storage import StoreInputs
from lipsync_pipeline.store import ObjectStore, parse_store_config
from lipsync_pipeline.usecases._outputs import check_artifacts

_JOB = """jobs:
  - id: a
    kind: avatar
    image: https://cdn.example.com/a.png
    audio: https://cdn.example.com/a.wav
"""
SHA = "ab" * 32


def _completed(tmp_path: Path, head: str) -> tuple[object, LockSnapshot]:
    manifest = parse_manifest(
        f"version: 1\n{head}{_JOB}", path=tmp_path / "m.yaml", display_name="m.yaml"
    )
    (job,) = manifest.jobs
    artifact = Artifact("renders/a.mp4", SHA, 5, f"renders/a/{SHA}.mp4")
    entry = LockEntry(
        "a",
        job.fingerprint,
        job.model,
        "completed",
        "k",
        seed=job.form_state["seed"],
        request_id="r",
        artifact=artifact,
    )
    return manifest, LockSnapshot(tmp_path / "m.lock", {"a": entry})


def test_with_a_store_an_altered_render_on_disk_is_fetched_again(tmp_path: Path) -> None:
    manifest, lock = _completed(tmp_path, "store: s3://team-renders/x\n")
    # No file at all (a fresh clone): the store holds it, nothing to do.
    assert check_artifacts(manifest, lock) == {"a": ArtifactState.STORED}  # type: ignore[arg-type]
    # A file that is there but not the recorded bytes is not "up to date".
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "a.mp4").write_bytes(b"xxxxx")
    artifacts = check_artifacts(manifest, lock)  # type: ignore[arg-type]
    assert artifacts == {"a": ArtifactState.CORRUPT}
    (step,) = plan(manifest, lock, artifacts=artifacts).steps  # type: ignore[arg-type]
    assert step.action is Action.DOWNLOAD


@pytest.mark.parametrize("url", ["file:///srv/elsewhere", "file:///tmp"])
def test_a_manifest_cannot_point_a_file_store_outside_its_directory(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(
            f"version: 1\nstore: {url}\n{_JOB}", path=tmp_path / "m.yaml", display_name="m.yaml"
        )
    (problem,) = caught.value.problems
    assert (problem.line, problem.where) == (2, "store")
    assert "--store" in problem.message


def test_a_file_store_inside_the_manifests_directory_is_fine(tmp_path: Path) -> None:
    manifest = parse_manifest(
        f"version: 1\nstore: file://{tmp_path}/store\n{_JOB}",
        path=tmp_path / "m.yaml",
        display_name="m.yaml",
    )
    assert manifest.store is not None


def test_the_lock_never_records_an_output_links_query() -> None:
    signed = "https://cdn.example.com/out/a.mp4?X-Amz-Signature=deadbeef&X-Amz-Expires=3600"
    entry = LockEntry("a", "sha256:" + SHA, "lipsync-image", "completed", "k", output_url=signed)
    assert entry_json(entry)["output_url"] == "https://cdn.example.com/out/a.mp4"
    plain = LockEntry(
        "a",
        "sha256:" + SHA,
        "lipsync-image",
        "completed",
        "k",
        output_url="https://x/desk_2_final.mp4",
    )
    assert entry_json(plain)["output_url"] == "https://x/desk_2_final.mp4"


def test_an_input_urls_signature_is_masked_wherever_it_is_echoed(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "x" * 40,
        "AWS_REGION": "us-east-1",
    }
    store = ObjectStore(parse_store_config("s3://team-renders/x"), env=env)
    inputs = StoreInputs(store, {})
    url = inputs._url("inputs/sha256/" + SHA + ".wav")  # signing is local: no network
    query = urlsplit(url).query
    assert "X-Amz-Signature" in query
    echoed = f"job id {url} failed"
    assert query not in redact(echoed) and "team-renders" in redact(echoed)
