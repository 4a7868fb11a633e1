"""One pass over libyaml's events: plain data, its locations, anchors, aliases and merges.

PyYAML's own route (``compose`` then ``construct``) builds a node object per value,
with two mark objects each, only to throw them away; and it resolves every scalar
through Python-level regular expressions. Here the parser's events (libyaml, in C)
go straight to the values a manifest needs, with the compact location tree of
:mod:`._nodes` beside them, in one loop with an explicit stack (no recursion, so
no C stack to overflow).

Anchors, aliases and merge keys follow YAML 1.1 (what GitLab CI, docker-compose and
Kubernetes users write): an alias is the anchored value again; ``<<: *a`` or
``<<: [*a, *b]`` merges mappings into the one that holds it, where keys written in
that mapping win over merged ones and, in a list, earlier mappings win over later
ones. An alias shares its anchor's value (no copy), but what it *expands to* is
counted: every alias adds its anchor's size to the document's, and the walk stops
at the alias that takes the document over :data:`MAX_EXPANDED_NODES` (or the
aliases over :data:`MAX_ALIASES`, or the nesting over ``MAX_DEPTH``), before
anything downstream walks the expansion. A "billion laughs" file is refused at
once, at the alias that crosses the bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from lipsync_pipeline.errors import ManifestError, Problem, format_where
from lipsync_pipeline.manifest._merge import Anchor, Frame, merge_into
from lipsync_pipeline.manifest._nodes import Loc, Mark, SeqLoc, Via
from lipsync_pipeline.manifest._scalars import (
    TAG,
    TYPED_FIRST,
    Unsupported,
    convert,
    plain_value,
    short_tag,
)

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "Walk", "walk"]

MAX_DEPTH: Final = 64
"""A manifest nests four levels deep; 64 leaves room, aliases' expansion included."""

MAX_EXPANDED_NODES: Final = 10_000_000
"""Values (keys included) the document may hold with every alias expanded. A manifest of
jobs written out as large as a file may be (32 MiB, ~200,000 jobs) holds ~2.5 million; a
50,000-job manifest that merges ``<<: *defaults`` into every job ~1 million. A
billion-laughs file asks for billions."""

MAX_ALIASES: Final = 1_000_000
"""Aliases one document may use: 20 per job for 50,000 jobs."""

_SHARED_UP_TO: Final = 12
"""Short text values (``avatar``, ``720p``, ``meanwhile``) repeat from job to job: each
distinct one is kept once. Longer ones (URLs, ids) are mostly unique."""

_MAP_TAG: Final = TAG + "map"
_SEQ_TAG: Final = TAG + "seq"
_MERGE_TAG: Final = TAG + "merge"


class _Fatal(Exception):
    """Stop the walk: the document cannot be read any further."""


