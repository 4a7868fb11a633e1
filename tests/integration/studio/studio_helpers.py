"""Helpers shared by the studio tests (fixtures live in conftest.py)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import httpx
import trio

KEY = "sk_studio_test0secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
StartStudio = Callable[..., Awaitable[str]]
HUGE_SIDE = 16000
_ROWS_PER_BLOCK = 500


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


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path: Path) -> Path:
    """A valid 16000x16000 16-bit greyscale PNG of ~0.5 MB that decodes to 512 MB.

    Made in ~0.3 s without compressing 512 MB: after a full flush deflate forgets
    its history, so every block of identical rows compresses to identical bytes,
    which are repeated; only the Adler-32 checksum runs over all the rows.
    """
    row = bytes(1 + HUGE_SIDE * 2)  # filter byte 0, then 16000 zero 16-bit pixels
    block = row * _ROWS_PER_BLOCK
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    blocks = HUGE_SIDE // _ROWS_PER_BLOCK
    adler = 1
    for _ in range(blocks):
        adler = zlib.adler32(block, adler)
    idat = b"\x78\xda" + first + again * (blocks - 1) + deflate.flush() + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", HUGE_SIDE, HUGE_SIDE, 16, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    return path
