"""Generate the demo media in this directory (PyAV + stdlib only, deterministic).

    python manifests/assets/make_assets.py [OUT_DIR]

Writes face.png, hosts.png, mouth-mask.png, voice-a.wav, voice-b.mp3 and
clip.mp4, each well under 150 KB. The voices are not speech: a voiced tone with
harmonics under a syllable-shaped envelope (about 4 syllables a second with
pauses), which is what the studio's preview overlay reacts to. The tests import
this file too, to make shorter clips of their own.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import av

RGB = tuple[int, int, int]
SKIN: RGB = (238, 196, 160)
BACKGROUND: RGB = (70, 110, 160)
DARK: RGB = (40, 30, 30)
LIPS: RGB = (170, 60, 70)


class Canvas:
    """An RGB24 picture with just enough drawing for cartoon faces."""

    def __init__(self, width: int, height: int, fill: RGB) -> None:
        self.width, self.height = width, height
        self.data = bytearray(bytes(fill) * (width * height))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: RGB) -> None:
        # One slice assignment per row: fast enough in pure Python.
        for y in range(max(0, int(cy - ry)), min(self.height, int(cy + ry) + 1)):
            dy = (y - cy) / ry
            if abs(dy) > 1:
                continue
            half = rx * math.sqrt(1 - dy * dy)
            x0, x1 = max(0, int(cx - half)), min(self.width, int(cx + half) + 1)
            start = (y * self.width + x0) * 3
            self.data[start : start + (x1 - x0) * 3] = bytes(colour) * (x1 - x0)

    def face(self, cx: float, cy: float, r: float, mouth_open: float = 0.15) -> None:
        self.ellipse(cx, cy, r, r * 1.15, SKIN)
        for side in (-1, 1):
            self.ellipse(cx + side * r * 0.38, cy - r * 0.25, r * 0.14, r * 0.1, (255, 255, 255))
            self.ellipse(cx + side * r * 0.38, cy - r * 0.25, r * 0.06, r * 0.06, DARK)
        self.ellipse(cx, cy + r * 0.45, r * 0.32, r * max(0.04, mouth_open * 0.5), LIPS)

    def frame(self) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "rgb24")
        plane, row = frame.planes[0], self.width * 3
        # Rows of a frame may be padded for alignment: copy row by row into that layout.
        padded = bytearray(plane.buffer_size)
        for y in range(self.height):
            padded[y * plane.line_size : y * plane.line_size + row] = self.data[
                y * row : (y + 1) * row
            ]
        plane.update(bytes(padded))
        return frame


def write_png(canvas: Canvas, path: Path) -> None:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = canvas.width, canvas.height, "rgb24"
    path.write_bytes(b"".join(bytes(p) for p in codec.encode(canvas.frame())))


def voice(seconds: float, pitch: float, rate: int = 16_000, seed: int = 1) -> list[float]:
    """Speech-like samples: harmonics of ``pitch`` with vibrato, under syllable bumps."""
    out: list[float] = []
    phase = 0.0
    syllable = 0.24  # seconds per syllable; every 4th one is a pause
    for n in range(int(seconds * rate)):
        t = n / rate
        index = int(t / syllable)
        pos = (t % syllable) / syllable
        silent = (index + seed) % 4 == 3 or t < 0.1 or t > seconds - 0.15
        envelope = 0.0 if silent else math.sin(math.pi * pos) ** 2
        phase += 2 * math.pi * pitch * (1 + 0.03 * math.sin(2 * math.pi * 5 * t)) / rate
        tone = math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase)
        out.append(0.45 * envelope * tone)
    return out


def write_audio(samples: list[float], path: Path, rate: int = 16_000) -> None:
    codec = "pcm_s16le" if path.suffix == ".wav" else "libmp3lame"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if codec == "libmp3lame":
            stream.bit_rate = 48_000
        _mux_audio(out, stream, samples, rate)


def _mux_audio(
    out: av.container.OutputContainer, stream: av.AudioStream, samples: list[float], rate: int
) -> None:
    pcm = b"".join(
        int(max(-1.0, min(1.0, s)) * 32767).to_bytes(2, "little", signed=True) for s in samples
    )
    step = 1152 * 2
    for offset in range(0, len(pcm), step):
        chunk = pcm[offset : offset + step]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
        frame.planes[0].update(chunk + bytes(frame.planes[0].buffer_size - len(chunk)))
        frame.sample_rate, frame.pts, frame.time_base = rate, offset // 2, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_clip(path: Path, seconds: float = 2.0, fps: int = 15, size: int = 240) -> None:
    """A small talking-head clip: the face nods and its mouth moves, with a voice."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "30"})
        video.width, video.height, video.pix_fmt = size * 4 // 3, size, "yuv420p"
        audio = out.add_stream("aac", rate=16_000)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            canvas = Canvas(size * 4 // 3, size, BACKGROUND)
            wobble = math.sin(i / fps * 2 * math.pi) * size * 0.04
            canvas.face(size * 2 / 3 + wobble, size / 2, size * 0.3, 0.1 + 0.2 * abs(math.sin(i)))
            frame = canvas.frame().reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        _mux_audio(out, audio, voice(seconds, 180.0, seed=2), 16_000)


def make_all(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    face = Canvas(480, 480, BACKGROUND)
    face.face(240, 230, 150)
    write_png(face, out_dir / "face.png")
    mask = Canvas(480, 480, (0, 0, 0))
    mask.ellipse(240, 230 + 150 * 0.45, 150 * 0.45, 150 * 0.22, (255, 255, 255))
    write_png(mask, out_dir / "mouth-mask.png")
    hosts = Canvas(640, 360, (90, 90, 120))
    hosts.face(160, 175, 95)
    hosts.face(480, 175, 95)
    write_png(hosts, out_dir / "hosts.png")
    write_audio(voice(3.0, 140.0, seed=0), out_dir / "voice-a.wav")
    write_audio(voice(2.5, 230.0, seed=1), out_dir / "voice-b.mp3")
    write_clip(out_dir / "clip.mp4")


if __name__ == "__main__":
    make_all(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
