"""Drawing the preview overlay straight into YUV 4:2:0 planes.

numpy is not a runtime dependency, so pictures are the raw plane buffers of a
``yuv420p`` frame (``bytes``, padded rows included) and drawing is filling
rectangles row by row with slice assignment, which runs at C speed. Drawing in
YUV avoids two colour conversions per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import av

__all__ = ["Overlay", "Picture", "frame_from_picture", "picture_from_frame"]

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, exclusive ends
Yuv = tuple[int, int, int]


def _yuv(r: int, g: int, b: int) -> Yuv:
    """BT.601 limited range, the colour space libx264 assumes by default."""
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


_MOUTH: Final = _yuv(150, 20, 40)
_TRACK: Final = _yuv(40, 40, 40)
_IDLE: Final = _yuv(140, 140, 140)
_SPEAKER_COLOURS: Final = (_yuv(40, 200, 90), _yuv(60, 140, 255))
_TALKING: Final = 0.15  # level above which a speaker counts as talking
_QUANT: Final = 16  # levels are quantised so identical frames can be reused


@dataclass(frozen=True, slots=True)
class Picture:
    """The planes of a yuv420p frame of ``width`` x ``height``."""

    width: int
    height: int
    planes: tuple[bytes, bytes, bytes]
    line_sizes: tuple[int, int, int]


def picture_from_frame(frame: av.VideoFrame) -> Picture:
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    planes = frame.planes
    return Picture(
        frame.width,
        frame.height,
        (bytes(planes[0]), bytes(planes[1]), bytes(planes[2])),
        (planes[0].line_size, planes[1].line_size, planes[2].line_size),
    )


def _fill(buf: bytearray, line: int, rect: Rect, value: int) -> None:
    x0, y0, x1, y1 = rect
    if x1 <= x0:
        return
    row = bytes([value]) * (x1 - x0)
    for y in range(y0, y1):
        start = y * line + x0
        buf[start : start + x1 - x0] = row


class Overlay:
    """The per-frame drawing: mouths opening with loudness, one level bar per speaker."""

    def __init__(
        self,
        size: tuple[int, int],
        speakers: Sequence[Sequence[float]],
        mask: tuple[float, float, float, float] | None,
    ) -> None:
        self._w, self._h = size
        self._speakers = speakers
        w, h = size
        if len(speakers) == 1:
            if mask is not None:
                x0, y0, x1, y1 = mask
                self._mouths = [
                    ((x0 + x1) / 2 * w, (y0 + y1) / 2 * h, (x1 - x0) * w, (y1 - y0) * h)
                ]
            else:
                self._mouths = [(0.5 * w, 0.62 * h, 0.16 * w, 0.12 * h)]
            self._bars = [(0.05, 0.95)]
        else:  # two faces side by side, as in a two-host picture
            self._mouths = [(x * w, 0.6 * h, 0.09 * w, 0.1 * h) for x in (0.25, 0.75)]
            self._bars = [(0.03, 0.47), (0.53, 0.97)]

    def key(self, index: int) -> tuple[int, ...]:
        return tuple(
            round(levels[min(index, len(levels) - 1)] * _QUANT) if levels else 0
            for levels in self._speakers
        )

    def at(self, index: int) -> list[tuple[Rect, Yuv]]:
        """Rectangles to draw on frame ``index``, in drawing order."""
        w, h = self._w, self._h
        bar_h = max(4, h // 30) // 2 * 2
        bar_y = h - 2 * bar_h
        quantised = self.key(index)
        loudest = max(range(len(quantised)), key=lambda i: quantised[i])
        rects: list[tuple[Rect, Yuv]] = []
        for i, level_q in enumerate(quantised):
            level = level_q / _QUANT
            cx, cy, mw, mh = self._mouths[i]
            open_h = max(2.0, mh * level)
            rects.append(
                (
                    (
                        round(cx - mw / 2),
                        round(cy - open_h / 2),
                        round(cx + mw / 2),
                        round(cy + open_h / 2),
                    ),
                    _MOUTH,
                )
            )
            start, end = (round(f * w) for f in self._bars[i])
            rects.append(((start, bar_y, end, bar_y + bar_h), _TRACK))
            talking = level >= _TALKING and (len(quantised) == 1 or i == loudest)
            colour = _SPEAKER_COLOURS[i] if talking else _IDLE
            rects.append(
                ((start, bar_y, start + round((end - start) * level), bar_y + bar_h), colour)
            )
        return rects


def _even(rect: Rect, w: int, h: int) -> Rect:
    """Clip to the picture and snap to even pixels so chroma covers the same area."""
    x0, y0, x1, y1 = rect
    x0, x1 = max(0, min(w, x0)) & ~1, max(0, min(w, x1)) & ~1
    y0, y1 = max(0, min(h, y0)) & ~1, max(0, min(h, y1)) & ~1
    return x0, y0, x1, y1


def frame_from_picture(picture: Picture, rects: Sequence[tuple[Rect, Yuv]] | None) -> av.VideoFrame:
    """A new frame (never one the encoder may still hold) with ``rects`` drawn on it."""
    frame = av.VideoFrame(picture.width, picture.height, "yuv420p")
    target = [plane.line_size for plane in frame.planes]
    if list(picture.line_sizes) != target:  # cannot happen for equal sizes; stay safe
        raise ValueError("plane layout mismatch")
    if not rects:
        for plane, data in zip(frame.planes, picture.planes, strict=True):
            plane.update(data)
        return frame
    y, u, v = (bytearray(p) for p in picture.planes)
    for rect, colour in rects:
        x0, y0, x1, y1 = _even(rect, picture.width, picture.height)
        _fill(y, target[0], (x0, y0, x1, y1), colour[0])
        half = (x0 // 2, y0 // 2, x1 // 2, y1 // 2)
        _fill(u, target[1], half, colour[1])
        _fill(v, target[2], half, colour[2])
    for plane, buf in zip(frame.planes, (y, u, v), strict=True):
        plane.update(bytes(buf))
    return frame
