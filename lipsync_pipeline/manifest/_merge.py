"""YAML 1.1 merge keys (``<<``) and the walker's per-collection state.

``<<: *defaults`` copies the keys of the anchored mapping into the mapping that
holds it; ``<<: [*a, *b]`` copies several, and when two of them have a key the
earlier one wins. Keys written in the mapping itself always win over merged ones,
wherever the ``<<`` stands (https://yaml.org/type/merge.html). Nested merges are
already applied: an anchored mapping is finished, merges included, before any
alias can name it.

A merged entry keeps where its value is written and gets a :class:`Via` naming the
``<<`` that brought it and the anchor it came from, so a problem in it is reported
at the job and names the anchor's line too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lipsync_pipeline.manifest._nodes import Loc, Located, MapLoc, Mark, SeqLoc, Via, start_of
from lipsync_pipeline.manifest._problems import describe_value

if TYPE_CHECKING:
    from lipsync_pipeline.manifest._walker import Walk

__all__ = ["Anchor", "Frame", "merge_into"]

_USAGE = "a merge key (<<) takes a mapping (<<: *defaults) or a list of them (<<: [*a, *b])"


@dataclass(slots=True)
class Anchor:
    """An anchored value, its location, and what an alias to it expands to."""

    value: Any
    loc: Loc
    at: Mark  # where ``&name`` is written
    size: int  # values it holds, keys and expanded aliases included
    height: int  # levels of nesting it holds (0 for a scalar)
    open: bool  # still being read: an alias to it now would be a cycle


class Frame:
    """A mapping or list being read."""

    __slots__ = (
        "anchor",
        "as_key",
        "at",
        "data",
        "first",
        "height",
        "is_map",
        "key",
        "key_at",
        "loc",
        "merges",
    )

    def __init__(self, is_map: bool, at: Mark, first: int) -> None:
        self.is_map = is_map
        self.at = at
        self.first = first  # values read before this one: its size is the difference
        self.data: Any = {} if is_map else []
        self.loc: Any = MapLoc(at) if is_map else SeqLoc(at)
        self.key: object = None  # a mapping's pending key (None: a key comes next)
        self.key_at: Mark = at
        self.height = 1
        self.anchor: str | None = None
        self.as_key = False
        # (value, its location, how it came, the << key) per merge key
        self.merges: list[tuple[Any, Loc, Via | None, Mark]] | None = None


def _sources(
    walk: Walk, merges: list[tuple[Any, Loc, Via | None, Mark]]
) -> list[tuple[dict[str, Any], MapLoc, Via | None, Mark]]:
    """The mappings to merge, in order of precedence; anything else is a problem."""
    found = []
    for value, loc, via, use in merges:
        if type(value) is dict:
            found.append((value, loc, via, use))
            continue
        if type(value) is not list or type(loc) is not SeqLoc:
            walk.problem(use, f"{_USAGE}, not {describe_value(value, Located(loc, walk.plain))}")
            continue
        for index, item in enumerate(value):
            item_via = loc.via.get(index) if loc.via else None
            if type(item) is dict:
                found.append((item, loc.items[index], item_via or via, use))
            else:
                at = item_via.use if item_via else start_of(loc.items[index])
                shown = describe_value(item, Located(loc.items[index], walk.plain))
                walk.problem(at, f"{_USAGE}; this item is {shown}")
    return found  # type: ignore[return-value]


def merge_into(walk: Walk, frame: Frame) -> None:
    """Apply a finished mapping's merge keys to it (its own keys already read)."""
    data: dict[str, Any] = frame.data
    target: MapLoc = frame.loc
    for source, loc, via, use in _sources(walk, frame.merges or []):
        inner_vias = loc.via
        # One Via for the entries written in the anchor itself (most of them).
        direct = None if via is None else Via(use, via.anchor, via.anchor_at, None)
        for key, value in source.items():
            if key in data:
                continue  # written here, or merged from an earlier mapping: that one wins
            data[key] = value
            target.values[key] = loc.values[key]
            target.keys[key] = loc.keys[key]
            inner = inner_vias.get(key) if inner_vias else None
            # Merged from a mapping written in place (<<: {a: 1}): where it is, is enough.
            if via is None:
                entry_via = inner
            else:
                entry_via = direct if inner is None else Via(use, via.anchor, via.anchor_at, inner)
            if entry_via is not None:
                if target.via is None:
                    target.via = {}
                target.via[key] = entry_via
