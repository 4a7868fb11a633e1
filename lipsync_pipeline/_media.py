"""A media file's length as PyAV reads it from its container header (no decoding): the
one place the runner opens media with PyAV (the reference studio renders with it).

Shared by the estimate (local inputs), the input check (URL inputs, through a
file-like object that reads ranges) and billing (a render that is not a plain MP4;
``_mp4.movie_seconds`` reads those without PyAV). PyAV is imported on first use:
``validate`` and an up-to-date run never need it.
"""

from __future__ import annotations

import io
import os

__all__ = ["UnreadableMedia", "media_seconds"]


class UnreadableMedia(Exception):
    """PyAV could not read ``source`` as a media file."""


def media_seconds(source: str | os.PathLike[str] | io.IOBase) -> float | None:
    """The length the container header declares, in seconds; None when it declares
    none. ``source``: a path or a binary file-like object. Raises UnreadableMedia."""
    import av

    file = os.fspath(source) if isinstance(source, os.PathLike) else source
    try:
        # Metadata tags are text in whatever encoding the tool that wrote them used
        # (latin-1 in many WAV LIST/INFO chunks): "replace", as only the length matters.
        with av.open(file, mode="r", metadata_errors="replace") as container:
            duration = container.duration
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise UnreadableMedia(str(exc)) from exc
    return duration / av.time_base if duration else None
