"""Outbound requests of the studio (input downloads, webhooks), kept to allowed addresses.

An input URL or a webhook is chosen by whoever submits a job; without a check the
studio would fetch cloud metadata (169.254.169.254), its own loopback services or
the private network for them. So every hop is handled here, not by httpx:

1. the host is resolved here (``getaddrinfo``, which also reads the trick
   spellings ``2130706433`` and ``0x7f.1`` as the C library does);
2. *every* resolved address is checked against the ``AddressPolicy``; one refused
   address refuses the hop (a name answering both public and private addresses is
   how DNS rebinding starts), and nothing is connected to;
3. the request goes to a checked address itself (the URL's host replaced by the
   IP, ``Host`` and TLS SNI/verification kept on the name), so a second resolution
   cannot swap the address between the check and the connection; if one refuses the
   connection, the next one is tried (``localhost`` may answer ``::1`` first);
4. redirects are followed here, hop by hop, for GETs only: a webhook is POSTed
   once to the URL it names and never re-POSTed to a redirect target.

A hop that goes through an environment proxy (``HTTP_PROXY`` & co., ``NO_PROXY``
not matching) is sent by name: the proxy resolves and connects, and is the egress
control of such a network; the local resolution is still checked first. Which hops
those are is decided once, by ``_net.proxy_for`` (urllib's reading of the
environment); no client here reads the environment itself (``trust_env=False``):
httpx's own ``NO_PROXY`` rules differ (and refuse some entries, such as
``2001:db8::/32``), and one that sent a hop direct by name would lose the pinning.

Steps 1-3 are the input check's too (``inputs/_fetch.py``, blocking): the shared part,
a *checked hop*, is in ``_net``.
"""

from __future__ import annotations

import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final

import httpx
import trio

from .._net import (
    MAX_REDIRECTS,
    RESOLVE_ERRORS,
    AddressClass,
    AddressPolicy,
    IPAddress,
    distinct_proxies,
    first_refusal,
    found_addresses,
    hop_target,
    pinned,
    proxy_for,
    redirect_to,
)
from ..api import PROXY_ERRORS, unusable_proxy

__all__ = ["FetchRefused", "Fetcher"]

# https names whose pools are kept once idle: beyond, idle ones are closed before a new
# name gets its pool, so that a long-running studio keeps neither a client nor idle
# sockets for every name it ever fetched from.
_NAMES_KEPT: Final = 32


class FetchRefused(Exception):
    """A hop the policy refuses; nothing was connected to. ``kind`` is why (not shown)."""

    def __init__(self, kind: AddressClass | None) -> None:
        super().__init__("the address is not allowed")
        self.kind = kind


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except RESOLVE_ERRORS as exc:
        raise httpx.ConnectError("name resolution failed") from exc
    found = found_addresses(infos)
    if not found:
        raise httpx.ConnectError("name resolution failed")
    return found


