"""The HTTP layer under :class:`~lipsync_pipeline.api.ApiClient`: httpx transports,
used directly.

``httpx.AsyncClient`` does work on every request that this tool never needs: it
emulates a cookie jar through ``urllib.request.Request`` and ``email.message``
objects, runs an auth generator and redirect bookkeeping, merges default headers
and re-parses URLs. Measured with polls spread out in time, as a run makes them,
that was ~30 % of a status request's CPU, and a status request is most of what
a run does. The API client talks to one origin with a fixed set of headers, so
it sends through httpx's public transport API instead and keeps only what it
relies on:

- timeouts (connect, read, write, pool) on every request;
- proxies from the environment (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``,
  ``NO_PROXY`` with ``host``, ``.domain`` and ``host:port`` entries), read once, as
  ``urllib.request`` reads them; a loopback host is never proxied (the local studio
  is on this machine, and a proxy would not reach it);
- certificate verification (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), with the
  CA bundle loaded once for a pool and its siblings, and only when a request needs
  TLS (~30-50 ms of CPU);
- redirects for downloads only (outputs often sit behind a CDN), at most
  ``MAX_REDIRECTS``, and the ``Authorization`` header is dropped on any hop that
  leaves the origin it was meant for.

Errors are httpx's own (the transport maps httpcore's), so callers translate one
family of exceptions; a proxy or CA setting that cannot work is a ``ConfigError``
naming the variable, raised by :meth:`HttpPool.prepare` before any request.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Final

import httpx
import trio

from lipsync_pipeline._net import DEFAULT_PORTS, environment_proxies, proxy_for, redirect_to
from lipsync_pipeline.errors import ConfigError

__all__ = [
    "MAX_REDIRECTS",
    "PROXY_ERRORS",
    "HttpPool",
    "Slots",
    "origin",
    "unusable_ca_bundle",
    "unusable_proxy",
]

# Idle connections are dropped after 4 s, under the 5 s after which common servers
# (hypercorn, uvicorn, Node) close theirs: a request sent on a connection idle for
# just about 5 s races that close and fails "Server disconnected" (with polls 5 s
# apart against the studio: 3 of 41 polls, each retried after a backoff; a POST that
# fails so has an unknown outcome). httpx's default expiry is those same 5 s.
_KEEPALIVE_EXPIRY: Final = 4.0

MAX_REDIRECTS: Final = 10
_ACCEPT: Final = (("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"))
# A proxy's user:password (which may itself hold an "@"), kept out of messages.
_USERINFO: Final = re.compile(r"//[^/]*@")
_CA_VARIABLES: Final = ("SSL_CERT_FILE", "SSL_CERT_DIR")


# What httpx raises for a proxy it cannot use: an unknown scheme (socks4://), a SOCKS
# proxy without the socksio package, a URL that does not parse.
PROXY_ERRORS: Final = (ValueError, ImportError, httpx.InvalidURL)


def unusable_proxy(exc: BaseException, proxy: str | None = None) -> ConfigError:
    """The ConfigError for a proxy setting that cannot work, without its password."""
    shown = f"proxy {_USERINFO.sub('//', proxy)!r}" if proxy else "a proxy"
    return ConfigError(
        f"{shown} from HTTP_PROXY/HTTPS_PROXY/ALL_PROXY cannot be used: "
        f"{_USERINFO.sub('//', str(exc))} (an http:// or https:// proxy works; "
        "NO_PROXY lists the hosts to reach directly)"
    )


def unusable_ca_bundle(exc: OSError) -> ConfigError:
    """The ConfigError for CA certificates that cannot be loaded, naming the settings."""
    settings = [f"{v}={os.environ[v]}" for v in _CA_VARIABLES if os.environ.get(v)]
    where = ", ".join(settings) or "the default CA bundle"
    return ConfigError(
        f"cannot load the CA certificates to verify TLS ({where}): {exc.strerror or exc}"
    )


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in: what "same origin" compares."""
    return url.scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme)


class Slots:
    """A semaphore whose free slot is taken without a trip through the scheduler.

    ``trio.Semaphore`` yields on every acquire, even a free one; with polls spread
    out in time each such yield is a loop iteration of its own (an epoll call and
    the task bookkeeping), measured at ~8 per status request. The request that
    follows has checkpoints of its own, so cancellation is still seen at once.
    """

    __slots__ = ("_semaphore",)

    def __init__(self, size: int) -> None:
        self._semaphore = trio.Semaphore(size)

    async def __aenter__(self) -> None:
        try:
            self._semaphore.acquire_nowait()
        except trio.WouldBlock:
            await self._semaphore.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._semaphore.release()


class _Trust:
    """The environment's proxies and CA certificates, read once and shared by sibling
    pools: loading the CA bundle costs ~30 ms of CPU, and is done only if TLS is spoken."""

    def __init__(self) -> None:
        # httpx.AsyncClient reads the environment's proxies when it is made; so do we.
        self.proxies = environment_proxies()
        self._tls: ssl.SSLContext | None = None

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = httpx.create_ssl_context(trust_env=True)
            except OSError as exc:  # ssl.SSLError included
                raise unusable_ca_bundle(exc) from None
        return self._tls


