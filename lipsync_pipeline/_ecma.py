"""JSON Schema ``pattern``s with their ECMA-262 meaning, in Python's ``re``.

The schemas are written for editors, which read ``pattern`` as ECMA-262: there,
``$`` (without the multiline flag) matches only at the very end. In Python's ``re``
``$`` also matches *before a final newline*, so ``^[A-Za-z0-9._-]+$`` accepts
``"job\\n"``, and jsonschema (which compiles patterns with ``re`` and ``search``es)
inherits that: a job id with a trailing newline passed every check and became a
file name with a newline in it. :func:`ecma_regex` compiles a schema pattern with
each ``$`` made ``\\Z``, and :func:`strict_validator` is jsonschema's validator with
that ``pattern`` keyword; the fast checks use the same function, so all three agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

__all__ = ["ecma_regex", "strict_validator"]


def _python_pattern(pattern: str) -> str:
    """``pattern`` with every end anchor ``$`` (outside a class, unescaped) as ``\\Z``."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])  # an escape: taken whole, never an anchor
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return "".join(out)


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, ``$`` meaning the end of the string as in ECMA-262."""
    return re.compile(_python_pattern(pattern))


def strict_validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for ``schema`` whose ``pattern`` keyword is ECMA's."""
    # Imported here: valid documents never need jsonschema (~50 ms of start-up).
    from jsonschema import Draft202012Validator, ValidationError, validators

    def pattern(validator: Any, patrn: str, instance: Any, _schema: Any) -> Iterator[Any]:
        # As jsonschema's own keyword, with the anchor fixed.
        if validator.is_type(instance, "string") and not ecma_regex(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    cls = validators.extend(Draft202012Validator, {"pattern": pattern})  # type: ignore[no-untyped-call]
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator
