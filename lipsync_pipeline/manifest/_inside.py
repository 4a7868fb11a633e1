"""Files a manifest names (local inputs, a matrix's CSV rows): relative to the manifest,
and inside its directory tree.

CI runs whatever a pull request commits, and ``--local`` serves exactly the
manifest's directory, so a name may neither climb out with ``..`` nor through a
symbolic link: the resolved path is what counts.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Final

from lipsync_pipeline._fs import within
from lipsync_pipeline.manifest._problems import did_you_mean

__all__ = ["inside"]

_DRIVE: Final = re.compile(r"[A-Za-z]:")  # C:\x or C:x: absolute or drive-relative on Windows


def inside(raw: str, base: str, real_base: str, rule: str) -> tuple[str, str] | str:
    """``(normalized relative POSIX path, resolved absolute path)`` of the file ``raw``
    names relative to ``base`` (whose resolved form is ``real_base``), or a message
    saying why not. ``rule`` finishes the message about leaving the tree."""
    if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
        # The schema refuses these for inputs; a rows: file is checked only here.
        return f"must be a path relative to the manifest's directory, not {raw!r}"
    relative = posixpath.normpath(raw)
    absolute = os.path.normpath(os.path.join(base, relative))
    if relative == ".." or relative.startswith("../"):
        return f"{raw!r} points outside the manifest's directory; {rule}"
    real = os.path.realpath(absolute)
    if not within(real, real_base):
        return f"{raw!r} leads outside the manifest's directory through a symlink"
    if os.path.isdir(real):
        return f"{raw!r} is a directory, not a file"
    if not os.path.isfile(real):
        return f"file not found: {raw!r} (relative to {base}){_near(absolute)}"
    return relative, real


def _near(absolute: str) -> str:
    folder, name = os.path.split(absolute)
    try:
        siblings = os.listdir(folder)
    except OSError:
        return ""
    return did_you_mean(name, siblings, last=True)
