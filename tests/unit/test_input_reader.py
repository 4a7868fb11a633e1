"""PyAV reading a header through the on-demand file object: which bytes it costs, and
what it says when the header is out of reach. Ranges are served from memory here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _media import m4a, mp3, pad_before_moov, wav

from lipsync_pipeline.inputs._probe import _length
from lipsync_pipeline.inputs._reader import BLOCK, STREAM_LIMIT, RangedFile, Ranges, Stream


class Origin:
    """Range requests against bytes in memory, counted."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: list[tuple[int, int]] = []

    def fetch(self, lo: int, hi: int) -> bytes:
        self.asked.append((lo, hi))
        return self.data[lo:hi]

    def ranged(self) -> RangedFile:
        return RangedFile(Ranges(self.fetch, len(self.data), self.data[:BLOCK]))

    def streamed(self, chunk: int = 16384) -> RangedFile:
        def chunks() -> Iterator[bytes]:
            for start in range(0, len(self.data), chunk):
                yield self.data[start : start + chunk]

        return RangedFile(Stream(chunks(), len(self.data)))


@pytest.mark.parametrize(
    ("data", "seconds"),
    [
        (wav(7.0), 7.0),
        (mp3(6.0), 6.0),
        (m4a(9.0, moov_first=True), 9.0),
        (m4a(9.0, moov_first=False), 9.0),
        (pad_before_moov(m4a(5.0, moov_first=False), 3 << 20), 5.0),
    ],
)
def test_the_length_is_read_from_the_header_by_range(data: bytes, seconds: float) -> None:
    origin = Origin(data)
    found = _length(origin.ranged())
    assert found == pytest.approx(seconds, abs=0.05)
    fetched = BLOCK + sum(hi - lo for lo, hi in origin.asked)
    # A few blocks, wherever the header is: 3 MiB before the moov cost one seek.
    assert len(origin.asked) <= 3 and fetched <= 4 * BLOCK


def test_an_origin_without_ranges_is_read_in_order_until_the_header() -> None:
    origin = Origin(wav(60.0))  # 1.9 MB: its header is in the first bytes
    file = origin.streamed()
    assert _length(file) == pytest.approx(60.0)
    assert file.source.received < 4 * BLOCK  # type: ignore[attr-defined]


def test_a_header_at_the_end_of_a_large_stream_is_unknown_with_the_reason(
    capfd: pytest.CaptureFixture[str],
) -> None:
    data = pad_before_moov(m4a(5.0, moov_first=False), STREAM_LIMIT + BLOCK)
    file = Origin(data).streamed()
    found = _length(file)
    assert isinstance(found, str)
    assert "does not answer range requests" in found and "moov" in found
    assert file.source.received <= STREAM_LIMIT + 16384  # type: ignore[attr-defined]
    # The failure did not cross into FFmpeg: PyAV prints a traceback for each exception
    # it has to drop ("PyAV library exception being dropped") when one does.
    assert "Traceback" not in capfd.readouterr().err


def test_a_failed_range_makes_the_length_unknown_not_a_guess() -> None:
    data = pad_before_moov(m4a(9.0, moov_first=False), 1 << 20)  # the moov beyond the first block

    def failing(lo: int, hi: int) -> bytes:
        raise OSError("connection reset")

    found = _length(RangedFile(Ranges(failing, len(data), data[:BLOCK])))
    assert found == "could not be read (connection reset)"


def test_bytes_that_are_not_media_say_so() -> None:
    assert _length(Origin(b"<html>not found</html>" * 100).ranged()) == "not a readable media file"


def test_a_small_file_read_whole_gets_its_digest() -> None:
    import hashlib

    data = mp3(1.0)
    file = Origin(data).ranged()
    _length(file)
    assert len(data) < BLOCK and file.digest() == hashlib.sha256(data).hexdigest()
    big = Origin(wav(60.0)).ranged()
    _length(big)
    assert big.digest() is None  # only when the bytes were read anyway
