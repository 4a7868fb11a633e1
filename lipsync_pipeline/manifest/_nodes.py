"""Finding and describing nodes of a composed YAML document, for located messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "DECIMAL",
    "STR_TAG",
    "TAG",
    "describe_scalar",
    "is_plain_non_string",
    "key_node_at",
    "mark_of",
    "node_at",
]

TAG: Final = "tag:yaml.org,2002:"
STR_TAG: Final = TAG + "str"
# A YAML 1.2 decimal integer; YAML 1.1's other int forms (octal, base 60) are not.
DECIMAL: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")


def mark_of(node: Node) -> tuple[int, int]:
    """The 1-based (line, column) where a node starts."""
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


def node_at(root: Node, path: Sequence[str | int]) -> Node:
    """The deepest node on ``path`` (the value node; the parent where the path stops)."""
    node = root
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child[1]
    return node


def key_node_at(root: Node, path: Sequence[str | int]) -> Node | None:
    """The key node of the mapping entry at ``path`` (for unknown-key messages)."""
    parent = node_at(root, path[:-1])
    child = _child(parent, path[-1]) if path else None
    return child[0] if child else None


def _child(node: Node, part: str | int) -> tuple[Node, Node] | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        # The first occurrence, matching the builder, which keeps the first of duplicates.
        return next(((k, v) for k, v in node.value if k.value == part), None)
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node, node.value[part]
    return None


def is_plain_non_string(node: Node) -> bool:
    """An unquoted scalar that YAML resolved to something other than text."""
    return isinstance(node, ScalarNode) and node.style in (None, "") and node.tag != STR_TAG


def describe_scalar(node: ScalarNode) -> str:
    """What YAML made of an unquoted scalar, for messages: ``on`` -> 'the boolean true'."""
    text, tag = node.value, node.tag.removeprefix(TAG)
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
