"""The input check against real origins on loopback: what it reads, what it refuses,
and what a run records and later notices (issue 13)."""

from __future__ import annotations

import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from _media import m4a, sparse_mp4, sparse_wav, wav
from _media_server import MediaServer, media_server
from _support import ASSETS, StartStudio, remote_request, studio_stats

from lipsync_pipeline._net import AddressPolicy
from lipsync_pipeline.estimate import estimate_plan
from lipsync_pipeline.inputs import InputCheck
from lipsync_pipeline.lockfile import load_lock
from lipsync_pipeline.plan import Action
from lipsync_pipeline.usecases import Checked, check, run_pipeline

LOOPBACK = AddressPolicy(allow_loopback=True)
FACE = (ASSETS / "face.png").read_bytes()


def manifest(path: Path, audio: dict[str, str], image: str) -> Path:
    lines = ["version: 1", "jobs:"]
    for job_id, url in audio.items():
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            f"    image: {image}",
            f"    audio: {url}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def checked(path: Path, cache: Path | None, **kw: object) -> Checked:
    inputs = InputCheck(LOOPBACK, cache, **kw)  # type: ignore[arg-type]
    return check(path, inputs=inputs, verify_artifacts=False)


def reasons(result: Checked) -> dict[str, str | None]:
    estimate = estimate_plan(result.plan, remote=result.remote)
    return {job: cost.unknown for job, cost in estimate.jobs.items()}


def test_a_1_gb_file_costs_its_header_not_its_bytes(tmp_path: Path) -> None:
    """A 1 GB video whose moov box is at its very end, and a 1 GB WAV: a few range
    requests each, under 1 MiB read, and the right lengths."""
    video, audio = tmp_path / "big.mp4", tmp_path / "big.wav"
    sparse_mp4(video, m4a(30.0, moov_first=False), 1 << 30)
    seconds = sparse_wav(audio, 1 << 30)
    with media_server({"/big.mp4": video, "/big.wav": audio, "/face.png": FACE}) as origin:
        path = manifest(
            tmp_path / "r.yaml",
            {"v": f"{origin.url}/big.mp4", "w": f"{origin.url}/big.wav"},
            f"{origin.url}/face.png",
        )
        result = checked(path, None)
        assert result.remote[f"{origin.url}/big.mp4"] == pytest.approx(30.0, abs=0.05)
        assert result.remote[f"{origin.url}/big.wav"] == pytest.approx(seconds)
        for name in ("/big.mp4", "/big.wav"):
            assert origin.sent(name) < 1 << 20, name  # of 1 << 30
            assert len(origin.requests(name)) <= 4
        assert origin.sent("/face.png") == 1  # an image: its version, from one byte


def test_an_origin_without_ranges_is_read_until_the_header_and_no_further(
    tmp_path: Path,
) -> None:
    video = tmp_path / "big.mp4"
    sparse_mp4(video, m4a(30.0, moov_first=False), 1 << 30)
    files = {"/big.mp4": video, "/short.m4a": m4a(4.0, moov_first=False), "/face.png": FACE}
    with media_server(files, ranges=False) as origin:
        path = manifest(
            tmp_path / "r.yaml",
            {"v": f"{origin.url}/big.mp4", "s": f"{origin.url}/short.m4a"},
            f"{origin.url}/face.png",
        )
        result = checked(path, None)
        assert result.remote[f"{origin.url}/short.m4a"] == pytest.approx(4.0, abs=0.05)
        why = reasons(result)["v"]
        assert why is not None and why.startswith(f"audio: {origin.url}/big.mp4: ")
        assert "does not answer range requests" in why
        # Read until the bound (4 MiB), plus what the kernel had buffered: not 1 GB.
        assert origin.sent("/big.mp4") < 16 << 20


