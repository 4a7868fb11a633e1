"""ApiClient against real loopback HTTP: every retry class, every final class, the key's reach."""

from __future__ import annotations

import email.utils
import hashlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from _scripted_server import Action, Drop, Reply, scripted_server
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from lipsync_pipeline.api import ApiClient, JobStatus, RetryPolicy
from lipsync_pipeline.api._http import HttpPool
from lipsync_pipeline.errors import (
    ApiError,
    AuthError,
    ConfigError,
    RequestRejected,
    SubmissionUnknown,
    TransientApiError,
)

KEY = "sk_test1_s3cretvalue"
FAST = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)
ACCEPTED = Reply(json={"id": "req-1", "status": "processing"})


def _client(url: str, key: str | None = KEY, **kw: Any) -> ApiClient:
    kw.setdefault("retry", FAST)
    return ApiClient(url + "/api/v1", key, **kw)


async def _submit(client: ApiClient, key: str = "idem-1") -> str:
    return await client.submit(
        "lipsync-image",
        {"image": "https://x/i.png", "audio": "https://x/a.wav"},
        webhook=None,
        idempotency_key=key,
    )


def _pool() -> HttpPool:
    return HttpPool(timeout=httpx.Timeout(5.0), connections=1, user_agent="t")


@pytest.fixture
def free_port() -> Iterator[int]:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    yield port


# --- submit --------------------------------------------------------------------------------


async def test_submit_sends_the_envelope_key_and_idempotency_key() -> None:
    async with scripted_server(ACCEPTED) as server, _client(server.url) as client:
        request_id = await client.submit(
            "lipsync-image",
            {"image": "u", "audio": "v"},
            webhook="https://hook.example/x",
            idempotency_key="idem-42",
        )
    assert request_id == "req-1"
    [req] = server.received
    assert (req.method, req.target) == ("POST", "/api/v1/lipsync-image")
    assert req.json() == {
        "formState": {"image": "u", "audio": "v"},
        "webhook": "https://hook.example/x",
    }
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["idempotency-key"] == "idem-42"
    assert client.requests == {"POST": 1}


async def test_post_with_unknown_outcome_is_retried_with_the_same_key_if_honoured(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Only for an API that honours Idempotency-Key (the reference studio, --local, or
    the user's --resend-unknown): each retry repeats the key, so it cannot bill twice."""
    script: list[Action] = [
        Reply(500, json={"error": "boom"}),
        Reply(503),
        Drop(),  # the request was read, then no answer: outcome unknown
        Reply(200, json={"id": "late"}, delay=60),  # beyond the read timeout
        Reply(502),
        ACCEPTED,
    ]
    async with (
        scripted_server(*script) as server,
        _client(server.url, timeout=5, idempotent_posts=True) as client,
    ):
        with capture_logs() as logs:
            assert await _submit(client, "idem-same") == "req-1"
    assert [r.headers["idempotency-key"] for r in server.received] == ["idem-same"] * 6
    assert client.requests["POST"] == 6
    assert [e["event"] for e in logs] == ["api.retry"] * 5
    assert "ReadTimeout" in logs[3]["reason"]


@pytest.mark.parametrize(
    "unknown",
    [
        Reply(502, body=b"Bad Gateway"),
        Reply(500, json={"error": "boom"}),
        Drop(),  # read, then no answer
        Reply(200, json={"id": "late"}, delay=60),  # beyond the read timeout
        Reply(200, json={"status": "processing"}),  # created, but no id to record
    ],
)
async def test_post_with_unknown_outcome_is_never_resent_to_an_api_without_idempotency(
    autojump_clock: trio.testing.MockClock, unknown: Action
) -> None:
    """The hosted API documents no Idempotency-Key: a resend of a POST that may have
    created the job may bill it twice, so the client says so at once instead."""
    async with (
        scripted_server(unknown, default=ACCEPTED) as server,
        _client(server.url, timeout=5) as client,
    ):
        with pytest.raises(SubmissionUnknown) as info:
            await _submit(client)
    assert len(server.received) == 1
    assert KEY not in str(info.value)


async def test_post_refused_before_it_was_acted_on_is_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """429 and 408 say the request was not acted on: retrying cannot bill twice."""
    script = [Reply(429, headers={"Retry-After": "1"}), Reply(408), ACCEPTED]
    async with scripted_server(*script) as server, _client(server.url) as client:
        assert await _submit(client) == "req-1"
    assert len(server.received) == 3


async def test_connection_refused_is_retried_until_the_server_is_up(
    free_port: int, autojump_clock: trio.testing.MockClock
) -> None:
    url = f"http://127.0.0.1:{free_port}"
    async with (
        trio.open_nursery() as nursery,
        _client(url, retry=RetryPolicy(attempts=8, base_delay=0.5, max_delay=1.0)) as client,
    ):

        async def late_server() -> None:
            await trio.sleep(1.2)
            async with scripted_server(ACCEPTED, port=free_port) as server:
                await done.wait()
                assert len(server.received) == 1

        done = trio.Event()
        nursery.start_soon(late_server)
        assert await _submit(client) == "req-1"
        done.set()
    assert client.requests["POST"] >= 2


async def test_refused_forever_gives_a_transient_error_without_the_key(free_port: int) -> None:
    async with _client(f"http://127.0.0.1:{free_port}") as client:
        with pytest.raises(TransientApiError) as info:
            await _submit(client)
    assert "ConnectError" in str(info.value)
    assert "after 6 attempts" in str(info.value)
    # Never sent: safe to submit again, so not an unknown outcome.
    assert not isinstance(info.value, SubmissionUnknown)
    assert KEY not in str(info.value)
    assert client.requests["POST"] == 6


# --- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RequestRejected),
        (404, RequestRejected),
        (422, RequestRejected),
        (401, AuthError),
        (403, AuthError),
        (501, ApiError),
    ],
)
async def test_final_statuses_are_not_retried(status: int, error: type[ApiError]) -> None:
    reply = Reply(status, json={"error": f"the server says no ({status})"})
    async with scripted_server(reply) as server, _client(server.url) as client:
        with pytest.raises(ApiError) as info:
            await _submit(client)
    assert type(info.value) is error
    assert info.value.status == status
    assert f"the server says no ({status})" in str(info.value)
    assert len(server.received) == 1


