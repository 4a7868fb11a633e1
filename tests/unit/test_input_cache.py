"""The input cache (lengths and validators between invocations) and its settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lipsync_pipeline._net import AddressPolicy
from lipsync_pipeline.inputs import CACHE_FILE
from lipsync_pipeline.inputs._cache import Cached, InputCache, url_key
from lipsync_pipeline.lockfile import InputVersion
from lipsync_pipeline.settings import cache_dir, input_policy

SIGNED = "https://b.s3.amazonaws.com/voice.wav?X-Amz-Credential=AKIA1&X-Amz-Signature=5ecret5ig"
V1 = InputVersion(etag='"1"', last_modified="Tue, 14 Nov 2023 22:13:21 GMT", bytes=96078)


def test_what_is_put_is_read_back_by_the_next_invocation(tmp_path: Path) -> None:
    cache = InputCache.load(tmp_path)
    cache.put(SIGNED, Cached(V1, 3.0))
    cache.put("https://cdn.example.com/face.png", Cached(InputVersion(etag='"f"')))
    cache.save()
    again = InputCache.load(tmp_path)
    assert again.get(SIGNED) == Cached(V1, 3.0)
    assert again.get("https://cdn.example.com/face.png") == Cached(InputVersion(etag='"f"'))
    assert again.get("https://cdn.example.com/other.wav") is None


def test_no_url_is_stored_in_clear(tmp_path: Path) -> None:
    cache = InputCache.load(tmp_path)
    cache.put(SIGNED, Cached(V1, 3.0))
    cache.save()
    text = (tmp_path / CACHE_FILE).read_text()
    for part in ("amazonaws", "voice", "5ecret5ig", "AKIA1"):
        assert part not in text
    assert url_key(SIGNED) in text
    assert (tmp_path / CACHE_FILE).stat().st_mode & 0o077 == 0  # this user's only


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b'{"version": 1, "entries": []}',
        b'{"version": 99, "entries": {}}',
        b"[1, 2]",
        b"",
    ],
)
def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path: Path, content: bytes) -> None:
    (tmp_path / CACHE_FILE).write_bytes(content)
    cache = InputCache.load(tmp_path)
    assert cache.get(SIGNED) is None
    cache.put(SIGNED, Cached(V1, 3.0))
    cache.save()
    assert InputCache.load(tmp_path).get(SIGNED) == Cached(V1, 3.0)


def test_bad_entries_are_dropped_one_by_one(tmp_path: Path) -> None:
    good = {"etag": '"1"', "bytes": 5, "seconds": 2.5, "used": 1}
    bad = [
        {"bytes": -1},
        {"seconds": "long"},
        {"seconds": float("inf")},
        "not an entry",
        {"bytes": True},
        {"seconds": True},
    ]
    entries = {url_key(f"https://x/{n}"): value for n, value in enumerate(bad)}
    entries[url_key("https://x/good")] = good
    entries["not-a-key"] = good
    (tmp_path / CACHE_FILE).write_text(json.dumps({"version": 1, "entries": entries}))
    cache = InputCache.load(tmp_path)
    assert cache.get("https://x/good") == Cached(InputVersion(etag='"1"', bytes=5), 2.5)
    assert all(cache.get(f"https://x/{n}") is None for n in range(len(bad)))


def test_validators_that_could_not_be_sent_back_are_not_read(tmp_path: Path) -> None:
    """A cache written before non-ASCII validators were filtered: what is left is used."""
    odd = {"etag": '"caf\u00e9"', "last_modified": "Tue\n14 Nov", "bytes": 5, "seconds": 2.5}
    entries = {url_key("https://x/odd"): odd}
    (tmp_path / CACHE_FILE).write_text(json.dumps({"version": 1, "entries": entries}))
    cache = InputCache.load(tmp_path)
    assert cache.get("https://x/odd") == Cached(InputVersion(bytes=5), 2.5)


def test_two_invocations_at_once_keep_each_others_entries(tmp_path: Path) -> None:
    first, second = InputCache.load(tmp_path), InputCache.load(tmp_path)
    first.put("https://x/a", Cached(V1, 1.0))
    second.put("https://x/b", Cached(V1, 2.0))
    first.save()
    second.save()
    merged = InputCache.load(tmp_path)
    assert merged.get("https://x/a") == Cached(V1, 1.0)
    assert merged.get("https://x/b") == Cached(V1, 2.0)
    assert os.listdir(tmp_path) == [CACHE_FILE]  # no temp file left behind


def test_the_file_is_read_once_unless_another_invocation_replaced_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache of many entries costs one read per invocation: it is read again before
    it is written only if another invocation wrote it meanwhile (to keep its entries)."""
    import lipsync_pipeline.inputs._cache as module

    earlier = InputCache.load(tmp_path)
    earlier.put("https://x/old", Cached(V1, 1.0))
    earlier.save()
    reads: list[Path] = []
    real = module.read_capped

    def counted(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
        reads.append(path)
        return real(path, limit)

    monkeypatch.setattr(module, "read_capped", counted)
    alone = InputCache.load(tmp_path)
    alone.put("https://x/a", Cached(V1, 2.0))
    alone.save()
    assert len(reads) == 1

    reads.clear()
    first, second = InputCache.load(tmp_path), InputCache.load(tmp_path)
    first.put("https://x/b", Cached(V1, 3.0))
    second.put("https://x/c", Cached(V1, 4.0))
    first.save()
    second.save()  # the file is not the one it read: read again, and merged
    assert len(reads) == 3
    merged = InputCache.load(tmp_path)
    assert [merged.get(f"https://x/{n}") for n in ("old", "a", "b", "c")] == [
        Cached(V1, 1.0), Cached(V1, 2.0), Cached(V1, 3.0), Cached(V1, 4.0)
    ]  # fmt: skip


def test_an_unwritable_cache_costs_nothing_but_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    cache = InputCache.load(blocker / "cache")
    cache.put(SIGNED, Cached(V1, 3.0))
    cache.save()  # logged, not raised
    assert InputCache.load(blocker / "cache").get(SIGNED) is None


def test_the_cache_directory_setting() -> None:
    home = Path.home()
    assert cache_dir({}) == home / ".cache" / "lipsync-pipeline"
    assert cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/lipsync-pipeline")
    assert cache_dir({"XDG_CACHE_HOME": "relative"}) == home / ".cache" / "lipsync-pipeline"
    chosen = {"XDG_CACHE_HOME": "/xdg", "LIPSYNC_CACHE_DIR": "/here"}
    assert cache_dir(chosen) == Path("/here")


@pytest.mark.parametrize(
    ("base_url", "local", "env", "expected"),
    [
        (None, False, {}, AddressPolicy()),  # the hosted API fetches from the internet only
        ("http://127.0.0.1:8000/api/v1", False, {}, AddressPolicy(allow_loopback=True)),
        (None, True, {}, AddressPolicy(allow_loopback=True)),  # --local
        (None, False, {"LIPSYNC_BASE_URL": "http://localhost:1/api/v1"}, AddressPolicy(True)),
        (None, False, {"LIPSYNC_PRIVATE_INPUTS": "1"}, AddressPolicy(True, True)),
        (None, False, {"LIPSYNC_PRIVATE_INPUTS": "0"}, AddressPolicy()),
    ],
)
def test_the_input_check_asks_what_the_renderer_could_fetch(
    base_url: str | None, local: bool, env: dict[str, str], expected: AddressPolicy
) -> None:
    assert input_policy(base_url, local=local, environ=env) == expected
