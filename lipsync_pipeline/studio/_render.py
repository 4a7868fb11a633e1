"""The preview renderer: real H.264/AAC MP4s with an audio-driven overlay.

This is not a neural lip-sync model. It shows the *timing* a real render would
have: the picture (a still image, or the input video trimmed/looped), the new
audio, a "mouth" box that opens with the loudness, and a level bar per speaker
(for a dialogue, the active speaker's bar is coloured). Durations follow the
pricing rules (``lipsync_pipeline.pricing.output_seconds``), so a client sees
exactly the output length the hosted service would produce.

``render()`` is synchronous and CPU-bound; run it in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av

from .. import pricing
from ._draw import Overlay, Picture, frame_from_picture, picture_from_frame
from ._media import (
    AUDIO_RATE,
    MAX_MEDIA_SECONDS,
    AudioTrack,
    MediaError,
    levels,
    load_audio,
    load_image,
    load_mask_box,
    open_media,
    probe_video,
)

__all__ = [
    "FPS",
    "HEIGHTS",
    "RenderResult",
    "output_size",
    "probe",
    "render",
    "render_placeholder",
]

FPS: Final = 25
HEIGHTS: Final[Mapping[str, int]] = {"480p": 480, "720p": 720}
_MAX_WIDTH: Final = 3840
# veryfast keeps quality reasonable at ~0.1 s of encode per second of 480p video.
_X264: Final = {"preset": "veryfast", "crf": "23", "g": str(FPS * 2)}
_AUDIO_CHUNK: Final = AUDIO_RATE // 5
# Speakers are panned 75/25 so a listener hears who talks without one-ear audio.
_PAN: Final = "stereo|c0=0.75*c0+0.25*c1|c1=0.25*c0+0.75*c1"


@dataclass(frozen=True, slots=True)
class RenderResult:
    seconds: float  # output length, per the pricing rules
    width: int
    height: int
    durations: Mapping[str, float]  # input field -> seconds, for pricing


def output_size(width: int, height: int, resolution: str) -> tuple[int, int]:
    """Target (width, height): the requested height, aspect kept, both even (libx264)."""
    out_h = HEIGHTS[resolution]
    out_w = round(out_h * width / height / 2) * 2
    return max(2, min(_MAX_WIDTH, out_w)), out_h


def _tracks(
    model: str, audios: Mapping[str, AudioTrack], order: str | None
) -> tuple[bytes, bytes, int]:
    """Left and right PCM tracks (equal length) and the output length in samples."""
    if model != "lipsync-image-multi":
        pcm = audios["audio"].pcm
        return pcm, pcm, len(pcm) // 4
    left, right = audios["left_audio"].pcm, audios["right_audio"].pcm
    if (order or "meanwhile") == "meanwhile":
        total = max(len(left), len(right))
        left_track, right_track = left, right
    elif order == "left_right":
        total = len(left) + len(right)
        left_track, right_track = left, bytes(len(left)) + right
    else:  # right_left
        total = len(left) + len(right)
        left_track, right_track = bytes(len(right)) + left, right
    # bytes(n) is all zeros, which is 0.0 in float32: silence.
    left_track += bytes(total - len(left_track))
    right_track += bytes(total - len(right_track))
    return left_track, right_track, total // 4


def _audio_frames(left: bytes, right: bytes) -> Iterator[av.AudioFrame]:
    """Stereo AAC-ready frames, the two tracks blended by FFmpeg's ``pan`` filter."""
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="fltp", sample_rate=AUDIO_RATE, layout="stereo", time_base=Fraction(1, AUDIO_RATE)
    )
    pan = graph.add("pan", _PAN)
    sink = graph.add("abuffersink")
    source.link_to(pan)
    pan.link_to(sink)
    graph.configure()
    step = _AUDIO_CHUNK * 4
    for offset in range(0, len(left), step):
        chunk_l, chunk_r = left[offset : offset + step], right[offset : offset + step]
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=len(chunk_l) // 4)
        frame.planes[0].update(chunk_l)
        frame.planes[1].update(chunk_r)
        frame.sample_rate = AUDIO_RATE
        frame.time_base = Fraction(1, AUDIO_RATE)
        frame.pts = offset // 4
        source.push(frame)
        while True:
            try:
                pulled = sink.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            assert isinstance(pulled, av.AudioFrame)
            yield pulled