class Fetcher:
    """GETs (redirects followed hop by hop) and single POSTs to allowed addresses only.

    ``proxies`` are the environment's, as ``_net.environment_proxies`` gives them (empty:
    every hop goes direct). A proxy that cannot work is a ConfigError here, before any
    request. ``aclose`` (or ``async with``) closes every client.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        limits: httpx.Limits,
        timeout: httpx.Timeout,
        tls: ssl.SSLContext,
        proxies: Mapping[str, str],
    ) -> None:
        self.policy = policy
        self._new_client = partial(
            httpx.AsyncClient, limits=limits, timeout=timeout, verify=tls, trust_env=False
        )
        # To checked addresses (the host replaced by the IP): one client for http, and
        # one per name for https (see _client_for).
        self._direct = self._new_client()
        self._by_name: dict[str, httpx.AsyncClient] = {}
        self._users: Counter[str] = Counter()  # hops under way, by https name
        self._proxies = dict(proxies)
        self._via: dict[str, httpx.AsyncClient] = {}  # one per proxy proxy_for may name
        for proxy in distinct_proxies(self._proxies):
            try:
                self._via[proxy] = self._new_client(
                    # An https:// proxy is verified against the same CAs as the origins.
                    proxy=httpx.Proxy(
                        proxy, ssl_context=tls if proxy.startswith("https:") else None
                    )
                )
            except PROXY_ERRORS as exc:  # the clients made so far have opened nothing
                raise unusable_proxy(exc, proxy) from None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients = [self._direct, *self._by_name.values(), *self._via.values()]
        self._by_name.clear()
        for client in clients:
            await client.aclose()

    @asynccontextmanager
    async def get(self, url: str) -> AsyncIterator[httpx.Response]:
        """The unread response of a GET; a redirect past ``MAX_REDIRECTS`` is returned as is."""
        current = httpx.URL(url)
        for hops in range(MAX_REDIRECTS + 1):
            async with self._hop("GET", current) as response:
                location = redirect_to(response.status_code, response.headers.get("location"))
                if location is None or hops == MAX_REDIRECTS:
                    yield response
                    return
            try:
                current = current.join(location)
            except httpx.InvalidURL:
                raise FetchRefused(None) from None

    async def post(self, url: str, body: Any, timeout: float) -> int:
        """POST JSON once, no redirect followed; the status code."""
        async with self._hop("POST", httpx.URL(url), json=body, timeout=timeout) as response:
            return response.status_code

    @asynccontextmanager
    async def _hop(self, method: str, url: httpx.URL, **kw: Any) -> AsyncIterator[httpx.Response]:
        """The unread response of one checked hop, closed when the block ends."""
        target = hop_target(url)
        if target is None:
            raise FetchRefused(None)
        addresses = await _resolve(*target)
        refused = first_refusal(self.policy, addresses, url.host)
        if refused is not None:
            raise FetchRefused(refused[1])
        proxy = proxy_for(url, self._proxies)
        async with self._client_for(url, proxy) as client:
            if proxy is not None:  # sent by name: the proxy resolves and connects
                request = client.build_request(method, url, **kw)
                response = await client.send(request, stream=True, follow_redirects=False)
            else:
                response = await _send_pinned(client, method, url, addresses, **kw)
            try:
                yield response
            finally:
                await response.aclose()

    @asynccontextmanager
    async def _client_for(
        self, url: httpx.URL, proxy: str | None
    ) -> AsyncIterator[httpx.AsyncClient]:
        """The client for a hop to ``url`` (through ``proxy`` unless None), in use until
        the block ends. A pool keys its connections by the URL's host, for a pinned
        request the IP: two https names on one address (a CDN's) would share a TLS
        connection verified for the first name only, and the second name's certificate
        would never be checked. So pinned https gets one pool per name; http, which
        verifies nothing, keeps one."""
        if proxy is not None or url.scheme != "https":
            yield self._via[proxy] if proxy is not None else self._direct
            return
        name = url.host
        client = self._by_name.get(name)
        idle: list[httpx.AsyncClient] = []
        if client is None:
            if len(self._by_name) >= _NAMES_KEPT:  # the idle ones: no hop of theirs is open
                idle = [self._by_name.pop(n) for n in list(self._by_name) if not self._users[n]]
            client = self._by_name[name] = self._new_client()
        self._users[name] += 1
        try:
            for old in idle:
                await old.aclose()
            yield client
        finally:
            self._users[name] -= 1
            if not self._users[name]:
                del self._users[name]


async def _send_pinned(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    addresses: list[IPAddress],
    **kw: Any,
) -> httpx.Response:
    """The response of ``url`` asked at the first checked address that takes the
    connection. A refused connection sent nothing, so even a POST may try the next."""
    failed: httpx.ConnectError | None = None
    for ip in addresses:
        where, host, extensions = pinned(url, ip)
        request = client.build_request(method, where, headers=host, extensions=extensions, **kw)
        try:
            return await client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError as exc:
            failed = exc
    assert failed is not None  # addresses is never empty (_resolve)
    raise failed
