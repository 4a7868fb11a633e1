"""Tables sized to where they go: every row to a pipe, a readable few on a terminal.

A plan, status or run report of 50,000 jobs is a 50,000-row table. rich lays a table
out cell by cell (~0.8 ms a row here: 40 s for 50,000 rows, six times the whole JSON
plan), and nobody reads 50,000 rows on a terminal. So:

* to a terminal, a table longer than :data:`TERMINAL_ROWS` rows shows only the rows
  that say something (a job to submit, a problem), up to that many, in the table's
  order (when none does, the first :data:`SAMPLE_ROWS` as a sample); then how many
  were left out, and how to see them all;
* to a pipe or a file, every row on a line of its own, in plain aligned columns and
  with every value whole (nothing cut to a width), for ``grep``, ``less`` and
  ``diff``: one pass to size the columns and one to write, linear in the rows, and
  no rich at all.

``--format json`` is the complete, stable shape for programs either way.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Final

__all__ = [
    "SAMPLE_ROWS",
    "TERMINAL_ROWS",
    "TableView",
    "show_table",
    "terminal_rows",
    "write_plain",
]

TERMINAL_ROWS: Final = 100
SAMPLE_ROWS: Final = 20
_HEAD_SEP: Final = " ┃ "
_ROW_SEP: Final = " │ "
_RULE: Final = "━"
_RULE_JOINT: Final = "━╇━"


@dataclass(frozen=True, slots=True)
class TableView:
    """A table as the views build it, before anyone decides how to show it."""

    title: str | None
    columns: tuple[str, ...]
    rows: Sequence[Sequence[str]]
    foot: str = ""
    # Per row: whether it says something (work to do, a problem). A terminal shows only
    # these when the table is too long for it. None: every row does.
    notable: Sequence[bool] | None = None


def show_table(view: TableView, stream: IO[str] | None = None) -> None:
    """``view`` on ``stream`` (stdout): summarised for a terminal, whole for a pipe."""
    stream = stream or sys.stdout
    if stream.isatty():
        _show_on_terminal(view)
    else:
        write_plain(view, stream)


def terminal_rows(view: TableView, limit: int = TERMINAL_ROWS) -> tuple[list[Sequence[str]], int]:
    """The rows a terminal shows, in the table's order, and how many it leaves out."""
    rows = view.rows
    if len(rows) <= limit:
        return list(rows), 0
    notable = view.notable if view.notable is not None else [True] * len(rows)
    picked = [i for i, says in enumerate(notable) if says][:limit]
    if not picked:  # nothing to do anywhere: a sample, not an empty table
        picked = list(range(min(SAMPLE_ROWS, len(rows))))
    return [rows[i] for i in picked], len(rows) - len(picked)


def _show_on_terminal(view: TableView) -> None:
    from rich.text import Text

    from lipsync_pipeline.cli._console import stdout_console, table

    shown, hidden = terminal_rows(view)
    console = stdout_console()
    console.print(table(view.title, view.columns, shown))
    if hidden:
        console.print(
            Text(
                f"… {hidden:,} more row(s) not shown on a terminal: pipe the output "
                "(e.g. `| less`) for every row, or use --format json",
                style="dim",
            )
        )
    if view.foot:
        console.print(Text(view.foot))


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ").replace("\t", " ")


def write_plain(view: TableView, stream: IO[str]) -> None:
    """Every row, one line each, columns aligned; the last column is not padded."""
    rows = [[_one_line(cell) for cell in row] for row in view.rows]
    widths = [_width(name) for name in view.columns]
    for row in rows:
        for i, cell in enumerate(row):
            w = _width(cell)
            if w > widths[i]:
                widths[i] = w
    last = len(widths) - 1

    def line(cells: Sequence[str], sep: str) -> str:
        padded = [
            cell if i == last else cell + " " * (widths[i] - _width(cell))
            for i, cell in enumerate(cells)
        ]
        return sep.join(padded).rstrip() + "\n"

    if view.title:
        stream.write(view.title + "\n")
    stream.write(line(view.columns, _HEAD_SEP))
    stream.write(_RULE_JOINT.join(_RULE * w for w in widths) + "\n")
    chunk: list[str] = []
    for row in rows:
        chunk.append(line(row, _ROW_SEP))
        if len(chunk) >= 1000:
            stream.write("".join(chunk))
            chunk.clear()
    stream.write("".join(chunk))
    if view.foot:
        stream.write(view.foot + "\n")
