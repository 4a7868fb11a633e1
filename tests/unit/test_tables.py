"""Tables: on a narrow terminal ids, paths and request ids are never broken mid-word;
a long table is summarised on a terminal and written whole, one row a line, to a pipe."""

from __future__ import annotations

import io
import re
import sys

import pytest
from rich.console import Console

from lipsync_pipeline.cli._console import table
from lipsync_pipeline.cli._tables import (
    SAMPLE_ROWS,
    TERMINAL_ROWS,
    TableView,
    show_table,
    terminal_rows,
    write_plain,
)

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


def test_a_cell_is_shown_as_written_not_as_rich_markup() -> None:
    out = table(None, ["JOB", "ERROR"], [["a", "[Errno 2] No such file: [bold]x[/bold]"]])
    console = Console(width=120, soft_wrap=False, highlight=False, record=True)
    with console.capture() as captured:
        console.print(out)
    assert "[Errno 2] No such file: [bold]x[/bold]" in captured.get()


def _view(rows: int, notable: set[int]) -> TableView:
    return TableView(
        "plan for big.yaml",
        ("ACTION", "JOB", "WHY"),
        [["submit" if i in notable else "skip", f"job-{i:05d}", "why"] for i in range(rows)],
        "a foot",
        [i in notable for i in range(rows)],
    )


def test_a_pipe_gets_every_row_whole_on_a_line_of_its_own() -> None:
    """For grep and diff: nothing cut to a width, nothing wrapped, columns aligned."""
    long_reason = "failed last time (" + "x" * 300 + ")\nsecond line"
    view = TableView(
        "status of r.yaml",
        ("JOB", "STATUS", "NEXT RUN"),
        [["a", "completed", "skip: up to date"], ["bé-日本", "failed", long_reason]],
        "2 jobs",
    )
    stream = io.StringIO()
    write_plain(view, stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "status of r.yaml" and lines[-1] == "2 jobs"
    header, rule, first, second = lines[1:5]
    assert len(lines) == 6  # title, header, rule, two rows (the newline made a space), foot
    assert first.startswith("a ") and second.startswith("bé-日本 ")
    assert second.endswith("x" * 300 + ") second line")
    # Separators line up on screen: the wide characters take two columns each.
    column = first.index("│")
    assert header.index("┃") == column and rule.index("╇") == column
    assert second.index("│") == column - 2  # "日本" are two characters but four columns


def test_a_long_table_on_a_terminal_shows_the_rows_that_act_and_counts_the_rest() -> None:
    view = _view(5_000, notable={4_999, 4_000, 4_001})
    shown, hidden = terminal_rows(view, limit=100)
    assert [row[1] for row in shown] == ["job-04000", "job-04001", "job-04999"]
    assert hidden == 4_997


def test_when_no_row_acts_a_terminal_gets_a_sample() -> None:
    shown, hidden = terminal_rows(_view(5_000, notable=set()), limit=100)
    assert [row[1] for row in shown] == [f"job-{i:05d}" for i in range(SAMPLE_ROWS)]
    assert hidden == 5_000 - SAMPLE_ROWS


def test_more_rows_that_act_than_fit_shows_the_first_of_them() -> None:
    shown, hidden = terminal_rows(_view(1_000, notable=set(range(500, 1_000))), limit=50)
    assert [row[1] for row in shown] == [f"job-{i:05d}" for i in range(500, 550)]
    assert hidden == 950


def test_a_short_table_is_shown_whole_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    show_table(_view(3, notable=set()))
    assert all(f"job-{i:05d}" in screen.getvalue() for i in range(3))
    assert "not shown" not in screen.getvalue() and "a foot" in screen.getvalue()


def test_a_long_table_on_a_terminal_says_how_to_see_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    show_table(_view(TERMINAL_ROWS + 50, notable={7, 120}))
    text = screen.getvalue()
    assert text.count("job-") == 2 and "job-00007" in text and "job-00120" in text
    assert f"{TERMINAL_ROWS + 48} more row(s) not shown" in text and "--format json" in text


def test_a_pipe_is_not_a_terminal() -> None:
    stream = io.StringIO()
    show_table(_view(TERMINAL_ROWS + 50, notable=set()), stream)
    assert stream.getvalue().count("job-") == TERMINAL_ROWS + 50
