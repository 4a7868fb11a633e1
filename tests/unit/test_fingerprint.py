"""Fingerprints hash the request, not the YAML: properties over generated manifests."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lipsync_pipeline.manifest import Job, canonical_request, kind_fields, parse_manifest

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

URLS = st.from_regex(r"https://[a-z]{1,8}\.example/[a-z0-9]{1,8}\.(png|mp3|mp4)", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=24)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "image": URLS, "audio": URLS, "video": URLS, "left_audio": URLS, "right_audio": URLS,
    "mask_image": URLS, "resolution": st.sampled_from(["480p", "720p"]),
    "order": st.sampled_from(["meanwhile", "left_right", "right_left"]), "prompt": TEXT,
    "seed": st.integers(0, 2**31 - 1),
}
REQUIRED = {"avatar": ("image", "audio"), "dialog": ("image", "left_audio", "right_audio"),
            "video": ("video", "audio")}


@st.composite
def jobs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(REQUIRED)))
    job: dict[str, Any] = {"id": draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)),
                           "kind": kind}
    for field in kind_fields()[kind]:
        if field in REQUIRED[kind] or draw(st.booleans()):
            job[field] = draw(VALUES[field])
    return job


def fingerprint(document: dict[str, Any], folder: Path, **dump: Any) -> str:
    text = yaml.safe_dump(document, sort_keys=False, **dump)
    (job,) = parse_manifest(text, path=folder / "m.yaml", display_name="m.yaml").jobs
    return job.fingerprint


def shuffled(mapping: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    items = list(mapping.items())
    rng.shuffle(items)
    return dict(items)


@SETTINGS
@given(job=jobs(), moved=st.sets(st.sampled_from(sorted(VALUES))), seed=st.integers(),
       flow=st.booleans(), indent=st.integers(2, 6), width=st.integers(20, 200))
def test_layout_order_and_defaults_do_not_change_the_fingerprint(
        tmp_path: Path, job: dict[str, Any], moved: set[str], seed: int, flow: bool,
        indent: int, width: int) -> None:
    baseline = fingerprint({"version": 1, "jobs": [job]}, tmp_path)
    rng = random.Random(seed)
    own = {k: v for k, v in job.items() if k not in moved}
    defaults = {k: v for k, v in job.items() if k in moved}
    if job["kind"] != "dialog" and "order" in moved:
        defaults["order"] = "meanwhile"  # a default the kind does not take is ignored
    document: dict[str, Any] = {"jobs": [shuffled(own, rng)], "version": 1}
    if defaults:
        document["defaults"] = shuffled(defaults, rng)
    assert fingerprint(shuffled(document, rng), tmp_path, default_flow_style=flow,
                       indent=indent, width=width) == baseline


@SETTINGS
@given(job=jobs(), data=st.data())
def test_changing_any_request_field_changes_the_fingerprint(
        tmp_path: Path, job: dict[str, Any], data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(kind_fields()[job["kind"]]))
    new = data.draw(VALUES[field])
    old = job.get(field, "480p" if field == "resolution" else None)
    assume(new != old and not (field == "seed" and "seed" not in job))
    before = fingerprint({"version": 1, "jobs": [job]}, tmp_path)
    after = fingerprint({"version": 1, "jobs": [{**job, field: new}]}, tmp_path)
    assert before != after


@SETTINGS
@given(job=jobs(), hook=st.from_regex(r"https://[a-z]{1,8}\.example/[a-z]{0,8}", fullmatch=True))
def test_webhook_is_not_part_of_the_fingerprint(
        tmp_path: Path, job: dict[str, Any], hook: str) -> None:
    before = fingerprint({"version": 1, "jobs": [job]}, tmp_path)
    assert fingerprint({"version": 1, "jobs": [{**job, "webhook": hook}]}, tmp_path) == before


def test_explicit_default_resolution_equals_none(tmp_path: Path) -> None:
    job = {"id": "a", "kind": "avatar", "image": "https://x.example/a.png",
           "audio": "https://x.example/a.mp3"}
    assert fingerprint({"version": 1, "jobs": [job]}, tmp_path) == fingerprint(
        {"version": 1, "jobs": [{**job, "resolution": "480p"}]}, tmp_path)


def test_renaming_a_job_changes_the_derived_seed_and_the_fingerprint(tmp_path: Path) -> None:
    job = {"id": "a", "kind": "avatar", "image": "https://x.example/a.png",
           "audio": "https://x.example/a.mp3"}
    assert fingerprint({"version": 1, "jobs": [job]}, tmp_path) != fingerprint(
        {"version": 1, "jobs": [{**job, "id": "b"}]}, tmp_path)


def _local_job(folder: Path, image: str) -> Job:
    text = (f"version: 1\njobs:\n  - id: a\n    kind: avatar\n    image: {image}\n"
            "    audio: https://x.example/a.mp3\n")
    (job,) = parse_manifest(text, path=folder / "m.yaml", display_name="m.yaml").jobs
    return job


def test_local_inputs_are_hashed_by_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "face.png").write_bytes(b"one")
    first = _local_job(tmp_path, "a/face.png").fingerprint
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "face.png").rename(tmp_path / "b" / "moved.png")
    assert _local_job(tmp_path, "b/moved.png").fingerprint == first  # moved: same request
    (tmp_path / "b" / "moved.png").write_bytes(b"two")
    assert _local_job(tmp_path, "b/moved.png").fingerprint != first  # edited: render again


def test_canonical_request_is_order_free_compact_utf8() -> None:
    one = canonical_request("lipsync-image", {"seed": 1, "prompt": "é"})
    two = canonical_request("lipsync-image", {"prompt": "é", "seed": 1})
    assert one == two == '{"formState":{"prompt":"é","seed":1},"model":"lipsync-image"}'.encode()
