"""``$GITHUB_STEP_SUMMARY``: ``plan`` and ``run`` append their Markdown summary to the
file the runner names, within its 1 MiB cap.

The runner creates the file per step and shows it on the run's page; GitHub drops a
step's summary over 1 MiB (with an error annotation) instead of cutting it. So the
summary is rendered to fit what is left of the 1 MiB, and skipped with a warning when
almost nothing is. The file is opened for append without following a symbolic link
(as every file we write), and only a regular file is written to. A summary that
cannot be written is a warning, never the command's failure: the renders and the
lock matter, the page does not.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from lipsync_pipeline._fs import open_nofollow
from lipsync_pipeline.cli._markdown import MARKDOWN_LIMIT, error_markdown
from lipsync_pipeline.errors import LipsyncError, UnsafePathError
from lipsync_pipeline.settings import step_summary_path

__all__ = ["STEP_SUMMARY_CAP", "append_step_summary", "summary_on_error"]

STEP_SUMMARY_CAP: Final = 1024 * 1024
# Less room than this left in the file: a summary would be only its heading; skip it.
_MIN_ROOM: Final = 2048

Render = Callable[[int], str]  # byte limit -> Markdown


def append_step_summary(render: Render, path: Path | None = None) -> bool:
    """Append ``render(limit)`` to the step summary (``$GITHUB_STEP_SUMMARY`` unless
    ``path``), separated from what is there by a blank line. False when there is no
    such file or it could not take the summary (then a warning is logged)."""
    path = path or step_summary_path()
    if path is None:
        return False
    try:
        fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK)
    except (OSError, UnsafePathError) as exc:
        _warn(f"step summary not written: {path}: {_why(exc)}")
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            _warn(f"step summary not written: not a regular file: {path}")
            return False
        separator = b"\n" if info.st_size else b""
        room = STEP_SUMMARY_CAP - info.st_size - len(separator)
        if room < _MIN_ROOM:
            _warn(f"step summary not written: the file is at its 1 MiB cap: {path}")
            return False
        data = separator + render(min(room, MARKDOWN_LIMIT)).encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return True
    except OSError as exc:
        _warn(f"step summary not written: {path}: {_why(exc)}")
        return False
    finally:
        os.close(fd)


def _warn(message: str) -> None:
    # A plain line on stderr: plan configures no logging (it would cost start-up), and
    # stdout may be the JSON a program reads.
    print(f"warning: {message}", file=sys.stderr)


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


@contextmanager
def summary_on_error(command: str, manifest: str) -> Iterator[None]:
    """A command that stops on one of our errors (an invalid manifest, the spend cap)
    says so in the step summary too, then the error goes on to the CLI as usual."""
    try:
        yield
    except LipsyncError as exc:
        message = str(exc) or type(exc).__name__
        append_step_summary(lambda limit: error_markdown(command, manifest, message, limit=limit))
        raise
