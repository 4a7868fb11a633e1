"""Small facts about addresses, shared by the manifest runner and the studio.

``AddressPolicy`` decides which resolved addresses the studio may fetch from or
POST to. The tables are explicit (not ``ipaddress``'s ``is_global``/``is_private``)
because those properties changed between Python releases (3.11 and 3.13 classify
v4-mapped and several special ranges differently), and a security rule must not
change with the interpreter.

``proxy_for`` is the one reading of the environment's proxy settings (the API
client's, the input check's and the studio's): urllib's, not httpx's.

A *checked hop* is the rule of both fetchers that request URLs someone else chose (the
input check, ``inputs/_fetch.py``, blocking; the studio, ``studio/_fetch.py``, trio):
the host is resolved by the fetcher, ``found_addresses`` reads the answer, every
address must pass ``first_refusal``, and ``pinned`` says how to send the request to
one checked address with the name kept for ``Host`` and TLS. Redirects are followed by
the fetcher, each hop checked the same way (``redirect_to``).

No httpx here (``validate`` imports this module and must stay light): URLs are
httpx's, but only their attributes and methods are used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_PORTS",
    "MAX_REDIRECTS",
    "RESOLVE_ERRORS",
    "AddressClass",
    "AddressPolicy",
    "IPAddress",
    "classify",
    "distinct_proxies",
    "environment_proxies",
    "first_refusal",
    "found_addresses",
    "hop_target",
    "is_loopback_host",
    "is_plain_loopback",
    "pinned",
    "proxy_for",
    "redirect_to",
    "scheme_proxy",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressClass(Enum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"  # RFC 1918, shared (CGNAT), unique-local IPv6
    LINK_LOCAL = "link-local"  # includes the cloud metadata services
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"  # documentation, benchmarking, future use, broadcast, tunnels


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Order matters: the first table that contains an address names its class.
_TABLES: Final = (
    (AddressClass.UNSPECIFIED, _nets("0.0.0.0/8", "::/128")),
    (AddressClass.LOOPBACK, _nets("127.0.0.0/8", "::1/128")),
    (AddressClass.LINK_LOCAL, _nets("169.254.0.0/16", "fe80::/10")),
    (
        AddressClass.PRIVATE,
        _nets(
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",  # shared address space (carrier NAT)
            "fc00::/7",
            "fec0::/10",  # deprecated site-local
            "64:ff9b:1::/48",  # local-use NAT64
        ),
    ),
    (AddressClass.MULTICAST, _nets("224.0.0.0/4", "ff00::/8")),
    (
        AddressClass.RESERVED,
        _nets(
            "192.0.0.0/24",
            "192.0.2.0/24",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "240.0.0.0/4",  # future use and 255.255.255.255
            "::/96",  # deprecated IPv4-compatible: an old way to spell 127.0.0.1
            "100::/64",  # discard
            "2001::/23",  # IETF protocol assignments, Teredo (hides an IPv4 address)
            "2001:db8::/32",
        ),
    ),
)
# Metadata services that are not link-local: refused whatever the policy says,
# because they hand out the host's cloud credentials.
_METADATA: Final = frozenset(
    ipaddress.ip_address(a)
    for a in ("fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR: Final = ipaddress.ip_network("2002::/16")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 spelling carries: v4-mapped, NAT64 or 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def classify(ip: IPAddress) -> AddressClass:
    """The class of an address; an IPv6 spelling of an IPv4 address is classed by that."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip if ip.scope_id is None else ipaddress.IPv6Address(str(ip).split("%")[0])
        inner = _embedded_v4(ip)
        if inner is not None:
            return classify(inner)
    for kind, networks in _TABLES:
        if any(ip in net for net in networks if net.version == ip.version):
            return kind
    return AddressClass.PUBLIC


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses may be fetched from.

    ``allow_loopback``: plain loopback URLs (``localhost``, ``127.x.x.x``, ``[::1]``
    spelled canonically) are fine; a loopback address reached by another spelling
    (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) or by a DNS name is not,
    unless ``allow_private`` also holds. ``allow_private``: private and loopback
    addresses are fine, however spelled. Link-local (cloud metadata), unspecified,
    multicast and reserved addresses are always refused.
    """

    allow_loopback: bool = False
    allow_private: bool = False

    def refusal(self, ip: IPAddress, host: str) -> AddressClass | None:
        """None if ``ip`` (one resolution of URL host ``host``) may be used, else its class."""
        if ip in _METADATA or (
            isinstance(ip, ipaddress.IPv6Address) and _embedded_v4(ip) in _METADATA
        ):
            return AddressClass.LINK_LOCAL
        kind = classify(ip)
        if kind is AddressClass.PUBLIC:
            return None
        if kind is AddressClass.LOOPBACK and self.allow_loopback and is_plain_loopback(host):
            return None
        if kind in (AddressClass.PRIVATE, AddressClass.LOOPBACK) and self.allow_private:
            return None
        return kind


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IP literal (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_plain_loopback(host: str) -> bool:
    """``localhost``, a canonical dotted-quad 127.x.x.x, or ``::1``: no trick spellings.

    ``ipaddress`` is strict (no ``127.1``, no octal or hex parts, no bare integers),
    unlike the C resolver, which accepts them all: that strictness is the point.
    """
    host = host.lower().strip("[]")
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return ip == ipaddress.IPv6Address("::1")
    return ip.is_loopback


def environment_proxies() -> dict[str, str]:
    """``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (either case) by scheme, read now."""
    import urllib.request  # only where a request is made: it loads http.client and email

    return urllib.request.getproxies()


def scheme_proxy(scheme: str, proxies: Mapping[str, str]) -> str | None:
    """The proxy of ``scheme``'s requests before ``NO_PROXY`` is applied: its own setting,
    else ``ALL_PROXY``; a bare ``host:port`` is an http:// proxy, as curl reads it."""
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def distinct_proxies(proxies: Mapping[str, str]) -> list[str]:
    """Every proxy some http or https request may go through (``scheme_proxy`` of
    each), once each, sorted: a client per proxy is built up front from these."""
    return sorted({p for s in DEFAULT_PORTS if (p := scheme_proxy(s, proxies))})


