"""Decoding the studio's inputs with PyAV, and turning them into what the renderer needs.

Everything here is synchronous and CPU-bound: the job runner calls it through
``trio.to_thread.run_sync`` (PyAV releases the GIL while decoding). Every failure a
user's file can cause becomes a ``MediaError`` whose text is the job's ``error``,
never a traceback: ``av.open()`` happily opens garbage, so each input is validated
by actually decoding it.

Memory is bounded before anything is decoded: a picture's size is read from its
header (``imagesize``) or its container and refused over ``MAX_IMAGE_PIXELS`` /
``MAX_VIDEO_PIXELS``; and every ``av.open`` (FFmpeg's probing decodes a PNG whole
to learn its size) and every decoder gets FFmpeg's ``max_pixels``, which covers
the formats no header is read for, and an "audio" that is really a huge picture.

Audio is kept as mono 32-bit float PCM at ``AUDIO_RATE`` in plain ``bytes``; numpy
is not a runtime dependency, so the few computations on samples use ``array``
slices, whose ``max``/``min`` run at C speed.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av

from ._imagesize import header_size

__all__ = [
    "AUDIO_RATE",
    "MAX_IMAGE_PIXELS",
    "MAX_MEDIA_SECONDS",
    "MAX_VIDEO_PIXELS",
    "AudioTrack",
    "MediaError",
    "levels",
    "load_audio",
    "load_image",
    "load_mask_box",
    "open_media",
    "probe_video",
]

# Speech survives 24 kHz well, and it halves the memory of a 10-minute input.
AUDIO_RATE: Final = 24_000
MAX_MEDIA_SECONDS: Final = 600.0  # the model family caps a generation at ~10 minutes
# Outputs are 480p or 720p: 16.8 megapixels is plenty, and decodes to at most 128 MB
# (16-bit RGBA). A video frame up to 4096x2160 (DCI 4K).
MAX_IMAGE_PIXELS: Final = 4096 * 4096
MAX_VIDEO_PIXELS: Final = 4096 * 2160
_SAMPLE_BYTES: Final = 4  # float32
_MIN_IMAGE_SIDE: Final = 16
_MASK_PROBE: Final = 64  # masks are analysed at 64x64: only a bounding box is needed
# FFmpeg probes content, and decodes almost anything as *something* (text as ANSI art,
# random bytes as CD+G karaoke graphics): accept only the codecs a user means.
_IMAGE_CODECS: Final = frozenset(
    {
        "png",
        "apng",
        "mjpeg",
        "jpegls",
        "jpeg2000",
        "webp",
        "bmp",
        "gif",
        "tiff",
        "qoi",
        "ppm",
        "pgm",
        "pbm",
        "pam",
    }
)
_VIDEO_CODECS: Final = frozenset(
    {
        "h264",
        "hevc",
        "vp8",
        "vp9",
        "av1",
        "mpeg4",
        "mpeg1video",
        "mpeg2video",
        "prores",
        "mjpeg",
        "theora",
        "h263",
        "msmpeg4v3",
        "wmv2",
        "wmv3",
        "vc1",
        "dnxhd",
        "gif",
    }
)
_AUDIO_CODEC_PREFIXES: Final = (
    "pcm_",
    "mp3",
    "aac",
    "opus",
    "vorbis",
    "flac",
    "alac",
    "mp2",
    "ac3",
    "eac3",
    "amr",
    "speex",
    "wma",
    "adpcm_",
)


class MediaError(Exception):
    """An input cannot be used; ``str()`` is the job's user-facing ``error``."""


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """Mono float32 PCM at ``AUDIO_RATE``."""

    pcm: bytes

    @property
    def samples(self) -> int:
        return len(self.pcm) // _SAMPLE_BYTES

    @property
    def seconds(self) -> float:
        return self.samples / AUDIO_RATE


def open_media(path: Path, max_pixels: int = MAX_VIDEO_PIXELS) -> av.container.InputContainer:
    """``av.open`` whose probing and decoders refuse pictures over ``max_pixels``."""
    limit = {"max_pixels": str(max_pixels)}
    container = av.open(str(path), options=limit)
    for stream in container.streams.video:
        # The probe's decoder had the option; the decoder opened for decode() needs it too.
        stream.codec_context.options = dict(limit)
    return container


def _check_pixels(size: tuple[int, int] | None, limit: int, what: str, field: str) -> None:
    if size is not None and size[0] * size[1] > limit:
        raise MediaError(
            f"{what} too large: {field} is {size[0]}x{size[1]} pixels; "
            f"the limit is {limit / 1e6:.1f} megapixels"
        )


def _too_long(field: str) -> MediaError:
    return MediaError(
        f"Media too long: {field} exceeds the {MAX_MEDIA_SECONDS / 60:.0f}-minute limit"
    )


