"""A fast valid/invalid check compiled from the manifest's JSON Schema.

jsonschema takes ~150 us per job here (4 s for 10,000 jobs): far over the budget.
This translates the schema into the source of one Python function (a boolean
expression per subschema, ``$ref`` inlined, one small function per ``items`` for
``map``), compiles it once, and answers "valid?" in about a microsecond a job, with
jsonschema's semantics for the keywords it knows (bool is no number, ``1.0`` is
an integer, ``1 == 1.0`` in ``enum``, patterns with ECMA's ``$``).

- It never words an error: when it says "invalid", the caller runs jsonschema on
  the failing part, and jsonschema alone produces the errors.
- A keyword it does not know makes :func:`compile_check` raise
  :class:`UnsupportedSchema`; the caller then uses jsonschema for everything, so
  a schema change can cost speed but never correctness.
- The generated source holds no text from the schema but names: every constant
  (key, pattern, enum) is passed in by reference, so nothing in a schema can
  become code.

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

_TYPE_TESTS: Final[Mapping[str, str]] = {
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "string": "type({v}) is str",
    "number": "type({v}) in _NUM",
    # JSON Schema: an integer is any number with a zero fractional part; bool is no number.
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
}
# What ``type`` tells of a value, and the test for a keyword that applies to one kind.
_KINDS: Final[Mapping[str, str]] = {
    "object": "dict",
    "array": "list",
    "string": "str",
    "number": "num",
    "integer": "num",
}
_GUARDS: Final[Mapping[str, str]] = {
    "dict": "type({v}) is not dict",
    "list": "type({v}) is not list",
    "str": "type({v}) is not str",
    "num": "type({v}) not in _NUM",
}
# keyword -> (the kind it applies to, its test); {a} is the keyword's argument.
_BOUNDS: Final[Mapping[str, tuple[str, str]]] = {
    "minimum": ("num", "{v} >= {a}"),
    "maximum": ("num", "{v} <= {a}"),
    "exclusiveMinimum": ("num", "{v} > {a}"),
    "exclusiveMaximum": ("num", "{v} < {a}"),
    "minLength": ("str", "len({v}) >= {a}"),
    "maxLength": ("str", "len({v}) <= {a}"),
    "minItems": ("list", "len({v}) >= {a}"),
    "maxItems": ("list", "len({v}) <= {a}"),
    "minProperties": ("dict", "len({v}) >= {a}"),
    "maxProperties": ("dict", "len({v}) <= {a}"),
}
_MEMBER_KEYWORDS: Final = ("properties", "patternProperties", "additionalProperties")
_MISSING: Final = object()


class UnsupportedSchema(Exception):
    """The schema uses a keyword or a reference this checker does not implement."""


class _Compiler:
    """Schema -> Python source: ``expr`` gives a boolean expression over a variable."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.names: dict[str, Any] = {"_NUM": frozenset({int, float}), "_MISSING": _MISSING}
        self.functions: list[str] = []
        self.expanding: list[str] = []  # $refs being inlined: a cycle is unsupported
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_c")
        self.names[name] = value
        return name

    def function(self, schema: Any) -> str:
        """A named function checking one value against ``schema`` (for map/all)."""
        name, var = self.fresh("_f"), self.fresh("v")
        body = self.expr(schema, var)
        self.functions.append(f"def {name}({var}):\n    return {body}\n")
        return name

    def expr(self, schema: Any, v: str, known: str | None = None) -> str:
        """A boolean expression: does the value in variable ``v`` pass ``schema``?

        ``known``: the value's kind (dict, list, str, num) when an enclosing ``type``
        already passed, so that keywords skip testing it again."""
        if schema is True:
            return "True"
        if schema is False:
            return "False"
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema(f"schema {schema!r}")
        parts: list[str] = []
        kind_arg = schema.get("type")
        if kind_arg is not None:
            parts.append(self.type_test(kind_arg, v))  # first: the rest may rely on it
            if isinstance(kind_arg, str):
                known = _KINDS.get(kind_arg, "other")
        by_kind: dict[str, list[str]] = {}
        for keyword, arg in schema.items():
            if keyword == "type":
                continue
            kind, test = self.keyword(schema, keyword, arg, v, known)
            if test == "True":
                continue
            if kind is None:
                parts.append(test)
            elif known is None:
                by_kind.setdefault(kind, []).append(test)
            elif known == kind:
                parts.append(test)
            # else: a keyword for another kind than the value's: it does not apply
        for kind, tests in by_kind.items():
            parts.append(f"({_GUARDS[kind].format(v=v)} or ({' and '.join(tests)}))")
        return "(" + " and ".join(parts) + ")" if parts else "True"

    def type_test(self, arg: str | list[str], v: str) -> str:
        names = [arg] if isinstance(arg, str) else list(arg)
        if any(name not in _TYPE_TESTS for name in names):
            raise UnsupportedSchema(f"type {arg!r}")
        return "(" + " or ".join(_TYPE_TESTS[name].format(v=v) for name in names) + ")"

    def keyword(
        self, schema: Mapping[str, Any], keyword: str, arg: Any, v: str, known: str | None
    ) -> tuple[str | None, str]:
        """(the kind of value the keyword applies to, or None for any; its test)."""
        if keyword in _ANNOTATIONS or keyword in ("then", "else"):
            return None, "True"  # then/else go with if
        if keyword in _MEMBER_KEYWORDS:
            # One test for the three: additionalProperties depends on the other two.
            if keyword != next(k for k in schema if k in _MEMBER_KEYWORDS):
                return None, "True"
            return "dict", self.properties(schema, v)
        if keyword == "propertyNames":
            return "dict", f"all(map({self.function(arg)}, {v}))"
        if keyword in ("enum", "const"):
            return None, self.enum(list(arg) if keyword == "enum" else [arg], v)
        if keyword == "pattern":
            return "str", f"{self.constant(ecma_regex(arg).search)}({v}) is not None"
        if keyword in _BOUNDS:
            if type(arg) not in (int, float):
                raise UnsupportedSchema(f"{keyword} {arg!r}")
            kind, test = _BOUNDS[keyword]
            return kind, test.format(v=v, a=repr(arg))
        if keyword == "required":
            return "dict", " and ".join(f"{self.constant(key)} in {v}" for key in arg) or "True"
        if keyword == "items":
            return "list", f"all(map({self.function(arg)}, {v}))"
        if keyword in ("allOf", "anyOf", "oneOf"):
            subs = [self.expr(sub, v, known) for sub in arg]
            if keyword == "allOf":
                return None, "(" + " and ".join(subs) + ")"
            if keyword == "anyOf":
                return None, "(" + " or ".join(subs) + ")"
            return None, "(sum((" + ", ".join(subs) + ",)) == 1)"
        if keyword == "not":
            return None, f"(not {self.expr(arg, v, known)})"
        if keyword == "if":
            then, otherwise = schema.get("then", True), schema.get("else", True)
            test = self.expr(arg, v, known)
            return None, (
                f"({self.expr(then, v, known)} if {test} else {self.expr(otherwise, v, known)})"
            )
        if keyword == "$ref":
            return None, self.ref(arg, v, known)
        raise UnsupportedSchema(f"keyword {keyword!r}")

    def enum(self, options: list[Any], v: str) -> str:
        if not all(isinstance(o, str) or type(o) in (int, float) for o in options):
            raise UnsupportedSchema("enum/const of other than strings and numbers")
        texts = frozenset(o for o in options if isinstance(o, str))
        numbers = frozenset(o for o in options if not isinstance(o, str))
        # 1.0 == 1 and hash(1.0) == hash(1): set membership matches jsonschema's equality.
        tests = []
        if texts:
            tests.append(f"(type({v}) is str and {v} in {self.constant(texts)})")
        if numbers:
            tests.append(f"(type({v}) in _NUM and {v} in {self.constant(numbers)})")
        return "(" + " or ".join(tests) + ")" if tests else "False"

    def ref(self, target: str, v: str, known: str | None) -> str:
        name = target.removeprefix("#/$defs/")
        definition = self.root.get("$defs", {}).get(name)
        if name == target or not isinstance(definition, Mapping) or name in self.expanding:
            raise UnsupportedSchema(f"$ref {target!r} (only to $defs, not recursive)")
        self.expanding.append(name)
        try:
            return self.expr(definition, v, known)  # inlined: no call per value
        finally:
            self.expanding.pop()

    def properties(self, schema: Mapping[str, Any], v: str) -> str:
        props: Mapping[str, Any] = schema.get("properties", {})
        tests = [self.others(schema, props, v)]
        for key, sub in props.items():
            x = self.fresh("x")
            test = self.expr(sub, x)
            if test != "True":
                tests.append(
                    f"(({x} := {v}.get({self.constant(key)}, _MISSING)) is _MISSING or {test})"
                )
        tests = [test for test in tests if test != "True"]
        return "(" + " and ".join(tests) + ")" if tests else "True"

    def others(self, schema: Mapping[str, Any], props: Mapping[str, Any], v: str) -> str:
        """The test on keys ``properties`` does not name."""
        extra = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties", {})
        known = self.constant(frozenset(props))
        if not patterns:
            if extra is False:
                return f"{known}.issuperset({v})"
            if extra is True:
                return "True"
        name, key, item = self.fresh("_o"), self.fresh("k"), self.fresh("x")
        lines = [
            f"def {name}({v}):",
            f"    for {key}, {item} in {v}.items():",
            f"        if {key} in {known}:",
            "            continue",
            "        matched = False",
        ]
        for pattern, sub in patterns.items():
            search = self.constant(ecma_regex(pattern).search)
            lines += [
                f"        if {search}({key}) is not None:",
                "            matched = True",
                f"            if not {self.expr(sub, item)}:",
                "                return False",
            ]
        lines += [
            f"        if not matched and not {self.expr(extra, item)}:",
            "            return False",
            "    return True",
        ]
        self.functions.append("\n".join(lines) + "\n")
        return f"{name}({v})"

    def source(self, schema: Mapping[str, Any]) -> str:
        body = self.expr(schema, "document")
        return "".join(self.functions) + f"def _check(document):\n    return {body}\n"


def compile_check(schema: Mapping[str, Any]) -> Check:
    """A function that says whether the schema accepts a document. Raises UnsupportedSchema."""
    compiler = _Compiler(schema)
    source = compiler.source(schema)
    names = dict(compiler.names)
    code = compile(source, "<manifest schema check>", "exec")
    exec(code, names)
    check: Check = names["_check"]
    return check
