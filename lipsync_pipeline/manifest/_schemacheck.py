"""A fast valid/invalid check compiled from the manifest's JSON Schema.

jsonschema takes ~150 us per job here (4 s for 10,000 jobs): far over the budget.
This compiles the schema into plain closures that answer "valid?" in a few
microseconds, with jsonschema's semantics for the keywords the manifest schema
uses (bool is no number, ``1.0`` is an integer, ``1 == 1.0`` in ``enum``).

- It never words an error: when it says "invalid", the caller runs jsonschema on
  the failing part, and jsonschema alone produces the errors.
- A keyword it does not know makes :func:`compile_check` raise
  :class:`UnsupportedSchema`; the caller then uses jsonschema for everything, so
  a schema change can cost speed but never correctness.

The tests compare it with jsonschema on generated documents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from lipsync_pipeline._ecma import ecma_regex

__all__ = ["Check", "UnsupportedSchema", "compile_check"]

Check = Callable[[Any], bool]

# Keywords that never constrain a value.
_ANNOTATIONS: Final = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "patternErrorMessage",
    }
)


_SIMPLE_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class UnsupportedSchema(Exception):
    """The schema uses a keyword or a reference this checker does not implement."""


def _is_integer(value: Any) -> bool:
    # JSON Schema: an integer is any number with a zero fractional part; bool is no number.
    return type(value) is int or (type(value) is float and value.is_integer())


def _type_check(name: str) -> Check:
    if name == "integer":
        return _is_integer
    types = _SIMPLE_TYPES.get(name)
    if types is None:
        raise UnsupportedSchema(f"type {name!r}")
    return lambda value: type(value) in types


def _enum_check(options: list[Any]) -> Check:
    if not all(isinstance(o, str) or type(o) in (int, float) for o in options):
        raise UnsupportedSchema("enum/const of other than strings and numbers")
    texts = frozenset(o for o in options if isinstance(o, str))
    numbers = frozenset(o for o in options if not isinstance(o, str))
    # 1.0 == 1 and hash(1.0) == hash(1): set membership matches jsonschema's equality.
    return lambda v: (v in texts) if type(v) is str else (type(v) in (int, float) and v in numbers)


def _types_check(arg: str | list[str]) -> Check:
    parts = [_type_check(name) for name in ([arg] if isinstance(arg, str) else arg)]
    return parts[0] if len(parts) == 1 else (lambda v: any(part(v) for part in parts))


def _pattern_check(pattern: str) -> Check:
    # Searched like jsonschema does, with ECMA's `$` (see _ecma): "job\n" is no id.
    search = ecma_regex(pattern).search
    return lambda v: type(v) is not str or search(v) is not None


def _minimum_check(bound: float) -> Check:
    return lambda v: type(v) not in (int, float) or v >= bound


def _maximum_check(bound: float) -> Check:
    return lambda v: type(v) not in (int, float) or v <= bound


def _min_length_check(n: int) -> Check:
    return lambda v: type(v) is not str or len(v) >= n


def _max_length_check(n: int) -> Check:
    return lambda v: type(v) is not str or len(v) <= n


def _min_items_check(n: int) -> Check:
    return lambda v: type(v) is not list or len(v) >= n


def _required_check(keys: tuple[str, ...]) -> Check:
    def check(value: Any) -> bool:
        if type(value) is dict:
            for key in keys:
                if key not in value:
                    return False
        return True

    return check


def _items_check(item: Check) -> Check:
    return lambda v: type(v) is not list or all(map(item, v))


_SIMPLE_KEYWORDS: Final[Mapping[str, Callable[[Any], Check]]] = {
    "type": _types_check,
    "enum": lambda options: _enum_check(list(options)),
    "const": lambda value: _enum_check([value]),
    "pattern": _pattern_check,
    "minimum": _minimum_check,
    "maximum": _maximum_check,
    "minLength": _min_length_check,
    "maxLength": _max_length_check,
    "minItems": _min_items_check,
}


def _all_of(checks: list[Check]) -> Check:
    # Nested two-way "and" closures: no generator per call, which is most of the cost.
    if len(checks) == 1:
        return checks[0]
    first, rest = checks[0], _all_of(checks[1:])
    return lambda value: first(value) and rest(value)


def _any_of(checks: list[Check]) -> Check:
    return lambda value: any(check(value) for check in checks)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}
        self.compiling: set[str] = set()

    def ref(self, target: str) -> Check:
        name = target.removeprefix("#/$defs/")
        definition = self.root.get("$defs", {}).get(name)
        if name == target or not isinstance(definition, Mapping) or name in self.compiling:
            raise UnsupportedSchema(f"$ref {target!r} (only to $defs, not recursive)")
        if name not in self.refs:
            # Compiled once and called directly: no lookup per value.
            self.compiling.add(name)
            self.refs[name] = self.compile(definition)
            self.compiling.discard(name)
        return self.refs[name]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda _value: True
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema(f"schema {schema!r}")
        checks: list[Check] = []
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            if keyword == "$ref":
                checks.append(self.ref(arg))
            elif keyword in _SIMPLE_KEYWORDS:
                checks.append(_SIMPLE_KEYWORDS[keyword](arg))
            elif keyword == "required":
                checks.append(_required_check(tuple(arg)))
            elif keyword == "properties":
                checks.append(self.properties(schema, arg))
            elif keyword == "additionalProperties":
                if "patternProperties" in schema or "properties" not in schema:
                    raise UnsupportedSchema("additionalProperties without properties")
            elif keyword == "items":
                checks.append(_items_check(self.compile(arg)))
            elif keyword == "allOf":
                checks.extend(self.compile(sub) for sub in arg)
            elif keyword == "anyOf":
                checks.append(_any_of([self.compile(sub) for sub in arg]))
            elif keyword == "if":
                checks.append(self.conditional(schema))
            else:
                raise UnsupportedSchema(f"keyword {keyword!r}")
        if not checks:
            return lambda _value: True
        return _all_of(checks)

    def properties(self, schema: Mapping[str, Any], props: Mapping[str, Any]) -> Check:
        compiled = {name: self.compile(sub) for name, sub in props.items()}
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is False else self.compile(extra)

        def check(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for key, item in value.items():
                sub = compiled.get(key)
                if sub is None:
                    if extra_check is None or not extra_check(item):
                        return False
                elif not sub(item):
                    return False
            return True

        return check

    def conditional(self, schema: Mapping[str, Any]) -> Check:
        condition = self.compile(schema["if"])
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda v: then(v) if condition(v) else otherwise(v)


def compile_check(schema: Mapping[str, Any]) -> Check:
    """A function that says whether the schema accepts a document. Raises UnsupportedSchema."""
    return _Compiler(schema).compile(schema)
