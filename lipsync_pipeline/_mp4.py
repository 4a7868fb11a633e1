"""An MP4's length from its movie header (``moov/mvhd``), without opening a demuxer.

Why not PyAV, as for every other length (``_media.media_seconds``): ``av.open`` probes
the streams (it decodes a little of each), and ``bench/bench_ci.py`` measures it at
80 to 100 times the CPU of reading the movie header (on the repository's clip,
~1.6-2 ms against ~20 µs per file). A run measures every render it completed, to
report what it billed and to count it against a spend cap; the movie header holds
the declared length for a few dozen bytes of reading. Anything this does not
understand (not ISO BMFF, no ``mvhd``, an unknown duration, a fragmented file)
answers None, and the caller asks PyAV.

ISO/IEC 14496-12: a file is a sequence of boxes, each ``size:u32 type:4cc`` (``size``
1: a u64 size follows; 0: to the end of the file). ``mvhd`` version 0 holds
``creation:u32 modification:u32 timescale:u32 duration:u32`` after ``version:u8
flags:u24``; version 1 has u64 times and duration.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, Final

__all__ = ["movie_seconds"]

_HEADER: Final = struct.Struct(">I4s")
_LARGE: Final = struct.Struct(">Q")
_V0: Final = struct.Struct(">IIII")  # creation, modification, timescale, duration
_V1: Final = struct.Struct(">QQIQ")
_MAX_BOXES: Final = 64  # top-level boxes looked at before giving up
_MAX_MOOV: Final = 64 * 1024 * 1024  # a movie box larger than this is not read


def _boxes(f: BinaryIO, end: int) -> list[tuple[bytes, int, int]]:
    """(type, content offset, content size) of the boxes from here to ``end``."""
    found: list[tuple[bytes, int, int]] = []
    while len(found) < _MAX_BOXES:
        start = f.tell()
        head = f.read(_HEADER.size)
        if len(head) < _HEADER.size:
            break
        size, kind = _HEADER.unpack(head)
        header = _HEADER.size
        if size == 1:
            large = f.read(_LARGE.size)
            if len(large) < _LARGE.size:
                break
            (size,) = _LARGE.unpack(large)
            header += _LARGE.size
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            break
        found.append((kind, start + header, size - header))
        f.seek(start + size)
        if start + size >= end:
            break
    return found


def movie_seconds(path: Path) -> float | None:
    """The length the movie header declares, in seconds; None when it cannot tell."""
    try:
        with path.open("rb") as f:
            end = os.fstat(f.fileno()).st_size
            for kind, offset, size in _boxes(f, end):
                if kind != b"moov" or size > _MAX_MOOV:
                    continue
                f.seek(offset)
                for child, child_offset, child_size in _boxes(f, offset + size):
                    if child == b"mvhd":
                        f.seek(child_offset)
                        return _mvhd_seconds(f.read(min(child_size, 128)))
                return None
    except OSError:
        return None
    return None


def _mvhd_seconds(data: bytes) -> float | None:
    if not data:
        return None
    version = data[0]
    layout = _V1 if version == 1 else _V0 if version == 0 else None
    if layout is None or len(data) < 4 + layout.size:
        return None
    _, _, timescale, duration = layout.unpack_from(data, 4)
    unknown = (1 << (8 * (8 if version == 1 else 4))) - 1
    if not timescale or not duration or duration == unknown:
        return None
    return float(duration / timescale)
