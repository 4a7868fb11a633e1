"""Injected faults (each kind, reproducible with a seed) and webhook delivery."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from studio_helpers import AUTH, StartStudio, submit, wait_job

from lipsync_pipeline.studio import Faults
from lipsync_pipeline.studio._faults import FaultInjector


def _form(root: str) -> dict[str, Any]:
    return {"image": f"{root}/assets/face.png", "audio": f"{root}/assets/a.wav"}


async def test_error_and_rate_limit_are_answered_before_any_work(start: StartStudio) -> None:
    root = await start(faults=Faults(error_rate=0.5, rate_limit_rate=0.5, retry_after=2, seed=1))
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        seen = set()
        for _ in range(12):
            response = await client.post("/api/v1/lipsync-image", json={"formState": _form(root)})
            seen.add(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"] == "2"
            assert response.json()["code"] in {"internal_error", "rate_limited"}
        stats = (await client.get("/_studio/stats")).json()  # never faulted
    assert seen == {500, 429}
    assert stats["jobs_created"] == 0
    assert stats["faults_injected"]["error"] + stats["faults_injected"]["rate_limit"] == 12


async def test_drop_closes_without_a_response_after_creating_the_job(start: StartStudio) -> None:
    root = await start(faults=Faults(drop_rate=1.0))
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/api/v1/lipsync-image", json={"formState": _form(root)})
        stats = (await client.get("/_studio/stats")).json()
    assert stats["jobs_created"] == 1  # the worst case: the job exists, its id was lost
    assert stats["requests"]["POST"] == {"dropped": 1}


async def test_slow_responses(start: StartStudio) -> None:
    root = await start(faults=Faults(slow_rate=1.0, slow_seconds=0.3))
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        begin = trio.current_time()
        response = await client.get("/api/v1/jobs/none")
        assert response.status_code == 404
        assert trio.current_time() - begin >= 0.3


async def test_injected_job_failure(start: StartStudio) -> None:
    root = await start(faults=Faults(job_failure_rate=1.0))
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        job = await wait_job(client, await submit(client, "lipsync-image", _form(root)))
    assert job["status"] == "failed" and job["error"] and job["model"] == "lipsync-image"


def test_seeded_faults_are_reproducible() -> None:
    faults = Faults(error_rate=0.2, drop_rate=0.1, slow_rate=0.3, job_failure_rate=0.5, seed=42)
    runs = []
    for _ in range(2):
        injector = FaultInjector(faults)
        runs.append(
            ([injector.draw() for _ in range(50)], [injector.job_fails() for _ in range(20)])
        )
    assert runs[0] == runs[1]
    with pytest.raises(ValueError):
        Faults(error_rate=0.7, drop_rate=0.7)


class Receiver:
    """A tiny webhook receiver on loopback: fails the first ``failures`` deliveries."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, Any]] = []
        self.got = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(body) < length:
            body += await stream.receive_some(65536)
        if self.failures > 0:
            self.failures -= 1
            status = b"503 Service Unavailable"
        else:
            status = b"200 OK"
            self.bodies.append(json.loads(body))
            self.got.set()
        await stream.send_all(
            b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        await stream.aclose()


async def test_webhook_delivers_the_final_job_with_retries(
    start: StartStudio, nursery: trio.Nursery
) -> None:
    receiver = Receiver(failures=1)
    listeners = await nursery.start(partial(trio.serve_tcp, receiver.handle, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    root = await start()
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        body = {"webhook": f"http://127.0.0.1:{port}/hook", "formState": _form(root)}
        job_id = (await client.post("/api/v1/lipsync-image", json=body)).json()["id"]
        with trio.fail_after(10):
            await receiver.got.wait()
        final = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        stats = (await client.get("/_studio/stats")).json()
    assert receiver.bodies == [final]
    assert final["status"] == "completed"
    assert stats["webhooks"] == {"delivered": 1, "failed": 0, "attempts": 2}
