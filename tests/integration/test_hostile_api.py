"""The runner against imitations of the hosted API that misbehave in ways a real
service might: echoing our key into fields we record, answering POSTs with a 5xx
after creating the job. Scripted over loopback HTTP (tests/_scripted_server.py)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Final

import trio
import trio.testing
from _scripted_server import Received, Reply, scripted_server
from _support import TEST_KEY, remote_request

from lipsync_pipeline.lockfile import load_lock
from lipsync_pipeline.plan import Action
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.usecases import check, run_pipeline

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


# --- never pay twice silently ---------------------------------------------------------------


class QuirkyApi:
    """Creates a job for every POST, and answers every other one (the 1st, 3rd, ...)
    with a 502 (a gateway that lost the reply) until ``healed``; polls report every job
    it created completed."""

    def __init__(self) -> None:
        self.created: list[str] = []  # the Idempotency-Key of each job it created
        self.healed = False

    def __call__(self, request: Received) -> Reply:
        if request.method == "POST":
            self.created.append(request.headers["idempotency-key"])
            if not self.healed and len(self.created) % 2:
                return Reply(502, body=b"<html>502 Bad Gateway</html>")
            return Reply(json={"id": f"r{len(self.created)}", "status": "processing"})
        if request.target.startswith("/api/v1/jobs/"):
            job_id = request.target.rsplit("/", 1)[1]
            return Reply(json=_job("completed", id=job_id, output=f"/files/{job_id}.mp4"))
        return Reply(body=VIDEO)


def _many(tmp_path: Path, count: int) -> Path:
    lines = ["version: 1", "jobs:"]
    for n in range(count):
        lines += [
            f"  - id: j{n}",
            "    kind: avatar",
            f"    image: https://cdn.example.com/{n}.png",
            "    audio: https://cdn.example.com/a.mp3",
        ]
    path = tmp_path / "r.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def _cli(cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    done = await trio.run_process(
        [sys.executable, "-m", "lipsync_pipeline", *args],
        cwd=cwd,
        env={**env, "LIPSYNC_API_KEY": TEST_KEY},
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_a_submission_answered_with_a_5xx_is_held_not_sent_again(tmp_path: Path) -> None:
    """The adversarial finding: 5 of 5 such POSTs were resent and became 5 duplicate
    renders, in a run that exited 0 and said nothing. Each is now sent once, recorded
    "unknown" with its key, reported with what to do (exit 1), held by later runs, and
    sent again (same key) only under --resend-unknown."""
    path = _many(tmp_path, 10)
    quirky = QuirkyApi()
    # One job at a time, so the 502s fall on every other job, whatever trio's order.
    # No input check: the inputs are on cdn.example.com, and tests talk to loopback only.
    flags = ("--concurrency", "1", "--poll-interval", "0.05", "--no-input-check")
    async with scripted_server(default=quirky) as server:
        api = ("--base-url", f"{server.url}/api/v1", *flags)
        code, out, err = await _cli(tmp_path, "run", path.name, *api, "--format", "json")

        assert code == 1, err
        assert len(quirky.created) == 10  # one POST per job: nothing resent
        report = json.loads(out)
        assert report["counts"] == {"completed": 5, "unknown": 5}
        unknown = {j["job"]: j["error"] for j in report["jobs"] if j["outcome"] == "unknown"}
        for error in unknown.values():
            assert "502" in error and "--resend-unknown" in error and "dashboard" in error
        lock = load_lock(tmp_path / "r.lock").entries
        assert {e.status for e in lock.values() if e.job_id in unknown} == {"unknown"}
        sent_once = [lock[job_id].idempotency_key for job_id in sorted(unknown)]
        assert set(sent_once) == set(quirky.created[0::2])

        # Later runs hold them: no request, reported again, exit 1; plan shows the risk.
        requests = len(server.received)
        code, out, _ = await _cli(tmp_path, "run", path.name, *api)
        assert code == 1 and len(server.received) == requests
        assert "5 submission(s) of unknown outcome" in " ".join(out.split())
        code, out, _ = await _cli(tmp_path, "plan", path.name, "--no-input-check")
        assert code == 0 and [line.split()[0] for line in out.splitlines()].count("hold") == 5
        assert " ".join(out.split()).count("resending may bill twice") == 5 + 1  # + the foot

        # The user's say-so: each is sent again, once, under the key it had.
        quirky.healed = True
        code, out, err = await _cli(tmp_path, "run", path.name, *api, "--resend-unknown")
    assert code == 0, out + err
    assert sorted(quirky.created[10:]) == sorted(sent_once)
    assert {e.status for e in load_lock(tmp_path / "r.lock").entries.values()} == {"completed"}


async def test_a_submission_never_sent_leaves_the_lock_as_it_was(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Connection refused: the POST never left, so nothing can exist. The lock must
    not say "submitting" (the next run would hold it, or warn it may bill twice)."""
    path = _manifest(tmp_path)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    report = await run_pipeline(remote_request(path, f"http://127.0.0.1:{port}"))

    (result,) = report.results
    assert result.outcome is Outcome.ERROR and "ConnectError" in result.error
    assert load_lock(tmp_path / "r.lock").entries == {}
    assert [s.action for s in check(path).plan.steps] == [Action.SUBMIT]
