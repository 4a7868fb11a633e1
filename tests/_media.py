"""Real media files of known lengths for the input-check tests (PyAV + stdlib, no assets).

Silence is enough: the check reads container headers, never the samples.
"""

from __future__ import annotations

import functools
import io
import struct
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import av

RATE = 16_000


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(2 * int(seconds * RATE)))
    return out.getvalue()


def wav_with_latin1_tag(seconds: float) -> bytes:
    """A WAV whose RIFF ``LIST``/``INFO`` title is latin-1, as many tools write it
    (FFmpeg hands metadata to PyAV as bytes, and PyAV decodes it as UTF-8 by default)."""
    data = wav(seconds)
    title = "Caf\xe9 M\xfcller".encode("latin-1") + b"\0"
    title += b"\0" * (len(title) % 2)  # chunks are padded to even sizes
    info = b"INFO" + b"INAM" + struct.pack("<I", len(title)) + title
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    riff_size = struct.pack("<I", len(data) - 8 + len(chunk))
    return data[:4] + riff_size + data[8:] + chunk


def encoded(seconds: float, codec: str, container: str, **options: str) -> bytes:
    """Silence encoded with ``codec`` in ``container`` (mp3, mp4 with options).

    Through a real file: MP4's ``faststart`` reopens its output to move the moov box
    forward, which a file-like object cannot be."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{container}"
        _encode(path, seconds, codec, container, options)
        return path.read_bytes()


def _encode(
    path: Path, seconds: float, codec: str, container: str, options: dict[str, str]
) -> None:
    with av.open(str(path), "w", format=container, options=options) as muxer:
        stream = muxer.add_stream(codec, rate=RATE)
        stream.layout = "mono"
        step = 1152
        for start in range(0, int(seconds * RATE), step):
            frame = av.AudioFrame(format="s16", layout="mono", samples=step)
            frame.planes[0].update(bytes(frame.planes[0].buffer_size))
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))


def mp3(seconds: float) -> bytes:
    return encoded(seconds, "libmp3lame", "mp3")


def m4a(seconds: float, *, moov_first: bool) -> bytes:
    """AAC in MP4; FFmpeg writes the ``moov`` box (the header) after the media unless
    asked for ``faststart``."""
    return encoded(seconds, "aac", "mp4", **({"movflags": "faststart"} if moov_first else {}))


def _boxes(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of an MP4's top-level boxes."""
    found, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        found.append((offset, kind))
        offset += size
    return found


def pad_before_moov(data: bytes, padding: int) -> bytes:
    """The MP4 with a ``free`` box of ``padding`` bytes just before its trailing ``moov``:
    the media offsets stay right, and the header moves ``padding`` bytes further."""
    moov = next(offset for offset, kind in _boxes(data) if kind == b"moov")
    free = struct.pack(">I4s", 8 + padding, b"free") + bytes(padding)
    return data[:moov] + free + data[moov:]


def sparse_wav(path: Path, size: int) -> float:
    """A WAV of ``size`` bytes of silence, sparse on disk (a 1 GB file costs nothing);
    returns its length in seconds."""
    data = size - 44
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, RATE, 2 * RATE, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )
    with path.open("wb") as f:
        f.write(header)
        f.truncate(size)
    return data / (2 * RATE)


def sparse_mp4(path: Path, media: bytes, size: int) -> None:
    """``media`` (an MP4 whose moov is at its end) grown to ``size`` bytes by a ``free``
    box before its moov, sparse on disk: a "1 GB video" with its header at the very end."""
    moov = next(offset for offset, kind in _boxes(media) if kind == b"moov")
    pad = size - len(media) - 16
    with path.open("wb") as f:
        f.write(media[:moov])
        f.write(struct.pack(">I4sQ", 1, b"free", 16 + pad))
        f.seek(pad, 1)  # a hole: nothing written, nothing stored
        f.write(media[moov:])


@functools.cache
def samples() -> dict[str, bytes]:
    """A few short clips of each kind the check meets, by file name (made once a session)."""
    return {
        "a.wav": wav(3.0),
        "b.wav": wav(8.0),
        "c.mp3": mp3(6.0),
        "d.m4a": m4a(11.0, moov_first=False),
        "e.m4a": m4a(7.0, moov_first=True),
    }
