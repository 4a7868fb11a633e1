"""A strict, fast YAML reader for manifests: plain data plus where each value is written.

PyYAML's ``safe_load`` is too forgiving for a file that spends money: it keeps the
last of two duplicate keys, expands aliases without bound, and turns ``on``,
``0755`` and ``12:30`` into a boolean and numbers. This module feeds libyaml's
events (``yaml.CSafeLoader``'s parser; the pure-Python ``SafeLoader``'s when
libyaml is missing) to :mod:`._walker`, which builds plain JSON-like data and a
compact location tree (:mod:`._nodes`) in one pass, so that:

- duplicate keys are problems that name both lines;
- anchors, aliases and merge keys (``<<: *defaults``) work as in YAML 1.1, with
  their expansion bounded (values, aliases, depth): a "billion laughs" document is
  refused at the alias that crosses the bound, before anything expands;
- scalars whose meaning differs between YAML 1.1 and 1.2 (``0755``, ``12:30``,
  ``1_000``, dates) become :class:`Yaml11Scalar`, which no schema type accepts,
  so they are reported instead of being silently reinterpreted (through aliases
  too: an alias is its anchor's value);
- tabs in indentation, binary or non-UTF-8 bytes, files over :data:`MAX_BYTES`
  and nesting deeper than :data:`MAX_DEPTH` are located problems, not tracebacks.

Fatal problems raise :class:`ManifestError`; duplicate keys do not stop the
reading (the first value is kept) so that schema checks can still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml

from lipsync_pipeline._gc import paused_gc
from lipsync_pipeline.errors import ManifestError, Problem
from lipsync_pipeline.manifest._nodes import Located
from lipsync_pipeline.manifest._scalars import Yaml11Scalar
from lipsync_pipeline.manifest._walker import MAX_DEPTH, walk

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Yaml11Scalar",
    "YamlDocument",
    "decode_text",
    "load_yaml",
]

MAX_BYTES: Final = 32 * 1024 * 1024
"""Larger files are refused unread: a manifest of 10,000 jobs is about 1.5 MB."""

_CHEAP_DEPTH_BOUND: Final = 2000
"""Below this upper bound on nesting, libyaml needs no exact depth check first."""

_C_LOADER: Final[type[Any] | None] = getattr(yaml, "CSafeLoader", None)

_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A read document: ``value`` is plain data, ``root`` where its parts are written.

    Values an alias repeats are the same objects (an alias is not copied): treat
    ``value`` as read-only."""

    root: Located | None
    value: Any
    problems: tuple[Problem, ...]
    trusted: bool  # False: ``value`` may not be what the author meant (a bad tag, a key)
    text: str = ""  # as read: messages that point inside a scalar (a template) look here


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _check_size(data: bytes | str, display_name: str) -> None:
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_BYTES:
        message = (
            f"the file is {size:,} bytes; a manifest may be at most "
            f"{MAX_BYTES // (1024 * 1024)} MiB"
        )
        raise ManifestError([Problem(display_name, None, None, "", message)])


def decode_text(
    data: bytes | str,
    display_name: str,
    *,
    save_as: str = "UTF-8",
    expected: str = "a manifest is UTF-8 YAML text",
) -> str:
    """The text of a manifest (or, worded by ``save_as`` and ``expected``, of a file it
    names, such as a matrix's CSV rows) without a byte-order mark. Raises ManifestError
    located at the first character that is not UTF-8 text."""

    def fail(line: int | None, column: int | None, message: str) -> ManifestError:
        return ManifestError([Problem(display_name, line, column, "", message)])

    if isinstance(data, bytes):
        if data.startswith(_UTF16_BOMS):
            raise fail(1, 1, f"the file is UTF-16 text; save it as {save_as}")
        if b"\x00" in data:
            raise fail(
                *_byte_position(data, data.index(b"\x00")),
                f"binary data (a NUL byte): {expected}",
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(
                *_byte_position(data, exc.start),
                f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as {save_as}",
            ) from None
    else:
        text = data
        if "\x00" in text:
            raise fail(
                *_position(text, text.index("\x00")),
                f"binary data (a NUL character): {expected}",
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
    """Refuse nesting deeper than MAX_DEPTH, located, when libyaml gave up first.

    The walker bounds the depth as events arrive, but libyaml scans flow
    collections ahead and stops at its own cap (~1,000 levels) with a bare
    "exceeded maximum nesting depth". So after a syntax error, files that could nest
    that deep are checked again here. Nesting needs a ``[`` or ``{`` per flow level,
    or indentation or an indicator per block level, so brackets plus twice the
    longest line bound it cheaply; only files past that cheap bound pay for an
    exact pass over the event stream.
    """
    longest = max(map(len, text.split("\n")), default=0)
    if text.count("[") + text.count("{") + 2 * longest + 2 <= _CHEAP_DEPTH_BOUND:
        return
    depth = 0
    # The pure-Python parser on purpose: libyaml (PyYAML >= 6.0.4 bundles one with a
    # nesting cap) scans far ahead in flow context and stops at ~1,000 levels with a
    # bare syntax error; the Python parser hands over events as it goes, so the
    # 65th level is reported where it is. Only pathological files get here.
    try:
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
    except yaml.YAMLError:
        return  # a real syntax error before any excess depth: the caller reports it


def load_yaml(data: bytes | str, *, display_name: str, c_loader: bool = True) -> YamlDocument:
    """Read one YAML document strictly. Raises ManifestError for anything fatal.

    ``c_loader=False`` forces the pure-Python parser (for the benchmark's comparison).
    """
    _check_size(data, display_name)
    text = decode_text(data, display_name)
    loader_class = _C_LOADER if c_loader and _C_LOADER is not None else yaml.SafeLoader
    with paused_gc():
        try:
            loader = loader_class(text)
            try:
                found = walk(loader.get_event, display_name)
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            _check_depth(text, display_name)
            raise ManifestError([_syntax_problem(text, exc, display_name)]) from None
    root = None if found.loc is None else Located(found.loc, found.plain)
    return YamlDocument(root, found.value, tuple(found.problems), found.trusted, text)
