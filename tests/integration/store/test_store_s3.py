"""ObjectStore against a real S3 server (SeaweedFS on loopback): signatures, expiry,
auth and refusals are enforced by the server, not assumed."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import traceback
from pathlib import Path

import httpx
import pytest
import trio
from seaweed import READER_KEY, READER_SECRET, SECRET_KEY, Seaweed

from lipsync_pipeline.errors import (
    EXIT_API,
    EXIT_INPUT,
    StoreConfigError,
    StoreError,
    StoreIntegrityError,
    UnsafePathError,
)
from lipsync_pipeline.store import (
    ObjectStore,
    StoreConfig,
    TrioObjectStore,
    parse_store_config,
    redact_url,
)


def _get(url: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5) as client:
        return client.get(url)


def _full_text(exc: BaseException) -> str:
    """Everything a traceback would show, causes included."""
    return "".join(traceback.format_exception(exc))


def test_put_input_uploads_once_and_dedupes(s3_store: ObjectStore, sample: Path) -> None:
    key = s3_store.put_input(sample)
    digest = hashlib.sha256(sample.read_bytes()).hexdigest()
    assert key == f"inputs/sha256/{digest}.wav"
    assert s3_store.requests == {"HEAD": 1, "PUT": 1}

    copy = sample.with_name("same-bytes.wav")
    copy.write_bytes(sample.read_bytes())
    assert s3_store.put_input(copy) == key
    assert s3_store.requests == {"HEAD": 2, "PUT": 1}   # the second upload made no PUT

    found = s3_store.stat(key)
    assert found is not None
    assert (found.size, found.sha256) == (sample.stat().st_size, digest)


def test_presigned_get_serves_the_bytes(s3_store: ObjectStore, sample: Path) -> None:
    url = s3_store.input_url(s3_store.put_input(sample))
    assert "X-Amz-Signature=" in url
    reply = _get(url)
    assert reply.status_code == 200
    assert reply.content == sample.read_bytes()
    assert reply.headers["content-type"].startswith("audio/")


def test_tampered_signature_is_refused(s3_store: ObjectStore, sample: Path) -> None:
    url = s3_store.input_url(s3_store.put_input(sample))
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url.replace(signature, signature[::-1])
    reply = _get(tampered)
    assert reply.status_code == 403
    assert "SignatureDoesNotMatch" in reply.text


def test_anonymous_get_is_refused(s3_store: ObjectStore, sample: Path) -> None:
    url = s3_store.input_url(s3_store.put_input(sample))
    assert _get(url.split("?", 1)[0]).status_code == 403


def test_expired_url_is_refused(seaweed: Seaweed, s3_config: StoreConfig, sample: Path) -> None:
    config = parse_store_config({"url": s3_config.url, "url_ttl": "1s"})
    store = ObjectStore(config, env=seaweed.env())
    url = store.input_url(store.put_input(sample))
    # X-Amz-Date has whole seconds, so a 1 s URL dies within 1 s; 2.1 s is surely past it.
    time.sleep(2.1)
    reply = _get(url)
    assert reply.status_code == 403
    assert "expired" in reply.text.lower()


def test_render_round_trip_with_digest_metadata(s3_store: ObjectStore, tmp_path: Path) -> None:
    render = tmp_path / "render.mp4"
    render.write_bytes(os.urandom(200_000))
    digest = hashlib.sha256(render.read_bytes()).hexdigest()
    key = s3_store.put_render("intro.v2", render, digest)
    assert key == f"renders/intro.v2/{digest}.mp4"
    assert s3_store.put_render("intro.v2", render, digest) == key
    assert s3_store.requests["PUT"] == 1

    found = s3_store.stat(key)
    assert found is not None
    assert (found.size, found.sha256) == (200_000, digest)

    dest = tmp_path / "out" / "intro.v2.mp4"
    assert s3_store.fetch(key, dest, digest) == 200_000
    assert dest.read_bytes() == render.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["intro.v2.mp4"]


def test_fetch_refuses_a_digest_mismatch(s3_store: ObjectStore, tmp_path: Path) -> None:
    render = tmp_path / "render.mp4"
    render.write_bytes(b"frames")
    digest = hashlib.sha256(b"frames").hexdigest()
    key = s3_store.put_render("job", render, digest)
    dest = tmp_path / "out" / "job.mp4"
    with pytest.raises(StoreIntegrityError, match="sha256"):
        s3_store.fetch(key, dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []   # no dest, no temp file left behind


def test_fetch_refuses_a_symlinked_destination(s3_store: ObjectStore, tmp_path: Path) -> None:
    render = tmp_path / "render.mp4"
    render.write_bytes(b"frames")
    digest = hashlib.sha256(b"frames").hexdigest()
    key = s3_store.put_render("job", render, digest)
    victim = tmp_path / "elsewhere.txt"
    victim.write_bytes(b"keep me")
    dest = tmp_path / "job.mp4"
    dest.symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        s3_store.fetch(key, dest, digest)
    assert victim.read_bytes() == b"keep me"
    assert dest.is_symlink()


def test_fetch_of_a_missing_object(s3_store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(StoreIntegrityError, match="missing"):
        s3_store.fetch(f"renders/job/{'a' * 64}.mp4", tmp_path / "job.mp4", "a" * 64)
    assert list(tmp_path.iterdir()) == []


def test_stat_of_a_missing_key_is_none(s3_store: ObjectStore) -> None:
    assert s3_store.stat(f"renders/nobody/{'0' * 64}.mp4") is None


def test_preflight_passes_and_cleans_up(s3_store: ObjectStore) -> None:
    s3_store.preflight()
    # Two probes written (inputs/, renders/), one read back, one signed, both deleted.
    assert s3_store.requests == {"PUT": 2, "GET": 1, "SIGN": 1, "DELETE": 2}
    assert s3_store.stat("inputs/_preflight") is None


def test_preflight_with_a_wrong_secret(seaweed: Seaweed, s3_config: StoreConfig) -> None:
    wrong = "wrong-secret-value-that-must-not-leak"
    store = ObjectStore(s3_config, env=seaweed.env(AWS_SECRET_ACCESS_KEY=wrong))
    with pytest.raises(StoreConfigError) as caught:
        store.preflight()
    assert caught.value.exit_code == EXIT_INPUT
    assert caught.value.where == "AWS_SECRET_ACCESS_KEY"
    assert "SignatureDoesNotMatch" in str(caught.value)
    for secret in (wrong, SECRET_KEY):
        assert secret not in _full_text(caught.value)


def test_preflight_with_an_unknown_access_key(seaweed: Seaweed, s3_config: StoreConfig) -> None:
    store = ObjectStore(s3_config, env=seaweed.env(AWS_ACCESS_KEY_ID="nosuchkey"))
    with pytest.raises(StoreConfigError) as caught:
        store.preflight()
    assert caught.value.where == "AWS_ACCESS_KEY_ID"


def test_preflight_on_a_missing_bucket(seaweed: Seaweed) -> None:
    store = ObjectStore(parse_store_config("s3://no-such-bucket/x"), env=seaweed.env())
    with pytest.raises(StoreConfigError) as caught:
        store.preflight()
    assert caught.value.where == "store.url"
    assert "does not exist" in str(caught.value)


def test_preflight_refused_write_is_exit_4(seaweed: Seaweed, s3_config: StoreConfig) -> None:
    reader = seaweed.env(AWS_ACCESS_KEY_ID=READER_KEY, AWS_SECRET_ACCESS_KEY=READER_SECRET)
    with pytest.raises(StoreError) as caught:
        ObjectStore(s3_config, env=reader).preflight()
    assert not isinstance(caught.value, StoreConfigError)
    assert caught.value.exit_code == EXIT_API
    assert "AccessDenied" in str(caught.value)
    assert READER_SECRET not in _full_text(caught.value)


def test_unreachable_endpoint_fails_fast(s3_config: StoreConfig) -> None:
    with socket.socket() as sock:   # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ObjectStore(s3_config, env={
        "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    started = time.perf_counter()
    with pytest.raises(StoreError, match="cannot reach"):
        store.preflight()
    assert time.perf_counter() - started < 5


def test_redact_url_hides_the_signature(s3_store: ObjectStore, sample: Path) -> None:
    url = s3_store.input_url(s3_store.put_input(sample))
    shown = redact_url(url)
    assert "Signature" not in shown and "Credential" not in shown
    assert shown.startswith(s3_store._backend.endpoint or "?")


async def test_trio_wrapper_runs_in_threads(seaweed: Seaweed, s3_config: StoreConfig,
                                            sample: Path, tmp_path: Path) -> None:
    store = TrioObjectStore.open(s3_config, env=seaweed.env())
    copies = []
    for i in range(4):
        copy = tmp_path / f"copy{i}.wav"
        copy.write_bytes(sample.read_bytes())
        copies.append(copy)
    keys: list[str] = []

    async def upload(path: Path) -> None:
        keys.append(await store.put_input(path))

    async with trio.open_nursery() as nursery:
        for copy in copies:
            nursery.start_soon(upload, copy)
    assert len(set(keys)) == 1
    found = await store.stat(keys[0])
    assert found is not None and found.size == sample.stat().st_size
    dest = tmp_path / "back.wav"
    digest = hashlib.sha256(sample.read_bytes()).hexdigest()
    assert await store.fetch(keys[0], dest, digest) == sample.stat().st_size
