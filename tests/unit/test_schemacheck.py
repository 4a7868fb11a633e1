"""The compiled fast check must agree with jsonschema on every document."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipsync_pipeline.manifest import manifest_schema
from lipsync_pipeline.manifest._schemacheck import UnsupportedSchema, compile_check
from lipsync_pipeline.manifest._yaml import Yaml11Scalar

SCHEMA = manifest_schema()
FAST = compile_check(SCHEMA)
SLOW = jsonschema.Draft202012Validator(SCHEMA)

KEYS = ["id", "kind", "image", "audio", "video", "left_audio", "right_audio", "mask_image",
        "resolution", "order", "prompt", "seed", "webhook", "colour"]
ODD: st.SearchStrategy[Any] = st.sampled_from([
    None, True, False, 0, 1, 1.0, 7.0, 7.5, -1, 2**31, 2**31 - 1, "", "x", "avatar", "dialog",
    "video", "480p", "720p", "meanwhile", "https://a.example/x.png", "http://127.0.0.1/h",
    "http://a.example/h", "assets/a.png", "/abs.png", "ftp://a/b", "-bad", [], {},
    Yaml11Scalar("0755", "int"), Yaml11Scalar("2024-01-01", "timestamp"), float("inf"),
])
BASE_JOBS: list[dict[str, Any]] = [
    {"id": "a", "kind": "avatar", "image": "https://a.example/i.png",
     "audio": "https://a.example/a.mp3"},
    {"id": "d", "kind": "dialog", "image": "i.png", "left_audio": "l.mp3",
     "right_audio": "r.mp3", "order": "meanwhile"},
    {"id": "v", "kind": "video", "video": "v.mp4", "audio": "a.mp3", "seed": 3,
     "mask_image": "m.png"},
]


@st.composite
def documents(draw: st.DrawFn) -> Any:
    jobs = []
    for base in draw(st.lists(st.sampled_from(BASE_JOBS), max_size=3)):
        job = dict(base)
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=3)):
            if draw(st.booleans()):
                job[key] = draw(ODD)
            else:
                job.pop(key, None)
        jobs.append(job)
    document: dict[str, Any] = {"version": draw(st.sampled_from([1, 1, 1, 1.0, 2, True])),
                                "jobs": jobs}
    if draw(st.booleans()):
        document["defaults"] = draw(st.dictionaries(st.sampled_from(KEYS), ODD, max_size=3))
    for key in draw(st.lists(st.sampled_from(["concurrency", "output_dir", "jobs", "extra",
                                              "x-mine", "x-"]), max_size=2)):
        document[key] = draw(ODD)
    return draw(st.one_of(st.just(document), ODD))


@settings(max_examples=600, deadline=None)
@given(documents())
def test_fast_check_agrees_with_jsonschema(document: Any) -> None:
    assert FAST(document) == SLOW.is_valid(document)


def test_the_shipped_schema_compiles() -> None:
    assert FAST({"version": 1, "jobs": [BASE_JOBS[0]]})


@pytest.mark.parametrize("schema", [
    {"uniqueItems": True},
    {"prefixItems": [{"type": "string"}]},
    {"$ref": "https://example.com/other.json"},
    {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    {"enum": [[1]]},
    {"minimum": "1"},
])
def test_unknown_keywords_refuse_to_compile(schema: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        compile_check(schema)


# Keywords the manifest schema does not use (yet): the checker must agree on them too, so
# that a schema change is fast and still right.
OTHER_SCHEMAS: list[dict[str, Any]] = [
    {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer", "minimum": 3}]},
    {"oneOf": [{"type": "number"}, {"type": "integer"}, {"type": "string"}]},
    {"not": {"type": ["string", "null"]}},
    {"type": "object", "additionalProperties": False},
    {"type": "object", "additionalProperties": {"type": "integer"}},
    {"properties": {"a": {"const": 1}}, "patternProperties": {"^x-": {"type": "string"},
                                                              "y$": {"minLength": 2}},
     "additionalProperties": False},
    {"propertyNames": {"pattern": "^[a-c]+$"}, "minProperties": 1, "maxProperties": 2},
    {"type": "array", "items": {"exclusiveMinimum": 0, "exclusiveMaximum": 2},
     "minItems": 1, "maxItems": 3},
    {"required": ["a"], "if": {"properties": {"a": {"type": "string"}}},
     "then": {"properties": {"a": {"pattern": "^z$"}}}, "else": {"properties": {"b": False}}},
]
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.5, 1.0, 2.0])
    | st.sampled_from(["", "a", "z", "zz", "x-", "x-y", "abc", "yy", "b"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "x-1", "xy", "ay", "z"]), inner,
                      max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize("index", range(len(OTHER_SCHEMAS)))
@settings(max_examples=150, deadline=None)
@given(value=JSON)
def test_other_keywords_agree_with_jsonschema(index: int, value: Any) -> None:
    schema = OTHER_SCHEMAS[index]
    assert compile_check(schema)(value) == jsonschema.Draft202012Validator(schema).is_valid(value)
