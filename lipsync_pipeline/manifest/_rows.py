"""``matrix: {rows: lines.csv}``: a matrix's combinations from a CSV file beside the
manifest, the way localisation teams keep their scripts.

The first line names the columns; each further line is one combination. The file
is read with the standard ``csv`` module (comma-separated, ``"`` quotes, a quoted
cell may span lines) as UTF-8, a byte-order mark allowed (spreadsheets write one).
Blank lines are skipped. Every problem names ``lines.csv:LINE`` (the line a row
starts on) and, where it is about one cell, the column.

The file must stay inside the manifest's directory tree (like a local input), and
is bounded like the manifest itself: at most :data:`MAX_BYTES` and
:data:`MAX_COLUMNS` columns (the number of rows is bounded by the number of jobs a
manifest may make).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from lipsync_pipeline.errors import ManifestError, Problem
from lipsync_pipeline.manifest._inside import inside
from lipsync_pipeline.manifest._yaml import MAX_BYTES, decode_text

__all__ = ["MAX_BYTES", "MAX_COLUMNS", "Rows", "read_rows"]

MAX_COLUMNS: Final = 100
"""A row is one combination: a handful of columns. 100 leaves room for wide sheets."""


@dataclass(frozen=True, slots=True)
class Rows:
    """A CSV file's header and rows; ``name`` is its path relative to the manifest."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]  # (line the row starts on, cells)


def read_rows(
    raw: str,
    *,
    manifest_display: str,
    base: str,
    real_base: str,
    max_rows: int,
    name_problem: Callable[[str], str | None],
) -> Rows | str | list[Problem]:
    """Read the CSV file ``raw`` names (relative to the manifest's directory ``base``).

    Returns the rows; a message when the file cannot be used at all (the caller
    locates it at the ``rows:`` value); or located problems inside the file.
    ``name_problem`` says what is wrong with a column name, or None."""
    found = inside(raw, base, real_base, "a rows file must stay inside it")
    if isinstance(found, str):
        return found
    relative, real = found
    display = os.path.normpath(os.path.join(os.path.dirname(manifest_display), relative))
    try:
        with open(real, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return f"cannot read {raw!r}: {exc.strerror or exc}"
    if len(data) > MAX_BYTES:
        return f"{raw!r} is over {MAX_BYTES // (1024 * 1024)} MiB; a rows file may be at most that"
    try:
        text = decode_text(data, display, save_as="UTF-8 CSV", expected="expected CSV text")
    except ManifestError as exc:
        return list(exc.problems)
    found_rows = _parse(text, display, max_rows, name_problem)
    return replace(found_rows, name=relative) if isinstance(found_rows, Rows) else found_rows


def _parse(
    text: str, display: str, max_rows: int, name_problem: Callable[[str], str | None]
) -> Rows | list[Problem]:
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, tuple[str, ...]]] = []
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not cells:
                continue  # a blank line
            if header is None:
                header = cells
                problems.extend(_header_problems(cells, display, start, name_problem))
                if problems:
                    return problems
                continue
            if len(cells) != len(header):
                problems.append(
                    Problem(
                        display,
                        start,
                        None,
                        "",
                        f"{len(cells)} cell{'' if len(cells) == 1 else 's'}, but the header "
                        f"names {len(header)} columns "
                        f"({', '.join(header)}); quote a cell that holds a comma",
                    )
                )
            elif len(rows) >= max_rows:
                message = f"more than {max_rows:,} rows: a manifest may make at most that many jobs"
                return [*problems, Problem(display, start, None, "", message)]
            else:
                rows.append((start, tuple(cells)))
    except csv.Error as exc:
        line = previous_end + 1 if str(exc) == "unexpected end of data" else reader.line_num
        problems.append(Problem(display, line, None, "", f"CSV syntax error: {exc}"))
    if problems:
        return problems
    if header is None:
        return [
            Problem(display, 1, None, "", "the file is empty: its first line names the columns")
        ]
    if not rows:
        message = "no rows under the header: each line after it is one combination"
        return [Problem(display, previous_end, None, "", message)]
    return Rows(display, tuple(header), tuple(rows))


def _header_problems(
    header: list[str], display: str, line: int, name_problem: Callable[[str], str | None]
) -> list[Problem]:
    if len(header) > MAX_COLUMNS:
        message = f"{len(header)} columns; a rows file may have at most {MAX_COLUMNS}"
        return [Problem(display, line, None, "", message)]
    if len(header) == 1 and ";" in header[0]:
        message = (
            f"one column named {header[0]!r}: the file looks separated by ';'; save it "
            "comma-separated (CSV, comma)"
        )
        return [Problem(display, line, None, "", message)]
    problems = []
    seen: set[str] = set()
    for number, name in enumerate(header, 1):
        wrong = "the name of an earlier column again" if name in seen else name_problem(name)
        seen.add(name)
        if wrong is not None:
            where = f"column {number} {name!r}"
            problems.append(Problem(display, line, None, where, wrong))
    return problems
