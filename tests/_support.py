"""Helpers shared by the runner and CLI tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "manifests" / "assets"
TEST_KEY = "sk_test_0123456789secretvalue"

StartStudio = Callable[..., Awaitable[str]]


async def studio_stats(root: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{root}/_studio/stats")
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
