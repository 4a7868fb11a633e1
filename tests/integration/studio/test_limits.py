"""Bounded memory: request bodies, nesting, slow clients, and pictures refused from headers."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import httpx
import pytest
import trio
from studio_helpers import AUTH, HUGE_SIDE, StartStudio, huge_png, submit, wait_job

from lipsync_pipeline.studio._imagesize import header_size
from lipsync_pipeline.studio._media import MAX_IMAGE_PIXELS, MediaError, load_audio, load_image

HUGE_BODY = 300 * 1024 * 1024
CHUNK = 1024 * 1024


def _port(root: str) -> int:
    return int(root.rsplit(":", 1)[1])


async def _head(stream: trio.SocketStream) -> bytes:
    """The response's status line and headers (whatever arrives first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = await stream.receive_some(65536)
        if not more:
            break
        data += more
    return data


async def test_a_chunked_body_is_refused_while_it_streams(root: str) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", _port(root))
    await stream.send_all(
        b"POST /api/v1/lipsync-image HTTP/1.1\r\nhost: studio\r\n"
        b"authorization: " + AUTH["Authorization"].encode() + b"\r\n"
        b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n"
    sent = 0
    head = b""

    async def send_body() -> None:
        nonlocal sent
        # The studio closes after answering: the send fails then.
        with pytest.raises(trio.BrokenResourceError):
            while sent < HUGE_BODY:
                await stream.send_all(chunk)
                sent += CHUNK

    with trio.fail_after(30):  # a safety net, not a measurement
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_body)
            head = await _head(stream)
            nursery.cancel_scope.cancel()
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert sent < 16 * CHUNK  # refused after the first MB or so, not after 300


async def test_a_declared_oversized_body_is_refused_before_it_is_read(root: str) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", _port(root))
    await stream.send_all(
        b"POST /api/v1/lipsync-image HTTP/1.1\r\nhost: studio\r\n"
        b"content-length: %d\r\n\r\n{" % HUGE_BODY
    )
    with trio.fail_after(30):
        assert (await _head(stream)).startswith(b"HTTP/1.1 413")


async def test_a_slow_body_is_cut(start: StartStudio) -> None:
    root = await start(body_timeout=0.3)
    stream = await trio.open_tcp_stream("127.0.0.1", _port(root))
    await stream.send_all(
        b"POST /api/v1/lipsync-image HTTP/1.1\r\nhost: studio\r\n"
        b"authorization: " + AUTH["Authorization"].encode() + b"\r\n"
        b'content-length: 100\r\n\r\n{"formState": '
    )
    with trio.fail_after(30):  # the body never completes: only the studio can end this
        head = await _head(stream)
    assert head.startswith(b"HTTP/1.1 408"), head[:200]
    assert b"connection: close" in head.lower()


async def test_deeply_nested_json_is_a_400(client: httpx.AsyncClient) -> None:
    body = b'{"formState": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = await client.post("/api/v1/lipsync-image", content=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert "nested" in response.json()["error"]


def test_png_and_jpeg_sizes_come_from_their_headers(tmp_path: Path, media: Path) -> None:
    assert header_size(media / "face.png") == (320, 320)
    jpeg = tmp_path / "big.jpg"
    # SOI, an APP0 segment to skip, then SOF0 with height 40000 and width 30000.
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + bytes(9)
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 40000, 30000, 1) + bytes(3)
    jpeg.write_bytes(b"\xff\xd8" + app0 + sof0 + b"\xff\xda")
    assert header_size(jpeg) == (30000, 40000)
    assert header_size(media / "a.wav") is None
    assert header_size(media / "garbage.png") is None  # no IHDR: PyAV's max_pixels guards it


def test_a_huge_picture_is_refused_without_decoding(tmp_path: Path) -> None:
    png = huge_png(tmp_path / "huge.png")
    assert HUGE_SIDE * HUGE_SIDE > MAX_IMAGE_PIXELS
    with pytest.raises(MediaError, match=r"Image too large: image is 16000x16000 pixels"):
        load_image(png, "image")
    # FFmpeg's probe would decode it whole to find an audio stream: max_pixels stops that.
    with pytest.raises(MediaError, match="Invalid audio format"):
        load_audio(png, "audio")


async def test_a_job_with_a_huge_image_fails_clearly(
    start: StartStudio, media: Path, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    huge_png(assets / "huge.png")
    shutil.copy(media / "a.wav", assets / "a.wav")
    root = await start(assets_dir=assets)
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        form = {"image": f"{root}/assets/huge.png", "audio": f"{root}/assets/a.wav"}
        job = await wait_job(client, await submit(client, "lipsync-image", form))
    assert job["status"] == "failed"
    assert job["error"].startswith("Image too large: image is 16000x16000 pixels")