class Walk:
    """The walk's state and results: ``value``, ``loc``, ``plain``, ``problems``."""

    __slots__ = (
        "aliases",
        "anchors",
        "display_name",
        "loc",
        "plain",
        "problems",
        "stack",
        "total",
        "trusted",
        "value",
    )

    def __init__(self, display_name: str) -> None:
        self.display_name = display_name
        self.value: Any = None
        self.loc: Loc | None = None
        self.plain: dict[Mark, str] = {}
        self.problems: list[Problem] = []
        self.trusted = True
        self.stack: list[Frame] = []
        self.anchors: dict[str, Anchor] = {}
        self.total = 0  # values so far, every alias counted as its anchor's size
        self.aliases = 0

    # -- problems ---------------------------------------------------------------------

    def path(self) -> tuple[str | int, ...]:
        """The data path of the value being read (from the stack's pending keys)."""
        parts: list[str | int] = []
        for frame in self.stack:
            if frame.is_map:
                if type(frame.key) is str:
                    parts.append(frame.key)
            else:
                parts.append(len(frame.data))
        return tuple(parts)

    def problem(self, at: Mark, message: str, *, trusted: bool = False, where: str = "") -> None:
        # Only a duplicate key leaves the data as written (its first value); anything
        # else would make the schema's findings about a document nobody wrote.
        self.trusted = self.trusted and trusted
        where = where or format_where(self.path())
        self.problems.append(Problem(self.display_name, *at, where, message))

    def fatal(self, at: Mark, message: str) -> _Fatal:
        self.problem(at, message)
        return _Fatal()

    # -- values -----------------------------------------------------------------------

    def attach(self, value: Any, loc: Loc, via: Via | None, height: int) -> None:
        """Put a finished value into the collection being read (or make it the root)."""
        stack = self.stack
        if not stack:
            self.value, self.loc = value, loc
            return
        top = stack[-1]
        if height >= top.height:
            top.height = height + 1
        if not top.is_map:
            seq: SeqLoc = top.loc
            if via is not None:
                if seq.via is None:
                    seq.via = {}
                seq.via[len(seq.items)] = via
            top.data.append(value)
            seq.items.append(loc)
            return
        key = top.key
        top.key = None
        if type(key) is str:
            top.data[key] = value
            mapping = top.loc
            mapping.values[key] = loc
            mapping.keys[key] = top.key_at
            if via is not None:
                if mapping.via is None:
                    mapping.via = {}
                mapping.via[key] = via
        elif key is _MERGE:
            if top.merges is None:
                top.merges = []
            top.merges.append((value, loc, via, top.key_at))
        # else a duplicate or unusable key, already reported: the value is dropped

    def key(self, top: Frame, text: Any, at: Mark, *, merge: bool = False) -> None:
        """A key was read in the mapping ``top``."""
        if merge:
            key: object = _MERGE
            if top.merges is not None:
                self.problem(
                    at,
                    f"duplicate key '<<' (first at line {top.merges[0][3][0]}); merge "
                    "several mappings with one: <<: [*a, *b]",
                    trusted=True,
                    where=format_where((*self.path(), "<<")),
                )
                key = _DROP
        elif type(text) is not str:
            self.problem(at, "a key must be plain text, not a list or mapping")
            key = _DROP
        elif text in top.data:
            first = top.loc.keys[text][0]
            self.problem(
                at,
                f"duplicate key {text!r} (first at line {first}); "
                "YAML would silently keep only the last one",
                trusted=True,
                where=format_where((*self.path(), text)),
            )
            key = _DROP
        else:
            key = text
        top.key, top.key_at = key, at

    def scalar(self, event: ScalarEvent, at: Mark) -> Any:
        tag, text = event.tag, event.value
        try:
            if tag is None or tag == "!":
                if not event.implicit[0]:
                    return text  # quoted: always text
                value = plain_value(text)
                if value is not text:
                    self.plain[at] = text
                return value
            return convert(tag, text)
        except Unsupported as exc:
            self.problem(at, f"unsupported YAML tag {short_tag(str(exc))}")
            return None

    def alias(self, event: AliasEvent, at: Mark) -> Anchor:
        name = str(event.anchor)
        anchor = self.anchors.get(name)
        if anchor is None:
            raise self.fatal(at, f"alias *{name} has no anchor &{name} before it")
        if anchor.open:
            raise self.fatal(
                at,
                f"alias *{name} is inside its own anchor &{name} (line "
                f"{anchor.at[0]}): a value cannot contain itself",
            )
        self.aliases += 1
        self.total += anchor.size
        if self.total > MAX_EXPANDED_NODES:
            raise self.fatal(
                at,
                f"alias *{name} takes the document past {MAX_EXPANDED_NODES:,} values "
                "once aliases are expanded (each repeats its anchor's content): the "
                "'billion laughs' attack, or far more reuse than a manifest needs",
            )
        if self.aliases > MAX_ALIASES:
            raise self.fatal(at, f"more than {MAX_ALIASES:,} aliases in one document")
        if len(self.stack) + anchor.height > MAX_DEPTH:
            raise self.fatal(
                at, f"alias *{name} nests the document more than {MAX_DEPTH} levels deep"
            )
        return anchor

    def define(self, name: str, value: Any, loc: Loc, at: Mark, size: int, height: int) -> None:
        anchor = self.anchors.get(name)
        if anchor is not None and anchor.at != at:
            self.problem(
                at,
                f"anchor &{name} is defined twice (first at line {anchor.at[0]}): "
                "give each its own name",
            )
        self.anchors[name] = Anchor(value, loc, at, size, height, open=False)

    def open_anchor(self, name: str, at: Mark) -> None:
        if name in self.anchors:
            self.problem(
                at,
                f"anchor &{name} is defined twice (first at line "
                f"{self.anchors[name].at[0]}): give each its own name",
            )
        self.anchors[name] = Anchor(None, at, at, 0, 0, open=True)


_MERGE: Final = object()  # the pending key is ``<<``
_DROP: Final = object()  # the pending key is reported and its value dropped


