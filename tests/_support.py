"""Helpers shared by the runner and CLI tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from lipsync_pipeline.run import RunOptions
from lipsync_pipeline.usecases import RunRequest

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "manifests" / "assets"
TEST_KEY = "sk_test_0123456789secretvalue"

StartStudio = Callable[..., Awaitable[str]]

# Tests poll a loopback studio fast; a job that takes 30 s here is a hang.
FAST_POLL = RunOptions(poll_interval=0.05, job_timeout=30)


def remote_request(path: Path, root: str, **kw: Any) -> RunRequest:
    """A run of ``path`` against the studio (or scripted server) at ``root``."""
    kw.setdefault("options", FAST_POLL)
    return RunRequest(path, base_url=f"{root}/api/v1", api_key=TEST_KEY, **kw)


async def studio_stats(root: str, key: str = TEST_KEY) -> dict[str, Any]:
    """The studio's counters; they need a key the studio accepts."""
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{root}/_studio/stats", headers={"Authorization": f"Bearer {key}"}
        )
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


def avatar_manifest(root: str, ids: list[str], *, extra: str = "") -> str:
    """A manifest of avatar jobs whose inputs the studio serves from manifests/assets."""
    lines = ["version: 1", "jobs:"]
    for job_id in ids:
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            f"    image: {root}/assets/face.png",
            f"    audio: {root}/assets/voice-a.wav",
        ]
        if extra:
            lines += [f"    {line}" for line in extra.splitlines()]
    return "\n".join(lines) + "\n"