async def test_plain_text_error_body_is_quoted() -> None:
    reply = Reply(422, body=b"audio must be a URL", headers={"Content-Type": "text/plain"})
    async with scripted_server(reply) as server, _client(server.url) as client:
        with pytest.raises(RequestRejected, match="HTTP 422: audio must be a URL"):
            await _submit(client)


async def test_exhausted_retries_are_transient_with_the_last_status() -> None:
    async with scripted_server(default=Reply(503)) as server, _client(server.url) as client:
        with pytest.raises(TransientApiError) as info:
            await client.get_job("r1")
    assert info.value.status == 503
    assert len(server.received) == FAST.attempts


async def test_retry_after_seconds_is_honoured(autojump_clock: trio.testing.MockClock) -> None:
    script: list[Action] = [
        Reply(429, headers={"Retry-After": "7"}),
        Reply(json={"id": "r", "status": "x"}),
    ]
    async with scripted_server(*script) as server, _client(server.url) as client:
        start = trio.current_time()
        await client.get_job("r")
        elapsed = trio.current_time() - start
    assert 7.0 <= elapsed < 7.5


async def test_retry_after_http_date_is_honoured(autojump_clock: trio.testing.MockClock) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    script: list[Action] = [
        Reply(503, headers={"Retry-After": when}),
        Reply(json={"id": "r", "status": "x"}),
    ]
    async with scripted_server(*script) as server, _client(server.url) as client:
        start = trio.current_time()
        await client.get_job("r")
        elapsed = trio.current_time() - start
    assert 18.0 <= elapsed <= 21.0  # the date has 1 s resolution


async def test_retry_after_is_capped(autojump_clock: trio.testing.MockClock) -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, retry_after_cap=60)
    script: list[Action] = [Reply(429, headers={"Retry-After": "999999"}), ACCEPTED]
    async with scripted_server(*script) as server, _client(server.url, retry=policy) as client:
        start = trio.current_time()
        await _submit(client)
        assert 60.0 <= trio.current_time() - start < 61.0


