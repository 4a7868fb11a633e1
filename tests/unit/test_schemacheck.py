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
    for key in draw(st.lists(st.sampled_from(["concurrency", "output_dir", "jobs", "extra"]),
                             max_size=2)):
        document[key] = draw(ODD)
    return draw(st.one_of(st.just(document), ODD))


@settings(max_examples=600, deadline=None)
@given(documents())
def test_fast_check_agrees_with_jsonschema(document: Any) -> None:
    assert FAST(document) == SLOW.is_valid(document)


def test_the_shipped_schema_compiles() -> None:
    assert FAST({"version": 1, "jobs": [BASE_JOBS[0]]})


@pytest.mark.parametrize("schema", [
    {"oneOf": [{"type": "string"}]},
    {"anyOf": [{"type": "string"}, {"not": {"type": "string"}}]},
    {"$ref": "https://example.com/other.json"},
    {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    {"type": "object", "additionalProperties": False},
    {"enum": [[1]]},
])
def test_unknown_keywords_refuse_to_compile(schema: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        compile_check(schema)
