"""The manifest's JSON Schema (``schemas/manifest.schema.json``, the single source of
truth for the format) and the validators and facts derived from it."""

from __future__ import annotations

import copy
import json
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Any, Final, cast

from lipsync_pipeline._ecma import strict_validator
from lipsync_pipeline.manifest._model import MODEL_BY_KIND
from lipsync_pipeline.manifest._schemacheck import Check, UnsupportedSchema, compile_check

__all__ = ["default_resolution", "fast_check", "full_validator", "kind_fields", "manifest_schema"]

_NOT_FORM_FIELDS: Final = frozenset({"id", "kind", "webhook"})


@cache
def _schema() -> Mapping[str, Any]:
    # pkgutil, not importlib.resources: the same package data for ~15 ms less start-up.
    data = pkgutil.get_data("lipsync_pipeline", "schemas/manifest.schema.json")
    assert data is not None  # a regular package's loader reads files
    return cast(dict[str, Any], json.loads(data))


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(dict(_schema()))


@cache
def fast_check() -> Check | None:
    try:
        return compile_check(_schema())
    except UnsupportedSchema:
        return None  # slower, never wrong: jsonschema checks every document


@cache
def full_validator() -> Any:
    # ECMA's `$` (end of string), not Python's (also before a final newline).
    return strict_validator(_schema())


@cache
def kind_fields() -> Mapping[str, tuple[str, ...]]:
    """The formState fields of each kind, in the order the schema's per-kind objects list them."""
    defs = _schema()["$defs"]
    return {
        kind: tuple(f for f in defs[f"{kind}_job"]["properties"] if f not in _NOT_FORM_FIELDS)
        for kind in MODEL_BY_KIND
    }


@cache
def default_resolution() -> str:
    return str(_schema()["$defs"]["resolution"]["default"])
