"""The poll schedule at work against the studio: a rerun polls less (real time)."""

from __future__ import annotations

from pathlib import Path

from _support import StartStudio, avatar_manifest, remote_request, studio_stats

from lipsync_pipeline.run import RunOptions
from lipsync_pipeline.usecases import run_pipeline


async def test_a_rerun_uses_recorded_render_times_to_poll_less(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True, render_delay=1.0)
    path = tmp_path / "renders.yaml"
    options = RunOptions(poll_interval=0.1, job_timeout=30)
    path.write_text(avatar_manifest(root, ["a", "b", "c"]))
    first = await run_pipeline(remote_request(path, root, options=options))
    assert first.requests["GET"] >= 3 * 3  # blind polling: ~10 per job at 0.1 s for 1 s

    new = ["d", "e", "f", "g"]
    path.write_text(avatar_manifest(root, ["a", "b", "c", *new]))
    second = await run_pipeline(remote_request(path, root, options=options))

    assert {r.outcome.value for r in second.results} == {"skipped", "completed"}
    # The lock's execution times (~1 s) put each first poll near completion.
    assert second.requests["GET"] <= 3 * len(new)
    assert (await studio_stats(root))["jobs_created"] == 7
