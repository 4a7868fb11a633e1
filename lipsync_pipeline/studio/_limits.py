"""Request bodies: a size limit enforced while the body streams in, and a deadline.

Starlette's ``request.body()`` gathers the whole body before a handler can look
at its length, so a chunked upload (no ``Content-Length``) of 300 MB was held in
memory (twice, while joined) before the studio said 413. ``BodyGuard`` wraps
``receive`` instead: a declared length over the limit is refused before a byte is
read, a streamed body is refused as soon as it passes the limit, and a body that
trickles in is cut when the deadline passes (408). Hypercorn reads a connection
only as fast as the app consumes messages, so a refused body is never buffered.

Slow *headers* need nothing here: hypercorn closes a connection that has not
sent a complete request within ``keep_alive_timeout`` (5 s by default).
"""

from __future__ import annotations

from typing import Final

import trio

from ._asgi import ASGIApp, Message, Receive, Scope, Send, send_json

__all__ = ["MAX_BODY_BYTES", "BodyGuard", "BodyRefused"]

MAX_BODY_BYTES: Final = 1024 * 1024


class BodyRefused(Exception):
    """Raised into the app once the guard has answered; the app's own answer is dropped."""


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    details = [{"field": None, "message": message}]
    body = {"error": message, "code": code, "field": None, "details": details}
    # The rest of the body is not read: the connection cannot be reused.
    await send_json(send, status, body, [(b"connection", b"close")])


class BodyGuard:
    """ASGI middleware: at most ``limit`` body bytes, all within ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES, timeout: float) -> None:
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"Request body larger than {self.limit >> 20} MB"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _answer(send, 413, "too_large", too_large)
                return
        received = 0
        deadline: float | None = None
        answered = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, deadline, answered
            if answered:
                return {"type": "http.disconnect"}
            if deadline is None:  # the clock starts when the app first asks for the body
                deadline = trio.current_time() + self.timeout
            message: Message | None = None
            with trio.move_on_at(deadline):
                message = await receive()
            if message is None:
                status, code, text = 408, "request_timeout", "Request body not received in time"
            elif message["type"] != "http.request":
                return message
            else:
                received += len(message.get("body", b""))
                if received <= self.limit:
                    return message
                status, code, text = 413, "too_large", too_large
            answered = True
            if not started:
                await _answer(send, status, code, text)
            raise BodyRefused

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the guard has answered; the app's error page is not sent
            started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not answered:
                raise
