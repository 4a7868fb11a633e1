"""The studio fetches only what it should: the address policy, redirects, webhooks, errors.

Every request here goes to 127.0.0.1. Refused addresses are IP literals (or trick
spellings of loopback): no name is looked up in DNS, and the refusal comes before
any connection, which is what the error text (not a connection error) shows.
"""

from __future__ import annotations

import ipaddress
from functools import partial

import httpx
import pytest
import trio
from studio_helpers import AUTH, KEY, StartStudio, submit, wait_job

from lipsync_pipeline._net import AddressClass, AddressPolicy, classify, is_plain_loopback
from lipsync_pipeline.studio import StudioConfig

REFUSED = "its address is not allowed"
STRICT = AddressPolicy()
LOCAL = AddressPolicy(allow_loopback=True)
PRIVATE = AddressPolicy(allow_loopback=True, allow_private=True)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", AddressClass.PUBLIC),
        ("2606:4700:4700::1111", AddressClass.PUBLIC),
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.255.0.9", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),  # v4-mapped
        ("64:ff9b::7f00:1", AddressClass.LOOPBACK),  # NAT64
        ("2002:7f00:1::", AddressClass.LOOPBACK),  # 6to4
        ("10.1.2.3", AddressClass.PRIVATE),
        ("172.16.0.1", AddressClass.PRIVATE),
        ("172.31.255.255", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("100.64.0.1", AddressClass.PRIVATE),
        ("fd12:3456::1", AddressClass.PRIVATE),
        ("::ffff:10.0.0.1", AddressClass.PRIVATE),
        ("169.254.169.254", AddressClass.LINK_LOCAL),
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("::ffff:169.254.169.254", AddressClass.LINK_LOCAL),
        ("0.0.0.0", AddressClass.UNSPECIFIED),
        ("::", AddressClass.UNSPECIFIED),
        ("224.0.0.1", AddressClass.MULTICAST),
        ("ff02::1", AddressClass.MULTICAST),
        ("255.255.255.255", AddressClass.RESERVED),
        ("192.0.2.1", AddressClass.RESERVED),
        ("::7f00:1", AddressClass.RESERVED),  # IPv4-compatible spelling of 127.0.0.1
        ("2001::1", AddressClass.RESERVED),  # Teredo
    ],
)
def test_addresses_are_classified(address: str, kind: AddressClass) -> None:
    assert classify(ipaddress.ip_address(address)) is kind


def test_the_policy_refuses_all_but_public_by_default() -> None:
    def refusal(policy: AddressPolicy, address: str, host: str | None = None) -> object:
        return policy.refusal(ipaddress.ip_address(address), host or address)

    assert refusal(STRICT, "8.8.8.8") is None
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "fc00::1", "0.0.0.0", "::"):
        assert refusal(STRICT, address) is not None
    # Loopback on a loopback studio: only when spelled plainly.
    assert refusal(LOCAL, "127.0.0.1") is None
    assert refusal(LOCAL, "::1") is None
    assert refusal(LOCAL, "127.0.0.1", "localhost") is None
    for trick in ("2130706433", "0x7f.1", "127.1", "0177.0.0.1", "localhost.", "evil.example"):
        assert refusal(LOCAL, "127.0.0.1", trick) is AddressClass.LOOPBACK
    assert refusal(LOCAL, "::ffff:127.0.0.1") is AddressClass.LOOPBACK
    assert refusal(LOCAL, "10.0.0.1") is AddressClass.PRIVATE
    # --allow-private-networks: private and loopback however spelled; never metadata.
    assert refusal(PRIVATE, "10.0.0.1") is None
    assert refusal(PRIVATE, "127.0.0.1", "2130706433") is None
    assert refusal(PRIVATE, "fd00:ec2::254") is AddressClass.LINK_LOCAL  # AWS metadata (IPv6)
    assert refusal(PRIVATE, "100.100.100.200") is AddressClass.LINK_LOCAL  # Alibaba metadata
    assert refusal(PRIVATE, "169.254.169.254") is AddressClass.LINK_LOCAL
    assert refusal(PRIVATE, "0.0.0.0") is AddressClass.UNSPECIFIED


def test_plain_loopback_spellings() -> None:
    for plain in ("localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"):
        assert is_plain_loopback(plain), plain
    for trick in ("2130706433", "0x7f.1", "127.1", "0177.0.0.1", "::ffff:127.0.0.1", "::"):
        assert not is_plain_loopback(trick), trick


def test_a_studio_bound_elsewhere_refuses_loopback_unless_allowed() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert StudioConfig().fetch_policy.refusal(loopback, "127.0.0.1") is None
    assert StudioConfig(host="::1").fetch_policy.refusal(loopback, "localhost") is None
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        policy = StudioConfig(host=host).fetch_policy
        assert policy.refusal(loopback, "127.0.0.1") is AddressClass.LOOPBACK
        allowed = StudioConfig(host=host, allow_private_networks=True).fetch_policy
        assert allowed.refusal(loopback, "127.0.0.1") is None


