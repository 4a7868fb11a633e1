"""The lock's record of URL inputs (``inputs``): what a job was rendered from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipsync_pipeline.errors import LockfileError
from lipsync_pipeline.lockfile import InputVersion, LockEntry, load_lock, lock_schema, render_lock
from lipsync_pipeline.manifest import INPUT_FIELDS

AUDIO = InputVersion(etag='"v1"', last_modified="Tue, 14 Nov 2023 22:13:21 GMT", bytes=96078)
IMAGE = InputVersion(bytes=3377, sha256="ab" * 32)


def entry(**kw: Any) -> LockEntry:
    base: dict[str, Any] = {
        "job_id": "a",
        "fingerprint": "sha256:" + "0" * 64,
        "model": "lipsync-image",
        "status": "completed",
        "idempotency_key": "k",
    }
    return LockEntry(**{**base, **kw})


def test_inputs_round_trip_sorted_and_without_urls(tmp_path: Path) -> None:
    recorded = entry(inputs=(("audio", AUDIO), ("image", IMAGE)))
    path = tmp_path / "r.lock"
    path.write_bytes(render_lock([recorded]))
    assert load_lock(path).entries["a"] == recorded
    text = path.read_text()
    assert json.loads(text)["jobs"]["a"]["inputs"] == {
        "audio": {"bytes": 96078, "etag": '"v1"', "last_modified": AUDIO.last_modified},
        "image": {"bytes": 3377, "sha256": "ab" * 32},
    }
    assert "http" not in text  # the URL is the manifest's; a presigned one is a credential


def test_a_lock_written_before_inputs_were_recorded_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    old = {"version": 1, "jobs": {"a": json.loads(render_lock([entry()]))["jobs"]["a"]}}
    path.write_text(json.dumps(old))
    loaded = load_lock(path).entries["a"]
    assert loaded.inputs == () and loaded.input_versions() == {}
    assert render_lock([loaded]) == render_lock([entry()])  # and is written as it was


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"audi": {"bytes": 1}}, "audi"),
        ({"audio": {}}, "inputs.audio"),
        ({"audio": {"etag": 5}}, "inputs.audio.etag"),
        ({"audio": {"bytes": -1}}, "inputs.audio.bytes"),
        ({"audio": {"sha256": "xyz"}}, "inputs.audio.sha256"),
        ({"audio": {"size": 3}}, "inputs.audio"),
        ({}, "inputs"),
    ],
)
def test_a_bad_inputs_record_is_located(tmp_path: Path, inputs: Any, expected: str) -> None:
    doc = json.loads(render_lock([entry()]))
    doc["jobs"]["a"]["inputs"] = inputs
    path = tmp_path / "r.lock"
    path.write_text(json.dumps(doc, indent=2))
    with pytest.raises(LockfileError) as caught:
        load_lock(path)
    problem = caught.value.problems[0]
    assert problem.line is not None and expected in f"{problem.where} {problem.message}"


def test_the_schema_names_exactly_the_manifest_input_fields() -> None:
    names = lock_schema()["$defs"]["entry"]["properties"]["inputs"]["propertyNames"]["enum"]
    assert tuple(names) == INPUT_FIELDS


@pytest.mark.parametrize(
    ("then", "now", "same"),
    [
        (AUDIO, AUDIO, True),
        (AUDIO, InputVersion(etag='"v2"', last_modified=AUDIO.last_modified, bytes=96078), False),
        # The ETag decides when both have one, whatever the date says.
        (AUDIO, InputVersion(etag='"v1"', last_modified="Wed, 15 Nov 2023 10:00:00 GMT"), True),
        (InputVersion(last_modified="a", bytes=1), InputVersion(last_modified="a", bytes=2), False),
        (InputVersion(last_modified="a", bytes=1), InputVersion(last_modified="a"), True),
        (IMAGE, InputVersion(bytes=3377, sha256="cd" * 32), False),
        (InputVersion(etag='"v1"'), InputVersion(last_modified="a"), None),
        (InputVersion(bytes=1), InputVersion(), None),
    ],
)
def test_versions_compare_by_what_both_know(
    then: InputVersion, now: InputVersion, same: bool | None
) -> None:
    assert then.compare(now) is same


_VALID_INPUTS = {"audio": AUDIO.as_json(), "image": IMAGE.as_json()}
_ODD: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from(["", "x", '"e"', "ab" * 32, "AB" * 32, "x" * 1025, "audio", "inputs"])
    | st.just({})
    | st.just([])
    | st.just(dict(AUDIO.as_json()))
)
_MUTATION = st.tuples(
    st.sampled_from(["audio", "image", "video", "audi", "", "inputs"]),
    st.sampled_from(["etag", "last_modified", "bytes", "sha256", "other", ""]),
    st.booleans(),  # delete rather than replace
    _ODD,
)


@settings(max_examples=300)
@given(mutations=st.lists(_MUTATION, max_size=3), whole=st.none() | _ODD)
def test_the_quick_check_of_inputs_never_accepts_what_the_schema_rejects(
    mutations: list[tuple[str, str, bool, Any]], whole: Any
) -> None:
    from lipsync_pipeline.lockfile._format import _quick_check, _validator

    value = json.loads(render_lock([entry()]))["jobs"]["a"]
    inputs: Any = json.loads(json.dumps(_VALID_INPUTS)) if whole is None else whole
    for field, key, delete, new in mutations:
        if not isinstance(inputs, dict):
            break
        target = inputs.get(field) if key else inputs
        name = key or field
        if not isinstance(target, dict):
            continue
        if delete:
            target.pop(name, None)
        else:
            target[name] = json.loads(json.dumps(new))
    value["inputs"] = inputs
    if _quick_check().entry(value):
        errors = list(_validator("journalRecord").iter_errors({"put": {"a": value}}))
        assert not errors, errors
