"""``--render-delay`` as a distribution: each job stays "processing" its own draw."""

from __future__ import annotations

import httpx
from studio_helpers import AUTH, StartStudio, submit, wait_job

from lipsync_pipeline._render_delay import RenderDelay


async def test_each_job_takes_at_least_its_own_draw(start: StartStudio) -> None:
    delay = RenderDelay.parse("0.1-0.9")
    root = await start(render_delay=delay, fast=True)
    forms = [
        {"image": f"{root}/assets/face.png", "audio": f"{root}/assets/a.wav", "seed": n}
        for n in range(4)
    ]
    draws = [delay.seconds_for("lipsync-image", form) for form in forms]
    assert len(set(draws)) == len(draws)
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        ids = [await submit(client, "lipsync-image", form) for form in forms]
        done = [await wait_job(client, job_id) for job_id in ids]
    for job, draw in zip(done, draws, strict=True):
        assert job["status"] == "completed"
        assert job["executionTime"] >= round(draw * 1000) - 1
