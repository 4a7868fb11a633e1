"""An MP4's length from its movie header (what a run bills from each render): the same
as PyAV says for real files, wherever the movie box sits, and None (so PyAV is asked)
for anything it cannot read."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest
from _support import ASSETS

from lipsync_pipeline._mp4 import movie_seconds


def _box(kind: bytes, content: bytes, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(content)) + content
    return struct.pack(">I4s", 8 + len(content), kind) + content


def _mvhd(timescale: int, duration: int, *, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    return _box(b"mvhd", bytes([version, 0, 0, 0]) + times + bytes(80))


def test_a_real_mp4_agrees_with_pyav() -> None:
    path = ASSETS / "clip.mp4"
    with av.open(str(path)) as container:
        assert container.duration is not None
        expected = container.duration / 1_000_000
    assert movie_seconds(path) == pytest.approx(expected, abs=0.001)


@pytest.mark.parametrize(
    ("layout", "seconds"),
    [
        ("moov first", 5.52),
        ("moov last, after a large mdat", 5.52),
        ("64-bit box sizes", 5.52),
        ("version 1 header", 7200.25),
    ],
)
def test_the_movie_box_is_found_wherever_it_is(tmp_path: Path, layout: str, seconds: float) -> None:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isommp42")
    mdat = _box(b"mdat", bytes(100_000))
    moov = _box(b"moov", _box(b"trak", bytes(40)) + _mvhd(1000, 5520))
    data = {
        "moov first": ftyp + moov + mdat,
        "moov last, after a large mdat": ftyp + mdat + moov,
        "64-bit box sizes": ftyp
        + _box(b"mdat", bytes(10), large=True)
        + _box(b"moov", _mvhd(1000, 5520), large=True),
        "version 1 header": ftyp + _box(b"moov", _mvhd(48_000, 345_612_000, version=1)),
    }[layout]
    path = tmp_path / "x.mp4"
    path.write_bytes(data)
    assert movie_seconds(path) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",  # not ISO BMFF
        _box(b"ftyp", b"isom") + _box(b"mdat", bytes(16)),  # no movie box
        _box(b"moov", _mvhd(1000, 0)),  # zero length
        _box(b"moov", _mvhd(1000, 0xFFFFFFFF)),  # "unknown" duration
        _box(b"moov", _mvhd(0, 5000)),  # no timescale
        _box(b"moov", _mvhd(1000, 5000))[:20],  # truncated
        struct.pack(">I4s", 4, b"moov"),  # a size smaller than its header
        struct.pack(">I4s", 1_000_000, b"moov") + bytes(8),  # a size past the end
    ],
)
def test_what_it_cannot_read_is_none(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(data)
    assert movie_seconds(path) is None


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert movie_seconds(tmp_path / "missing.mp4") is None
