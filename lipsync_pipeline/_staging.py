"""Downloads land in a temp file beside their destination, then move in place.

The temp file is created with ``O_EXCL | O_NOFOLLOW`` (``_fs.create_exclusive``)
and a ``dest`` that is a symbolic link is refused, never replaced.

A reader of ``dest`` sees either its old self or the complete new file, never a
prefix: the bytes go to ``.<name>.<12 hex>.part`` in the same directory (so the
final rename is atomic), are fsynced, and only then renamed. A run killed
mid-download leaves the temp file behind; the next run sweeps it by
:data:`PARTIAL_DOWNLOAD`.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lipsync_pipeline._fs import fsync_directory, open_nofollow, refuse_symlink

__all__ = ["PARTIAL_DOWNLOAD", "StagedFile", "put_in_place", "staging_path"]

_TOKEN_BYTES: Final = 6
PARTIAL_DOWNLOAD: Final = re.compile(rf"\.(?P<output>.+)\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.part")


def staging_path(dest: Path) -> Path:
    """A fresh temp name beside ``dest``; random, so two attempts never share one."""
    return dest.with_name(f".{dest.name}.{os.urandom(_TOKEN_BYTES).hex()}.part")


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A complete download in a temp file beside ``dest``: neither durable nor in place."""

    tmp: Path
    dest: Path
    sha256: str
    size: int

    def publish(self) -> None:
        """fsync the file, then rename it over ``dest`` (blocking). The caller fsyncs the
        directory, once for many files."""
        fd = open_nofollow(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        refuse_symlink(self.dest)  # a link at dest is replaced by nothing of ours
        os.replace(self.tmp, self.dest)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def put_in_place(staged: StagedFile) -> None:
    """Publish one file and make its rename durable (blocking)."""
    staged.publish()
    fsync_directory(staged.dest.parent)
