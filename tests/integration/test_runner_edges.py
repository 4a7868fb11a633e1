"""The runner at its edges: odd layouts, a misbehaving API, interruptions mid-POST,
disks that refuse writes. Each case once let a user pay twice, lose a result or
read a traceback."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from _scripted_server import Received, Reply, scripted_server
from _support import (
    ASSETS,
    FAST_POLL,
    TEST_KEY,
    StartStudio,
    avatar_manifest,
    remote_request,
    studio_stats,
)

from lipsync_pipeline.api import ApiClient
from lipsync_pipeline.errors import ConfigError, LockfileError
from lipsync_pipeline.lockfile import load_lock
from lipsync_pipeline.plan import Action
from lipsync_pipeline.run import Outcome, RunOptions
from lipsync_pipeline.studio import StudioConfig, serve_studio
from lipsync_pipeline.usecases import RunRequest, check, run_pipeline

URL_JOB = (
    "version: 1\njobs:\n  - id: a\n    kind: avatar\n"
    "    image: https://cdn.example.com/a.png\n    audio: https://cdn.example.com/a.mp3\n"
)


async def test_output_dir_beside_the_lock_round_trips(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "r.yaml"
    path.write_text(avatar_manifest(root, ["a"]))
    # Outside the manifest's tree: only the command line may choose that (--output-dir).
    await run_pipeline(remote_request(path, root, output_dir=tmp_path / "out"))
    entry = load_lock(tmp_path / "m" / "r.lock").entries["a"]
    assert entry.artifact is not None and entry.artifact.path == "../out/a.mp4"
    assert (tmp_path / "out" / "a.mp4").stat().st_size == entry.artifact.bytes

    again = await run_pipeline(remote_request(path, root, output_dir=tmp_path / "out"))

    assert [r.outcome for r in again.results] == [Outcome.SKIPPED]


async def test_changed_output_dir_downloads_there_without_rendering(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "r.yaml"
    path.write_text(avatar_manifest(root, ["a"]))
    await run_pipeline(remote_request(path, root))
    path.write_text("output_dir: elsewhere\n" + avatar_manifest(root, ["a"]))

    report = await run_pipeline(remote_request(path, root))

    assert [r.action for r in report.results] == [Action.DOWNLOAD]
    assert report.requests.get("POST", 0) == 0
    assert (tmp_path / "elsewhere" / "a.mp4").exists()
    assert load_lock(tmp_path / "r.lock").entries["a"].artifact.path == "elsewhere/a.mp4"  # type: ignore[union-attr]


async def test_a_rejected_submission_is_a_failure_not_an_interruption(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    rejected = Reply(422, json={"error": "prompt must be at most 4000 characters"})

    async with scripted_server(default=rejected) as api:
        report = await run_pipeline(remote_request(path, api.url))

    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    assert "422" in report.results[0].error
    assert load_lock(tmp_path / "r.lock").entries["a"].status == "failed"
    assert [s.action for s in check(path).plan.steps] == [Action.RETRY]


def _job_json(status: str, **extra: object) -> dict[str, object]:
    return {
        "id": "r1",
        "model": "lipsync",
        "status": status,
        "output": None,
        "error": "",
        "executionTime": None,
        "timings": None,
        **extra,
    }


async def test_an_interruption_during_a_post_still_records_the_request_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    created = Reply(json={"id": "r1", "status": "processing"}, delay=0.5)
    async with scripted_server(created, default=Reply(json=_job_json("processing"))) as api:
        # An interrupted run waits for the answer, not for its whole grace period.
        with trio.fail_after(10), trio.move_on_after(0.2):  # Ctrl-C mid-answer
            await run_pipeline(remote_request(path, api.url))
    entry = load_lock(tmp_path / "r.lock").entries["a"]
    assert (entry.status, entry.request_id) == ("processing", "r1")  # resumable, not resent


@pytest.mark.parametrize("elapsed", [-5, math.nan, math.inf])
async def test_a_nonsense_execution_time_does_not_poison_the_lock(
    tmp_path: Path, elapsed: float
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    failed = _job_json("failed", error="Invalid audio format", executionTime=elapsed)
    raw = json.dumps(failed).encode()  # json.dumps writes NaN/Infinity, as a sloppy server might
    async with scripted_server(
        Reply(json={"id": "r1", "status": "processing"}),
        default=Reply(body=raw, headers={"Content-Type": "application/json"}),
    ) as api:
        report = await run_pipeline(remote_request(path, api.url))
    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    entry = load_lock(tmp_path / "r.lock").entries["a"]
    assert entry.execution_time_ms is None and entry.error == "Invalid audio format"


async def test_a_key_echoed_by_the_api_never_reaches_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    echo = _job_json("failed", error=f"bad request from Bearer {TEST_KEY}")
    async with scripted_server(
        Reply(json={"id": "r1", "status": "processing"}), default=Reply(json=echo)
    ) as api:
        await run_pipeline(remote_request(path, api.url))
    text = (tmp_path / "r.lock").read_text()
    assert TEST_KEY not in text and TEST_KEY.split("_")[-1] not in text
    assert "bad request from Bearer sk_***" in text


async def test_local_rerun_renders_a_lost_output_again(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    for name in ("face.png", "voice-a.wav"):
        (tmp_path / "assets" / name).write_bytes((ASSETS / name).read_bytes())
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\njobs:\n  - id: a\n    kind: avatar\n"
        "    image: assets/face.png\n    audio: assets/voice-a.wav\n"
    )
    await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))
    (tmp_path / "renders" / "a.mp4").unlink()

    # A new local studio does not know the old request id: render again (it is free).
    report = await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))

    assert [r.outcome for r in report.results] == [Outcome.COMPLETED]
    assert (tmp_path / "renders" / "a.mp4").exists()


async def test_local_run_hands_no_webhook_to_another_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--local promises that no webhook leaves the machine; the runner submits each plan
    step's job, so the step must hold the job with the webhook removed, not the original."""
    (tmp_path / "assets").mkdir()
    for name in ("face.png", "voice-a.wav"):
        (tmp_path / "assets" / name).write_bytes((ASSETS / name).read_bytes())
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\ndefaults:\n  webhook: https://hooks.example.com/done\njobs:\n"
        "  - id: a\n    kind: avatar\n    image: assets/face.png\n    audio: assets/voice-a.wav\n"
        "  - id: b\n    kind: avatar\n    image: assets/face.png\n    audio: assets/voice-a.wav\n"
        "    webhook: http://127.0.0.1:9/hook\n"
    )
    sent: dict[str, str | None] = {}
    real_submit = ApiClient.submit

    async def recording_submit(self: ApiClient, model: str, form: Any, **kwargs: Any) -> str:
        request_id = await real_submit(self, model, form, **kwargs)
        sent[request_id] = kwargs.get("webhook")
        return request_id

    monkeypatch.setattr(ApiClient, "submit", recording_submit)
    report = await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))

    assert sorted(r.outcome for r in report.results) == [Outcome.COMPLETED] * 2
    assert sorted(sent.values(), key=str) == [None, "http://127.0.0.1:9/hook"]


