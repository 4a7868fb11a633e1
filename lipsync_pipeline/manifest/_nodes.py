"""Where each value of a manifest was written: a compact location tree, and lookups by path.

The YAML walker (:mod:`._walker`) builds plain data and, beside it, this tree: per
mapping the line and column of each key and value, per list those of each item,
and, only where an alias or a merge key (``<<``) brought a value in, a :class:`Via`
saying so. Scalars are bare ``(line, column)`` tuples: no node objects, no marks,
no text. That keeps a 50,000-job manifest's locations to a fraction of PyYAML's
node tree, and the tree is dropped once the jobs are built (each job keeps its own
small ``marks``).

Messages look values up by data path (``node_at(root, ["jobs", 3, "audio"])``). A
value that came through an alias is reported where the alias is used, and
:func:`origin_note` names the anchor it came from and where the value is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from lipsync_pipeline.errors import Problem
from lipsync_pipeline.manifest._scalars import DECIMAL, TAG, plain_tag

__all__ = [
    "Loc",
    "Located",
    "MapLoc",
    "Mark",
    "SeqLoc",
    "Via",
    "describe_scalar",
    "is_plain_non_string",
    "item_marks",
    "key_node_at",
    "mark_of",
    "node_at",
    "origin_note",
    "problem_at",
    "start_of",
    "value_marks",
]

Mark = tuple[int, int]  # 1-based (line, column)


@dataclass(frozen=True, slots=True)
class Via:
    """How a value got where it is used: through an alias, or a merge key (``<<``)."""

    use: Mark  # the alias (``*name``), or the ``<<`` key that merged the value in
    anchor: str
    anchor_at: Mark  # where ``&name`` is written
    inner: Via | None  # how the value got into that anchor, if through another one


class MapLoc:
    """A mapping's start and, per key, where the key and its value are written."""

    __slots__ = ("keys", "start", "values", "via")

    def __init__(self, start: Mark) -> None:
        self.start = start
        self.values: dict[str, Loc] = {}
        self.keys: dict[str, Mark] = {}
        self.via: dict[str, Via] | None = None  # only for entries an alias or merge brought


class SeqLoc:
    """A list's start and where each item is written."""

    __slots__ = ("items", "start", "via")

    def __init__(self, start: Mark) -> None:
        self.start = start
        self.items: list[Loc] = []
        self.via: dict[int, Via] | None = None


Loc = Mark | MapLoc | SeqLoc
_NO_VIA: Final[tuple[Via, ...]] = ()


def start_of(loc: Loc) -> Mark:
    return loc if type(loc) is tuple else loc.start  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Located:
    """A place in the document found by path: what messages locate and describe.

    ``plain`` is the document's index of unquoted scalars that YAML did not read as
    text (``on``, ``0755``, ``7``), by position: what :func:`describe_scalar` needs.
    ``vias`` are the aliases and merges passed on the way from the root.
    """

    loc: Loc
    plain: Mapping[Mark, str]
    vias: tuple[Via, ...] = _NO_VIA

    @property
    def text(self) -> str | None:
        """The scalar as written, for an unquoted scalar YAML did not read as text."""
        return self.plain.get(start_of(self.loc)) if type(self.loc) is tuple else None


def mark_of(node: Located) -> Mark:
    """The 1-based (line, column) to report: where the value is used.

    A value an alias or a merge brought is reported at that alias or ``<<`` (the
    innermost one on its path: the place in the file that names this value);
    :func:`origin_note` says where it is written."""
    return node.vias[-1].use if node.vias else start_of(node.loc)


def problem_at(
    display_name: str, node: Located, where: str, message: str, at: Mark | None = None
) -> Problem:
    """A Problem at ``node``: where its value is used (or ``at``, a character inside
    it), and :func:`origin_note` after it."""
    line, column = mark_of(node) if at is None else at
    return Problem(display_name, line, column, where, message + origin_note(node, display_name))


