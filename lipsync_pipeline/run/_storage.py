"""What a run with an object store adds to the job walk, as three small seams.

* :class:`StoreInputs` turns a job's local inputs into URLs the API can fetch: the
  objects were uploaded before the first submission (content-addressed, once per
  distinct file); each URL is signed when its job is submitted, not when the run
  starts, so the TTL is spent waiting for the API, not for our queue.
* :class:`StoreApi` wraps the API client. Every error text it lets through is run
  through :func:`redact_urls` (an API that echoes the request would echo presigned
  URLs, which are credentials); and a job that failed after one of the inputs we
  signed for it expired gets an error that names that input and says so.
* :class:`RenderKeeper` uploads each downloaded render before the lock records it,
  so a lock never names a store key that is not in the store.

The fingerprint never sees any of this: it hashes the inputs' bytes, so a new URL
or a new signature never renders anything again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import structlog

from lipsync_pipeline._staging import StagedFile
from lipsync_pipeline.api import JobStatus
from lipsync_pipeline.errors import ApiError, register_signature
from lipsync_pipeline.manifest import Job
from lipsync_pipeline.run._api import Api
from lipsync_pipeline.store import ObjectStore, TrioObjectStore, redact_urls

__all__ = ["RenderKeeper", "StoreApi", "StoreInputs"]

_log = structlog.get_logger(__name__)

# A signed URL is reused for later jobs while more than this share of its lifetime is
# left, so 10,000 jobs sharing 3 voices sign a handful of URLs, not 30,000.
_REUSE_WHILE_LEFT: Final = 0.5


@dataclass(frozen=True, slots=True)
class _Signed:
    url: str
    expires_at: float  # wall clock (time.time()), as the store judges expiry


class StoreInputs:
    """A job's form with each local input replaced by its object's URL.

    Called (synchronously, by the walk) just before a job's POST. Signing is local
    computation for static credentials (an HMAC), so it runs on the event loop; the
    cache makes it rare."""

    def __init__(self, store: ObjectStore, keys: Mapping[Path, str]) -> None:
        self._store = store
        self._keys = dict(keys)  # absolute local path -> uploaded object's key
        self._ttl = store.config.url_ttl.total_seconds()
        self._signed: dict[str, _Signed] = {}  # key -> the URL handed out last
        self._issued: dict[str, float] = {}  # URL -> when it expires
        self._lock = threading.Lock()

    @property
    def ttl(self) -> float:
        return self._ttl

    @property
    def signs(self) -> bool:
        return self._store.config.signs_urls

    def __call__(self, job: Job) -> Mapping[str, Any]:
        form = dict(job.form_state)
        for name, path in job.local_inputs.items():
            form[name] = self._url(self._keys[path])
        return form

    def probe(self, key: str) -> None:
        """Make one URL now: raises StoreConfigError if this store cannot (file://)."""
        self._url(key)

    def expires_at(self, url: str) -> float | None:
        """When a URL this resolver signed expires; None for any other value."""
        return self._issued.get(url)

    def _url(self, key: str) -> str:
        if not self.signs:
            return self._store.input_url(key)  # public: never expires
        now = time.time()
        with self._lock:
            cached = self._signed.get(key)
            if cached is not None and cached.expires_at - now > self._ttl * _REUSE_WHILE_LEFT:
                return cached.url
            url = self._store.input_url(key)
            # The signature is a credential: masked wherever an API echoes it back
            # (in a request id, an output URL, an error text).
            register_signature(url)
            # SigV4 dates are whole seconds, truncated: the URL dies up to 1 s early.
            signed = _Signed(url, math.floor(now) + self._ttl)
            self._signed[key] = signed
            self._issued[url] = signed.expires_at
            return url


class StoreApi:
    """The API client, with error texts redacted and expired inputs explained."""

    def __init__(self, client: Api, inputs: StoreInputs | None) -> None:
        self._client = client
        self._inputs = inputs
        # request id -> (input field, expiry) of the URLs we signed for it
        self._signed: dict[str, tuple[tuple[str, float], ...]] = {}

    @property
    def requests(self) -> Mapping[str, int]:
        return self._client.requests

    @property
    def requests_ok(self) -> int:
        return self._client.requests_ok

    async def submit(
        self,
        model: str,
        form_state: Mapping[str, Any],
        *,
        webhook: str | None,
        idempotency_key: str,
    ) -> str:
        try:
            request_id = await self._client.submit(
                model, form_state, webhook=webhook, idempotency_key=idempotency_key
            )
        except ApiError as exc:
            clean = _redacted(exc)
            if clean is exc:
                raise
            raise clean from None
        if self._inputs is not None:
            signed = []
            for name, value in sorted(form_state.items()):
                expires = self._inputs.expires_at(value) if isinstance(value, str) else None
                if expires is not None:
                    signed.append((name, expires))
            if signed:
                self._signed[request_id] = tuple(signed)
        return request_id

    async def get_job(self, request_id: str) -> JobStatus:
        try:
            status = await self._client.get_job(request_id)
        except ApiError as exc:
            clean = _redacted(exc)
            if clean is exc:
                raise
            raise clean from None
        if status.status != "failed":
            return status
        error = redact_urls(status.error)
        expired = [name for name, at in self._signed.get(request_id, ()) if time.time() >= at]
        if expired:
            # Name the input the API's message names, else every one that had expired.
            named = [name for name in expired if name in error] or expired
            inputs = ", ".join(named)
            error = (
                f"{error or 'the API reported the job failed'}; input {inputs}: its presigned "
                "URL expired before the API fetched it (store url_ttl is "
                f"{self._ttl_text()}): raise store.url_ttl; the next run signs a new URL"
            )
        return _with_error(status, error)

    async def fetch(self, url: str, dest: Path) -> StagedFile:
        try:
            return await self._client.fetch(url, dest)
        except ApiError as exc:
            clean = _redacted(exc)
            if clean is exc:
                raise
            raise clean from None

    def _ttl_text(self) -> str:
        seconds = 0 if self._inputs is None else int(self._inputs.ttl)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"


class RenderKeeper:
    """Uploads a downloaded render (still in its temp file) to the store."""

    def __init__(self, store: TrioObjectStore) -> None:
        self._store = store

    async def __call__(self, job_id: str, staged: StagedFile) -> str:
        key = await self._store.put_render(job_id, staged.tmp, staged.sha256)
        _log.info("render kept in the store", job=job_id, key=key, bytes=staged.size)
        return key


def _redacted(exc: ApiError) -> ApiError:
    """The same error, its text without URL queries (a presigned URL's signature)."""
    text = str(exc)
    clean = redact_urls(text)
    if clean == text:
        return exc
    copy = type(exc).__new__(type(exc))
    ApiError.__init__(copy, clean, status=exc.status)
    return copy


def _with_error(status: JobStatus, error: str) -> JobStatus:
    return status if error == status.error else replace(status, error=error)
