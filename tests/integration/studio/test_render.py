"""Each endpoint renders a real MP4 of the right length and size; bad media fail cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from studio_helpers import probe_mp4, submit, wait_job


async def _render(
    client: httpx.AsyncClient, tmp_path: Path, model: str, form: dict[str, Any]
) -> tuple[float, int, int, bool]:
    job = await wait_job(client, await submit(client, model, form))
    assert job["status"] == "completed", job["error"]
    response = await client.get(job["output"])
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(response.content)
    return probe_mp4(out)


@pytest.mark.parametrize(
    ("model", "fields", "expected", "resolution"),
    [
        ("lipsync-image", {"image": "face.png", "audio": "a.wav"}, 1.0, "480p"),
        (
            "lipsync-image",
            {"image": "face.png", "audio": "b.mp3", "mask_image": "mask.png"},
            1.5,
            "720p",
        ),
        # the 0.6 s clip is looped to the audio; the 1.5 s audio is trimmed nowhere
        ("lipsync-video", {"video": "clip.mp4", "audio": "b.mp3"}, 1.5, "480p"),
        # the clip is trimmed to the 1.0 s audio, its own audio replaced
        ("lipsync-video", {"video": "clip.mp4", "audio": "a.wav"}, 1.0, "720p"),
        (
            "lipsync-image-multi",
            {"image": "hosts.png", "left_audio": "a.wav", "right_audio": "b.mp3"},
            1.5,
            "480p",
        ),
        (
            "lipsync-image-multi",
            {
                "image": "hosts.png",
                "left_audio": "a.wav",
                "right_audio": "b.mp3",
                "order": "left_right",
            },
            2.5,
            "480p",
        ),
        (
            "lipsync-image-multi",
            {
                "image": "hosts.png",
                "left_audio": "a.wav",
                "right_audio": "b.mp3",
                "order": "right_left",
            },
            2.5,
            "720p",
        ),
    ],
)
async def test_endpoint_renders(
    root: str,
    client: httpx.AsyncClient,
    tmp_path: Path,
    model: str,
    fields: dict[str, str],
    expected: float,
    resolution: str,
) -> None:
    form: dict[str, Any] = {k: f"{root}/assets/{v}" if "." in v else v for k, v in fields.items()}
    form["resolution"] = resolution
    duration, width, height, has_audio = await _render(client, tmp_path, model, form)
    assert abs(duration - expected) <= 0.1
    assert height == int(resolution[:-1]) and width % 2 == 0 and has_audio


@pytest.mark.parametrize(
    ("model", "fields", "error"),
    [
        ("lipsync-image", {"image": "face.png", "audio": "text.wav"}, "Invalid audio format"),
        ("lipsync-image", {"image": "face.png", "audio": "face.png"}, "Invalid audio format"),
        ("lipsync-image", {"image": "garbage.png", "audio": "a.wav"}, "Invalid image format"),
        ("lipsync-image", {"image": "a.wav", "audio": "a.wav"}, "Invalid image format"),
        ("lipsync-video", {"video": "face.png.missing", "audio": "a.wav"}, "HTTP 404"),
        ("lipsync-video", {"video": "a.wav", "audio": "a.wav"}, "Invalid video format"),
        (
            "lipsync-image",
            {"image": "face.png", "audio": "a.wav", "mask_image": "black-mask.png"},
            "Invalid mask image",
        ),
    ],
)
async def test_bad_media_fail_the_job_clearly(
    root: str, client: httpx.AsyncClient, model: str, fields: dict[str, str], error: str
) -> None:
    form = {k: f"{root}/assets/{v}" for k, v in fields.items()}
    job = await wait_job(client, await submit(client, model, form))
    assert job["status"] == "failed" and job["output"] is None
    assert error in job["error"]
    assert isinstance(job["executionTime"], int)


async def test_unreachable_input_fails(client: httpx.AsyncClient, root: str) -> None:
    form = {"image": "http://127.0.0.1:9/face.png", "audio": f"{root}/assets/a.wav"}
    job = await wait_job(client, await submit(client, "lipsync-image", form))
    # Which input, and nothing of what (did not) answer: no error class, no address.
    assert job["status"] == "failed" and job["error"] == "Could not fetch input `image`"


async def test_fast_mode_gives_right_shape_without_rendering(start: Any, tmp_path: Path) -> None:
    from studio_helpers import AUTH

    root = await start(fast=True)
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        form = {
            "image": f"{root}/assets/face.png",
            "audio": f"{root}/assets/b.mp3",
            "resolution": "720p",
        }
        ids = [await submit(client, "lipsync-image", form) for _ in range(20)]
        jobs = [await wait_job(client, i) for i in ids]
        assert all(job["status"] == "completed" for job in jobs)
        duration, _, height, has_audio = await _render(client, tmp_path, "lipsync-image", form)
        assert abs(duration - 1.5) <= 0.1 and height == 720 and has_audio
        stats = (await client.get("/_studio/stats")).json()
        assert stats["jobs_created"] == 21 and stats["credits_estimated"] == 21 * 20
