"""The store in a whole run: local assets, a real S3 (SeaweedFS) and a real studio.

The studio is the reference implementation of the hosted API, started on loopback
(not ``--local``): it fetches each input from the presigned URL the run hands it,
like the hosted API would, so signatures and expiry are enforced by a real store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import obstore
import pytest
import trio
from _support import ASSETS, TEST_KEY, StartStudio, remote_request, studio_stats
from obstore.store import S3Store
from seaweed import ACCESS_KEY, READER_KEY, READER_SECRET, SECRET_KEY, Seaweed

from lipsync_pipeline.cli._views import status_json
from lipsync_pipeline.errors import StoreError
from lipsync_pipeline.lockfile import journal_path
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.studio import Faults
from lipsync_pipeline.usecases import check, run_pipeline

CLI: Final = [sys.executable, "-m", "lipsync_pipeline"]
SIGNATURE: Final = b"x-amz-signature"
JOBS: Final = ("anna-1", "anna-2", "anna-720")  # three jobs sharing two files


def _manifest(folder: Path, store: str) -> Path:
    assets = folder / "assets"
    assets.mkdir()
    for name in ("face.png", "voice-a.wav"):
        shutil.copy(ASSETS / name, assets / name)
    lines = ["version: 1", f"store: {store}", "jobs:"]
    for job_id in JOBS:
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            "    image: assets/face.png",
            "    audio: ./assets/voice-a.wav",
            f"    resolution: {'720p' if job_id.endswith('720') else '480p'}",
        ]
    path = folder / "renders.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _keys(seaweed: Seaweed, prefix: str) -> list[str]:
    s3 = S3Store(
        seaweed.bucket,
        prefix=prefix,
        endpoint=seaweed.endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region="us-east-1",
        client_options={"allow_http": True},
    )
    return sorted(meta["path"] for batch in obstore.list(s3) for meta in batch)


async def _cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        [*CLI, *args, "-v", "--log-format", "json", "--format", "json"],
        cwd=cwd,
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_local_assets_through_s3_and_a_fresh_clone_makes_no_call(
    start_studio: StartStudio, seaweed: Seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"e2e/{os.urandom(6).hex()}"
    manifest = _manifest(tmp_path, f"s3://{seaweed.bucket}/{prefix}")
    root = await start_studio(fast=True, assets_dir=None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIPSYNC_", "AWS_"))}
    env.update(seaweed.env(), LIPSYNC_API_KEY=TEST_KEY)
    api = ("--base-url", f"{root}/api/v1")

    first = await _cli(tmp_path, env, "run", "renders.yaml", *api, "--poll-interval", "0.05")
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    report = json.loads(first.stdout)
    assert report["counts"] == {"completed": 3}
    keys = _keys(seaweed, prefix)
    inputs = [k for k in keys if k.startswith("inputs/sha256/")]
    renders = [k for k in keys if k.startswith("renders/")]
    assert len(inputs) == 2 and {Path(k).suffix for k in inputs} == {".png", ".wav"}
    assert sorted(k.split("/")[1] for k in renders) == sorted(JOBS)
    assert not any("_preflight" in k for k in keys)  # the probes were deleted
    lock = json.loads((tmp_path / "renders.lock").read_text())
    for job_id in JOBS:
        artifact = lock["jobs"][job_id]["artifact"]
        assert artifact["store_key"] == f"renders/{job_id}/{artifact['sha256']}.mp4"
    originals = {p.name: p.read_bytes() for p in (tmp_path / "renders").iterdir()}

    # A fresh clone: the lock is committed, the renders are not.
    shutil.rmtree(tmp_path / "renders")
    before = (await studio_stats(root))["requests"]
    again = await _cli(tmp_path, env, "run", "renders.yaml", *api)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    rerun = json.loads(again.stdout)
    assert rerun["counts"] == {"skipped": 3}
    assert rerun["requests"] == {} and rerun["store_requests"] == {}
    assert (await studio_stats(root))["requests"] == before
    assert not (tmp_path / "renders").exists()  # zero downloads

    # In-process from here (a CLI start costs ~1 s): --verify asks the store instead.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(name, env[name])
    verified = await run_pipeline(remote_request(manifest, root, verify=True))
    assert verified.store_requests == {"HEAD": 3} and verified.requests == {}

    pulled = await _cli(tmp_path, env, "pull", "renders.yaml")
    assert pulled.returncode == 0, pulled.stderr.decode()[-3000:]
    assert json.loads(pulled.stdout)["counts"] == {"pulled": 3}
    assert {p.name: p.read_bytes() for p in (tmp_path / "renders").iterdir()} == originals

    status = status_json(check(manifest), {})
    assert {j["job"]: j["recorded"]["location"] for j in status["jobs"]} == dict.fromkeys(
        JOBS, "both"
    )

    # Presigned URLs are credentials: in no lock, journal, report or log line.
    files = [tmp_path / "renders.lock", journal_path(tmp_path / "renders.lock")]
    written = b"".join(p.read_bytes() for p in files if p.exists())
    for ran in (first, again, pulled):
        written += ran.stdout + ran.stderr
    assert b"store.put" in written  # the debug logs were on
    at = written.lower().find(SIGNATURE)
    assert at < 0, written[max(0, at - 600) : at + 100]
    assert SECRET_KEY.encode() not in written


async def test_an_expired_input_url_is_named_in_the_job_error(
    start_studio: StartStudio,
    seaweed: Seaweed,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    prefix = f"expiry/{os.urandom(6).hex()}"
    # Every API request is held 2.5 s, so the studio fetches inputs 2.5 s after they
    # were signed for 2 s: past their TTL whatever the clock's fraction of a second
    # (signatures carry whole seconds). The preflight's own URL is fetched at once.
    manifest = _manifest(tmp_path, f"{{url: 's3://{seaweed.bucket}/{prefix}', url_ttl: 2s}}")
    root = await start_studio(
        fast=True, assets_dir=None, faults=Faults(slow_rate=1.0, slow_seconds=2.5)
    )
    report = await run_pipeline(remote_request(manifest, root, only=("anna-1",)))
    result = next(r for r in report.results if r.job_id == "anna-1")
    assert result.outcome is Outcome.FAILED
    # The studio refused it as unreachable (the store said 403); we say why.
    assert "Could not fetch input `audio`: HTTP 403" in result.error
    assert "input audio: its presigned URL expired" in result.error
    assert "X-Amz" not in result.error
    lock = (tmp_path / "renders.lock").read_text()
    assert "presigned URL expired" in lock and "X-Amz" not in lock


async def test_a_refusing_store_stops_the_run_before_anything_is_recorded(
    seaweed: Seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read-only credentials: the preflight's write is refused. No studio is needed:
    # nothing may reach the API.
    env = seaweed.env(AWS_ACCESS_KEY_ID=READER_KEY, AWS_SECRET_ACCESS_KEY=READER_SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    manifest = _manifest(tmp_path, f"s3://{seaweed.bucket}/ro/{os.urandom(6).hex()}")
    with pytest.raises(StoreError) as caught:
        await run_pipeline(remote_request(manifest, "http://127.0.0.1:9"))
    assert caught.value.exit_code == 4
    assert not (tmp_path / "renders.lock").exists()
    assert not journal_path(tmp_path / "renders.lock").exists()