def test_an_unreadable_input_is_unknown_with_its_reason_and_no_secret(tmp_path: Path) -> None:
    signature = "b4d5ecret0signature"
    with media_server({"/face.png": FACE, "/text.wav": b"<html>oops</html>" * 50}) as origin:
        audio = {
            "gone": f"{origin.url}/missing.wav",
            "signed": f"{origin.url}/private.wav?X-Amz-Signature={signature}",
            "text": f"{origin.url}/text.wav",
            "closed": "http://127.0.0.1:9/voice.wav",  # nobody listens there
        }
        result = checked(manifest(tmp_path / "r.yaml", audio, f"{origin.url}/face.png"), None)
    why = reasons(result)
    assert why["gone"] == f"audio: {origin.url}/missing.wav: HTTP 404"
    assert why["signed"] == f"audio: {origin.url}/private.wav?<redacted>: HTTP 404"
    assert why["text"] == f"audio: {origin.url}/text.wav: not a readable media file"
    assert why["closed"] == "audio: http://127.0.0.1:9/voice.wav: unreachable (ConnectError)"
    shown = [v for v in why.values() if v] + list(result.inputs.warnings)
    assert not any(signature in text for text in shown)


@pytest.mark.parametrize(
    ("location", "refused"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://10.1.2.3/voice.wav", "a private address"),
        ("http://[::ffff:127.0.0.1]:{port}/a.wav", "a loopback address"),  # trick spelling
        ("http://2130706433:{port}/a.wav", "a loopback address"),  # 127.0.0.1 as a number
        ("file:///etc/passwd", "a URL that is not http(s)"),
    ],
)
def test_a_redirect_to_a_disallowed_address_is_refused(
    tmp_path: Path, location: str, refused: str
) -> None:
    with media_server({"/a.wav": wav(3.0), "/face.png": FACE}) as origin:
        port = origin.url.rsplit(":", 1)[1]
        origin.redirect("/r.wav", location.format(port=port))
        path = manifest(tmp_path / "r.yaml", {"r": f"{origin.url}/r.wav"}, f"{origin.url}/face.png")
        why = reasons(checked(path, None))["r"]
        assert why is not None and refused in why and "not fetched" in why, why
        assert why.startswith(f"audio: {origin.url}/r.wav: redirected to ")
        assert sorted(s.path for s in origin.requests()) == ["/face.png", "/r.wav"]  # no /a.wav


def test_https_goes_to_the_checked_address_and_verifies_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request is sent to the address that was checked, with TLS SNI and the
    certificate checked against the URL's name (and a certificate for another name is
    refused): pinning the address must not weaken TLS."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    files = {"/a.wav": wav(3.0), "/face.png": FACE}
    for names, expected in ((["localhost"], 3.0), (["elsewhere.example"], None)):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        with media_server(files, tls=context) as origin:
            path = manifest(
                tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png"
            )
            result = checked(path, None)
        found = result.remote[f"{origin.url}/a.wav"]
        if expected is None:
            assert isinstance(found, str) and "TLS certificate could not be verified" in found
        else:
            assert found == expected


