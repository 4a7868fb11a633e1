"""Where a manifest's renders go: ``output_dir``, which must stay inside the
manifest's own directory (a pull request must not make CI write elsewhere; the
user's ``--output-dir`` may)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lipsync_pipeline._fs import within
from lipsync_pipeline.errors import Problem
from lipsync_pipeline.manifest._model import DEFAULT_OUTPUT_DIR
from lipsync_pipeline.manifest._nodes import node_at, problem_at

__all__ = ["manifest_output_dir"]


def manifest_output_dir(
    value: dict[str, Any],
    root: Any,
    invalid: set[tuple[str | int, ...]],
    display_name: str,
    base: str,
    real_base: str,
) -> tuple[Path, Problem | None]:
    """The absolute output directory, and a problem if it leads outside ``base``
    (by ``..`` or through a symbolic link: the resolved path is what counts)."""
    raw = value.get("output_dir", DEFAULT_OUTPUT_DIR)
    if not isinstance(raw, str) or ("output_dir",) in invalid:
        raw = DEFAULT_OUTPUT_DIR  # the schema problem is reported already
    absolute = os.path.normpath(os.path.join(base, raw))
    real = os.path.realpath(absolute)
    if within(real, real_base):
        return Path(absolute), None
    given = "output_dir" in value
    how = (
        "through a symbolic link" if within(absolute, base) else "outside the manifest's directory"
    )
    message = (
        f"{raw!r}{'' if given else ' (the default)'} leads {how} (to {real}); a "
        "manifest may write only inside its own directory: to write there, pass "
        "--output-dir on the command line"
    )
    if not given:
        return Path(absolute), Problem(display_name, None, None, "output_dir", message)
    node = node_at(root, ["output_dir"])
    return Path(absolute), problem_at(display_name, node, "output_dir", message)
