"""Tables on a narrow terminal: ids, paths and request ids are never broken mid-word."""

from __future__ import annotations

import re

from rich.console import Console

from lipsync_pipeline.cli._console import table

REQUEST = "5a3053ec-a1c2-40a2-8dca-fb2af1c518a9"
PATH = "renders/intro-video-with-a-rather-long-name.mp4"


def _render(width: int) -> list[str]:
    rows = [
        ["hosts-together", "completed", REQUEST, PATH, "ok", "skip: up to date"],
        ["face-hello-720", "completed", REQUEST, "renders/f.mp4", "ok", "skip: up to date"],
    ]
    out = table("status", ["JOB", "STATUS", "REQUEST", "ARTIFACT", "FILE", "NEXT RUN"], rows)
    console = Console(width=width, soft_wrap=False, highlight=False, record=True)
    with console.capture() as captured:
        console.print(out)
    return captured.get().splitlines()


def test_ids_and_paths_are_shortened_not_broken_on_80_columns() -> None:
    lines = _render(80)
    assert all(len(line) <= 80 for line in lines)
    body = "\n".join(lines)
    assert "hosts-together" in body and "face-hello-720" in body  # ids whole
    assert "completed" in body  # short states whole
    # A long value is cut once with an ellipsis; its tail never starts a line of its own.
    cells = [cell.strip() for line in lines for cell in re.split("[│┃]", line)]
    for whole in (REQUEST, PATH):
        pieces = [c for c in cells if c and c.rstrip("…") and whole.startswith(c.rstrip("…"))]
        tails = [c for c in cells if c and c not in pieces and c in whole]
        assert pieces and not tails, (pieces, tails)


def test_on_a_wide_terminal_everything_is_whole() -> None:
    body = "\n".join(_render(200))
    assert PATH in body and REQUEST[:11] in body
