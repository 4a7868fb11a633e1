"""A strict, fast YAML reader for manifests: plain data plus the node tree for locations.

PyYAML's ``safe_load`` is too forgiving for a file that spends money: it keeps the
last of two duplicate keys, expands aliases without bound, and turns ``on``,
``0755`` and ``12:30`` into a boolean and numbers. This module composes the
document once with libyaml (``yaml.CSafeLoader``; the pure-Python ``SafeLoader``
when libyaml is missing), then builds plain JSON-like data from the node tree in
one pass of its own, so that:

- duplicate keys are problems that name both lines;
- aliases are refused (their anchors may stay: an anchor alone is harmless). A
  billion-laughs document fails at its first alias, before anything expands.
  Merge keys (``<<``) are refused too: without aliases they are pointless, and
  the manifest's ``defaults:`` does their job;
- scalars whose meaning differs between YAML 1.1 and 1.2 (``0755``, ``12:30``,
  ``1_000``, dates) become :class:`Yaml11Scalar`, which no schema type accepts,
  so they are reported instead of being silently reinterpreted;
- tabs in indentation, binary or non-UTF-8 bytes, files over :data:`MAX_BYTES`
  and nesting deeper than :data:`MAX_DEPTH` are located problems, not tracebacks
  (libyaml's composer recurses in C and crashes the interpreter on a few ten
  thousand nested ``[``: the depth is bounded before it runs).

Fatal problems raise :class:`ManifestError`; duplicate keys do not stop the
reading (the first value is kept) so that schema checks can still run.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from lipsync_pipeline.errors import ManifestError, Problem, format_where
from lipsync_pipeline.manifest._nodes import DECIMAL, STR_TAG, TAG, mark_of

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Yaml11Scalar",
    "YamlDocument",
    "decode_text",
    "load_yaml",
    "no_gc",
]

MAX_BYTES: Final = 32 * 1024 * 1024
"""Larger files are refused unread: a manifest of 10,000 jobs is about 1.5 MB."""

MAX_DEPTH: Final = 64
"""A manifest nests four levels deep; 64 leaves room and stays far from C stack limits."""

_CHEAP_DEPTH_BOUND: Final = 2000
"""Below this upper bound on nesting, composing in C is safe without an exact check."""

_C_LOADER: Final[type[Any] | None] = getattr(yaml, "CSafeLoader", None)

_MAP: Final = TAG + "map"
_SEQ: Final = TAG + "seq"
_MERGE: Final = TAG + "merge"
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS: Final = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class Yaml11Scalar:
    """A plain scalar that YAML 1.1 and YAML 1.2 read differently (``0755``, ``12:30``, dates).

    It is no JSON type, so the schema rejects it wherever it appears, and the
    message can say what the text would have meant.
    """

    text: str
    tag: str  # "int", "float" or "timestamp"


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A composed document: ``value`` is plain data, ``root`` the node tree it came from."""

    root: Node | None
    value: Any
    problems: tuple[Problem, ...]
    trusted: bool  # False: ``value`` may not be what the author meant (a merge key, a tag)


