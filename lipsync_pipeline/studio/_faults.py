"""Fault injection: the misbehaviour a client of the hosted API must survive.

Each request to ``/api/…`` or ``/outputs/…`` draws at most one of: a dropped
connection, an HTTP 500, an HTTP 429 with ``Retry-After``; independently it may be
slowed down. ``/_studio/…``, ``/assets/…`` and ``/openapi.json`` are never faulted:
the stats must stay readable during a chaos run, and the studio's own input
downloads would otherwise turn request faults into job failures.

When faults happen relative to the work matters to a client:

* 500 and 429 are answered *before* the request is acted on (no job is created);
* a drop happens *after* the request was handled (a POST's job exists but its id
  never reaches the client): the case ``Idempotency-Key`` exists for.

A drop sends no response at all: hypercorn answers a 500 itself when an app ends
without a response, so the app sends only an interim ``100 Continue`` and ends;
hypercorn then closes the connection because the exchange is incomplete, and the
client sees "server disconnected without sending a response".

With ``seed`` set, the sequence of decisions is reproducible (one RNG, drawn in
request arrival order; job failures come from a second RNG in job creation order).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal

import trio

from ._asgi import ASGIApp, Message, Receive, Scope, Send, send_json

__all__ = ["FaultInjector", "FaultKind", "Faults", "FaultsMiddleware"]

FaultKind = Literal["drop", "error", "rate_limit", "slow"]
_FAULTED_PREFIXES: Final = ("/api/", "/outputs/")


@dataclass(frozen=True, slots=True)
class Faults:
    error_rate: float = 0.0  # HTTP 500
    rate_limit_rate: float = 0.0  # HTTP 429 with Retry-After
    retry_after: float = 1.0
    drop_rate: float = 0.0  # connection dropped without a response
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    job_failure_rate: float = 0.0  # jobs that end "failed"
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "drop_rate": self.drop_rate,
            "slow_rate": self.slow_rate,
            "job_failure_rate": self.job_failure_rate,
        }
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.error_rate + self.rate_limit_rate + self.drop_rate > 1.0:
            raise ValueError("error_rate + rate_limit_rate + drop_rate must not exceed 1")
        if self.retry_after < 0 or self.slow_seconds < 0:
            raise ValueError("retry_after and slow_seconds must be >= 0")


class FaultInjector:
    """Draws fault decisions; counts what it injected."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._requests = random.Random(faults.seed)
        self._jobs = random.Random(None if faults.seed is None else faults.seed + 1)
        self.injected: dict[str, int] = {}

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def draw(self) -> tuple[FaultKind | None, bool]:
        """(the failure for this request or None, whether to slow it down)."""
        f = self.faults
        u = self._requests.random()
        slow = self._requests.random() < f.slow_rate
        kind: FaultKind | None = None
        if u < f.drop_rate:
            kind = "drop"
        elif u < f.drop_rate + f.error_rate:
            kind = "error"
        elif u < f.drop_rate + f.error_rate + f.rate_limit_rate:
            kind = "rate_limit"
        if kind:
            self._count(kind)
        if slow:
            self._count("slow")
        return kind, slow

    def job_fails(self) -> bool:
        if self._jobs.random() < self.faults.job_failure_rate:
            self._count("job_failure")
            return True
        return False


class FaultsMiddleware:
    """ASGI middleware applying a ``FaultInjector`` to the faultable paths."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(_FAULTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        kind, slow = self.injector.draw()
        if slow:
            await trio.sleep(self.injector.faults.slow_seconds)
        if kind == "error":
            await send_json(
                send,
                500,
                {"error": "Internal server error (injected fault)", "code": "internal_error"},
                [],
            )
        elif kind == "rate_limit":
            retry = self.injector.faults.retry_after
            value = str(int(retry)) if float(retry).is_integer() else f"{retry:g}"
            await send_json(
                send,
                429,
                {"error": "Too many requests (injected fault)", "code": "rate_limited"},
                [(b"retry-after", value.encode())],
            )
        elif kind == "drop":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await send({"type": "http.response.start", "status": 100, "headers": []})
        else:
            await self.app(scope, receive, send)