def load_audio(path: Path, field: str) -> AudioTrack:
    """Decode an audio file (WAV, MP3, the audio of an MP4, ...) to mono PCM."""
    limit = int(MAX_MEDIA_SECONDS * AUDIO_RATE) * _SAMPLE_BYTES
    chunks: list[bytes] = []
    size = 0
    try:
        with open_media(path) as container:
            if not container.streams.audio:
                raise MediaError(f"Invalid audio format: {field} has no audio stream")
            if not container.streams.audio[0].codec_context.name.startswith(_AUDIO_CODEC_PREFIXES):
                raise MediaError(f"Invalid audio format: {field} is not a supported audio codec")
            if container.duration is not None and container.duration / av.time_base > (
                MAX_MEDIA_SECONDS + 1
            ):
                raise _too_long(field)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            decoded = container.decode(container.streams.audio[0])
            for frame in [*decoded, None]:
                for out in resampler.resample(frame):
                    # Plane buffers are padded for alignment: keep only the samples.
                    chunk = bytes(out.planes[0])[: out.samples * _SAMPLE_BYTES]
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit + AUDIO_RATE * _SAMPLE_BYTES:
                        raise _too_long(field)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"Invalid audio format: {field} could not be decoded") from exc
    if size == 0:
        raise MediaError(f"Invalid audio format: {field} contains no audio samples")
    return AudioTrack(b"".join(chunks)[:limit])


def load_image(path: Path, field: str) -> av.VideoFrame:
    """Decode the first frame of an image (PNG, JPEG, ...)."""
    _check_pixels(header_size(path), MAX_IMAGE_PIXELS, "Image", field)
    try:
        with open_media(path, MAX_IMAGE_PIXELS) as container:
            if not container.streams.video:
                raise MediaError(f"Invalid image format: {field} is not an image")
            context = container.streams.video[0].codec_context
            if context.name not in _IMAGE_CODECS:
                raise MediaError(f"Invalid image format: {field} is not a PNG/JPEG/WebP image")
            _check_pixels((context.width, context.height), MAX_IMAGE_PIXELS, "Image", field)
            frame = next(container.decode(video=0), None)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"Invalid image format: {field} could not be decoded") from exc
    if frame is None:
        raise MediaError(f"Invalid image format: {field} contains no picture")
    if min(frame.width, frame.height) < _MIN_IMAGE_SIDE:
        raise MediaError(f"Invalid image format: {field} is smaller than 16x16 pixels")
    return frame


def probe_video(path: Path, field: str) -> tuple[float, int, int]:
    """(seconds, width, height) of a video, after decoding its first frame."""
    try:
        with open_media(path) as container:
            if not container.streams.video:
                raise MediaError(f"Invalid video format: {field} has no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            if context.name not in _VIDEO_CODECS:
                raise MediaError(f"Invalid video format: {field} is not a supported video codec")
            _check_pixels((context.width, context.height), MAX_VIDEO_PIXELS, "Video", field)
            first = next(container.decode(stream), None)
            if first is None:
                raise MediaError(f"Invalid video format: {field} contains no frames")
            seconds = 0.0
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / av.time_base
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"Invalid video format: {field} could not be decoded") from exc
    if min(first.width, first.height) < _MIN_IMAGE_SIDE:
        raise MediaError(f"Invalid video format: {field} is smaller than 16x16 pixels")
    return seconds, first.width, first.height


def load_mask_box(path: Path, field: str) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1, as fractions) of the mask's light area."""
    frame = load_image(path, field).reformat(_MASK_PROBE, _MASK_PROBE, format="gray")
    plane = frame.planes[0]
    data = bytes(plane)
    rows = [
        y
        for y in range(_MASK_PROBE)
        if max(data[y * plane.line_size : y * plane.line_size + _MASK_PROBE]) > 127
    ]
    if not rows:
        raise MediaError(f"Invalid mask image: {field} has no white area")
    cols = [x for x in range(_MASK_PROBE) if any(data[y * plane.line_size + x] > 127 for y in rows)]
    return (
        cols[0] / _MASK_PROBE,
        rows[0] / _MASK_PROBE,
        (cols[-1] + 1) / _MASK_PROBE,
        (rows[-1] + 1) / _MASK_PROBE,
    )


def levels(pcm: bytes, frames: int, fps: int) -> list[float]:
    """Loudness per video frame, 0..1, for the preview overlay.

    Peak level per frame window, normalised by the track's loudest window (so a
    quiet recording still moves the mouth), with a short decay so the mouth
    closes smoothly instead of flickering.
    """
    samples = array.array("f")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % _SAMPLE_BYTES])
    per_frame = AUDIO_RATE / fps
    peaks: list[float] = []
    for i in range(frames):
        window = samples[int(i * per_frame) : int((i + 1) * per_frame)]
        peaks.append(max(max(window), -min(window)) if window else 0.0)
    loudest = max(peaks, default=0.0)
    if loudest <= 1e-4:  # silence: keep the mouth closed, avoid dividing by ~0
        return [0.0] * frames
    out: list[float] = []
    previous = 0.0
    for peak in peaks:
        previous = max(peak / loudest, previous * 0.6)
        out.append(min(1.0, previous))
    return out