def proxy_for(url: httpx.URL, proxies: Mapping[str, str] | None = None) -> str | None:
    """The proxy a request to ``url`` goes through (``proxies`` as
    ``environment_proxies`` gives them, read now if None); None: it goes direct.

    ``NO_PROXY`` is urllib's reading (``host``, ``.domain``, ``host:port`` entries and
    ``*``), never httpx's: a client that sends to checked addresses decides here, once,
    and gives httpx no environment to re-read. A loopback host is never proxied: it is
    this machine, which no proxy would reach."""
    import urllib.request

    settings = environment_proxies() if proxies is None else proxies
    proxy = scheme_proxy(url.scheme, settings)
    if proxy is None or is_loopback_host(url.host):
        return None
    # NO_PROXY from the same reading (its "no" entry), not the environment again. With
    # the port, so that "host:port" entries match too ("host" entries still do: urllib
    # compares the bare host as well).
    host = f"{url.host}:{url.port}" if url.port else url.host
    if urllib.request.proxy_bypass_environment(host, dict(settings)):  # type: ignore[attr-defined]
        return None
    return proxy


# --- a checked hop ----------------------------------------------------------------------

MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# What getaddrinfo raises for a name it cannot resolve (socket.gaierror is an OSError) or
# cannot even encode (a label over 63 characters: UnicodeError from the idna codec).
RESOLVE_ERRORS: Final = (OSError, UnicodeError)


def hop_target(url: httpx.URL) -> tuple[str, int] | None:
    """(host to resolve, port) of an http(s) URL with a host; None for any other URL,
    which is not fetched."""
    if url.scheme not in DEFAULT_PORTS or not url.host:
        return None
    return url.raw_host.decode("ascii"), url.port or DEFAULT_PORTS[url.scheme]


def found_addresses(infos: Iterable[tuple[Any, ...]]) -> list[IPAddress]:
    """The distinct addresses of a ``getaddrinfo`` answer, in its order (an IPv6 zone
    index dropped: the class of the address does not depend on it)."""
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if ip not in found:
            found.append(ip)
    return found


def first_refusal(
    policy: AddressPolicy, addresses: Iterable[IPAddress], host: str
) -> tuple[IPAddress, AddressClass] | None:
    """The first address of ``host``'s resolution that ``policy`` refuses, and why; None
    if every one may be used. One refused address refuses the hop (a name answering both
    public and private addresses is how DNS rebinding starts)."""
    for ip in addresses:
        refused = policy.refusal(ip, host)
        if refused is not None:
            return ip, refused
    return None


def pinned(url: httpx.URL, ip: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """(URL, headers, request extensions) that send a request for ``url`` to the checked
    address ``ip``: the host replaced by the IP, so that no second resolution can swap
    the address, with ``Host`` and TLS SNI (and so certificate verification) on the name."""
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    return url.copy_with(host=str(ip)), {"Host": url.netloc.decode("ascii")}, extensions


def redirect_to(status: int, location: str | None) -> str | None:
    """The ``Location`` a response sends its client to; None if it is not a redirect."""
    return location if status in _REDIRECTS else None
