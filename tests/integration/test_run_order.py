"""What a user sees of a run: jobs start in the manifest's order, a job's TIME is its
own (not its wait behind the concurrency limit), and `plan` says what `run` does."""

from __future__ import annotations

from pathlib import Path

from _scripted_server import Reply, scripted_server
from _support import ASSETS, FAST_POLL, remote_request

from lipsync_pipeline.plan import Action
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.usecases import RunRequest, check, run_pipeline

# Not sorted, so neither alphabetical order nor chance passes for the manifest's.
IDS = ["dl-001", "av-027", "zz-9", "aa-1", "mm-5", "bb-2", "yy-8", "cc-3", "xx-7"]
REJECTED = Reply(422, json={"error": "Invalid audio format"})  # final at once: no polling


def _manifest(path: Path, ids: list[str]) -> Path:
    lines = ["version: 1", "jobs:"]
    for job_id in ids:
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            "    image: https://cdn.example.com/face.png",
            f"    audio: https://cdn.example.com/{job_id}.mp3",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _posted(received: list) -> list[str]:  # type: ignore[type-arg]
    return [
        r.json()["formState"]["audio"].rsplit("/", 1)[-1].removesuffix(".mp3")
        for r in received
        if r.method == "POST"
    ]


async def test_one_at_a_time_jobs_are_submitted_in_the_manifests_order(tmp_path: Path) -> None:
    path = _manifest(tmp_path / "r.yaml", IDS)
    async with scripted_server(default=REJECTED) as api:
        await run_pipeline(remote_request(path, api.url, concurrency=1))
    assert _posted(api.received) == IDS


async def test_with_more_in_flight_no_job_jumps_the_queue(tmp_path: Path) -> None:
    """With N in flight, the k-th submission is one of the first k+N jobs: a job at
    the end of the manifest never goes first (tasks started at once reach a limiter
    in trio's random order)."""
    path = _manifest(tmp_path / "r.yaml", IDS)
    async with scripted_server(default=REJECTED) as api:
        await run_pipeline(remote_request(path, api.url, concurrency=3))
    posted = _posted(api.received)
    assert sorted(posted) == sorted(IDS)
    assert all(IDS.index(job_id) < k + 3 for k, job_id in enumerate(posted)), posted


async def test_a_jobs_time_is_its_own_not_its_wait_for_a_slot(tmp_path: Path) -> None:
    path = _manifest(tmp_path / "r.yaml", ["slow", "quick"])
    slow = Reply(422, json={"error": "Invalid audio format"}, delay=2.0)
    async with scripted_server(slow, default=REJECTED) as api:
        report = await run_pipeline(remote_request(path, api.url, concurrency=1))
    seconds = {r.job_id: r.seconds for r in report.results}
    assert {r.outcome for r in report.results} == {Outcome.FAILED}
    # "quick" waited two seconds for the only slot; they are not its own time (its own
    # is one loopback POST and two lock writes: far less, even on a loaded machine).
    assert seconds["slow"] >= 2.0 > seconds["quick"]


async def test_plan_local_says_what_run_local_does_after_output_dir_changes(
    tmp_path: Path,
) -> None:
    """The local studio forgets its jobs: after output_dir changes, `run --local`
    renders again (free), so `plan --local` must say so, not "download, 0 paid"."""
    (tmp_path / "assets").mkdir()
    for name in ("face.png", "voice-a.wav"):
        (tmp_path / "assets" / name).write_bytes((ASSETS / name).read_bytes())
    path = tmp_path / "r.yaml"
    job = "jobs:\n  - id: a\n    kind: avatar\n    image: assets/face.png\n"
    job += "    audio: assets/voice-a.wav\n"
    path.write_text("version: 1\n" + job)
    await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))
    path.write_text("version: 1\noutput_dir: elsewhere\n" + job)

    assert [s.action for s in check(path).plan.steps] == [Action.DOWNLOAD]  # hosted API
    (step,) = check(path, local=True).plan.steps
    assert step.action is Action.SUBMIT and "renders again" in step.reason

    report = await run_pipeline(RunRequest(path, local=True, options=FAST_POLL))
    assert [(r.action, r.outcome) for r in report.results] == [(Action.SUBMIT, Outcome.COMPLETED)]
    assert (tmp_path / "elsewhere" / "a.mp4").exists()
