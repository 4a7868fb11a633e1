"""The manifest's ``store:`` key: both spellings, and located errors from the store's parser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError
from lipsync_pipeline.manifest import parse_manifest

_JOBS = """jobs:
  - id: a
    kind: avatar
    image: https://cdn.example.com/a.png
    audio: https://cdn.example.com/a.wav
"""


def _parse(head: str, tmp_path: Path) -> object:
    return parse_manifest(
        f"version: 1\n{head}{_JOBS}", path=tmp_path / "m.yaml", display_name="m.yaml"
    )


def test_short_form(tmp_path: Path) -> None:
    manifest = _parse("store: s3://team-renders/lipsync/\n", tmp_path)
    store = manifest.store  # type: ignore[attr-defined]
    assert (store.url, store.bucket, store.prefix) == (
        "s3://team-renders/lipsync",
        "team-renders",
        "lipsync",
    )
    assert store.url_ttl == timedelta(hours=24)


def test_long_form(tmp_path: Path) -> None:
    head = (
        "store:\n  url: gs://b-1/p\n  url_ttl: 6h\n"
        "  public_base_url: https://cdn.example.com/lipsync/\n"
    )
    store = _parse(head, tmp_path).store  # type: ignore[attr-defined]
    assert store.url_ttl == timedelta(hours=6)
    assert store.public_base_url == "https://cdn.example.com/lipsync"


def test_no_store_is_none(tmp_path: Path) -> None:
    assert _parse("", tmp_path).store is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("store:\n  url: s3://b-1/x\n  url_ttl: 9d\n", "m.yaml:4:12: store.url_ttl: 9d is over 7d"),
        ("store: s3://Bad_Bucket/x\n", "m.yaml:2:8: store: 'Bad_Bucket' is not a bucket name"),
        ("store:\n  url: s3://b-1\n  url_tl: 6h\n", "m.yaml:4:3: store.url_tl: unknown setting"),
        ("store: http://example.com/x\n", "m.yaml:2:8: store: must be a store URL"),
        ("store:\n  url_ttl: 6h\n", "m.yaml:3:3: store"),
        (
            "store:\n  url: s3://b-1\n  public_base_url: http://cdn.example.com\n",
            "m.yaml:4:20: store.public_base_url: must be https://",
        ),
    ],
)
def test_errors_are_located(head: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        _parse(head, tmp_path)
    assert str(caught.value).startswith(expected), str(caught.value)
