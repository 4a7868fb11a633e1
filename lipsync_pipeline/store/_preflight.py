"""Fail before paying: prove the store works before the first submission.

A missing bucket, wrong credentials, a prefix the credentials may not write, or a
clock skew that breaks signatures would otherwise surface after renders were paid
for (an input URL the API cannot fetch, a render that cannot be kept). The
preflight writes a probe object under ``inputs/`` and ``renders/`` (permissions are
often granted per prefix), reads one back, makes the URL the API would get (signed,
or under ``public_base_url``) and fetches it once, then deletes the probes.

The URL fetch goes only to the store's own endpoint (or the configured public base):
a signed URL is a credential and is never sent anywhere else, nor shown.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Final

import httpx
import structlog

from lipsync_pipeline._net import proxy_for
from lipsync_pipeline.errors import StoreConfigError, StoreError
from lipsync_pipeline.store._failures import error_code
from lipsync_pipeline.store._redact import redact_url

if TYPE_CHECKING:
    from lipsync_pipeline.store._objectstore import ObjectStore

__all__ = ["PROBE_DIR", "run_preflight"]

log = structlog.get_logger(__name__)

PROBE_DIR: Final = "_preflight"
_PROBED_AREAS: Final = ("inputs", "renders")
_PROBE_TTL: Final = timedelta(minutes=1)
_FETCH_TIMEOUT: Final = 10.0
_MAX_PROBE_BODY: Final = 64 * 1024


def run_preflight(store: ObjectStore) -> None:
    """Write, read back, sign and fetch, delete (blocking). Raises StoreConfigError
    (exit 2: settings) or StoreError (exit 4: refused, unreachable)."""
    started = time.perf_counter()
    token = os.urandom(8).hex()
    body = f"lipsync-pipeline preflight {token}\n".encode()
    keys = [f"{area}/{PROBE_DIR}/{token}.txt" for area in _PROBED_AREAS]
    written: list[str] = []
    try:
        for key in keys:
            store.put_bytes(key, body)
            written.append(key)
        if store.get_bytes(keys[0]) != body:
            raise StoreError(f"store {store.config.url}: a probe object read back different bytes")
        if store.config.public_base_url is not None or store.config.signs_urls:
            _fetch_input_url(store, keys[0], body)
    finally:
        for key in written:
            _delete_quietly(store, key)
    log.info(
        "store.preflight.ok",
        store=store.config.url,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _client_for(url: str, shown: str) -> httpx.Client:
    """A client for the probe URL, routed as all our HTTP is: the environment's proxy
    as ``_net.proxy_for`` reads ``NO_PROXY`` (loopback direct), its CA settings for TLS.
    Never ``trust_env=True``: httpx's own ``NO_PROXY`` reading fails on a CIDR entry."""
    target = httpx.URL(url)
    try:
        verify = httpx.create_ssl_context(trust_env=True) if target.scheme == "https" else True
        return httpx.Client(
            trust_env=False,
            proxy=proxy_for(target),
            verify=verify,
            timeout=_FETCH_TIMEOUT,
            follow_redirects=False,
        )
    except OSError as exc:  # SSL_CERT_FILE / SSL_CERT_DIR unreadable; ssl.SSLError included
        where = "SSL_CERT_FILE" if os.environ.get("SSL_CERT_FILE") else "SSL_CERT_DIR"
        raise StoreConfigError(
            where, f"cannot load the CA certificates to verify TLS ({exc.strerror or exc})"
        ) from None
    except (ValueError, ImportError) as exc:  # a proxy httpx cannot use (socks4, no socksio)
        setting = "HTTPS_PROXY" if target.scheme == "https" else "HTTP_PROXY"
        raise StoreConfigError(
            setting, f"cannot use this proxy to fetch {shown}: {type(exc).__name__}"
        ) from None


def _fetch_input_url(store: ObjectStore, key: str, body: bytes) -> None:
    # At least a minute: the probe proves that signing works, and a short url_ttl
    # (seconds, in a test) must not expire while a busy machine fetches it.
    url = store.input_url(key, ttl=max(store.config.url_ttl, _PROBE_TTL))
    public = store.config.public_base_url is not None
    shown = redact_url(url)
    if not public and not store.may_fetch(url):
        raise StoreError(
            f"store {store.config.url}: a signed URL points at {shown}, not at the store's"
            " endpoint; not fetching it"
        )
    try:
        with _client_for(url, shown) as client, client.stream("GET", url) as reply:
            status = reply.status_code
            got = _read_capped(reply)
    except httpx.HTTPError as exc:
        # from None: httpx's text and request object hold the signed URL.
        raise StoreError(
            f"store {store.config.url}: cannot fetch the probe at {shown}: {type(exc).__name__}"
        ) from None
    if status == 200 and got == body:
        return
    raise _url_failure(store, shown, status, got, public=public)


def _url_failure(
    store: ObjectStore, shown: str, status: int, got: bytes, *, public: bool
) -> StoreError | StoreConfigError:
    text = got.decode("utf-8", "replace")
    code = error_code(text)
    if public:
        return StoreConfigError(
            "store.public_base_url",
            f"the probe object is not readable at {shown} (HTTP {status}); objects under"
            f" {store.config.url} must be public there",
        )
    if code == "RequestTimeTooSkewed" or (status == 403 and "expired" in text.lower()):
        return StoreConfigError(
            "clock",
            "a URL signed just now was refused as expired or skewed: this machine's clock is"
            " too far from the store's; synchronise it (NTP)",
        )
    if code == "SignatureDoesNotMatch":
        return StoreConfigError(
            "AWS_SECRET_ACCESS_KEY",
            f"store {store.config.url}: the store refused a presigned URL's signature",
        )
    if status == 200:
        return StoreError(f"store {store.config.url}: the signed URL served other bytes")
    return StoreError(
        f"store {store.config.url}: a presigned GET was refused (HTTP {status}"
        f"{' ' + code if code else ''}); the API could not fetch inputs either"
    )


def _read_capped(reply: httpx.Response) -> bytes:
    data = b""
    for chunk in reply.iter_bytes():
        data += chunk
        if len(data) > _MAX_PROBE_BODY:
            break
    return data


def _delete_quietly(store: ObjectStore, key: str) -> None:
    # Runs never delete, so a missing delete permission is no reason to stop one; a
    # leftover probe is a few bytes under _preflight/.
    try:
        store.delete(key)
    except (StoreError, StoreConfigError) as exc:
        log.warning("store.preflight.probe_left", key=key, error=str(exc))