class _AliasFound(Exception):
    """A node was reached twice: an alias. Raised to stop before any expansion."""


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large tree of new objects.

    Composing 10,000 jobs creates ~100,000 nodes and as many values; the collector
    would traverse them again and again while they grow (measured: 2-4x slower),
    and none of them is garbage.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(TAG) if tag.startswith(TAG) else tag


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def decode_text(data: bytes | str, display_name: str) -> str:
    """Check size and encoding; return the text without a BOM. Raises ManifestError."""

    def fail(line: int | None, column: int | None, message: str) -> ManifestError:
        return ManifestError([Problem(display_name, line, column, "", message)])

    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_BYTES:
        raise fail(
            None,
            None,
            f"the file is {size:,} bytes; a manifest may be at most "
            f"{MAX_BYTES // (1024 * 1024)} MiB",
        )
    if isinstance(data, bytes):
        if data.startswith(_UTF16_BOMS):
            raise fail(1, 1, "the file is UTF-16 text; save it as UTF-8")
        if b"\x00" in data:
            raise fail(
                *_byte_position(data, data.index(b"\x00")),
                "binary data (a NUL byte): a manifest is UTF-8 YAML text",
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(
                *_byte_position(data, exc.start),
                f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            ) from None
    else:
        text = data
        if "\x00" in text:
            raise fail(
                *_position(text, text.index("\x00")),
                "binary data (a NUL character): a manifest is UTF-8 YAML text",
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise fail(
                *_position(text, exc.start), "not valid Unicode text (a lone surrogate)"
            ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _syntax_problem(text: str, exc: yaml.YAMLError, display_name: str) -> Problem:
    """Translate a PyYAML error into one located Problem, naming tabs as such."""
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _position(text, exc.position)
        return Problem(
            display_name,
            line,
            column,
            "",
            f"character U+{exc.character:04X} is not allowed in YAML ({exc.reason})",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return Problem(display_name, 1, 1, "", f"YAML error: {exc}")
    line_text = text.split("\n", mark.line + 1)[mark.line] if mark.line <= text.count("\n") else ""
    indent = line_text[: len(line_text) - len(line_text.lstrip(" \t"))]
    if "\t" in indent:
        return Problem(
            display_name,
            mark.line + 1,
            indent.index("\t") + 1,
            "",
            "a tab in the indentation: YAML indents with spaces only",
        )
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    message = f"YAML syntax error: {problem}"
    if context and context_mark is not None and context_mark is not mark:
        message += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return Problem(display_name, mark.line + 1, mark.column + 1, "", message)


def _event_position(event: yaml.Event) -> tuple[int | None, int | None]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _check_depth(text: str, display_name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the recursive composer sees it.

    Nesting needs a ``[`` or ``{`` per flow level, or indentation or an indicator
    per block level, so brackets plus twice the longest line bound it cheaply; only
    files past that cheap bound pay for an exact pass over the event stream.
    """
    longest = max(map(len, text.split("\n")), default=0)
    if text.count("[") + text.count("{") + 2 * longest + 2 <= _CHEAP_DEPTH_BOUND:
        return
    depth = 0
    # The pure-Python parser on purpose: libyaml (PyYAML >= 6.0.4 bundles one with a
    # nesting cap) scans far ahead in flow context and stops at ~1,000 levels with a
    # bare syntax error; the Python parser hands over events as it goes, so the
    # 65th level is reported where it is. Only pathological files get here.
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ManifestError(
                    [
                        Problem(
                            display_name,
                            *_event_position(event),
                            "",
                            f"nested more than {MAX_DEPTH} levels deep",
                        )
                    ]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _alias_problems(text: str, loader: type[Any], display_name: str) -> list[Problem]:
    """Locate each anchor's first alias; runs only once an alias was found, so it is free
    for valid files. One problem per anchor: a bomb repeats each alias many times."""
    first: dict[str, tuple[int | None, int | None]] = {}
    uses: dict[str, int] = {}
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            name = str(event.anchor)
            first.setdefault(name, _event_position(event))
            uses[name] = uses.get(name, 0) + 1
    return [
        Problem(
            display_name,
            *position,
            "",
            f"alias *{name}{f' (used {uses[name]} times)' if uses[name] > 1 else ''}: "
            "YAML anchors and aliases are not supported (they can expand exponentially, "
            "the 'billion laughs' attack); write the value out, or put shared fields "
            "under defaults:",
        )
        for name, position in first.items()
    ]


class _Builder:
    """Turns the node tree into plain data in one pass, collecting problems."""

    __slots__ = ("display_name", "problems", "seen", "trusted")

    def __init__(self, display_name: str) -> None:
        self.display_name = display_name
        self.problems: list[Problem] = []
        self.seen: set[int] = set()
        self.trusted = True

    def problem(
        self, node: Node, path: tuple[str | int, ...], message: str, *, trusted: bool = False
    ) -> None:
        # Only a duplicate key leaves the data as written (its first value); anything
        # else would make the schema's findings about a document nobody wrote.
        self.trusted = self.trusted and trusted
        where = format_where(path)
        self.problems.append(Problem(self.display_name, *mark_of(node), where, message))

    def build(self, node: Node, path: tuple[str | int, ...]) -> Any:
        # Every node, scalars included, is seen once: a second visit is an alias.
        if id(node) in self.seen:
            raise _AliasFound
        self.seen.add(id(node))
        cls = type(node)
        if cls is ScalarNode:
            return self.scalar(node, path)
        if len(path) >= MAX_DEPTH:
            self.problem(node, path, f"nested more than {MAX_DEPTH} levels deep")
            return None
        if cls is SequenceNode:
            if node.tag != _SEQ:
                self.problem(node, path, f"unsupported YAML tag {_short_tag(node.tag)}")
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if node.tag != _MAP:
            self.problem(node, path, f"unsupported YAML tag {_short_tag(node.tag)}")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if id(key_node) in self.seen:
                raise _AliasFound
            self.seen.add(id(key_node))
            if type(key_node) is not ScalarNode:
                self.problem(key_node, path, "a key must be plain text, not a list or mapping")
                continue
            if key_node.tag == _MERGE:
                self.problem(
                    key_node,
                    path,
                    "merge keys (<<) are not supported; put shared fields under defaults:",
                )
                continue
            key = key_node.value
            if key in out:
                first = next(k for k, _ in node.value if k.value == key)
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {mark_of(first)[0]}); "
                    "YAML would silently keep only the last one",
                    trusted=True,
                )
                continue
            # Scalars inline: a call less per value is a tenth of the time for 10,000 jobs.
            if type(value_node) is ScalarNode and id(value_node) not in self.seen:
                self.seen.add(id(value_node))
                out[key] = self.scalar(value_node, (*path, key))
            else:
                out[key] = self.build(value_node, (*path, key))
        return out

    def scalar(self, node: Node, path: tuple[str | int, ...]) -> Any:
        tag, text = node.tag, node.value
        if tag == STR_TAG:
            return text
        if tag == TAG + "int":
            return int(text) if DECIMAL.fullmatch(text) else Yaml11Scalar(text, "int")
        if tag == TAG + "bool":
            return text.lower() in ("true", "yes", "on")
        if tag == TAG + "null":
            return None
        if tag == TAG + "float":
            if _FLOAT.fullmatch(text):
                return float(text)
            special = _SPECIAL_FLOATS.get(text.lower())
            return special if special is not None else Yaml11Scalar(text, "float")
        if tag == TAG + "timestamp":
            return Yaml11Scalar(text, "timestamp")
        self.problem(node, path, f"unsupported YAML tag {_short_tag(tag)}")
        return None


def load_yaml(data: bytes | str, *, display_name: str, c_loader: bool = True) -> YamlDocument:
    """Read one YAML document strictly. Raises ManifestError for anything fatal.

    ``c_loader=False`` forces the pure-Python loader (for the benchmark's comparison).
    """
    text = decode_text(data, display_name)
    loader = _C_LOADER if c_loader and _C_LOADER is not None else yaml.SafeLoader
    with no_gc():
        try:
            _check_depth(text, display_name)
            root = yaml.compose(text, Loader=loader)
        except yaml.YAMLError as exc:
            raise ManifestError([_syntax_problem(text, exc, display_name)]) from None
        if root is None:
            return YamlDocument(None, None, (), True)
        builder = _Builder(display_name)
        try:
            value = builder.build(root, ())
        except _AliasFound:
            raise ManifestError(_alias_problems(text, loader, display_name)) from None
    return YamlDocument(root, value, tuple(builder.problems), builder.trusted)