def origin_note(node: Located, display_name: str) -> str:
    """`` (from the anchor &a at f.yaml:4:3; written at f.yaml:6:12)``, or ``""``."""
    if not node.vias:
        return ""
    via: Via | None = node.vias[-1]
    parts: list[str] = []
    last = None
    while via is not None:
        where = f"&{via.anchor} at {display_name}:{via.anchor_at[0]}:{via.anchor_at[1]}"
        parts.append(f"the anchor {where}" if not parts else f"which has it from {where}")
        last, via = via.anchor_at, via.inner
    written = start_of(node.loc)
    note = ", ".join(parts)
    if written != last:
        note += f"; written at {display_name}:{written[0]}:{written[1]}"
    return f" (from {note})"


def _child(loc: Loc, part: str | int) -> tuple[Loc, Via | None] | None:
    if type(loc) is MapLoc and type(part) is str:
        found = loc.values.get(part)
        if found is None:
            return None
        return found, (loc.via.get(part) if loc.via else None)
    if type(loc) is SeqLoc and type(part) is int and 0 <= part < len(loc.items):
        return loc.items[part], (loc.via.get(part) if loc.via else None)
    return None


def node_at(root: Located, path: Sequence[str | int]) -> Located:
    """The deepest place on ``path`` (the value; the parent where the path stops).

    Returns ``root`` itself when the first step is not there."""
    node = root
    loc, vias = root.loc, root.vias
    moved = False
    for part in path:
        child = _child(loc, part)
        if child is None:
            break
        loc, via = child
        if via is not None:
            vias = (*vias, via)
        moved = True
    return Located(loc, node.plain, vias) if moved else node


def key_node_at(root: Located, path: Sequence[str | int]) -> Located | None:
    """Where the key of the mapping entry at ``path`` is (for unknown-key messages)."""
    if not path:
        return None
    parent = node_at(root, path[:-1])
    loc, key = parent.loc, path[-1]
    if type(loc) is not MapLoc or type(key) is not str or key not in loc.keys:
        return None
    via = loc.via.get(key) if loc.via else None
    return Located(loc.keys[key], parent.plain, parent.vias if via is None else (*parent.vias, via))


def value_marks(node: Located) -> dict[str, Mark]:
    """Key -> where its value is used, for one mapping (a job's ``marks``)."""
    return _marks(node.loc)


def item_marks(node: Located) -> list[tuple[Mark, dict[str, Mark]]]:
    """Per item of a list: where it is used, and its ``value_marks`` (for each job)."""
    loc = node.loc
    if type(loc) is not SeqLoc:
        return []
    vias = loc.via or {}
    return [
        (vias[index].use if index in vias else start_of(item), _marks(item))
        for index, item in enumerate(loc.items)
    ]


def _marks(loc: Loc) -> dict[str, Mark]:
    if type(loc) is not MapLoc:
        return {}
    marks = {
        key: value if type(value) is tuple else value.start  # type: ignore[union-attr]
        for key, value in loc.values.items()
    }
    if loc.via:
        for key, via in loc.via.items():
            marks[key] = via.use
    return marks


def is_plain_non_string(node: Located) -> bool:
    """An unquoted scalar that YAML resolved to something other than text."""
    return node.text is not None


def describe_scalar(node: Located) -> str:
    """What YAML made of an unquoted scalar, for messages: ``on`` -> 'the boolean true'."""
    text = node.text or ""
    tag = plain_tag(text).removeprefix(TAG)
    if tag == "bool":
        return f"the boolean {str(text.lower() in ('true', 'yes', 'on')).lower()}"
    if tag == "null":
        return "nothing (null)"
    if tag == "timestamp":
        return "a date"
    if tag == "int" and not DECIMAL.fullmatch(text):
        return _describe_yaml11_int(text)
    return f"a {'number' if tag in ('int', 'float') else tag}"


def _describe_yaml11_int(text: str) -> str:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-").replace("_", "")
    if ":" in text:
        value = 0
        for part in digits.split(":"):
            value = value * 60 + int(part)
        return f"the number {sign * value} (base 60) in YAML 1.1, but text in YAML 1.2"
    if digits.startswith(("0x", "0b")):
        return f"the number {sign * int(digits, 0)}"
    if "_" in text:
        return (
            f"the number {sign * int(digits, 8 if digits.startswith('0') else 10)} in "
            "YAML 1.1, but text in YAML 1.2"
        )
    return (
        f"the octal number {sign * int(digits, 8)} in YAML 1.1, but {sign * int(digits)} "
        "in YAML 1.2"
    )
