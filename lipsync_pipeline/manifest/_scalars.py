"""What a YAML scalar means here: YAML 1.1's implicit types, kept apart where 1.2 differs.

PyYAML resolves an unquoted scalar with YAML 1.1's rules: ``on`` is a boolean,
``0755`` octal, ``12:30`` a base-60 number, ``2024-01-01`` a date. Editors, JSON
Schema tooling and YAML 1.2 read most of those as text or as other numbers. A
manifest that spends money must not depend on which reading wins, so the forms
whose meaning differs become :class:`Yaml11Scalar`, which no schema type accepts,
and the message can say what the text would have meant.

The resolution uses PyYAML's own table of implicit resolvers (the same regular
expressions ``yaml.safe_load`` uses), looked up by first character as PyYAML does:
most manifest values (URLs, ids, paths) start with a letter that no resolver
claims, and are text at the cost of one dict lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

__all__ = [
    "DECIMAL",
    "STR_TAG",
    "TAG",
    "TYPED_FIRST",
    "Unsupported",
    "Yaml11Scalar",
    "convert",
    "plain_tag",
    "plain_value",
    "short_tag",
]

TAG: Final = "tag:yaml.org,2002:"
STR_TAG: Final = TAG + "str"
# A YAML 1.2 decimal integer; YAML 1.1's other int forms (octal, base 60) are not.
DECIMAL: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS: Final = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}
_TRUE: Final = frozenset({"true", "yes", "on"})

_Resolvers = Sequence[tuple[str, re.Pattern[str]]]
# First character -> [(tag, pattern)], PyYAML's YAML 1.1 table ("" for the empty scalar).
# Every entry is keyed by a first character (the table's None key, for resolvers that
# match any start, is empty unless a program adds one; none here does).
_TABLE: Final[Mapping[str, _Resolvers]] = {
    key: tuple(value)
    for key, value in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    if key is not None
}
# First characters some implicit type claims: any other plain scalar is text.
TYPED_FIRST: Final = frozenset(_TABLE)


@dataclass(frozen=True, slots=True)
class Yaml11Scalar:
    """A plain scalar that YAML 1.1 and YAML 1.2 read differently (``0755``, ``12:30``, dates).

    It is no JSON type, so the schema rejects it wherever it appears, and the
    message can say what the text would have meant.
    """

    text: str
    tag: str  # "int", "float" or "timestamp"


class Unsupported(Exception):
    """A scalar's tag has no meaning in a manifest (``!!binary``, ``!!python/...``)."""


def short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:binary`` -> ``!!binary``, for messages."""
    return "!!" + tag.removeprefix(TAG) if tag.startswith(TAG) else tag


def plain_tag(text: str) -> str:
    """The tag PyYAML gives an unquoted, untagged scalar (YAML 1.1 rules)."""
    for tag, pattern in _TABLE.get(text[:1], ()):
        if pattern.match(text):
            return tag
    return STR_TAG


def plain_value(text: str) -> Any:
    """The value of an unquoted, untagged scalar: ``text`` itself (the same object) when
    it is text. Raises Unsupported for YAML 1.1's odd implicit types (``=``, ``<<``)."""
    resolvers = _TABLE.get(text[:1], ())
    if not resolvers:
        return text
    for tag, pattern in resolvers:
        if pattern.match(text):
            return convert(tag, text)
    return text


def convert(tag: str, text: str) -> Any:
    """The value of a scalar with this tag. Raises Unsupported for tags a manifest has
    no use for (never constructs anything but JSON-like values)."""
    if tag == STR_TAG:
        return text
    if tag == TAG + "int":
        return int(text) if DECIMAL.fullmatch(text) else Yaml11Scalar(text, "int")
    if tag == TAG + "bool":
        return text.lower() in _TRUE
    if tag == TAG + "null":
        return None
    if tag == TAG + "float":
        if _FLOAT.fullmatch(text):
            return float(text)
        special = _SPECIAL_FLOATS.get(text.lower())
        return special if special is not None else Yaml11Scalar(text, "float")
    if tag == TAG + "timestamp":
        return Yaml11Scalar(text, "timestamp")
    raise Unsupported(tag)
