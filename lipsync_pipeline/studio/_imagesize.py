"""An image's width and height read from its header, without decoding a pixel.

Why not ask PyAV: ``av.open()`` runs FFmpeg's stream probing, which *decodes* a
PNG to learn its size (a 500 KB PNG of 16000x16000 16-bit pixels costs 520 MB and
2 s before ``open`` returns). PNG and JPEG, the formats users send, are read
here; every other format is bounded by FFmpeg's ``max_pixels`` (see ``media``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Final

__all__ = ["header_size"]

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI: Final = b"\xff\xd8"
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI, EOI
_JPEG_SOS: Final = 0xDA
# Metadata segments (EXIF, ICC) come before the frame header; past this, give up.
_JPEG_SCAN_LIMIT: Final = 4 * 1024 * 1024


def _png(f: BinaryIO) -> tuple[int, int] | None:
    head = f.read(16)  # the first chunk: length, type, then IHDR's width and height
    if len(head) < 16 or head[4:8] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[8:16])
    return width, height


def _jpeg(f: BinaryIO) -> tuple[int, int] | None:
    while f.tell() < _JPEG_SCAN_LIMIT:
        byte = f.read(1)
        if byte != b"\xff":
            return None
        marker = 0xFF
        while marker == 0xFF:  # any number of fill bytes may precede a marker
            got = f.read(1)
            if not got:
                return None
            marker = got[0]
        if marker in _JPEG_STANDALONE:
            continue
        raw = f.read(2)
        if len(raw) < 2 or marker == _JPEG_SOS:
            return None
        (length,) = struct.unpack(">H", raw)
        if marker in _JPEG_SOF:
            frame = f.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            # A height of 0 is defined later (DNL marker): unknown here.
            return (width, height) if height else None
        f.seek(length - 2, 1)
    return None


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG from its header; None for other or broken files."""
    with path.open("rb") as f:
        start = f.read(8)
        if start == _PNG_SIGNATURE:
            return _png(f)
        if start.startswith(_JPEG_SOI):
            f.seek(2)
            return _jpeg(f)
    return None
