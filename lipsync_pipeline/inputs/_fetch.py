"""GETs to input URLs, every hop checked against the address policy before it is sent.

A manifest is written by whoever opens a pull request, and CI runs ``plan`` on it: an
input URL naming the cloud metadata service (169.254.169.254), a service on the CI
machine's loopback or the private network would have the runner fetch it for them.
So this is the studio's rule (``studio/_fetch.py``; the shared part, a *checked hop*,
is in ``_net``), for blocking code in threads:

1. the host is resolved here (``getaddrinfo``, which also reads trick spellings such as
   ``2130706433`` as the C library does) and *every* address is checked against the
   ``AddressPolicy``; one refused address refuses the hop, and nothing is connected to;
2. the request goes to the checked address itself (the host replaced by the IP,
   ``Host`` and TLS SNI/verification kept on the name), so a second resolution cannot
   swap the address between the check and the connection;
3. redirects are followed here, hop by hop, each checked the same way.

A hop that goes through an environment proxy (``HTTPS_PROXY`` & co., ``NO_PROXY`` not
matching) is sent by name: the proxy resolves, and is the egress control there. Which
hops those are is decided once, by ``_net.proxy_for`` (urllib's reading of the
environment); no client here reads the environment itself (``trust_env=False``): httpx's
own ``NO_PROXY`` rules differ (and refuse some entries, such as ``2001:db8::/32``), and
one that sent a hop direct by name would lose the address pinning.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Final

import httpx

from lipsync_pipeline import __version__
from lipsync_pipeline._net import (
    MAX_REDIRECTS,
    RESOLVE_ERRORS,
    AddressPolicy,
    IPAddress,
    distinct_proxies,
    environment_proxies,
    first_refusal,
    found_addresses,
    hop_target,
    pinned,
    proxy_for,
    redirect_to,
)
from lipsync_pipeline.api._http import PROXY_ERRORS, unusable_ca_bundle, unusable_proxy

__all__ = ["Fetcher", "Reply", "Unfetchable"]

_USER_AGENT: Final = f"lipsync-pipeline/{__version__} (input check)"


@dataclass(frozen=True, slots=True)
class Reply:
    """An unread response, the URL that gave it (after redirects; its host, not the
    address it was sent to) and how many requests it took (1 + redirects)."""

    response: httpx.Response
    url: str
    hops: int


class Unfetchable(Exception):
    """A URL this check will not or cannot fetch; ``str()`` is the reason for a user,
    without the URL (the caller prefixes it, redacted)."""


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        found = found_addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except RESOLVE_ERRORS as exc:
        raise Unfetchable(f"cannot resolve {host}") from exc
    if not found:
        raise Unfetchable(f"cannot resolve {host}")
    return found


class Fetcher:
    """Blocking GETs for the check's worker threads (an httpx.Client may be shared by
    threads). ``policy`` decides which resolved addresses may be asked."""

    def __init__(self, policy: AddressPolicy, *, timeout: float, connections: int) -> None:
        self.policy = policy
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        settings = httpx.Timeout(timeout)
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        try:
            tls = httpx.create_ssl_context(trust_env=True)  # SSL_CERT_FILE / SSL_CERT_DIR
        except OSError as exc:  # a CA setting that cannot be read
            raise unusable_ca_bundle(exc) from None
        # To checked addresses (the host replaced by the IP): one client for http, and
        # one per name for https (see _direct_for).
        self._new_direct = partial(
            httpx.Client,
            limits=limits,
            timeout=settings,
            verify=tls,
            trust_env=False,
            headers=headers,
        )
        self._direct = self._new_direct()
        self._by_name: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()  # worker threads share the clients
        # One client per proxy that proxy_for may name, made now so that a proxy that
        # cannot work is a ConfigError before any request.
        self._proxies = environment_proxies()
        self._via: dict[str, httpx.Client] = {}
        for proxy in distinct_proxies(self._proxies):
            try:
                self._via[proxy] = self._new_direct(
                    # An https:// proxy is verified against the same CAs as the origins.
                    proxy=httpx.Proxy(
                        proxy, ssl_context=tls if proxy.startswith("https:") else None
                    ),
                )
            except PROXY_ERRORS as exc:
                self.close()
                raise unusable_proxy(exc, proxy) from None

    def close(self) -> None:
        with self._lock:
            clients = [self._direct, *self._by_name.values(), *self._via.values()]
        for client in clients:
            client.close()

    def _direct_for(self, url: httpx.URL) -> httpx.Client:
        """The client for a pinned request to ``url``. A pool keys its connections by the
        URL's host, here the IP: two https names on one address (a CDN's) would share a
        TLS connection verified for the first name only, and the second name's
        certificate would never be checked. So https gets one pool per name."""
        if url.scheme != "https":
            return self._direct
        with self._lock:
            client = self._by_name.get(url.host)
            if client is None:
                client = self._by_name[url.host] = self._new_direct()
            return client

    @contextmanager
    def get(self, url: str, headers: Mapping[str, str]) -> Iterator[Reply]:
        """The unread response of a GET of ``url`` (redirects followed, each hop checked).
        Raises Unfetchable, or httpx's errors for the network's failures."""
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise Unfetchable("not a URL that can be fetched") from exc
        response = self._send(current, headers)
        try:
            for hops in itertools.count():
                location = redirect_to(response.status_code, response.headers.get("location"))
                if location is None:
                    break
                if hops == MAX_REDIRECTS:
                    raise Unfetchable(f"more than {MAX_REDIRECTS} redirects")
                response.close()
                try:
                    current = current.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise Unfetchable("redirected to a URL that cannot be fetched") from exc
                response = self._send(current, headers, redirected=True)
            yield Reply(response, str(current), hops + 1)
        finally:
            response.close()

    def _send(
        self, url: httpx.URL, headers: Mapping[str, str], *, redirected: bool = False
    ) -> httpx.Response:
        via = "redirected to " if redirected else ""
        target = hop_target(url)
        if target is None:
            raise Unfetchable(f"{via}a URL that is not http(s): not fetched")
        addresses = _resolve(*target)
        refused = first_refusal(self.policy, addresses, url.host)
        if refused is not None:
            ip, kind = refused
            raise Unfetchable(
                f"{via}{url.host}, which resolves to {ip}, a {kind.value} address: "
                "not fetched (the API could not fetch it either)"
            )
        proxy = proxy_for(url, self._proxies)
        if proxy is not None:
            client = self._via[proxy]
            request = client.build_request("GET", url, headers=headers)
            return client.send(request, stream=True, follow_redirects=False)
        direct = self._direct_for(url)
        failed: httpx.ConnectError | None = None
        for ip in addresses:  # each one checked above; the next if one refuses (::1 first?)
            where, host, extensions = pinned(url, ip)
            request = direct.build_request(
                "GET", where, headers={**headers, **host}, extensions=extensions
            )
            try:
                return direct.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError as exc:
                failed = exc
        assert failed is not None
        raise failed