def _looped_video(path: Path, frames: int, size: tuple[int, int]) -> Iterator[Picture]:
    """The video's pictures at FPS, trimmed to ``frames`` or looped to reach it."""
    produced = 0
    offset = 0.0  # output time at which the current pass of the video started
    while produced < frames:
        current: Picture | None = None
        start: float | None = None
        last_time, frame_len = 0.0, 1 / FPS
        with open_media(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if stream.average_rate:
                frame_len = float(1 / stream.average_rate)
            for frame in container.decode(stream):
                t = float(frame.time or 0.0)
                start = t if start is None else start
                last_time = t - start
                while (
                    current is not None
                    and produced < frames
                    and produced / FPS - offset < last_time
                ):
                    yield current
                    produced += 1
                if produced >= frames:
                    return
                current = picture_from_frame(frame.reformat(*size, format="yuv420p"))
        if current is None:
            raise MediaError("Invalid video format: video contains no frames")
        pass_len = max(last_time + frame_len, 1 / FPS)
        while produced < frames and produced / FPS - offset < pass_len:
            yield current
            produced += 1
        offset += pass_len


def _encode(
    out_path: Path,
    size: tuple[int, int],
    pictures: Iterator[Picture],
    overlay: Overlay | None,
    left: bytes,
    right: bytes,
    frame_count: int,
    fps: int = FPS,
    options: Mapping[str, str] = _X264,
) -> None:
    """Mux video and audio into an MP4, interleaving them a fraction of a second at a time."""
    # A unique temporary name, then an atomic rename: readers never see a partial MP4.
    tmp = out_path.with_name(f"{out_path.name}.{threading.get_ident()}.part")
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=fps, options=dict(options))
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "stereo"
        audio.bit_rate = 64_000
        sound = _audio_frames(left, right)
        audio_time = 0.0
        for index, picture in enumerate(pictures):
            frame = frame_from_picture(picture, overlay.at(index) if overlay else None)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
            while audio_time <= (index + 1) / fps:
                chunk = next(sound, None)
                if chunk is None:
                    audio_time = float("inf")
                    break
                audio_time = float((chunk.pts or 0) + chunk.samples) / AUDIO_RATE
                out.mux(audio.encode(chunk))
            if index + 1 >= frame_count:
                break
        for chunk in sound:
            out.mux(audio.encode(chunk))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    tmp.replace(out_path)


@dataclass(frozen=True, slots=True)
class _Prepared:
    result: RenderResult
    left: bytes
    right: bytes
    frames: int
    mask: tuple[float, float, float, float] | None
    still: av.VideoFrame | None  # the image; None for lipsync-video


def _prepare(
    model: str, resolution: str, inputs: Mapping[str, Path], order: str | None
) -> _Prepared:
    """Decode and validate every input; nothing is encoded yet."""
    audio_fields = ("left_audio", "right_audio") if model == "lipsync-image-multi" else ("audio",)
    audios = {field: load_audio(inputs[field], field) for field in audio_fields}
    durations = {field: track.seconds for field, track in audios.items()}
    left, right, samples = _tracks(model, audios, order)
    if samples / AUDIO_RATE > MAX_MEDIA_SECONDS + 0.5:
        raise MediaError("Media too long: the output would exceed the 10-minute limit")
    mask = load_mask_box(inputs["mask_image"], "mask_image") if "mask_image" in inputs else None
    still: av.VideoFrame | None = None
    if model == "lipsync-video":
        video_seconds, width, height = probe_video(inputs["video"], "video")
        durations["video"] = video_seconds
    else:
        still = load_image(inputs["image"], "image")
        width, height = still.width, still.height
    out_w, out_h = output_size(width, height, resolution)
    seconds = pricing.output_seconds(model, durations=durations, order=order)
    result = RenderResult(seconds=seconds, width=out_w, height=out_h, durations=durations)
    frames = max(1, round(samples / AUDIO_RATE * FPS))
    return _Prepared(result, left, right, frames, mask, still)


def probe(
    model: str, resolution: str, inputs: Mapping[str, Path], *, order: str | None = None
) -> RenderResult:
    """Validate the inputs and compute the output's size and length, without encoding."""
    return _prepare(model, resolution, inputs, order).result


def render(
    model: str,
    resolution: str,
    inputs: Mapping[str, Path],
    out_path: Path,
    *,
    order: str | None = None,
) -> RenderResult:
    """Render one generation to ``out_path``; raises ``MediaError`` for unusable inputs."""
    prep = _prepare(model, resolution, inputs, order)
    size = (prep.result.width, prep.result.height)
    if prep.still is None:
        pictures: Iterator[Picture] = _looped_video(inputs["video"], prep.frames, size)
    else:
        still = picture_from_frame(prep.still.reformat(*size, format="yuv420p"))
        pictures = iter([still] * prep.frames)
    speakers = [levels(prep.left, prep.frames, FPS)]
    if model == "lipsync-image-multi":
        speakers.append(levels(prep.right, prep.frames, FPS))
    overlay = Overlay(size, speakers, prep.mask)
    _encode(out_path, size, pictures, overlay, prep.left, prep.right, prep.frames)
    return prep.result


def render_placeholder(out_path: Path, size: tuple[int, int], seconds: float) -> None:
    """A grey, silent MP4 of the right size and length, cheap to make (fast mode)."""
    fps = 10  # at most half a frame (50 ms) off the audio length
    frames = max(1, round(seconds * fps))
    grey = picture_from_frame(_grey_frame(size))
    silence = bytes(round(seconds * AUDIO_RATE) * 4)
    options = {"preset": "ultrafast", "crf": "40"}
    _encode(out_path, size, iter([grey] * frames), None, silence, silence, frames, fps, options)


def _grey_frame(size: tuple[int, int]) -> av.VideoFrame:
    frame = av.VideoFrame(size[0], size[1], "yuv420p")
    for plane in frame.planes:
        plane.update(bytes([128]) * plane.buffer_size)
    return frame
