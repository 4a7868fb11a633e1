"""The layout of objects in the store: the one definition of a key's shape.

Keys are relative to the store's URL (its prefix is not part of them), so a lock that
records ``renders/intro/<sha256>.mp4`` stays true when the store moves or is served
from a CDN::

    inputs/sha256/<64 hex><.ext>       content-addressed: one object per distinct input
    renders/<job id>/<64 hex>.mp4      content-addressed per job: history is kept, a
                                       changed render never overwrites an old one
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Final

from lipsync_pipeline.errors import StoreError

__all__ = ["INPUTS_DIR", "RENDERS_DIR", "check_key", "input_key", "render_key"]

INPUTS_DIR: Final = "inputs/sha256"
RENDERS_DIR: Final = "renders"
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
# The manifest's job id pattern (schemas/manifest.schema.json $defs/id).
_JOB_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SUFFIX: Final = re.compile(r"\.[a-z0-9]{1,10}")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._=+@-]+")


def input_key(sha256: str, name: str | PurePath) -> str:
    """``inputs/sha256/<hex><ext>``; the extension (lowercased) comes from the file's
    name because some APIs sniff the media type from the URL's path."""
    _check_sha(sha256)
    suffix = PurePath(name).suffix.lower()
    return f"{INPUTS_DIR}/{sha256}{suffix if _SUFFIX.fullmatch(suffix) else ''}"


def render_key(job_id: str, sha256: str) -> str:
    """``renders/<job id>/<hex>.mp4``."""
    _check_sha(sha256)
    if not _JOB_ID.fullmatch(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    return f"{RENDERS_DIR}/{job_id}/{sha256}.mp4"


def check_key(key: str) -> str:
    """``key`` if it is a plain relative key; keys come back from the lockfile, which
    anyone can edit, so ``..``, absolute paths and odd characters are refused."""
    segments = key.split("/")
    if not key or any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments):
        raise StoreError(f"not a store key: {key!r}")
    return key


def _check_sha(sha256: str) -> None:
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