class HttpPool:
    """Keep-alive connections (``connections`` per proxy route) and the requests over them."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        connections: int,
        user_agent: str,
        transport: httpx.AsyncBaseTransport | None = None,
        _trust: _Trust | None = None,
    ) -> None:
        self._settings = (timeout, connections, user_agent)
        # A test seam (httpx.MockTransport) or a custom stack: every origin goes through
        # it, and no proxy or CA setting is read for it.
        self._fixed_transport = transport
        self._limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=_KEEPALIVE_EXPIRY,
        )
        self._extensions = {"timeout": timeout.as_dict()}
        self._fixed = (("User-Agent", user_agent), *_ACCEPT)
        self._trust = _trust or _Trust()
        self._routes: dict[tuple[str | None, bool], httpx.AsyncHTTPTransport] = {}
        self._by_origin: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}

    def sibling(self) -> HttpPool:
        """A pool of its own connections, with these settings, proxies and CA bundle."""
        timeout, connections, user_agent = self._settings
        return HttpPool(
            timeout=timeout,
            connections=connections,
            user_agent=user_agent,
            transport=self._fixed_transport,
            _trust=self._trust,
        )

    def prepare(self, url: httpx.URL) -> None:
        """Set up the route to ``url``'s origin now (proxy, CA bundle), so that a setting
        that cannot work is a ConfigError before any request rather than during a run."""
        self._route(url)

    async def request(
        self, method: str, url: httpx.URL, headers: Mapping[str, str], body: bytes | None = None
    ) -> httpx.Response:
        """Send one request and read the whole answer (no redirects followed)."""
        request = self._request(method, url, headers, body)
        response = await self._route(url).handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    @asynccontextmanager
    async def stream(
        self, url: httpx.URL, headers: Mapping[str, str], *, auth_origin: httpx.URL
    ) -> AsyncIterator[httpx.Response]:
        """GET ``url`` and yield the unread response, following redirects.

        ``headers`` go only to ``auth_origin``'s origin: any hop elsewhere loses them,
        so an API key never reaches a storage host.
        """
        hops = 0
        while True:
            sent = headers if origin(url) == origin(auth_origin) else {}
            request = self._request("GET", url, sent, None)
            response = await self._route(url).handle_async_request(request)
            response.request = request
            location = redirect_to(response.status_code, response.headers.get("Location"))
            if location is None:
                break
            await response.aclose()
            hops += 1
            if hops > MAX_REDIRECTS:
                raise httpx.TooManyRedirects(
                    f"more than {MAX_REDIRECTS} redirects", request=request
                )
            try:
                url = url.join(location)
            except httpx.InvalidURL as exc:
                raise httpx.RemoteProtocolError(
                    f"a redirect to a bad URL: {exc}", request=request
                ) from None
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        routes, self._routes, self._by_origin = list(self._routes.values()), {}, {}
        for transport in routes:
            # Best effort, each one: a transport that fails to close must not leave
            # the others' connections open.
            with contextlib.suppress(Exception):
                await transport.aclose()

    def _request(
        self, method: str, url: httpx.URL, headers: Mapping[str, str], body: bytes | None
    ) -> httpx.Request:
        return httpx.Request(
            method,
            url,
            headers=[*self._fixed, *headers.items()],
            content=body,
            extensions=self._extensions,
        )

    def _route(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        if self._fixed_transport is not None:
            return self._fixed_transport
        where = origin(url)
        transport = self._by_origin.get(where)
        if transport is None:
            # Decided once per origin: NO_PROXY matching is not free, requests are many.
            proxy = self.proxy_for(url)
            tls = url.scheme == "https" or (proxy or "").startswith("https:")
            transport = self._routes.get((proxy, tls))
            if transport is None:
                transport = self._transport(proxy, tls)
                self._routes[(proxy, tls)] = transport
            self._by_origin[where] = transport
        return transport

    def _transport(self, proxy: str | None, tls: bool) -> httpx.AsyncHTTPTransport:
        # A context that loads no CA bundle is enough where no TLS is spoken.
        verify: ssl.SSLContext | bool = self._trust.tls_context() if tls else False
        try:
            return httpx.AsyncHTTPTransport(
                verify=verify,
                limits=self._limits,
                proxy=None
                if proxy is None
                else httpx.Proxy(
                    proxy,
                    # An https:// proxy is verified against the same CAs as the API.
                    ssl_context=self._trust.tls_context() if proxy.startswith("https:") else None,
                ),
            )
        except PROXY_ERRORS as exc:
            raise unusable_proxy(exc, proxy) from None

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy a request to ``url`` goes through; None when it goes direct."""
        return proxy_for(url, self._trust.proxies)
