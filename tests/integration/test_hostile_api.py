"""The runner against imitations of the hosted API that misbehave in ways a real
service might: echoing our key into fields we record, answering POSTs with a 5xx
after creating the job. Scripted over loopback HTTP (tests/_scripted_server.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final

from _scripted_server import Received, Reply, scripted_server
from _support import TEST_KEY, remote_request

from lipsync_pipeline.lockfile import load_lock
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.usecases import run_pipeline

SECRET_PART: Final = TEST_KEY.split("_", 2)[2]
VIDEO: Final = b"\x00\x00\x00\x18ftypmp42 not really a video"
CREATED: Final = Reply(json={"id": "r1", "status": "processing"})


def _manifest(tmp_path: Path, job_id: str = "a") -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        f"version: 1\njobs:\n  - id: {job_id}\n    kind: avatar\n"
        "    image: https://cdn.example.com/a.png\n    audio: https://cdn.example.com/a.mp3\n"
    )
    return path


def _job(status: str, **extra: object) -> dict[str, object]:
    return {
        "id": "r1",
        "model": "lipsync-image",
        "status": status,
        "output": None,
        "error": "",
        "executionTime": 1200,
        "timings": None,
        **extra,
    }


def _no_key(*texts: str) -> None:
    for text in texts:
        assert TEST_KEY not in text and SECRET_PART not in text, text


# --- redaction hides the key and nothing else ------------------------------------------------


async def test_an_output_url_shaped_like_a_key_is_fetched_and_recorded_as_it_is(
    tmp_path: Path,
) -> None:
    path = _manifest(tmp_path, "task_01_welcome")

    def api(request: Received) -> Reply:
        if request.method == "POST":
            return CREATED
        if request.target == "/files/desk_2_final.mp4":
            return Reply(body=VIDEO)
        if request.target.startswith("/api/v1/jobs/"):
            return Reply(json=_job("completed", output=f"{server.url}/files/desk_2_final.mp4"))
        return Reply(404, json={"error": f"no {request.target}"})

    async with scripted_server(default=api) as server:
        report = await run_pipeline(remote_request(path, server.url))

    (result,) = report.results
    assert (result.job_id, result.outcome) == ("task_01_welcome", Outcome.COMPLETED), result
    entry = load_lock(tmp_path / "r.lock").entries["task_01_welcome"]
    assert entry.output_url == f"{server.url}/files/desk_2_final.mp4"
    assert entry.artifact is not None and entry.artifact.path == "renders/task_01_welcome.mp4"
    assert entry.artifact.sha256 == hashlib.sha256(VIDEO).hexdigest()


async def test_a_request_id_holding_the_key_is_refused_not_recorded(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    echo = Reply(json={"id": f"job-for-{TEST_KEY}", "status": "processing"})
    async with scripted_server(echo, default=Reply(json=_job("processing"))) as server:
        report = await run_pipeline(remote_request(path, server.url))

    (result,) = report.results
    assert result.outcome is not Outcome.COMPLETED
    assert "request id that contains the API key" in result.error
    assert [r.method for r in server.received] == ["POST"]  # never polled under that id
    lock_text = (tmp_path / "r.lock").read_text()
    _no_key(result.error, lock_text, json.dumps([r.request_id for r in report.results]))


async def test_fields_of_a_job_status_never_carry_the_key_into_the_lock(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    echoed = _job(
        "failed",
        model=f"lipsync-{TEST_KEY}",
        output=f"https://cdn.example.com/{SECRET_PART}/out.mp4",
        error=f"refused Bearer {TEST_KEY}",
    )
    async with scripted_server(CREATED, default=Reply(json=echoed)) as server:
        report = await run_pipeline(remote_request(path, server.url))

    (result,) = report.results
    assert result.outcome is Outcome.FAILED
    entry = load_lock(tmp_path / "r.lock").entries["a"]
    assert entry.error == "refused Bearer sk_***"
    assert entry.output_url == "https://cdn.example.com/***/out.mp4"
    _no_key(result.error, (tmp_path / "r.lock").read_text())