async def test_local_studio_serves_only_the_manifests_inputs(nursery: trio.Nursery) -> None:
    config = StudioConfig(assets_dir=ASSETS.parent, asset_files=frozenset({"assets/face.png"}))
    root = await nursery.start(serve_studio, config)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{root}/assets/assets/face.png")).status_code == 200
        for other in ("demo.yaml", "assets/clip.mp4", "assets/../demo.yaml"):
            assert (await client.get(f"{root}/assets/{other}")).status_code == 404


async def test_an_unwritable_output_dir_stops_paying_and_says_why(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "r.yaml"
    path.write_text(avatar_manifest(root, ["a", "b", "c"]))
    (tmp_path / "renders").write_text("a file where the output folder should be")

    report = await run_pipeline(remote_request(path, root, concurrency=1))

    outcomes = [r.outcome for r in report.results]
    assert outcomes.count(Outcome.ERROR) == 1 and outcomes.count(Outcome.CANCELLED) == 2
    (failed,) = (r for r in report.results if r.outcome is Outcome.ERROR)
    assert "cannot create" in failed.error
    assert (await studio_stats(root))["jobs_created"] == 1
    # The render is paid and recorded: the next run downloads it, it does not re-render.
    assert load_lock(tmp_path / "r.lock").entries[failed.job_id].status == "completed"


def test_replace_outside_only_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        URL_JOB.replace(
            "  - id: a",
            "  - id: b\n    kind: avatar\n"
            "    image: https://cdn.example.com/b.png\n"
            "    audio: https://cdn.example.com/b.mp3\n  - id: a",
        )
    )
    with pytest.raises(ConfigError, match="--replace b"):
        check(path, only=["a"], replace=["b"])


async def test_an_unreachable_api_stops_the_run_instead_of_retrying_every_job(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    ids = [f"j{n}" for n in range(20)]
    lines = ["version: 1", "jobs:"]
    for job_id in ids:
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            "    image: https://cdn.example.com/a.png",
            "    audio: https://cdn.example.com/a.mp3",
        ]
    path = tmp_path / "r.yaml"
    path.write_text("\n".join(lines) + "\n")
    # A loopback port nobody listens on: every connection is refused at once.
    request = RunRequest(
        path,
        base_url="http://127.0.0.1:9/api/v1",
        api_key=TEST_KEY,
        concurrency=2,
        options=FAST_POLL,
    )

    report = await run_pipeline(request)

    outcomes = [r.outcome for r in report.results]
    assert outcomes.count(Outcome.ERROR) <= 4  # the first few exhaust their retries...
    assert outcomes.count(Outcome.CANCELLED) >= len(ids) - 4  # ...then the run stops asking
    cancelled = next(r for r in report.results if r.outcome is Outcome.CANCELLED)
    assert "has not answered" in cancelled.error


