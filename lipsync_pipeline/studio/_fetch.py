"""Outbound requests of the studio (input downloads, webhooks), kept to allowed addresses.

An input URL or a webhook is chosen by whoever submits a job; without a check the
studio would fetch cloud metadata (169.254.169.254), its own loopback services or
the private network for them. So every hop is handled here, not by httpx:

1. the host is resolved here (``getaddrinfo``, which also reads the trick
   spellings ``2130706433`` and ``0x7f.1`` as the C library does);
2. *every* resolved address is checked against the ``AddressPolicy``; one refused
   address refuses the hop (a name answering both public and private addresses is
   how DNS rebinding starts), and nothing is connected to;
3. the request goes to the checked address itself (the URL's host replaced by the
   IP, ``Host`` and TLS SNI/verification kept on the name), so a second resolution
   cannot swap the address between the check and the connection;
4. redirects are followed here, hop by hop, for GETs only: a webhook is POSTed
   once to the URL it names and never re-POSTed to a redirect target.

A hop that goes through an environment proxy (``HTTP_PROXY`` & co., ``NO_PROXY``
not matching) is sent by name: the proxy resolves and connects, and is the egress
control of such a network; the local resolution is still checked first.

Steps 1-3 are the input check's too (``inputs/_fetch.py``, blocking): the shared part,
a *checked hop*, is in ``_net``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from .._net import (
    MAX_REDIRECTS,
    RESOLVE_ERRORS,
    AddressClass,
    AddressPolicy,
    IPAddress,
    first_refusal,
    found_addresses,
    hop_target,
    pinned,
    redirect_to,
)

__all__ = ["FetchRefused", "Fetcher"]


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

    ``direct`` must not use environment proxies (its URLs carry IPs, which NO_PROXY
    entries naming hosts would not match); ``proxied`` is used for the hops that
    ``proxy_for`` says go through a proxy.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        direct: httpx.AsyncClient,
        proxied: httpx.AsyncClient | None = None,
        proxy_for: Callable[[httpx.URL], str | None] | None = None,
    ) -> None:
        self.policy = policy
        self._direct, self._proxied, self._proxy_for = direct, proxied, proxy_for

    @asynccontextmanager
    async def get(self, url: str) -> AsyncIterator[httpx.Response]:
        """The unread response of a GET; a redirect past ``MAX_REDIRECTS`` is returned as is."""
        current = httpx.URL(url)
        response = await self._send("GET", current)
        for _ in range(MAX_REDIRECTS):
            location = redirect_to(response.status_code, response.headers.get("location"))
            if location is None:
                break
            await response.aclose()
            try:
                current = current.join(location)
            except httpx.InvalidURL:
                raise FetchRefused(None) from None
            response = await self._send("GET", current)
        try:
            yield response
        finally:
            await response.aclose()

    async def post(self, url: str, body: Any, timeout: float) -> int:
        """POST JSON once, no redirect followed; the status code."""
        response = await self._send("POST", httpx.URL(url), json=body, timeout=timeout)
        await response.aclose()
        return response.status_code

    async def _send(self, method: str, url: httpx.URL, **kw: Any) -> httpx.Response:
        target = hop_target(url)
        if target is None:
            raise FetchRefused(None)
        addresses = await _resolve(*target)
        refused = first_refusal(self.policy, addresses, url.host)
        if refused is not None:
            raise FetchRefused(refused[1])
        if self._proxied is not None and self._proxy_for is not None and self._proxy_for(url):
            request = self._proxied.build_request(method, url, **kw)
            return await self._proxied.send(request, stream=True, follow_redirects=False)
        where, host, extensions = pinned(url, addresses[0])
        request = self._direct.build_request(
            method, where, headers=host, extensions=extensions, **kw
        )
        return await self._direct.send(request, stream=True, follow_redirects=False)
