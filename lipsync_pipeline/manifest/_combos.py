"""The values a matrix is made of: axis values, axes, combinations, and the context
its checks report to (shared by :mod:`._matrix`, :mod:`._selectors` and
:mod:`._expand`).

Values are kept as text (``1`` and ``"1"`` are the same value), because ids and
paths are text and a combination is named by its values, never by its position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lipsync_pipeline.errors import Problem, format_where
from lipsync_pipeline.manifest._nodes import (
    Located,
    is_plain_non_string,
    key_node_at,
    mark_of,
    node_at,
    problem_at,
    start_of,
)
from lipsync_pipeline.manifest._problems import describe_value
from lipsync_pipeline.manifest._template import NAME

__all__ = [
    "RESERVED",
    "Axis",
    "Combination",
    "Context",
    "Matrix",
    "Path",
    "Value",
    "key_of",
    "name_problem",
    "place_of",
    "read_value",
]

Path = tuple[str | int, ...]

RESERVED: Final = frozenset({"rows", "include", "exclude"})
"""Keys of ``matrix:`` that are not axes."""


@dataclass(frozen=True, slots=True)
class Value:
    """One value of an axis or a CSV cell, as text; ``fields`` of a mapping value
    (``key`` included), empty for a word or number."""

    key: str
    fields: Mapping[str, str]
    node: Located | None  # where it is written; None for a CSV cell
    place: str  # how messages name where it is written: "line 12, column 9" or "lines.csv:7"
    path: Path  # its data path: jobs[0].matrix.lang[2] (a CSV cell: the rows: value's)


@dataclass(frozen=True, slots=True)
class Axis:
    """An axis (``values`` as written, then those include adds) or a CSV column."""

    name: str
    node: Located  # its key in the matrix (for a column: the rows: value)
    values: list[Value]  # empty for a column: its values are in the rows
    column: bool


@dataclass(slots=True)
class Combination:
    """One job to be: a value per axis and column, the fields include sets on it (value,
    key node, value node, data path), and the CSV row it came from."""

    values: dict[str, Value]
    sets: dict[str, tuple[Any, Located, Located, Path]] = field(default_factory=dict)
    row: str | None = None


@dataclass(frozen=True, slots=True)
class Matrix:
    """A matrix read and checked: its axes in the order written (CSV columns where
    ``rows:`` is), and its combinations in the order they become jobs."""

    axes: Mapping[str, Axis]
    combinations: list[Combination]
    complete: bool = True  # False: problems were reported; axes are known, not all values
    names_known: bool = True  # False: the rows file could not be read (its columns unknown)


@dataclass(frozen=True, slots=True)
class Context:
    """What checking a manifest's matrices needs: where the manifest is, the fields a
    job may have, and the list its problems go to."""

    display_name: str
    base: str  # the manifest's directory
    real_base: str  # the same, symbolic links resolved
    fields: frozenset[str]  # every field a job may have (id, kind, inputs, ...)
    problems: list[Problem]
    source: str = ""  # the manifest's text: where a template's characters are

    def problem(
        self, node: Located, path: Path, message: str, offset: tuple[str, int] | None = None
    ) -> None:
        """Report ``message`` at ``node``, or, for ``offset`` (a text and a position in
        it), at that character when the text is written on one line as it reads (no
        escapes, no folding, not through an alias)."""
        at = None if offset is None else self._mark(node, *offset)
        self.problems.append(problem_at(self.display_name, node, format_where(path), message, at))

    def _mark(self, node: Located, text: str, offset: int) -> tuple[int, int]:
        line, column = mark_of(node)
        if node.vias or type(node.loc) is not tuple or "\n" in text:
            return line, column
        # The location tree keeps no scalar styles or ends: the source line tells them.
        lines = self.source.splitlines()
        written = lines[line - 1][column - 1 :] if 0 < line <= len(lines) else ""
        if written.startswith(text):
            return line, column + offset  # plain
        quote = written[:1]
        if quote in ("'", '"') and written[1 : len(text) + 2] == text + quote:
            return line, column + 1 + offset
        return line, column


def key_of(mapping: Located, key: str) -> Located:
    """Where ``key`` of ``mapping`` is written; where the tree does not hold it (a key a
    merge brought without a place), the mapping's place."""
    found = key_node_at(mapping, [key])
    if found is not None:
        return found
    return Located(start_of(mapping.loc), {}, mapping.vias)


def place_of(node: Located) -> str:
    """How a message names where a node is written: ``line 12, column 9``."""
    line, column = mark_of(node)
    return f"line {line}, column {column}"


def name_problem(name: str, fields: frozenset[str]) -> str | None:
    """What is wrong with ``name`` as an axis or a CSV column, or None."""
    if not NAME.fullmatch(name):
        return (
            f"{name!r} cannot name an axis or column: use letters, digits and _ (not "
            "starting with a digit), as a template writes it: {name}"
        )
    if name in fields:
        return (
            f"an axis or column cannot be named like the job field {name!r} (include "
            f"would not know which one you mean): name it e.g. my_{name}, and write "
            f'{name}: "{{my_{name}}}"'
        )
    if name in RESERVED:
        return f"{name!r} is a word matrix: reserves; name the axis or column otherwise"
    return None


def read_value(raw: Any, node: Located, path: Path, context: Context) -> Value | None:
    """An axis value as written (a word, a whole number, or a mapping with ``key``), or
    None after reporting why not."""
    if type(raw) is str or type(raw) is int:
        return Value(str(raw), {}, node, place_of(node), path)
    if not isinstance(raw, dict):
        context.problem(
            node, path, _not_scalar(raw, node, "a word, a whole number or a mapping with key:")
        )
        return None
    if "key" not in raw:
        message = (
            "a mapping value needs a key: (the word that names it in ids, include and "
            "exclude), e.g. {key: fr, voice: fr.mp3}"
        )
        context.problem(node, path, message)
        return None
    texts: dict[str, str] = {}
    for name, item in raw.items():
        item_node = node_at(node, [name])
        if not NAME.fullmatch(name):
            message = (
                f"{name!r} cannot name a field: use letters, digits and _ (not starting with "
                "a digit), as a template writes it: {axis.field}"
            )
            context.problem(key_of(node, name), (*path, name), message)
        elif type(item) is str or type(item) is int:
            texts[name] = str(item)
        else:
            context.problem(
                item_node, (*path, name), _not_scalar(item, item_node, "a word or a number")
            )
    if len(texts) < len(raw):
        return None
    return Value(texts["key"], texts, node, place_of(node), path)


def _not_scalar(raw: Any, node: Located, wanted: str) -> str:
    message = f"expected {wanted}, not {describe_value(raw, node)}"
    if is_plain_non_string(node) and node.text:
        message += f'; quote it ("{node.text}") to mean the text'
    return message