async def test_a_render_the_api_forgot_is_not_silently_paid_for_again(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    first = await start_studio(fast=True)
    path = tmp_path / "r.yaml"
    path.write_text(avatar_manifest(first, ["a"]))
    await run_pipeline(remote_request(path, first))
    (tmp_path / "renders" / "a.mp4").unlink()
    other = await start_studio(fast=True)  # knows nothing of the first studio's jobs

    report = await run_pipeline(remote_request(path, other))

    (result,) = report.results
    assert (result.action, result.outcome) == (Action.DOWNLOAD, Outcome.ERROR)
    assert "--replace a" in result.error
    assert (await studio_stats(other))["jobs_created"] == 0


async def test_a_rate_limited_poll_is_not_followed_by_an_immediate_one(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The API said 'slow down' (429 + Retry-After): the poll after the one that
    finally got through still waits a whole interval, it does not come at once."""
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    polls: list[float] = []

    def answer(reply: Reply) -> Callable[[Received], Reply]:
        def respond(request: Received) -> Reply:
            polls.append(trio.current_time())
            return reply

        return respond

    script = [
        Reply(json={"id": "r1", "status": "processing"}),
        answer(Reply(429, headers={"Retry-After": "30"})),
        answer(Reply(json=_job_json("processing"))),
        answer(Reply(json=_job_json("processing"))),
        answer(Reply(json=_job_json("failed", error="Invalid audio format"))),
    ]
    interval = 10.0
    options = RunOptions(poll_interval=interval, job_timeout=600)
    async with scripted_server(*script) as api:
        report = await run_pipeline(remote_request(path, api.url, options=options))
    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    assert len(polls) == 4
    assert polls[1] - polls[0] >= 30  # Retry-After honoured
    shortest = interval * 0.75 - interval / 20  # jitter, and the wake-up grid
    gaps = [b - a for a, b in itertools.pairwise(polls[1:])]
    assert min(gaps) >= shortest, f"polls after the rate limit came {gaps} s apart"


def test_the_lock_is_beside_the_manifest_as_its_path_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'link/../r.yaml' names the r.yaml beside link, as the manifest is read: its lock
    must be looked for there too, not where the kernel's walk through link leads."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "ws" / "other").mkdir(parents=True)
    (tmp_path / "ws" / "other" / "link").symlink_to(tmp_path / "proj")
    (tmp_path / "ws" / "other" / "r.yaml").write_text(URL_JOB)
    (tmp_path / "ws" / "other" / "r.lock").write_text("not a lock\n")
    # Where the kernel's walk leads: proj/.. is tmp_path. A valid lock, but the wrong one.
    (tmp_path / "r.lock").write_text('{"version": 1, "jobs": {}}\n')
    monkeypatch.chdir(tmp_path / "ws" / "other")
    with pytest.raises(LockfileError) as info:
        check(Path("link/../r.yaml"))
    assert str(info.value).startswith("r.lock:1:")


async def test_a_request_id_is_on_disk_before_the_job_moves_on(tmp_path: Path) -> None:
    """A kill -9 soon after the POST's answer must find the request id in the lock:
    otherwise the next run resends the POST, and an API that ignores Idempotency-Key
    bills it twice. The first poll being seconds away is no reason to wait.

    Checked without a clock race: the job reports "processing" only after its
    request id is durable, so the lock on disk is read at that very moment."""
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    seen: list[str | None] = []

    class ReadsTheLock:
        def job_state(self, job_id: str, state: str) -> None:
            if state == "processing" and not seen:
                entry = load_lock(tmp_path / "r.lock").entries.get(job_id)
                seen.append(entry.request_id if entry else None)

    created = Reply(json={"id": "r1", "status": "processing"})
    failed = Reply(json=_job_json("failed", error="Invalid audio format"))
    options = RunOptions(poll_interval=0.05, job_timeout=60)
    async with scripted_server(lambda request: created, default=failed) as api:
        await run_pipeline(remote_request(path, api.url, options=options), ReadsTheLock())
    assert seen == ["r1"]


async def test_an_unusable_ca_bundle_stops_a_run_before_it_records_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(URL_JOB)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(ConfigError, match="SSL_CERT_FILE="):
        # https to a loopback port nobody listens on: no request can even start.
        await run_pipeline(remote_request(path, "https://127.0.0.1:9"))
    assert sorted(p.name for p in tmp_path.iterdir() if "lock" in p.name) == []
