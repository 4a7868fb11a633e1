"""Templates in a matrix job's text fields: ``"audio/{host}/ep{ep}.wav"``.

A template is parsed once per field and rendered once per combination (joining
ready-made parts: no parsing per job). The syntax is deliberately small:

- ``{name}`` is the value of axis (or CSV column) ``name``; for a value written as a
  mapping it is the mapping's ``key``.
- ``{name.field}`` is one field of a mapping value (``{name.key}`` is the same as
  ``{name}``).
- ``{{`` and ``}}`` are a literal ``{`` and ``}``; any other brace is an error, so a
  typo never renders as text.

Names are letters, digits and ``_``, not starting with a digit (so a CSV header
must be one too): what YAML keys and spreadsheet columns usually are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["NAME", "Ref", "Template", "TemplateSyntaxError", "parse_template"]

NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""An axis, column or value-field name."""

_TOKEN: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}?|\}")
_REF: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?")


class TemplateSyntaxError(ValueError):
    """A brace that is neither a placeholder nor an escape; the message says how to fix it."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset  # where in the text, 0-based


@dataclass(frozen=True, slots=True)
class Ref:
    """One placeholder: axis ``name``, and the ``field`` of a mapping value (None: its key)."""

    name: str
    field: str | None

    def __str__(self) -> str:
        return "{" + self.name + ("" if self.field is None else "." + self.field) + "}"


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text and placeholders, in order."""

    parts: tuple[str | Ref, ...]
    refs: tuple[Ref, ...]  # each placeholder once, in order of appearance
    offsets: tuple[int, ...]  # where each of ``refs`` first appears in the text, 0-based

    def render(self, texts: Mapping[Ref, str]) -> str:
        """The text with each placeholder replaced by ``texts[ref]``."""
        return "".join([p if type(p) is str else texts[p] for p in self.parts])  # type: ignore[index]


def parse_template(text: str) -> Template | str:
    """The template in ``text``, or the literal text itself when it has no placeholder
    (escapes resolved). Raises TemplateSyntaxError for a stray brace."""
    if "{" not in text and "}" not in text:
        return text
    parts: list[str | Ref] = []
    literal: list[str] = []
    offsets: dict[Ref, int] = {}
    start = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[start : match.start()])
        start = match.end()
        token = match.group()
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if token == "}":
            raise TemplateSyntaxError(
                "a lone '}': write '}}' for a literal brace in a matrix job", match.start()
            )
        if not token.endswith("}"):
            raise TemplateSyntaxError(
                "'{' is never closed: write '{{' for a literal brace in a matrix job",
                match.start(),
            )
        ref = _REF.fullmatch(match.group(1))
        if ref is None:
            raise TemplateSyntaxError(
                f"{token!r} is no placeholder: write {{name}} or {{name.field}} (letters, "
                "digits and _), or '{{' and '}}' for literal braces",
                match.start(),
            )
        parts.append("".join(literal))
        literal = []
        found = Ref(ref.group(1), ref.group(2))
        parts.append(found)
        offsets.setdefault(found, match.start())
    literal.append(text[start:])
    parts.append("".join(literal))
    if not offsets:
        return "".join(p for p in parts if isinstance(p, str))
    return Template(tuple(p for p in parts if p != ""), tuple(offsets), tuple(offsets.values()))
