"""GETs to input URLs, every hop checked against the address policy before it is sent.

A manifest is written by whoever opens a pull request, and CI runs ``plan`` on it: an
input URL naming the cloud metadata service (169.254.169.254), a service on the CI
machine's loopback or the private network would have the runner fetch it for them.
So this is the studio's rule (``studio/_fetch.py``), for blocking code in threads:

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

import ipaddress
import itertools
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import httpx

from lipsync_pipeline import __version__
from lipsync_pipeline._net import (
    AddressPolicy,
    IPAddress,
    environment_proxies,
    proxy_for,
    scheme_proxy,
)
from lipsync_pipeline.api._http import PROXY_ERRORS, unusable_ca_bundle, unusable_proxy

__all__ = ["MAX_REDIRECTS", "Fetcher", "Reply", "Unfetchable"]

MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
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
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # socket.gaierror included
        raise Unfetchable(f"cannot resolve {host}") from exc
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if ip not in found:
            found.append(ip)
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
        # To checked addresses (the host replaced by the IP).
        self._direct = httpx.Client(
            limits=limits, timeout=settings, verify=tls, trust_env=False, headers=headers
        )
        # One client per proxy that proxy_for may name, made now so that a proxy that
        # cannot work is a ConfigError before any request.
        self._proxies = environment_proxies()
        self._via: dict[str, httpx.Client] = {}
        for proxy in sorted({p for s in _DEFAULT_PORTS if (p := scheme_proxy(s, self._proxies))}):
            try:
                self._via[proxy] = httpx.Client(
                    limits=limits,
                    timeout=settings,
                    verify=tls,
                    trust_env=False,
                    headers=headers,
                    # An https:// proxy is verified against the same CAs as the origins.
                    proxy=httpx.Proxy(
                        proxy, ssl_context=tls if proxy.startswith("https:") else None
                    ),
                )
            except PROXY_ERRORS as exc:
                self.close()
                raise unusable_proxy(exc, proxy) from None

    def close(self) -> None:
        for client in (self._direct, *self._via.values()):
            client.close()

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
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or location is None:
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
        if url.scheme not in _DEFAULT_PORTS or not url.host:
            raise Unfetchable(f"{via}a URL that is not http(s): not fetched")
        name = url.raw_host.decode("ascii")
        addresses = _resolve(name, url.port or _DEFAULT_PORTS[url.scheme])
        for ip in addresses:
            refused = self.policy.refusal(ip, url.host)
            if refused is not None:
                raise Unfetchable(
                    f"{via}{url.host}, which resolves to {ip}, a {refused.value} address: "
                    "not fetched (the API could not fetch it either)"
                )
        proxy = proxy_for(url, self._proxies)
        if proxy is not None:
            client = self._via[proxy]
            request = client.build_request("GET", url, headers=headers)
            return client.send(request, stream=True, follow_redirects=False)
        extensions = {"sni_hostname": name} if url.scheme == "https" else {}
        failed: httpx.ConnectError | None = None
        for ip in addresses:  # each one checked above; the next if one refuses (::1 first?)
            request = self._direct.build_request(
                "GET",
                url.copy_with(host=str(ip)),
                headers={**headers, "Host": url.netloc.decode("ascii")},
                extensions=extensions,
            )
            try:
                return self._direct.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError as exc:
                failed = exc
        assert failed is not None
        raise failed
