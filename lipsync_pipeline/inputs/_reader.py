"""A file-like object over an HTTP resource, for PyAV: bytes are fetched when read.

``av.open`` accepts any object with ``read``/``seek``/``tell``; a container header
(a WAV's ``fmt``/``data`` chunks, an MP3's Xing frame, an MP4's ``moov`` box) is a
few KiB somewhere in the file, so reading it costs a few range requests, not a
download. Two sources:

- ``Ranges``: the origin honours ``Range``; blocks of ``BLOCK`` bytes are fetched on
  demand (aligned, so PyAV's re-reads hit what was fetched) and kept. A seek to the
  end (an MP4 whose ``moov`` follows the media) costs one more request there.
- ``Stream``: the origin answered 200 to a ``Range`` request; the body is read in order
  and kept, up to ``STREAM_LIMIT``. A header at the start is found; one at the end of
  a large file is not, and that is said, never guessed.

Both stay *seekable* for PyAV, with the size from the response: FFmpeg learns a
file's size by seeking to its end and back (PyAV answers ``AVSEEK_SIZE`` with -1),
and without it a WAV's or an MP3's length is not computed at all. A seek only moves
the position; bytes are asked for when read.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from typing import Final, Protocol

__all__ = [
    "BLOCK",
    "MAX_RANGE_BYTES",
    "MAX_RANGE_REQUESTS",
    "STREAM_LIMIT",
    "Budget",
    "RangedFile",
    "Ranges",
    "Source",
    "Stream",
]

BLOCK: Final = 64 << 10
# What one URL may cost before the check gives up on its length.
MAX_RANGE_BYTES: Final = 8 << 20
MAX_RANGE_REQUESTS: Final = 32
STREAM_LIMIT: Final = 4 << 20


class Budget(Exception):
    """Reading the header would take more than this check spends on one URL."""


class Source(Protocol):
    """Where a ``RangedFile``'s bytes come from."""

    @property
    def size(self) -> int | None: ...

    def get(self, start: int, stop: int) -> bytes: ...

    def whole(self) -> bytes | None: ...


# (start, stop) -> the bytes of that range (an HTTP range request; stop exclusive)
FetchRange = Callable[[int, int], bytes]


class Ranges:
    """Blocks of a resource whose origin answers range requests."""

    def __init__(self, fetch: FetchRange, size: int, first: bytes) -> None:
        self.size: int | None = size
        self._fetch = fetch
        self._blocks: dict[int, bytes] = {}
        self.requests = 0
        self.fetched = 0
        self._keep(0, first)

    def _keep(self, start: int, data: bytes) -> None:
        # Only whole blocks (or the file's last, short one) are kept, by index.
        for offset in range(0, len(data), BLOCK):
            chunk = data[offset : offset + BLOCK]
            end = start + offset + len(chunk)
            if len(chunk) == BLOCK or end == self.size:
                self._blocks[(start + offset) // BLOCK] = chunk

    def get(self, start: int, stop: int) -> bytes:
        assert self.size is not None
        stop = min(stop, self.size)
        if start >= stop:
            return b""
        first, last = start // BLOCK, (stop - 1) // BLOCK
        missing = [i for i in range(first, last + 1) if i not in self._blocks]
        if missing:
            lo, hi = missing[0] * BLOCK, min((missing[-1] + 1) * BLOCK, self.size)
            if self.requests >= MAX_RANGE_REQUESTS or self.fetched + hi - lo > MAX_RANGE_BYTES:
                raise Budget(
                    f"its header needs more than {MAX_RANGE_REQUESTS} range requests or "
                    f"{MAX_RANGE_BYTES >> 20} MiB"
                )
            self.requests += 1
            data = self._fetch(lo, hi)
            self.fetched += len(data)
            if len(data) != hi - lo:
                raise OSError(f"asked for {hi - lo} bytes at {lo}, got {len(data)}")
            self._keep(lo, data)
        joined = b"".join(self._blocks[i] for i in range(first, last + 1))
        return joined[start - first * BLOCK : stop - first * BLOCK]

    def whole(self) -> bytes | None:
        """Every byte, if every block happens to have been fetched (a small file)."""
        assert self.size is not None
        count = -(-self.size // BLOCK)
        if any(i not in self._blocks for i in range(count)):
            return None
        return b"".join(self._blocks[i] for i in range(count))


class Stream:
    """A response body read in order, kept so that PyAV may seek back within it."""

    def __init__(self, chunks: Iterator[bytes], size: int | None) -> None:
        self.size = size
        self._chunks = chunks
        self._kept = bytearray()
        self._done = False

    @property
    def received(self) -> int:
        return len(self._kept)

    def get(self, start: int, stop: int) -> bytes:
        while len(self._kept) < stop and not self._done:
            if len(self._kept) >= STREAM_LIMIT:
                raise Budget(
                    "the origin does not answer range requests and the length is not in the "
                    f"first {STREAM_LIMIT >> 20} MiB (an MP4 whose moov box is at the end?)"
                )
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._kept += chunk
        return bytes(self._kept[start:stop])

    def whole(self) -> bytes | None:
        return bytes(self._kept) if self._done else None


class RangedFile(io.RawIOBase):
    """What PyAV reads: a position over a ``Ranges`` or ``Stream`` source."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self._pos = 0
        self.failure: Exception | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END and self.source.size is not None:
            target = self.source.size + offset
        else:
            raise OSError("cannot seek there: the size is not known")
        if target < 0:
            raise OSError("cannot seek before the start")
        self._pos = target
        return target

    def read(self, size: int = -1) -> bytes:
        if self.failure is not None:
            return b""
        if size is None or size < 0:
            size = BLOCK
        try:
            data = self.source.get(self._pos, self._pos + size)
        except Exception as exc:
            # An exception must not cross into FFmpeg: PyAV stashes the first, FFmpeg
            # reads again, and each later one is "dropped" with a traceback on stderr.
            # So the failure is kept, FFmpeg sees the end of the file, and the caller
            # reports ``failure`` instead of whatever FFmpeg made of a cut file.
            self.failure = exc
            return b""
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def digest(self) -> str | None:
        """sha256 of the resource if it was read whole anyway, else None."""
        data = self.source.whole()
        return None if data is None else hashlib.sha256(data).hexdigest()
