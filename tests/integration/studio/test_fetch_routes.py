"""How the studio's fetches reach an origin: which go through a proxy, that every https
name has its certificate checked, and that a checked address refusing the connection
is not the end.

Every request goes to loopback. Names (``*.example.test``) are answered by a resolver
of the test's own (trio's hook), never by DNS; the origin is a threaded media server.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trustme
from _media_server import media_server
from studio_helpers import AUTH, StartStudio, submit, wait_job


class _Names(trio.abc.HostnameResolver):
    """Answers the names it is given with their addresses, in order; any other name as
    the system would."""

    def __init__(self, names: Mapping[str, Sequence[str]]) -> None:
        self.names = names

    async def getaddrinfo(
        self, host: bytes | None, port: bytes | str | int | None, *args: Any
    ) -> list[Any]:
        name = (host or b"").decode("ascii")
        if name not in self.names:
            return await trio.to_thread.run_sync(socket.getaddrinfo, host, port, *args)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in self.names[name]]

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        return await trio.to_thread.run_sync(socket.getnameinfo, sockaddr, flags)


def _resolve_as(names: Mapping[str, Sequence[str]]) -> None:
    """For the rest of this test's trio run (the studio shares it)."""
    trio.socket.set_custom_hostname_resolver(_Names(names))


async def _job(root: str, form: dict[str, str]) -> dict[str, Any]:
    # No proxy between the test and the studio, whatever the environment says.
    async with httpx.AsyncClient(base_url=root, headers=AUTH, trust_env=False) as client:
        return await wait_job(client, await submit(client, "lipsync-image", form))


def _files(media: Path) -> dict[str, bytes]:
    return {
        "/face.png": (media / "face.png").read_bytes(),
        "/a.wav": (media / "a.wav").read_bytes(),
    }


async def test_proxies_are_chosen_as_urllib_reads_no_proxy_and_httpx_reads_none(
    start: StartStudio, media: Path, proxy_env: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY and a NO_PROXY with an entry httpx cannot read (a CIDR range): the
    studio starts. A host NO_PROXY does not name goes through the proxy, by name; one it
    names goes direct, to the address that was checked. The origin is its own proxy
    here: it tells a request sent to a proxy by its absolute-form target."""
    with media_server(_files(media)) as origin:
        port = origin.url.rsplit(":", 1)[1]
        proxy_env.setenv("HTTP_PROXY", origin.url)
        proxy_env.setenv("NO_PROXY", "localhost,2001:db8::/32,127.1")
        root = await start(allow_private_networks=True)
        form = {
            "audio": f"http://2130706433:{port}/a.wav",  # 127.0.0.1, by a name NO_PROXY lacks
            "image": f"http://127.1:{port}/face.png",  # 127.0.0.1, by a name NO_PROXY has
        }
        job = await _job(root, form)
        seen = {s.path: s.proxied for s in origin.requests()}
    assert job["status"] == "completed", job["error"]
    assert seen == {"/a.wav": True, "/face.png": False}


async def test_each_https_name_has_its_certificate_checked_even_on_a_shared_address(
    start: StartStudio, media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests go to checked addresses, so two names on one address (a CDN's) must not
    share a TLS connection: one opened and verified for the first name would carry the
    second name's requests without its certificate ever being checked. The audio is
    fetched first, from the name the certificate is for."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("good.example.test").configure_cert(context)  # not other.example.test
    _resolve_as({"good.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    with media_server(_files(media), tls=context) as origin:
        port = origin.url.rsplit(":", 1)[1]
        good, other = f"https://good.example.test:{port}", f"https://other.example.test:{port}"
        root = await start(allow_private_networks=True)
        shared = await _job(root, {"audio": f"{good}/a.wav", "image": f"{other}/face.png"})
        alone = await _job(root, {"audio": f"{good}/a.wav", "image": f"{good}/face.png"})
        asked = sorted(s.path for s in origin.requests())
    assert shared["error"] == "Could not fetch input `image`"  # not the certificate's name
    assert alone["status"] == "completed", alone["error"]
    assert asked == ["/a.wav", "/a.wav", "/face.png"]  # the other name's never sent


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(
    start: StartStudio, media: Path
) -> None:
    """A name with two addresses, the first closed (as ``localhost`` answering ``::1``
    first to a server on 127.0.0.1 only): the input comes from the second, asked by
    the name."""
    with media_server(_files(media)) as origin:
        port = origin.url.rsplit(":", 1)[1]
        _resolve_as({"two.example.test": ["127.0.0.2", "127.0.0.1"]})  # nothing on .2
        root = await start(allow_private_networks=True)
        form = {
            "audio": f"http://two.example.test:{port}/a.wav",
            "image": f"{root}/assets/face.png",
        }
        job = await _job(root, form)
        seen = origin.requests("/a.wav")
    assert job["status"] == "completed", job["error"]
    assert [s.headers["host"] for s in seen] == [f"two.example.test:{port}"]