async def test_get_retries_5xx_drops_and_timeouts(autojump_clock: trio.testing.MockClock) -> None:
    done = {
        "id": "r1",
        "model": "lipsync-image",
        "status": "completed",
        "output": "https://cdn/x.mp4",
        "error": "",
        "executionTime": 1234.4,
        "timings": None,
    }
    script: list[Action] = [
        Reply(500),
        Reply(502),
        Reply(504),
        Drop(),
        Reply(json=done, delay=99),
        Reply(json=done),
    ]
    async with scripted_server(*script) as server, _client(server.url, timeout=3) as client:
        status = await client.get_job("r1")
    assert status == JobStatus("r1", "lipsync-image", "completed", "https://cdn/x.mp4", "", 1234)
    assert status.finished
    assert client.requests == {"GET": 6}
    assert {r.target for r in server.received} == {"/api/v1/jobs/r1"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"id": "r", "model": "lipsync", "status": "queued", "output": None, "error": ""},
            JobStatus("r", "lipsync", "queued", None, "", None),
        ),
        (
            {"status": "failed", "error": "Invalid audio format", "executionTime": None},
            JobStatus("asked", "", "failed", None, "Invalid audio format", None),
        ),
        (
            {"id": "r", "status": "processing", "error": None, "output": ""},
            JobStatus("r", "", "processing", None, "", None),
        ),
    ],
)
async def test_job_status_is_read_tolerantly(body: dict[str, Any], expected: JobStatus) -> None:
    async with scripted_server(Reply(json=body)) as server, _client(server.url) as client:
        assert await client.get_job("asked") == expected
    assert expected.finished == (expected.status == "failed")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(body=b"<html>oops</html>"), "not JSON: '<html>oops</html>'"),
        (Reply(json={"id": "r"}), "without a 'status'"),
        (Reply(json=["r"]), "without a 'status'"),
    ],
)
async def test_malformed_status_is_a_clear_api_error(reply: Reply, message: str) -> None:
    async with scripted_server(reply) as server, _client(server.url) as client:
        with pytest.raises(ApiError, match=message):
            await client.get_job("r")
    assert len(server.received) == 1


async def test_submit_answer_without_id_is_an_api_error() -> None:
    no_id = Reply(json={"status": "processing"})
    async with scripted_server(no_id) as server, _client(server.url) as client:
        with pytest.raises(ApiError, match="no request id"):
            await _submit(client)


async def test_the_key_never_appears_in_errors_logs_or_repr() -> None:
    echo = Reply(401, json={"error": f"key {KEY} is revoked"})
    async with (
        scripted_server(echo, Reply(500, body=KEY.encode()), Reply(400, body=b"x")) as server,
        _client(server.url, idempotent_posts=True) as client,
    ):
        with pytest.raises(AuthError) as auth:
            await _submit(client)
        with capture_logs() as logs, pytest.raises(RequestRejected) as rejected:
            await _submit(client)
    for text in (str(auth.value), str(rejected.value), repr(client), repr(logs)):
        assert KEY not in text
        assert "s3cretvalue" not in text
    assert "sk_***" in str(auth.value)
    assert "sk_***" in logs[0]["reason"]


async def test_no_key_means_no_authorization_header() -> None:
    async with scripted_server(ACCEPTED) as server, _client(server.url, key=None) as client:
        await _submit(client)
    assert "authorization" not in server.received[0].headers


def test_bad_base_url_is_a_config_error() -> None:
    for url in ("ftp://x/api", "not a url", "http://"):
        with pytest.raises(ConfigError):
            ApiClient(url, KEY)


# --- download ------------------------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several chunks