def _trick_urls(root: str) -> list[str]:
    port = root.rsplit(":", 1)[1]
    return [
        f"http://2130706433:{port}/assets/a.wav",  # decimal
        f"http://0x7f.1:{port}/assets/a.wav",  # hex and short form
        f"http://127.1:{port}/assets/a.wav",
        f"http://[::ffff:127.0.0.1]:{port}/assets/a.wav",  # v4-mapped
        f"http://0.0.0.0:{port}/assets/a.wav",  # unspecified: this host, on Linux
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/x.wav",
        "http://10.0.0.1/a.wav",
        "http://192.168.0.1/a.wav",
        "http://[fd00:ec2::254]/latest/meta-data/",
    ]


async def test_inputs_at_refused_addresses_fail_before_any_connection(
    root: str, client: httpx.AsyncClient
) -> None:
    for url in _trick_urls(root):
        form = {"image": f"{root}/assets/face.png", "audio": url}
        job = await wait_job(client, await submit(client, "lipsync-image", form))
        assert job["status"] == "failed", url
        assert job["error"].startswith(f"Could not fetch input `audio`: {REFUSED}"), url


async def test_the_flag_allows_loopback_however_spelled(start: StartStudio) -> None:
    root = await start(allow_private_networks=True)
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        form = {"image": f"{root}/assets/face.png", "audio": _trick_urls(root)[0]}
        job = await wait_job(client, await submit(client, "lipsync-image", form))
    assert job["status"] == "completed", job["error"]


class Server:
    """A loopback HTTP server answering every request with one canned response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.requests: list[bytes] = []

    async def handle(self, stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            more = await stream.receive_some(65536)
            if not more:
                return
            data += more
        self.requests.append(data.split(b"\r\n", 1)[0])
        await stream.send_all(self.response)
        await stream.aclose()

    async def start(self, nursery: trio.Nursery) -> str:
        listeners = await nursery.start(partial(trio.serve_tcp, self.handle, 0, host="127.0.0.1"))
        return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"


def _redirect(location: str, status: bytes = b"302 Found") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nlocation: " + location.encode() + b"\r\n"
        b"content-length: 0\r\nconnection: close\r\n\r\n"
    )


async def test_every_redirect_hop_is_checked(
    root: str, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    to_metadata = Server(_redirect("http://169.254.169.254/latest/meta-data/"))
    to_trick = Server(_redirect(_trick_urls(root)[0]))
    to_assets = Server(_redirect(f"{root}/assets/a.wav", b"301 Moved Permanently"))
    cases = ((to_metadata, "failed"), (to_trick, "failed"), (to_assets, "completed"))
    for server, outcome in cases:
        url = await server.start(nursery)
        form = {"image": f"{root}/assets/face.png", "audio": f"{url}/voice.wav"}
        job = await wait_job(client, await submit(client, "lipsync-image", form))
        assert job["status"] == outcome, job["error"]
        if outcome == "failed":
            assert job["error"].startswith(f"Could not fetch input `audio`: {REFUSED}")
        assert server.requests == [b"GET /voice.wav HTTP/1.1"]


async def test_a_failed_fetch_tells_the_status_and_nothing_else(
    root: str, client: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    body = b"internal admin console, db=10.1.2.3"
    server = Server(
        b"HTTP/1.1 500 Internal Server Error\r\nserver: secret-appliance/1.2\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )
    url = await server.start(nursery)
    form = {"image": f"{url}/face.png", "audio": f"{root}/assets/a.wav"}
    job = await wait_job(client, await submit(client, "lipsync-image", form))
    assert job["error"] == "Could not fetch input `image`: HTTP 500"


async def test_a_webhook_is_never_posted_to_a_redirect_target(
    start: StartStudio, nursery: trio.Nursery
) -> None:
    target = Server(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    target_url = await target.start(nursery)
    redirector = Server(_redirect(f"{target_url}/hook", b"307 Temporary Redirect"))
    redirector_url = await redirector.start(nursery)
    root = await start()
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        for hook in (f"{redirector_url}/hook", "https://169.254.169.254/hook"):
            form = {"image": f"{root}/assets/face.png", "audio": f"{root}/assets/a.wav"}
            body = {"webhook": hook, "formState": form}
            job_id = (await client.post("/api/v1/lipsync-image", json=body)).json()["id"]
            await wait_job(client, job_id)
        with trio.fail_after(10):
            while (stats := (await client.get("/_studio/stats")).json())["webhooks"]["failed"] < 2:
                await trio.sleep(0.02)
    assert redirector.requests == [b"POST /hook HTTP/1.1"]  # once: no retry of a redirect
    assert target.requests == []
    assert stats["webhooks"] == {"delivered": 0, "failed": 2, "attempts": 2}


async def test_stats_need_an_accepted_key(start: StartStudio) -> None:
    root = await start(api_keys=frozenset({KEY}))
    async with httpx.AsyncClient(base_url=root) as client:
        assert (await client.get("/_studio/stats")).status_code == 401
        wrong = {"Authorization": "Bearer sk_other_secret"}
        assert (await client.get("/_studio/stats", headers=wrong)).status_code == 401
        response = await client.get("/_studio/stats", headers=AUTH)
    assert response.status_code == 200 and "jobs_created" in response.json()
