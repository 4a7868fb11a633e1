"""Turning jsonschema's errors into Problems a person can act on.

jsonschema says ``'audoi' was unexpected`` at the job and ``True is not of type
'string'``; a user needs the line and column of the key or value, "did you mean
'audio'?", and that YAML read ``on`` as a boolean. The wording lives here; the
rules stay in the schema (``patternErrorMessage`` words a pattern, as editors do).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from lipsync_pipeline._ecma import ecma_regex
from lipsync_pipeline.errors import Problem, format_where
from lipsync_pipeline.manifest._nodes import (
    Located,
    describe_scalar,
    is_plain_non_string,
    key_node_at,
    node_at,
    problem_at,
)
from lipsync_pipeline.manifest._scalars import Yaml11Scalar

if TYPE_CHECKING:  # only the error path imports jsonschema (~50 ms a run avoids)
    from jsonschema import ValidationError

__all__ = ["describe_value", "did_you_mean", "schema_problems"]

Path = tuple[str | int, ...]

_TYPE_NAMES: Final[Mapping[str, str]] = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}
_EXTENSIONS: Final = " (keys of your own, such as YAML anchors to reuse, start with x-)"


def describe_value(value: Any, node: Located) -> str:
    """How a message names a value, saying what YAML made of unquoted text."""
    if is_plain_non_string(node):
        if node.text == "":
            return "nothing (an empty value)"
        return f"{node.text}, which YAML reads as {describe_scalar(node)}"
    if isinstance(value, Yaml11Scalar):
        return value.text
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"the value {value!r}"


def did_you_mean(word: Any, options: Iterable[str], *, last: bool = False) -> str:
    """`` (did you mean 'audio'?)`` when ``word`` looks like a typo of one of ``options``
    (a key, a value, a job id, a file name), else ``""``. ``last``: ``; did you mean
    'audio'?``, for a hint that ends a message."""
    if not isinstance(word, str):
        return ""
    # 0.75, above difflib's 0.6: '1080p' is not a typo of '480p', 'audoi' is one of 'audio'.
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    if not close:
        return ""
    return f"; did you mean {close[0]!r}?" if last else f" (did you mean {close[0]!r}?)"


def schema_problems(
    errors: Sequence[tuple[Path, ValidationError]],
    document: Mapping[str, Any],
    root: Located,
    display_name: str,
    kind_fields: Mapping[str, Sequence[str]],
    models: Mapping[str, str],
) -> list[Problem]:
    """One Problem per finding, located at the value (or at the key, for unknown keys);
    a value an alias or a merge key brought is located where it is used, and the
    message names the anchor it came from."""
    return [
        problem_at(display_name, node, where, message)
        for path, error in errors
        for node, where, message in _explain(path, error, document, root, kind_fields, models)
    ]


def _job_kind(document: Mapping[str, Any], path: Path) -> str | None:
    if len(path) >= 2 and path[0] == "jobs" and isinstance(path[1], int):
        job = document["jobs"][path[1]]
        kind = job.get("kind") if isinstance(job, dict) else None
        return kind if isinstance(kind, str) else None
    return None


def _explain(
    path: Path,
    error: ValidationError,
    document: Mapping[str, Any],
    root: Located,
    kind_fields: Mapping[str, Sequence[str]],
    models: Mapping[str, str],
) -> list[tuple[Located, str, str]]:
    # jsonschema types these as "maybe unset"; errors from iter_errors always have them.
    validator, arg = error.validator, cast(Any, error.validator_value)
    instance = cast(Any, error.instance)
    schema = cast(Mapping[str, Any], error.schema)
    node, where = node_at(root, path), format_where(path)
    if validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        # Keys a patternProperties admits (x-... at the top) are no unknown keys.
        patterns = [ecma_regex(p).search for p in schema.get("patternProperties", {})]
        return [
            (
                key_node_at(root, (*path, key)) or node,
                format_where((*path, key)),
                _unknown_key(key, path, allowed, _job_kind(document, path), kind_fields, models)
                + (_EXTENSIONS if path == () and patterns else ""),
            )
            for key in instance
            if key not in allowed and not any(search(key) for search in patterns)
        ]
    if validator == "required":
        kind = _job_kind(document, path)
        return [
            (node, format_where((*path, key)), _missing(key, path, kind))
            for key in arg
            if key not in instance
        ]
    shown = describe_value(instance, node)
    if validator == "type":
        names = [arg] if isinstance(arg, str) else list(arg)
        message = f"expected {' or '.join(_TYPE_NAMES.get(n, n) for n in names)}, got {shown}"
        if "string" in names and is_plain_non_string(node) and node.text:
            message += f"; quote it ({json.dumps(node.text)}) if you mean the text"
        elif isinstance(instance, Yaml11Scalar):
            message += "; write it in plain decimal digits"
        return [(node, where, message)]
    if validator == "enum":
        options = ", ".join(map(str, arg))
        if isinstance(instance, str):
            what = "unknown kind" if path[-1:] == ("kind",) else "unknown value"
            return [
                (
                    node,
                    where,
                    f"{what} {instance!r}{did_you_mean(instance, arg)}; expected one of {options}",
                )
            ]
        return [(node, where, f"expected one of {options}, got {shown}")]
    if validator == "const":
        return [(node, where, f"must be {json.dumps(arg)}, not {shown}")]
    if validator == "pattern":
        wording = schema.get("patternErrorMessage", f"must match {arg}")
        return [(node, where, f"{wording}, not {instance!r}")]
    if validator in ("minimum", "maximum"):
        bound = "at least" if validator == "minimum" else "at most"
        return [(node, where, f"must be {bound} {arg}, not {instance!r}")]
    if validator == "minItems" and path == ("jobs",):
        return [(node, where, "the jobs list is empty: add at least one job")]
    if validator == "minLength":
        return [(node, where, "must not be empty")]
    if validator == "maxLength":
        limit = f"at most {arg:,} characters (the API refuses more)"
        return [(node, where, f"{limit}, not {len(instance):,}")]
    return [(node, where, error.message)]


def _unknown_key(
    key: str,
    path: Path,
    allowed: list[str],
    kind: str | None,
    kind_fields: Mapping[str, Sequence[str]],
    models: Mapping[str, str],
) -> str:
    if path == ():
        return f"unknown key {key!r}{did_you_mean(key, allowed)}; the top level takes " + ", ".join(
            allowed
        )
    if path == ("defaults",):
        return f"unknown field {key!r} in defaults{did_you_mean(key, allowed)}"
    if path == ("store",):
        return f"unknown setting {key!r}{did_you_mean(key, allowed)}; store: takes " + ", ".join(
            allowed
        )
    if path[:1] == ("moved",):
        return (
            f"unknown key {key!r} in a moved: entry{did_you_mean(key, allowed)}; it takes from, to"
        )
    takers = [k for k, fields in kind_fields.items() if key in fields]
    if kind is not None and takers:
        # A real field of another kind: the most likely mistake is the kind, not the spelling.
        return (
            f"{kind} jobs do not take {key!r}: the {models.get(kind, kind)} API has no "
            f"such field (only {' and '.join(takers)} jobs take it)"
        )
    hint = did_you_mean(key, [*allowed, "matrix"])  # matrix: is a job entry's key too
    return f"unknown field {key!r} for {_a(kind)} job{hint}" + (
        "" if hint else f"; it takes {', '.join(sorted(allowed))}"
    )


def _missing(key: str, path: Path, kind: str | None) -> str:
    if path == ():
        return (
            "missing: write version: 1 at the top"
            if key == "version"
            else f"missing: a manifest needs {key}:"
        )
    if path[:1] == ("moved",):
        return f"missing: a moved: entry needs {key} ({{from: old-id, to: new-id}})"
    if key == "id":
        return "missing: every job needs an id (it names the output file)"
    if key == "kind":
        return "missing: every job needs a kind: avatar, dialog or video"
    return f"missing: {_a(kind)} job needs {key} (set it here or under defaults:)"


def _a(kind: str | None) -> str:
    return f"an {kind}" if kind and kind[0] in "aeiou" else f"a {kind}"