async def test_download_hashes_and_places_the_file(tmp_path: Path) -> None:
    dest = tmp_path / "renders" / "a.mp4"
    async with scripted_server(Reply(body=PAYLOAD)) as server, _client(server.url) as client:
        digest, size = await client.download(server.url + "/outputs/a.mp4", dest)
    assert (digest, size) == (hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert server.received[0].headers["authorization"] == f"Bearer {KEY}"  # same origin
    assert client.requests == {"DOWNLOAD": 1}
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.mp4"]


async def test_download_never_sends_the_key_to_another_origin(tmp_path: Path) -> None:
    async with scripted_server(default=Reply(body=PAYLOAD)) as cdn:
        to_cdn = Reply(302, headers={"Location": cdn.url + "/signed/b.mp4"})
        async with scripted_server(to_cdn) as api, _client(api.url) as client:
            await client.download(cdn.url + "/direct/a.mp4", tmp_path / "a.mp4")
            await client.download(api.url + "/outputs/b.mp4", tmp_path / "b.mp4")
    assert api.received[0].headers["authorization"] == f"Bearer {KEY}"
    assert [r.target for r in cdn.received] == ["/direct/a.mp4", "/signed/b.mp4"]
    assert all("authorization" not in r.headers for r in cdn.received)
    assert (tmp_path / "b.mp4").read_bytes() == PAYLOAD


async def test_a_redirect_loop_is_an_error_not_a_retry(tmp_path: Path) -> None:
    async with scripted_server() as server, _client(server.url) as client:
        server.default = Reply(302, headers={"Location": server.url + "/again.mp4"})
        with pytest.raises(ApiError, match="TooManyRedirects") as info:
            await client.download(server.url + "/o.mp4", tmp_path / "o.mp4")
    assert not isinstance(info.value, TransientApiError)
    assert client.requests["DOWNLOAD"] == 1  # one attempt of 11 hops, not retried
    assert len(server.received) == 11
    assert not (tmp_path / "o.mp4").exists()


async def test_a_proxy_from_the_environment_carries_the_requests(
    proxy_env: pytest.MonkeyPatch,
) -> None:
    # The API host does not resolve: only the (loopback) proxy can answer for it.
    async with scripted_server(ACCEPTED) as proxy:
        proxy_env.setenv("HTTP_PROXY", proxy.url)
        async with ApiClient("http://api.lipsync.invalid/api/v1", KEY, retry=FAST) as client:
            assert await _submit(client) == "req-1"
    assert proxy.received[0].target == "http://api.lipsync.invalid/api/v1/lipsync-image"
    assert proxy.received[0].headers["authorization"] == f"Bearer {KEY}"


async def test_a_loopback_api_is_never_proxied(
    proxy_env: pytest.MonkeyPatch, free_port: int
) -> None:
    # --local's studio is on this machine: a corporate proxy could not reach it.
    proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port}")  # refuses everything
    async with scripted_server(ACCEPTED) as server, _client(server.url) as client:
        assert await _submit(client) == "req-1"
    assert server.received[0].target == "/api/v1/lipsync-image"


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("api.example.com", "http://api.example.com/v1", True),
        ("api.example.com:8080", "http://api.example.com:8080/v1", True),
        ("api.example.com:8080", "http://api.example.com/v1", False),
        (".example.com", "http://api.example.com/v1", True),
        ("example.com", "http://api.example.com/v1", True),
        ("other.com", "http://api.example.com/v1", False),
        ("*", "http://api.example.com/v1", True),
    ],
)
def test_no_proxy_entries_send_matching_hosts_direct(
    proxy_env: pytest.MonkeyPatch, no_proxy: str, url: str, direct: bool
) -> None:
    proxy_env.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    proxy_env.setenv("NO_PROXY", no_proxy)
    pool = _pool()
    expected = None if direct else "http://proxy.internal:3128"
    assert pool.proxy_for(httpx.URL(url)) == expected


def test_https_goes_through_https_proxy_or_all_proxy(proxy_env: pytest.MonkeyPatch) -> None:
    proxy_env.setenv("HTTP_PROXY", "http://plain.internal:3128")
    proxy_env.setenv("ALL_PROXY", "fallback.internal:3128")
    pool = _pool()
    assert pool.proxy_for(httpx.URL("https://api.example.com/")) == "http://fallback.internal:3128"
    proxy_env.setenv("HTTPS_PROXY", "http://secure.internal:3128")
    pool = _pool()
    assert pool.proxy_for(httpx.URL("https://api.example.com/")) == "http://secure.internal:3128"


def test_an_unusable_proxy_is_a_config_error_without_its_password(
    proxy_env: pytest.MonkeyPatch,
) -> None:
    proxy_env.setenv("HTTP_PROXY", "socks4://me:hun@ter2@proxy.internal:1080")
    with pytest.raises(ConfigError, match=re.escape("socks4://proxy.internal:1080")) as info:
        ApiClient("http://api.example.com/api/v1", KEY)
    assert "hun" not in str(info.value) and "ter2" not in str(info.value)


