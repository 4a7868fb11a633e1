"""JSON with locations: parse a document and say ``file:line:col`` for every problem.

The stdlib parser gives positions only for syntax errors. For schema errors and
duplicate keys we walk the (already accepted) text once more, recording where each
value and key starts. That walk is pure Python, so it runs only when there is
something to report: a valid document costs one ``json.loads``.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # jsonschema is imported only where errors are worded
    import jsonschema

from lipsync_pipeline.errors import Problem, format_where

__all__ = ["JsonDoc"]

JsonPath = tuple[str | int, ...]

_WS: Final = re.compile(r"[ \t\n\r]*")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_DECODER: Final = json.JSONDecoder()
_scanstring: Final[Callable[[str, int], tuple[str, int]]] = json.decoder.scanstring  # type: ignore[attr-defined]
# Positions are only needed a few levels down (jobs.<id>.artifact.<field>); deeper values
# are skipped whole, which also keeps a hostile deeply nested file off the Python stack.
_MAX_DEPTH: Final = 6


@dataclass(slots=True)
class _Index:
    """Where each value and key starts; duplicate keys as (path, offset, first offset)."""

    values: dict[JsonPath, int]
    keys: dict[JsonPath, int]
    duplicates: list[tuple[JsonPath, int, int]]


def _index(text: str) -> _Index:
    """Walk a text that json.loads accepted, recording offsets."""
    idx = _Index({}, {}, [])

    def skip_ws(pos: int) -> int:
        m = _WS.match(text, pos)
        assert m is not None  # the pattern matches the empty string
        return m.end()

    def walk(pos: int, path: JsonPath) -> int:
        pos = skip_ws(pos)
        idx.values[path] = pos
        opener = text[pos]
        if len(path) >= _MAX_DEPTH or opener not in "{[":
            return _DECODER.raw_decode(text, pos)[1]
        close = "}" if opener == "{" else "]"
        pos = skip_ws(pos + 1)
        n = 0
        while text[pos] != close:
            if opener == "{":
                key_pos = pos
                key, pos = _scanstring(text, pos + 1)
                sub = (*path, key)
                if sub in idx.keys:
                    idx.duplicates.append((sub, key_pos, idx.keys[sub]))
                else:
                    idx.keys[sub] = key_pos
                pos = walk(skip_ws(pos) + 1, sub)  # + 1 steps over the ':'
            else:
                pos = walk(pos, (*path, n))
                n += 1
            pos = skip_ws(pos)
            if text[pos] == ",":
                pos = skip_ws(pos + 1)
        return pos + 1

    walk(0, ())
    return idx


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey  # json.loads would keep the last silently
    return obj


class JsonDoc:
    """One JSON text (a whole file, or one line of a journal) and its problems.

    ``first_line`` numbers the text's first line, so a journal line reports its own line.
    ``hints`` replace jsonschema's regex-quoting messages for ``pattern`` failures, keyed
    by the failing field's name.
    """

    def __init__(
        self,
        file: str,
        text: str,
        *,
        first_line: int = 1,
        hints: Mapping[str, str] | None = None,
    ) -> None:
        self.file = file
        self.text = text
        self.first_line = first_line
        self.hints = hints or {}
        self.problems: list[Problem] = []
        self._idx: _Index | None = None
        self._starts: list[int] | None = None

    @property
    def index(self) -> _Index:
        if self._idx is None:
            self._idx = _index(self.text)
        return self._idx

    def at(self, path: JsonPath) -> int:
        """Offset of the value at ``path``, or of its nearest existing ancestor."""
        values = self.index.values
        while path not in values:
            path = path[:-1]
        return values[path]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of an offset."""
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        i = bisect_right(self._starts, offset) - 1
        return self.first_line + i, offset - self._starts[i] + 1

    def problem(self, offset: int | None, where: str, message: str) -> None:
        line, col = (None, None) if offset is None else self.position(offset)
        self.problems.append(Problem(self.file, line, col, where, message))

    def parse(self, *, what: str = "the file") -> Any:
        """The value; None with problems recorded for bad syntax or duplicate keys."""
        text = self.text
        try:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            if not text.strip():
                msg = f"{what} is empty: truncated?"
            elif not text[exc.pos :].strip() or exc.msg == "Unterminated string starting at":
                msg = f"{what} ends in the middle of the JSON ({exc.msg}): truncated?"
            else:
                msg = f"not valid JSON: {exc.msg}"
            self.problem(exc.pos, "", msg)
        except RecursionError:
            self.problem(0, "", "JSON nested too deeply")
        except _DuplicateKey:
            for path, offset, first in self.index.duplicates:
                line = self.first_line + self.text.count("\n", 0, first)
                what_key = "job id" if len(path) == 2 and path[0] in ("jobs", "put") else "key"
                self.problem(
                    offset, format_where(path), f"duplicate {what_key} (first at line {line})"
                )
        return None

    def validate(self, value: Any, validator: jsonschema.protocols.Validator) -> bool:
        """Record every schema error, located; True when there was none."""
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        for err in errors:
            path: JsonPath = tuple(err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                # Point at each unexpected key itself, not at the object holding it.
                schema = err.schema if isinstance(err.schema, Mapping) else {}
                for key in sorted(set(err.instance) - set(schema.get("properties", {}))):
                    sub = (*path, key)
                    offset = self.index.keys.get(sub, self.at(path))
                    self.problem(offset, format_where(sub), "unexpected field")
                continue
            if "propertyNames" in err.schema_path and isinstance(err.instance, str):
                # A bad key: point at the key itself, not at the object holding it.
                sub = (*path, err.instance)
                hint = self.hints.get("propertyNames") if err.validator == "pattern" else None
                message = f"{err.instance!r}: {hint}" if hint else err.message
                self.problem(self.index.keys.get(sub, self.at(path)), format_where(sub), message)
                continue
            message = err.message
            hint = self.hints.get(str(path[-1])) if path else None
            if err.validator == "pattern" and hint:
                message = f"{err.instance!r}: {hint}"
            self.problem(self.at(path), format_where(path), message)
        return not errors
