"""How the studio's fetches reach an origin: which go through a proxy.

Every request goes to loopback; the origin is a threaded media server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from _media_server import media_server
from studio_helpers import AUTH, StartStudio, submit, wait_job


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
