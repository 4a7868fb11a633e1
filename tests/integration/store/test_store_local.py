"""file:// stores (the unit-test and local default), keys and redaction: no server needed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lipsync_pipeline.errors import StoreConfigError, StoreError, StoreIntegrityError
from lipsync_pipeline.store import (
    ObjectStore,
    check_key,
    input_key,
    parse_store_config,
    redact_url,
    redact_urls,
    render_key,
)

SIGNED = ("https://b.s3.eu-west-1.amazonaws.com/p/inputs/sha256/ab.wav?X-Amz-Algorithm=AWS4"
          "&X-Amz-Credential=AKIAEXAMPLE%2F20250101&X-Amz-Signature=deadbeef")


def test_put_input_dedupes_and_fetches(
    file_store: ObjectStore, sample: Path, tmp_path: Path
) -> None:
    key = file_store.put_input(sample)
    assert file_store.put_input(sample) == key
    assert file_store.requests["PUT"] == 1
    found = file_store.stat(key)
    assert found is not None
    assert (found.size, found.sha256) == (sample.stat().st_size, None)   # no metadata on disk
    assert (tmp_path / "store" / key).read_bytes() == sample.read_bytes()
    dest = tmp_path / "back" / "voice.wav"
    digest = hashlib.sha256(sample.read_bytes()).hexdigest()
    assert file_store.fetch(key, dest, digest) == sample.stat().st_size
    with pytest.raises(StoreIntegrityError):
        file_store.fetch(key, tmp_path / "back" / "bad.wav", "f" * 64)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["voice.wav"]


def test_file_store_cannot_sign(file_store: ObjectStore, sample: Path) -> None:
    key = file_store.put_input(sample)
    with pytest.raises(StoreConfigError) as caught:
        file_store.input_url(key)
    assert caught.value.where == "store.public_base_url"


def test_public_base_url_needs_no_signing(tmp_path: Path, sample: Path) -> None:
    config = parse_store_config({"url": f"file://{tmp_path}/s",
                                 "public_base_url": "https://cdn.example.com/lip/"})
    store = ObjectStore(config, env={})
    key = store.put_input(sample)
    assert store.input_url(key) == f"https://cdn.example.com/lip/{key}"


def test_file_store_preflight(file_store: ObjectStore) -> None:
    file_store.preflight()
    assert file_store.requests == {"PUT": 2, "GET": 1, "DELETE": 2}


def test_keys_from_a_lockfile_are_checked(file_store: ObjectStore) -> None:
    for bad in ("../etc/passwd", "/abs", "a//b", "a/./b", "a b", ""):
        with pytest.raises(StoreError, match="not a store key"):
            file_store.stat(bad)
    assert check_key("renders/job/x.mp4") == "renders/job/x.mp4"


def test_key_layout() -> None:
    digest = "ab" * 32
    assert input_key(digest, "dir/Voice.WAV") == f"inputs/sha256/{digest}.wav"
    assert input_key(digest, "noext") == f"inputs/sha256/{digest}"
    assert input_key(digest, "weird.ext with space") == f"inputs/sha256/{digest}"
    assert render_key("intro-1", digest) == f"renders/intro-1/{digest}.mp4"
    with pytest.raises(ValueError, match="job id"):
        render_key("../x", digest)
    with pytest.raises(ValueError, match="sha256"):
        render_key("x", "ABC")


def test_redact_url() -> None:
    assert redact_url(SIGNED) == (
        "https://b.s3.eu-west-1.amazonaws.com/p/inputs/sha256/ab.wav?<redacted>")
    assert redact_url("https://user:pw@host:8443/a#frag") == "https://host:8443/a?<redacted>"
    assert redact_url("https://host/a") == "https://host/a"


def test_redact_urls_in_free_text() -> None:
    text = f'studio: cannot fetch "{SIGNED}": 403; see https://docs.example.com/x'
    shown = redact_urls(text)
    assert "Signature" not in shown and "AKIA" not in shown
    assert "ab.wav?<redacted>" in shown and "https://docs.example.com/x" in shown
    assert redact_urls(shown) == shown  # twice is once: the marker survives (issue 13)


@pytest.mark.parametrize("no_proxy", ["", "localhost,2001:db8::/32"])
def test_preflight_fetches_a_public_https_url_with_the_environments_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    """The probe is fetched from the store's public URL as every other request of ours
    is: TLS verified against SSL_CERT_FILE (a company CA), and NO_PROXY read the way
    urllib reads it (httpx's own reading fails on a CIDR entry)."""
    import ssl

    import trustme
    from _media_server import media_server

    from lipsync_pipeline.store._preflight import PROBE_DIR

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # loopback never goes there
    monkeypatch.setenv("NO_PROXY", no_proxy)
    token = bytes(range(8))  # the probe's name, made known to the origin below
    monkeypatch.setattr("lipsync_pipeline.store._preflight.os.urandom", lambda n: token)
    body = f"lipsync-pipeline preflight {token.hex()}\n".encode()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    probe = f"/lip/inputs/{PROBE_DIR}/{token.hex()}.txt"
    with media_server({probe: body}, tls=context) as origin:
        url = origin.url.replace("127.0.0.1", "localhost")
        config = parse_store_config(
            {"url": f"file://{tmp_path}/s", "public_base_url": f"{url}/lip/"}
        )
        ObjectStore(config, env={}).preflight()
        assert [seen.path for seen in origin.requests()] == [probe]
