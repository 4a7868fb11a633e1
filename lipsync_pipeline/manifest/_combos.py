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

from yaml.nodes import Node, ScalarNode

from lipsync_pipeline.errors import Problem, format_where
from lipsync_pipeline.manifest._nodes import (
    STR_TAG,
    is_plain_non_string,
    key_node_at,
    mark_of,
    node_at,
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
    node: Node | None  # where it is written; None for a CSV cell
    place: str  # how messages name where it is written: "line 12, column 9" or "lines.csv:7"
    path: Path  # its data path: jobs[0].matrix.lang[2] (a CSV cell: the rows: value's)


@dataclass(frozen=True, slots=True)
class Axis:
    """An axis (``values`` as written, then those include adds) or a CSV column."""

    name: str
    node: Node  # its key in the matrix (for a column: the rows: value)
    values: list[Value]  # empty for a column: its values are in the rows
    column: bool


@dataclass(slots=True)
class Combination:
    """One job to be: a value per axis and column, the fields include sets on it (value,
    key node, value node, data path), and the CSV row it came from."""

    values: dict[str, Value]
    sets: dict[str, tuple[Any, Node, Node, Path]] = field(default_factory=dict)
    row: str | None = None


@dataclass(frozen=True, slots=True)
class Matrix:
    """A matrix read and checked: its axes in the order written (CSV columns where
    ``rows:`` is), and its combinations in the order they become jobs."""

    axes: Mapping[str, Axis]
    rows: Node | None  # the rows: value, when the matrix reads a CSV file
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

    def problem(self, node: Node, path: Path, message: str, offset: int | None = None) -> None:
        """Report ``message`` at ``node``, or at character ``offset`` of its text when the
        text is written on one line as it reads (no escapes, no folding)."""
        where = format_where(path)
        self.problems.append(Problem(self.display_name, *_mark(node, offset), where, message))


def _mark(node: Node, offset: int | None) -> tuple[int, int]:
    line, column = mark_of(node)
    if offset is None or node.start_mark.line != node.end_mark.line:
        return line, column
    style = getattr(node, "style", "|")  # only scalars have one
    quotes = 0 if style in ("", None) else 1 if style in ('"', "'") else -1
    if quotes >= 0 and node.end_mark.index - node.start_mark.index == len(node.value) + 2 * quotes:
        return line, column + quotes + offset
    return line, column


def key_of(mapping: Node, key: str) -> Node:
    """The key node of ``key`` in ``mapping``: a text node, so ``.value`` is the key. Where
    the tree does not hold it as written (a merged key), one placed at the mapping."""
    found = key_node_at(mapping, [key])
    if isinstance(found, ScalarNode):
        return found
    return ScalarNode(STR_TAG, key, mapping.start_mark, mapping.end_mark)


def place_of(node: Node) -> str:
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


def read_value(raw: Any, node: Node, path: Path, context: Context) -> Value | None:
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


def _not_scalar(raw: Any, node: Node, wanted: str) -> str:
    message = f"expected {wanted}, not {describe_value(raw, node)}"
    if is_plain_non_string(node) and node.value:
        message += f'; quote it ("{node.value}") to mean the text'
    return message
