"""The HTTP contract of the lipsync.studio API (``docs/api-contract.md``).

Requests go through :mod:`lipsync_pipeline.api._http` (httpx transports without the
client layer) with explicit timeouts and a connection bound that is independent of job
concurrency (a job mostly waits between polls; httpcore also slows down as its pool
grows). Retries follow what is safe:

- connection failures before anything was sent (connect error/timeout, pool timeout),
  and 408 and 429 (honouring ``Retry-After``): the server did not act on the request;
- for GET (and downloads) also any transport failure and 500, 502, 503, 504, since
  reading twice is harmless;
- for POST an unknown outcome (sent, then a 5xx, a read timeout or a dropped
  connection) only when the API is known to honour ``Idempotency-Key``
  (``idempotent_posts``; the reference studio does, the hosted API documents no such
  key), and then with the SAME key. Otherwise the job may have been created and a
  resend may bill it twice: :class:`SubmissionUnknown`, at once, for the caller to
  record and report.

Everything else is final: 401/403 -> AuthError, other 4xx -> RequestRejected with the
server's message, anything else unexpected -> ApiError. The API key is sent only to the
API's own origin and never appears in an exception, a log line, a repr, or a field of
an answer handed to the caller (see ``errors.Secrets``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
import structlog
import trio

from lipsync_pipeline import __version__
from lipsync_pipeline._fs import cannot_write, create_exclusive
from lipsync_pipeline._staging import (
    StagedFile,
    put_in_place,
    staging_path,
)
from lipsync_pipeline.api._answers import (
    check_answer,
    job_status,
    json_answer,
    json_body,
    translated,
)
from lipsync_pipeline.api._http import HttpPool, Slots, origin
from lipsync_pipeline.api._jobstatus import JobStatus
from lipsync_pipeline.api._retry import (
    Retryable,
    RetryPolicy,
)
from lipsync_pipeline.errors import (
    ApiError,
    ConfigError,
    StorageError,
    SubmissionUnknown,
    TransientApiError,
    holds_secret,
    redact,
    register_api_key,
)
from lipsync_pipeline.settings import check_base_url

__all__ = ["ApiClient"]

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")

_CONNECT_TIMEOUT: Final = 10.0  # a loopback or LAN connect never needs the full read budget
_CHUNK: Final = 64 * 1024
_JSON_HEADERS: Final = {"Content-Type": "application/json"}
_USERINFO: Final = re.compile(r"//[^/@]*@")  # "//user:password@" in a URL's authority
_DEFAULT_RETRY: Final = RetryPolicy()  # frozen, so one shared default is safe


class ApiClient:
    """Submit, poll and download against one API base URL; an async context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        max_connections: int = 4,
        timeout: float = 30.0,
        retry: RetryPolicy = _DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        idempotent_posts: bool = False,
    ) -> None:
        """``idempotent_posts``: the API honours ``Idempotency-Key``, so a submission
        whose outcome is unknown may be sent again under the same key."""
        checked = check_base_url(base_url)  # the one definition of a usable base URL
        try:
            base = httpx.URL(checked)
        except httpx.InvalidURL as exc:  # a URL urllib accepts and httpx does not
            raise ConfigError(f"base URL {checked!r} is not a valid URL: {exc}") from None
        self.base_url = str(base)
        self._base = base
        self._key = api_key
        if api_key:
            register_api_key(api_key)  # whoever holds the key makes sure it is masked
        # Per-request work stays off the hot path: the base is parsed once, here.
        self._path = base.path.rstrip("/")
        self._retry = retry
        self._idempotent_posts = idempotent_posts
        self._api_headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
        self.requests: Counter[str] = Counter()
        self.requests_ok = 0  # answers that were not a transport failure or 5xx/429
        # Requests wait for a connection here, in trio's O(1) queue, not inside httpcore's
        # pool, which rescans every queued request on each hand-over (measured: a quarter
        # of the runner's CPU with 100 jobs queueing for 10 connections). Its scan is also
        # quadratic in the pool's connections, so API calls and downloads get a small
        # pool each: a long download never holds up the polls, and neither pool grows.
        self._slots = Slots(max_connections)
        self._download_slots = Slots(max_connections)
        limits = httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT))
        agent = f"lipsync-pipeline/{__version__}"
        self._http = HttpPool(
            timeout=limits, connections=max_connections, user_agent=agent, transport=transport
        )
        self._downloads = self._http.sibling()  # same proxies and CA bundle, loaded once
        # A proxy or CA setting that cannot work fails here, before the run records
        # anything. (Download routes are set up when first used: outputs are often on
        # another host, whose proxy route may differ.)
        self._http.prepare(base)

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, api_key={'<set>' if self._key else None})"

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._downloads.aclose()

    # --- the three calls -----------------------------------------------------------------

    async def submit(
        self,
        model: str,
        form_state: Mapping[str, Any],
        *,
        webhook: str | None,
        idempotency_key: str,
    ) -> str:
        """POST /<model>; returns the request id. Retries repeat the same Idempotency-Key."""
        url = self._url(f"/{quote(model, safe='')}")
        envelope: dict[str, Any] = {"formState": dict(form_state)}
        if webhook is not None:
            envelope["webhook"] = webhook
        body = json_body(envelope)
        headers = {**self._api_headers, **_JSON_HEADERS, "Idempotency-Key": idempotency_key}
        what = f"POST {self._path}/{model}"

        async def attempt() -> Any:
            self.requests["POST"] += 1
            async with self._slots:
                resp = await self._send(what, self._http.request("POST", url, headers, body))
            return json_answer(what, resp, self._redact)

        data = await self._retrying(what, attempt, submission=True)
        request_id = data.get("id") if isinstance(data, dict) else None
        # A 2xx whose id we cannot use still created a job, most likely: that is an
        # unknown outcome too, not a reason to submit again.
        if not isinstance(request_id, str) or not request_id:
            raise SubmissionUnknown(
                self._redact(f"{what}: the answer has no request id: {data!r:.200}")
            )
        if holds_secret(request_id) or (self._key and self._key in request_id):
            # Recorded in the lock (committed to git) and printed by `status`; masked, it
            # could never be polled again. So it is not taken at all.
            raise SubmissionUnknown(
                f"{what}: the API answered with a request id that contains the API key; "
                "it is not recorded"
            )
        return request_id

    async def get_job(self, request_id: str) -> JobStatus:
        """GET /jobs/{id}, parsed tolerantly (see JobStatus)."""
        url = self._url(f"/jobs/{quote(request_id, safe='')}")
        what = f"GET {self._path}/jobs/{request_id}"
        headers = self._api_headers

        async def attempt() -> Any:
            self.requests["GET"] += 1
            async with self._slots:
                resp = await self._send(what, self._http.request("GET", url, headers))
            return json_answer(what, resp, self._redact)

        answer = await self._retrying(what, attempt)
        return job_status(what, request_id, answer, self._redact)

    async def download(self, url: str, dest: Path) -> tuple[str, int]:
        """Fetch ``url`` into ``dest`` atomically and durably; returns (sha256 hex, bytes).

        ``dest`` is either its old self or the complete new file, never a prefix.
        """
        staged = await self.fetch(url, dest)
        try:
            await trio.to_thread.run_sync(put_in_place, staged)
        except OSError as exc:
            staged.discard()
            raise cannot_write(staged.dest, exc) from exc
        except BaseException:
            staged.discard()  # cancelled before the thread ran: no temp file left behind
            raise
        return staged.sha256, staged.size

    async def fetch(self, url: str, dest: Path) -> StagedFile:
        """Fetch ``url`` into a temp file beside ``dest``, hashed on the way.

        Nothing is in place yet: :meth:`StagedFile.publish` (blocking) makes the file
        durable and renames it over ``dest`` (same directory, so the rename is atomic).
        The run's lock writer publishes many downloads per thread hop that way.
        """
        try:
            target = self._base.join(url)  # tolerate an output given relative to the API
        except httpx.InvalidURL as exc:
            # Without its query, fragment and user: a presigned URL's signature or a
            # password must not reach the job's recorded error (the lock) or a log line.
            shown = _USERINFO.sub("//", url.partition("?")[0].partition("#")[0])
            raise ApiError(
                self._redact(f"the API gave a bad output URL {shown!r} (shown in part): {exc}")
            ) from None
        what = f"download {target.copy_with(query=None, fragment=None, userinfo=b'')}"
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {dest.parent}: {exc.strerror or exc}") from exc

        async def attempt() -> StagedFile:
            self.requests["DOWNLOAD"] += 1
            tmp = staging_path(dest)
            try:
                # O_EXCL | O_NOFOLLOW: a link planted at the temp name is refused.
                with os.fdopen(create_exclusive(tmp), "wb") as f:
                    async with self._download_slots:
                        digest, size = await self._stream_into(what, target, f)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise cannot_write(dest, exc) from exc
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            return StagedFile(tmp, dest, digest, size)

        return await self._retrying(what, attempt)

    # --- machinery -----------------------------------------------------------------------

    def _url(self, suffix: str) -> httpx.URL:
        try:
            return httpx.URL(self.base_url + suffix)
        except httpx.InvalidURL as exc:
            raise ApiError(self._redact(f"cannot build a URL from {suffix!r}: {exc}")) from None

    def _redact(self, text: str) -> str:
        return redact(text, self._key)

    async def _retrying(
        self, what: str, attempt: Callable[[], Awaitable[_T]], *, submission: bool = False
    ) -> _T:
        """``attempt`` until it succeeds or the policy gives up. A ``submission`` whose
        outcome became unknown ends in SubmissionUnknown: at once, unless the API
        honours Idempotency-Key; else after the last attempt."""
        policy = self._retry
        reached = False
        for n in range(1, policy.attempts + 1):
            try:
                return await attempt()
            except Retryable as exc:
                last = exc
                reached = reached or (submission and exc.reached)
                if reached and not self._idempotent_posts:
                    raise SubmissionUnknown(
                        self._redact(
                            f"{what}: {exc.reason}: the API may have created the job; not "
                            "sent again, as this API does not promise to honour "
                            "Idempotency-Key"
                        ),
                        status=exc.status,
                    ) from None
                if n == policy.attempts:
                    break
                delay = policy.delay(n, exc.after)
                _log.warning(
                    "api.retry",
                    what=what,
                    attempt=n,
                    attempts=policy.attempts,
                    delay=round(delay, 3),
                    reason=self._redact(exc.reason),
                )
                await trio.sleep(delay)
        given_up = self._redact(
            f"{what}: still failing after {policy.attempts} attempts: {last.reason}"
        )
        if reached:
            raise SubmissionUnknown(f"{given_up}; an attempt may have created the job")
        raise TransientApiError(given_up, status=last.status)

    async def _send(self, what: str, request: Awaitable[httpx.Response]) -> httpx.Response:
        resp = await self._transport(what, request)
        check_answer(what, resp, self._redact)
        self.requests_ok += 1
        return resp

    async def _transport(self, what: str, request: Awaitable[_T]) -> _T:
        """Await a request, translating httpx failures into retry-or-give-up."""
        with translated(what, self._redact):
            return await request

    async def _stream_into(self, what: str, url: httpx.URL, f: Any) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        # Redirects are followed for downloads (outputs often live behind a CDN); the
        # key goes only to the API's own origin, on the first hop or any other. One
        # translation around the whole stream, not one per chunk: a download was the
        # costliest request of a job in CPU (profiled), for one request of three.
        with translated(what, self._redact):
            async with self._downloads.stream(
                url, self._api_headers, auth_origin=self._base
            ) as resp:
                if not 200 <= resp.status_code < 300:
                    await resp.aread()
                    check_answer(
                        what, resp, self._redact, ours=origin(resp.url) == origin(self._base)
                    )
                async for chunk in resp.aiter_bytes(_CHUNK):
                    digest.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
        return digest.hexdigest(), size
