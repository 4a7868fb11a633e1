"""StoreConfig parsing: both spellings, ttl units, and errors that name the field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lipsync_pipeline.errors import EXIT_INPUT, StoreConfigError
from lipsync_pipeline.store import DEFAULT_URL_TTL, parse_store_config, parse_ttl


def test_short_form() -> None:
    config = parse_store_config("s3://team-renders/lipsync/")
    assert (config.url, config.scheme, config.bucket, config.prefix) == (
        "s3://team-renders/lipsync", "s3", "team-renders", "lipsync")
    assert config.url_ttl == DEFAULT_URL_TTL == timedelta(hours=24)
    assert config.public_base_url is None and config.signs_urls


def test_mapping_form() -> None:
    config = parse_store_config({"url": "gs://bkt", "url_ttl": "6h",
                                 "public_base_url": "https://cdn.example.com/lipsync/"})
    assert (config.scheme, config.bucket, config.prefix) == ("gs", "bkt", "")
    assert config.url_ttl == timedelta(hours=6)
    assert config.public_base_url == "https://cdn.example.com/lipsync"
    assert not config.signs_urls


def test_file_and_az_urls() -> None:
    local = parse_store_config("file:///srv/lipsync/store")
    assert (local.scheme, local.local_root, local.url) == (
        "file", "/srv/lipsync/store", "file:///srv/lipsync/store")
    assert not local.signs_urls
    assert parse_store_config("az://renders/team").bucket == "renders"


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("7d", 604800), (" 2h ", 7200)])
def test_ttl_units(text: str, seconds: int) -> None:
    assert parse_ttl(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("value", "where", "fragment"), [
    ("http://bucket/x", "store", "unsupported scheme"),
    ("minio://bucket", "store", "unsupported scheme"),
    ("s3://Bad_Bucket/x", "store", "not a bucket name"),
    ("s3://bucket/../up", "store", "not allowed"),
    ("s3://bucket/x?region=eu", "store", "no query"),
    ("file://host/abs", "store", "file:///absolute/path"),
    ("file:///", "store", "absolute directory"),
    (42, "store", "expected a URL"),
    ({"url_ttl": "1h"}, "store.url", "missing"),
    ({"url": "s3://bucket", "ttl": "1h"}, "store.ttl", "unknown setting"),
    ({"url": "s3://bucket", "url_ttl": "6 hours"}, "store.url_ttl", "units s, m, h, d"),
    ({"url": "s3://bucket", "url_ttl": 3600}, "store.url_ttl", "like 90s"),
    ({"url": "s3://bucket", "url_ttl": "8d"}, "store.url_ttl", "over 7d"),
    ({"url": "s3://bucket", "url_ttl": "0s"}, "store.url_ttl", "at least 1s"),
    ({"url": "s3://bucket", "public_base_url": "http://cdn.example.com"},
     "store.public_base_url", "https"),
    ({"url": "s3://bucket", "public_base_url": "https://cdn.example.com/?sig=1"},
     "store.public_base_url", "no query"),
])
def test_errors_name_the_field(value: object, where: str, fragment: str) -> None:
    with pytest.raises(StoreConfigError) as caught:
        parse_store_config(value)
    assert caught.value.where == where
    assert fragment in caught.value.detail
    assert str(caught.value).startswith(f"{where}: ")
    assert caught.value.exit_code == EXIT_INPUT