def test_api_and_download_pools_load_the_ca_bundle_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[bool] = []
    create = httpx.create_ssl_context

    def counted(*args: Any, **kwargs: Any) -> Any:
        loads.append(True)
        return create(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    pool = _pool()
    pool.prepare(httpx.URL("https://api.example.com/v1"))
    pool.sibling().prepare(httpx.URL("https://cdn.example.com/a.mp4"))
    assert len(loads) == 1  # ~30 ms of CPU each


def test_an_unreadable_ca_bundle_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(ConfigError, match=re.escape(f"SSL_CERT_FILE={missing}")):
        ApiClient("https://api.example.com/api/v1", KEY)


async def test_download_retries_a_cut_body(tmp_path: Path) -> None:
    script: list[Action] = [
        Reply(body=PAYLOAD, truncate=1000),
        Reply(503),
        Drop(),
        Reply(body=PAYLOAD),
    ]
    async with scripted_server(*script) as server, _client(server.url) as client:
        _, size = await client.download(server.url + "/o.mp4", tmp_path / "o.mp4")
    assert size == len(PAYLOAD)
    assert client.requests["DOWNLOAD"] == 4


async def test_failed_download_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    dest = tmp_path / "o.mp4"
    dest.write_bytes(b"previous render")
    cut = Reply(body=PAYLOAD, truncate=len(PAYLOAD) // 2)
    async with scripted_server(default=cut) as server, _client(server.url) as client:
        with pytest.raises(TransientApiError, match="RemoteProtocolError"):
            await client.download(server.url + "/o.mp4", dest)
        with pytest.raises(RequestRejected):
            server.push(Reply(404, json={"error": "output expired"}))
            await client.download(server.url + "/gone.mp4", tmp_path / "gone.mp4")
    assert dest.read_bytes() == b"previous render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


async def test_a_refused_foreign_output_is_not_an_auth_error(tmp_path: Path) -> None:
    expired = Reply(403, body=b"Request has expired")
    async with (
        scripted_server(default=expired) as cdn,
        scripted_server() as api,
        _client(api.url) as client,
    ):
        with pytest.raises(RequestRejected, match="may have expired") as info:
            await client.download(cdn.url + "/signed.mp4", tmp_path / "o.mp4")
    assert type(info.value) is RequestRejected
    assert len(cdn.received) == 1


async def test_download_resolves_a_relative_output_against_the_api(tmp_path: Path) -> None:
    async with scripted_server(Reply(body=b"abc")) as server, _client(server.url) as client:
        await client.download("/outputs/r.mp4", tmp_path / "r.mp4")
    assert server.received[0].target == "/outputs/r.mp4"


# --- the policy ----------------------------------------------------------------------------


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0, 10),
    cap=st.floats(0, 100),
    jitter=st.floats(0, 1),
    after=st.none() | st.floats(0, 1e6),
)
def test_delay_stays_within_its_bounds(
    attempt: int, base: float, cap: float, jitter: float, after: float | None
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap, jitter=jitter, retry_after_cap=50)
    backoff = min(cap, base * 2.0 ** min(attempt - 1, 60))
    delay = policy.delay(attempt, after)
    floor = backoff * (1 - jitter) if after is None else max(min(after, 50), backoff * (1 - jitter))
    assert floor - 1e-9 <= delay <= max(backoff, min(after or 0, 50)) + 1e-9


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)


async def test_a_custom_transport_carries_every_request_with_no_proxy_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seam for callers with their own stack (and for tests below the HTTP layer):
    every request goes through the given transport, none through a proxy setting."""
    monkeypatch.setenv("HTTPS_PROXY", "socks5://unusable.invalid:1")  # would be a ConfigError
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.method == "POST":
            return httpx.Response(200, json={"id": "r9", "status": "processing"})
        return httpx.Response(200, json={"id": "r9", "status": "queued"})

    transport = httpx.MockTransport(answer)
    async with ApiClient("https://api.example/v1", KEY, transport=transport) as client:
        assert await _submit(client) == "r9"
        assert not (await client.get_job("r9")).finished  # an unknown status is not an end
    assert seen == [("POST", "/v1/lipsync-image"), ("GET", "/v1/jobs/r9")]


async def test_a_bad_output_url_is_reported_without_its_query(tmp_path: Path) -> None:
    """An output URL the client cannot parse: a presigned URL's signature or a password
    must not reach the error (the job's recorded error goes into the lock)."""
    async with _client("http://127.0.0.1:9") as client:
        for bad, shown in (
            ("http://[::1/out.mp4?X-Amz-Signature=s3cr3tsig", "http://[::1/out.mp4"),
            ("http://user:s3cr3tsig@h.example:bad/out.mp4", "http://h.example:bad/out.mp4"),
        ):
            with pytest.raises(ApiError) as info:
                await client.fetch(bad, tmp_path / "a.mp4")
            assert "s3cr3tsig" not in str(info.value)
            assert shown in str(info.value)