def test_loopback_inputs_are_not_asked_for_an_api_that_could_not_fetch_them(
    tmp_path: Path,
) -> None:
    with media_server({"/a.wav": wav(3.0), "/face.png": FACE}) as origin:
        path = manifest(tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png")
        hosted = InputCheck(AddressPolicy(), None)  # the hosted API: public addresses only
        result = check(path, inputs=hosted)
        assert origin.requests() == []
    why = reasons(result)["a"]
    assert why is not None and "127.0.0.1, which resolves to 127.0.0.1, a loopback address" in why


def test_no_input_check_asks_nothing_and_reads_lengths_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with media_server({"/a.wav": wav(3.0), "/face.png": FACE}) as origin:
        path = manifest(tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png")
        assert reasons(checked(path, cache))["a"] is None
        origin.forget()
        cached = checked(path, cache, ask=False)
        fresh = checked(path, tmp_path / "empty-cache", ask=False)
        assert origin.requests() == []
    assert cached.remote == {f"{origin.url}/a.wav": 3.0}
    why = reasons(fresh)["a"]
    assert why is not None and "not measured: --no-input-check" in why


def test_an_origin_that_cannot_be_asked_keeps_the_render_with_a_warning(
    tmp_path: Path,
) -> None:
    """Done jobs whose lock records their input: an unreachable origin is not a change."""
    with media_server({"/a.wav": wav(3.0), "/face.png": FACE}) as origin:
        path = manifest(tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png")
        versions = checked(path, None).inputs.versions
    from lipsync_pipeline.lockfile import Artifact, LockEntry, render_lock
    from lipsync_pipeline.manifest import load_manifest

    job = load_manifest(path).jobs[0]
    entry = LockEntry(
        job.id, job.fingerprint, job.model, "completed", "k", request_id="r1",
        artifact=Artifact("renders/a.mp4", "0" * 64, 1),
        inputs=(("audio", versions[f"{origin.url}/a.wav"]),),
    )  # fmt: skip
    (tmp_path / "r.lock").write_bytes(render_lock([entry]))
    result = checked(path, None)  # the origin is gone: connection refused
    assert [s.action for s in result.plan.steps] == [Action.SKIP]
    assert len(result.inputs.warnings) == 1
    assert "job a: `audio` could not be checked" in result.inputs.warnings[0]


async def test_bytes_replaced_at_one_url_render_only_that_job_again(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    """The lock records what each job was rendered from; replacing one file at its URL
    re-renders that job alone, and a checkout without a cache asks once per URL."""
    root = await start_studio(fast=True)
    cache = tmp_path / "cache"
    files = {"/face.png": FACE, "/a.wav": wav(3.0), "/b.wav": wav(4.0), "/c.wav": wav(5.0)}
    with media_server(files) as origin:
        audio = {job: f"{origin.url}/{job}.wav" for job in "abc"}
        path = manifest(tmp_path / "r.yaml", audio, f"{origin.url}/face.png")
        inputs = InputCheck(LOOPBACK, cache)
        first = await run_pipeline(remote_request(path, root, inputs=inputs))
        assert {str(r.outcome) for r in first.results} == {"completed"}
        recorded = load_lock(tmp_path / "r.lock").entries
        assert recorded["b"].input_versions()["audio"].etag == origin.resources["/b.wav"].etag
        assert recorded["b"].input_versions()["image"].bytes == len(FACE)

        origin.put("/b.wav", wav(6.0))  # a re-recorded voice, same URL
        second = await run_pipeline(remote_request(path, root, inputs=inputs))
        assert (await studio_stats(root))["jobs_created"] == 3 + 1
        outcomes = {r.job_id: str(r.outcome) for r in second.results}
        assert outcomes == {"a": "skipped", "b": "completed", "c": "skipped"}
        after = load_lock(tmp_path / "r.lock").entries
        assert after["b"].input_versions()["audio"].etag == origin.resources["/b.wav"].etag
        assert after["a"] == recorded["a"]

        # A fresh checkout in CI (no cache): one conditional request per URL, 304 each.
        shutil.rmtree(cache)
        origin.forget()
        result = await trio.to_thread.run_sync(checked, path, cache)
        assert result.plan.is_noop or all(s.action is Action.SKIP for s in result.plan.steps)
        _one_conditional_request_each(origin, ["/face.png", "/a.wav", "/b.wav", "/c.wav"])


def _one_conditional_request_each(origin: MediaServer, paths: list[str]) -> None:
    seen = origin.requests()
    assert sorted(s.path for s in seen) == sorted(paths)
    assert all(s.conditional and s.status == 304 and s.sent == 0 for s in seen), seen


@pytest.mark.parametrize(
    "odd",
    [
        {"ETag": '"caf\xe9"'},  # latin-1: read back as "café"
        {"ETag": '"\xf0\x9f\x8e\xac"'},  # UTF-8 bytes of an emoji
        {"Last-Modified": "Mi, 15 Nov 2023 10:00:00 GMT\xe9"},
    ],
    ids=["etag-latin-1", "etag-utf-8", "last-modified"],
)
def test_a_validator_that_is_not_ascii_is_not_kept_and_plan_runs_again(
    tmp_path: Path, odd: dict[str, str]
) -> None:
    """An origin whose ETag or Last-Modified is not printable ASCII: such a value cannot
    be sent back (If-None-Match is ASCII), so it is not recorded, and the next plan
    asks with what is left instead of failing with a traceback."""
    cache = tmp_path / "cache"
    with media_server({"/face.png": FACE}) as origin:
        origin.put("/a.wav", wav(3.0), headers=odd)
        path = manifest(tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png")
        first = checked(path, cache)
        second = checked(path, cache)
        sent = [s.headers for s in origin.requests("/a.wav")]
    for result in (first, second):
        assert result.remote == {f"{origin.url}/a.wav": 3.0}
        version = result.inputs.versions[f"{origin.url}/a.wav"]
        for value in (version.etag, version.last_modified):
            assert value is None or (value.isascii() and value.isprintable()), value
    assert all(value.isascii() for headers in sent for value in headers.values())


def test_a_lock_that_recorded_a_non_ascii_etag_is_still_compared(tmp_path: Path) -> None:
    """A lock written before such ETags were filtered: its ETag is not sent back, and the
    job is compared on what is left (the size)."""
    from lipsync_pipeline.lockfile import Artifact, InputVersion, LockEntry, render_lock
    from lipsync_pipeline.manifest import load_manifest

    audio = wav(3.0)
    with media_server({"/face.png": FACE}) as origin:
        origin.put("/a.wav", audio, headers={"ETag": '"caf\xe9"'})
        path = manifest(tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png")
        job = load_manifest(path).jobs[0]
        entry = LockEntry(
            job.id, job.fingerprint, job.model, "completed", "k", request_id="r1",
            artifact=Artifact("renders/a.mp4", "0" * 64, 1),
            inputs=(("audio", InputVersion(etag='"caf\u00e9"', bytes=len(audio))),),
        )  # fmt: skip
        (tmp_path / "r.lock").write_bytes(render_lock([entry]))
        result = checked(path, None)
        sent = [s.headers for s in origin.requests("/a.wav")]
    assert [s.action for s in result.plan.steps] == [Action.SKIP]
    assert result.inputs.warnings == ()
    assert sent and all("if-none-match" not in headers for headers in sent)


@pytest.mark.parametrize(
    ("odd", "kept"),
    [
        ({"ETag": '"' + "e" * 1023 + '"'}, "etag"),  # 1025 characters: over the schema's 1024
        ({"Last-Modified": "Tue, 14 Nov 2023 22:13:21 GMT" + "+" * 100}, "etag"),  # 129
        ({"ETag": '"' + "e" * 1022 + '"'}, "both"),  # 1024 exactly: recorded as sent
    ],
    ids=["etag-too-long", "last-modified-too-long", "etag-at-the-limit"],
)
async def test_a_validator_longer_than_the_lock_allows_is_not_recorded(
    start_studio: StartStudio, tmp_path: Path, odd: dict[str, str], kept: str
) -> None:
    """A run records each input's version in the lock; one the lock's schema would
    reject (an ETag over 1024 characters, a Last-Modified over 128) is left out, so the
    lock stays valid and later commands read it."""
    root = await start_studio(fast=True)
    with media_server({"/face.png": FACE}) as origin:
        origin.put("/a.wav", wav(3.0), headers=odd)
        path = manifest(tmp_path / "r.yaml", {"a": f"{origin.url}/a.wav"}, f"{origin.url}/face.png")
        inputs = InputCheck(LOOPBACK, tmp_path / "cache")
        first = await run_pipeline(remote_request(path, root, inputs=inputs))
        assert [str(r.outcome) for r in first.results] == ["completed"]
        recorded = load_lock(tmp_path / "r.lock").entries["a"].input_versions()["audio"]
        again = await trio.to_thread.run_sync(checked, path, tmp_path / "cache")
    [(name, value)] = odd.items()
    field = "etag" if name == "ETag" else "last_modified"
    assert getattr(recorded, field) == (value if kept == "both" else None)
    other = "last_modified" if field == "etag" else "etag"
    assert getattr(recorded, other) is not None and recorded.bytes == len(wav(3.0))
    assert [s.action for s in again.plan.steps] == [Action.SKIP]


def test_a_size_in_other_digits_is_a_reason_not_a_traceback(tmp_path: Path) -> None:
    """ "²" is a digit to str.isdigit() but not to int(): an origin sending it as its
    size gets a reason for its input, and the other inputs are still priced."""
    with media_server({"/face.png": FACE, "/b.wav": wav(4.0)}) as origin:
        origin.put("/a.wav", wav(3.0), headers={"Content-Range": "bytes 0-65535/\xc2\xb2"})
        audio = {"a": f"{origin.url}/a.wav", "b": f"{origin.url}/b.wav"}
        result = checked(manifest(tmp_path / "r.yaml", audio, f"{origin.url}/face.png"), None)
    why = reasons(result)
    assert why["a"] is not None and why["a"].startswith(f"audio: {origin.url}/a.wav: ")
    assert "does not say its size" in why["a"]
    assert why["b"] is None


def test_proxies_are_chosen_as_urllib_reads_no_proxy_and_httpx_reads_none(
    tmp_path: Path, proxy_env: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY and a NO_PROXY with an entry httpx cannot read (a CIDR range): plan
    works. A host NO_PROXY does not name goes through the proxy, by name; one it names
    (and a loopback URL) goes direct, to the address that was checked. The origin is its
    own proxy here: it tells a request sent to a proxy by its absolute-form target."""
    files = {"/face.png": FACE, "/a.wav": wav(3.0), "/b.wav": wav(4.0)}
    with media_server(files) as origin:
        port = origin.url.rsplit(":", 1)[1]
        proxy_env.setenv("HTTP_PROXY", origin.url)
        proxy_env.setenv("NO_PROXY", "localhost,2001:db8::/32,127.1")
        audio = {
            "a": f"http://2130706433:{port}/a.wav",  # 127.0.0.1, by a name NO_PROXY lacks
            "b": f"http://127.1:{port}/b.wav",  # 127.0.0.1, by a name NO_PROXY has
        }
        path = manifest(tmp_path / "r.yaml", audio, f"{origin.url}/face.png")
        private = InputCheck(AddressPolicy(allow_loopback=True, allow_private=True), None)
        result = check(path, inputs=private, verify_artifacts=False)
        seen = {s.path: s.proxied for s in origin.requests()}
    assert result.remote == {audio["a"]: 3.0, audio["b"]: 4.0}
    assert seen == {"/face.png": False, "/a.wav": True, "/b.wav": False}


def test_a_name_that_resolves_elsewhere_later_is_asked_at_the_address_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name that answers an allowed address when it is checked and
    another one afterwards. The request goes to the address that was checked (the URL's
    host replaced by it), so no second resolution decides where it goes. The system
    resolver is replaced for that one name: the first answer, then the other address."""
    real = socket.getaddrinfo
    answers = ["127.0.0.1"]  # then 127.0.0.2, for every later resolution

    def resolver(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host != "media.rebind.test":
            return real(host, port, *args, **kw)
        address = answers.pop() if answers else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with media_server({"/face.png": FACE, "/a.wav": wav(3.0)}) as checked_origin:
        port = int(checked_origin.url.rsplit(":", 1)[1])
        with media_server({"/face.png": FACE}, address=("127.0.0.2", port)) as elsewhere:
            image = f"http://media.rebind.test:{port}/face.png"
            path = manifest(tmp_path / "r.yaml", {"a": f"{checked_origin.url}/a.wav"}, image)
            private = InputCheck(AddressPolicy(allow_loopback=True, allow_private=True), None)
            result = check(path, inputs=private, verify_artifacts=False)
            assert elsewhere.requests() == []
        [seen] = checked_origin.requests("/face.png")
    assert seen.headers["host"] == f"media.rebind.test:{port}"  # the name, for the origin
    assert result.inputs.versions[image].bytes == len(FACE)


def test_each_https_name_has_its_certificate_checked_even_on_a_shared_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests go to checked addresses, so two names on one address (a CDN's) must
    not share a TLS connection: one opened and verified for the first name would carry
    the second name's requests without its certificate ever being checked."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    real = socket.getaddrinfo

    def resolver(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host not in ("good.example.test", "other.example.test"):
            return real(host, port, *args, **kw)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("good.example.test").configure_cert(context)  # not other.example.test
    files = {"/face.png": FACE, "/a.wav": wav(3.0), "/b.wav": wav(4.0)}
    with media_server(files, tls=context) as origin:
        port = origin.url.rsplit(":", 1)[1]
        good, other = f"https://good.example.test:{port}", f"https://other.example.test:{port}"
        path = manifest(
            tmp_path / "r.yaml", {"a": f"{good}/a.wav", "b": f"{other}/b.wav"}, f"{good}/face.png"
        )
        # One URL at a time, the good name first: its connection is in the pool by then.
        one = InputCheck(
            AddressPolicy(allow_loopback=True, allow_private=True), None, concurrency=1
        )
        result = check(path, inputs=one, verify_artifacts=False)
        asked = sorted(s.path for s in origin.requests())
    assert result.remote[f"{good}/a.wav"] == 3.0
    found = result.remote[f"{other}/b.wav"]
    assert isinstance(found, str) and "TLS certificate could not be verified" in found
    assert "/b.wav" not in asked
