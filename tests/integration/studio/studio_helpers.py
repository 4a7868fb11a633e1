"""Helpers shared by the studio tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import httpx
import trio

KEY = "sk_studio_test0secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
StartStudio = Callable[..., Awaitable[str]]


async def wait_job(client: httpx.AsyncClient, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    with trio.fail_after(timeout):
        while True:
            response = await client.get(f"/api/v1/jobs/{job_id}")
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] != "processing":
                return job
            await trio.sleep(0.05)


async def submit(client: httpx.AsyncClient, model: str, form: dict[str, Any], **kw: Any) -> str:
    response = await client.post(f"/api/v1/{model}", json={"formState": form}, **kw)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["id"]
    return job_id


def probe_mp4(path: Path) -> tuple[float, int, int, bool]:
    """(duration s, width, height, has audio) of an MP4, read back with PyAV."""
    with av.open(str(path)) as container:
        assert container.duration is not None
        video = container.streams.video[0]
        return (
            container.duration / av.time_base,
            video.codec_context.width,
            video.codec_context.height,
            bool(container.streams.audio),
        )
