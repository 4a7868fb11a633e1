"""A loopback HTTP/1.1 server that answers a programmed script, for client tests.

Raw trio sockets + h11 rather than an ASGI app, because the interesting answers are
the ones a well-behaved framework will not give: a connection dropped after the
request was read, a body cut short of its Content-Length, a reply held back past the
client's read timeout. Every request is recorded (method, target, headers, body).

    async with scripted_server(Reply(500), Reply(429, headers={"Retry-After": "3"}),
                               Drop(), Reply(json={"id": "r1"})) as server:
        ...  # server.url is "http://127.0.0.1:PORT"; server.received lists the requests
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import h11
import trio

__all__ = ["Action", "Drop", "Received", "Reply", "ScriptedServer", "scripted_server"]

_RECV: Final = 65536


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer with this status; ``json`` wins over ``body``.

    ``delay``: seconds to wait before answering (a read timeout on the client).
    ``truncate``: send only this many body bytes after announcing the full length, then
    close (a download cut short).
    """

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: int | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """Read the request, then close the connection without a response."""


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    target: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Action = Reply | Drop | Callable[[Received], "Reply | Drop"]


class ScriptedServer:
    """Answers requests in order from ``script``; ``default`` once it runs out."""

    def __init__(self, url: str, script: deque[Action], default: Action | None) -> None:
        self.url = url
        self.script = script
        self.default = default
        self.received: list[Received] = []

    def push(self, *actions: Action) -> None:
        self.script.extend(actions)

    def _next(self, request: Received) -> Reply | Drop:
        if self.script:
            action = self.script.popleft()
        elif self.default is not None:
            action = self.default
        else:
            # Fails the client loudly (4xx is not retried) instead of hanging a test.
            action = Reply(418, json={"error": "scripted server: script exhausted"})
        return action(request) if callable(action) else action

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while (request := await _read_request(stream, conn)) is not None:
                self.received.append(request)
                action = self._next(request)
                if isinstance(action, Drop):
                    return
                if not await _respond(stream, conn, action):
                    return
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass  # the client hung up (e.g. after its read timeout): nothing to answer
        finally:
            await stream.aclose()


async def _read_request(stream: trio.SocketStream, conn: h11.Connection) -> Received | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(_RECV))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers}
            return Received(head.method.decode(), head.target.decode(), headers, bytes(body))
        else:  # ConnectionClosed, or PAUSED after a close
            return None


async def _respond(stream: trio.SocketStream, conn: h11.Connection, reply: Reply) -> bool:
    """Send ``reply``; False when the connection must end here (truncated on purpose)."""
    if reply.delay:
        await trio.sleep(reply.delay)
    body = reply.body
    headers = dict(reply.headers)
    if reply.json is not None:
        body = json.dumps(reply.json).encode()
        headers.setdefault("Content-Type", "application/json")
    headers["Content-Length"] = str(len(body))
    response = h11.Response(status_code=reply.status, headers=list(headers.items()))
    await stream.send_all(conn.send(response) or b"")
    if reply.truncate is not None:
        await stream.send_all(conn.send(h11.Data(data=body[: reply.truncate])) or b"")
        return False
    await stream.send_all(conn.send(h11.Data(data=body)) or b"")
    await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
    return True


@asynccontextmanager
async def scripted_server(
    *script: Action, default: Action | None = None, port: int = 0
) -> AsyncIterator[ScriptedServer]:
    """Serve on 127.0.0.1 (``port`` 0: any free port) until the block ends."""
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    host, bound = listeners[0].socket.getsockname()[:2]
    server = ScriptedServer(f"http://{host}:{bound}", deque(script), default)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, server.handle, listeners)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