def walk(get_event: Callable[[], Any], display_name: str) -> Walk:
    """Read one document's events. Raises ManifestError for fatal problems, and
    yaml.YAMLError for syntax errors (located by the caller)."""
    state = Walk(display_name)
    try:
        _run(state, get_event)
    except _Fatal:
        raise ManifestError(state.problems) from None
    return state


def _run(state: Walk, get_event: Callable[[], Any]) -> None:
    stack = state.stack
    shared: dict[str, str] = {}
    document_start = None
    while True:
        # Dispatched on the exact class (cheaper than isinstance): typed as Any.
        event: Any = get_event()
        cls = type(event)
        if cls is ScalarEvent:
            mark = event.start_mark
            at = (mark.line + 1, mark.column + 1)
            state.total += 1
            top = stack[-1] if stack else None
            text, tag = event.value, event.tag
            if top is not None and top.is_map:
                key = top.key
                if key is None:
                    # A key. Most are plain text, new in their mapping: inline.
                    if (
                        tag is None
                        and event.anchor is None
                        and text not in top.data
                        and not (text == "<<" and event.implicit[0])
                    ):
                        top.key, top.key_at = text, at
                        continue
                    merge = tag == _MERGE_TAG or (
                        tag is None and event.implicit[0] and text == "<<"
                    )
                    state.key(top, text, at, merge=merge)
                    if event.anchor is not None:
                        state.define(event.anchor, text, at, at, 1, 0)
                    continue
                if type(key) is str and tag is None and event.anchor is None:
                    # A value under a key, untagged: most of a manifest. Inline too.
                    value = text
                    if event.implicit[0] and text[:1] in TYPED_FIRST:
                        try:
                            value = plain_value(text)
                        except Unsupported as exc:
                            state.problem(at, f"unsupported YAML tag {short_tag(str(exc))}")
                            value = None
                        if value is not text:
                            state.plain[at] = text
                    elif len(text) <= _SHARED_UP_TO:
                        # kind, resolution, order: one string object for every job's.
                        value = shared.setdefault(text, text)
                    top.key = None
                    top.data[key] = value
                    mapping = top.loc
                    mapping.values[key] = at
                    mapping.keys[key] = top.key_at
                    continue
            value = state.scalar(event, at)
            if event.anchor is not None:
                state.define(event.anchor, value, at, at, 1, 0)
            state.attach(value, at, None, 0)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            mark = event.start_mark
            at = (mark.line + 1, mark.column + 1)
            state.total += 1
            if len(stack) >= MAX_DEPTH:
                raise state.fatal(at, f"nested more than {MAX_DEPTH} levels deep")
            is_map = cls is MappingStartEvent
            tag = event.tag
            if tag is not None and tag != "!" and tag != (_MAP_TAG if is_map else _SEQ_TAG):
                state.problem(at, f"unsupported YAML tag {short_tag(tag)}")
            frame = Frame(is_map, at, state.total - 1)
            top = stack[-1] if stack else None
            if top is not None and top.is_map and top.key is None:
                frame.as_key = True  # a list or mapping where a key should be
            if event.anchor is not None:
                frame.anchor = event.anchor
                state.open_anchor(event.anchor, at)
            stack.append(frame)
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            frame = stack.pop()
            if frame.merges is not None:
                merge_into(state, frame)
            if frame.anchor is not None:
                state.define(
                    frame.anchor,
                    frame.data,
                    frame.loc,
                    frame.at,
                    state.total - frame.first,
                    frame.height,
                )
            if frame.as_key:
                state.key(stack[-1], frame.data, frame.at)
            else:
                state.attach(frame.data, frame.loc, None, frame.height)
        elif cls is AliasEvent:
            mark = event.start_mark
            at = (mark.line + 1, mark.column + 1)
            anchor = state.alias(event, at)
            name = str(event.anchor)
            top = stack[-1] if stack else None
            if top is not None and top.is_map and top.key is None:
                state.key(top, anchor.value, at)
                continue
            state.attach(anchor.value, anchor.loc, Via(at, name, anchor.at, None), anchor.height)
        elif cls is DocumentStartEvent:
            if document_start is not None:
                # PyYAML's own error, so that it is worded and located like any syntax error.
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    document_start,
                    "but found another document",
                    event.start_mark,
                )
            document_start = event.start_mark
        elif cls is StreamEndEvent:
            return
        elif cls is not DocumentEndEvent:
            continue  # StreamStartEvent
