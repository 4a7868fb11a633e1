"""The studio's ASGI app (starlette): the lipsync.studio API contract, plus studio extras.

Routes: ``POST /api/v1/{model}``, ``GET /api/v1/jobs/{id}`` (the contract);
``GET /outputs/{id}.mp4`` (public, like a CDN URL: no key needed, ids are
unguessable), ``GET /assets/…`` (read-only ``assets_dir``), ``GET /_studio/stats``,
``GET /openapi.json``. Every error is a JSON body (see ``validate``), never HTML.
The stats need an API key (any key the studio accepts): they tell how busy the
studio is and what it spent, which is no business of an anonymous caller.

Middleware, outermost first: ``_Observe`` (clears structlog contextvars and counts
requests by method and status; ``/_studio/…`` is not counted), then ``BodyGuard``
(body size and deadline, see ``limits``), then ``FaultsMiddleware``, then starlette.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import structlog
import trio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._asgi import ASGIApp, Message, Receive, Scope, Send
from ._config import StudioConfig
from ._faults import FaultInjector, FaultsMiddleware
from ._jobs import JobRunner
from ._limits import BodyGuard, BodyRefused
from ._openapi import openapi_document
from ._store import JobStore, owner_of
from ._validate import (
    MODELS,
    RequestProblem,
    check_api_key,
    check_idempotency_key,
    parse_envelope,
    request_digest,
)

__all__ = ["build_app"]


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": message,
        "code": code,
        "field": field,
        "details": [{"field": field, "message": message}],
    }
    return JSONResponse(body, status_code=status, headers=headers)


class _Observe:
    def __init__(self, app: ASGIApp, store: JobStore) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The in-process server inherits its caller's logging context: reset it.
        structlog.contextvars.clear_contextvars()
        if str(scope.get("path", "")).startswith("/_studio/"):
            await self.app(scope, receive, send)
            return
        status = "no-response"

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                code = int(message["status"])
                status = "dropped" if code < 200 else str(code)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.store.stats.record_request(str(scope.get("method", "")), status)


class _Handlers:
    def __init__(
        self, config: StudioConfig, store: JobStore, runner: JobRunner, injector: FaultInjector
    ) -> None:
        self.config, self.store, self.runner, self.injector = config, store, runner, injector

    async def create_job(self, request: Request) -> Response:
        model = request.path_params["model"]
        if model not in MODELS:
            return _error(
                404,
                "unknown_model",
                f"Unknown model {model!r}; expected one of " + ", ".join(MODELS),
            )
        try:
            key = check_api_key(request.headers.get("authorization"), self.config.api_keys)
            idem = check_idempotency_key(request.headers.get("idempotency-key"))
            raw = await request.body()  # BodyGuard bounds its size and its time
            form, webhook = parse_envelope(raw, model)
        except RequestProblem as problem:
            return JSONResponse(problem.body(), status_code=problem.status)
        owner = owner_of(key)
        digest = request_digest(model, form)
        # No await from here to create(): concurrent duplicates cannot both create.
        if idem is not None:
            previous = self.store.replay(owner, idem, digest)
            if previous is False:
                return _error(
                    422,
                    "idempotency_key_reused",
                    "Idempotency-Key was already used for a different request",
                    "Idempotency-Key",
                )
            if previous is not None:
                return JSONResponse(
                    {"id": previous.id, "status": "processing"},
                    headers={"Idempotent-Replayed": "true"},
                )
        job = self.store.create(
            owner=owner,
            model=model,
            form_state=form,
            webhook=webhook,
            base_url=str(request.base_url).rstrip("/"),
            now=trio.current_time(),
            idempotency=None if idem is None else (idem, digest),
        )
        self.runner.start(job)
        return JSONResponse({"id": job.id, "status": "processing"})

    async def get_job(self, request: Request) -> Response:
        try:
            key = check_api_key(request.headers.get("authorization"), self.config.api_keys)
        except RequestProblem as problem:
            return JSONResponse(problem.body(), status_code=problem.status)
        job = self.store.get(request.path_params["job_id"], owner_of(key))
        if job is None:  # another key's job is indistinguishable from none
            return _error(404, "not_found", "Job not found")
        return JSONResponse(job.public())

    async def get_output(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        job = self.store.jobs.get(name.removesuffix(".mp4")) if name.endswith(".mp4") else None
        if job is None or job.status != "completed" or job.output_path is None:
            return _error(404, "not_found", "Output not found")
        return FileResponse(job.output_path, media_type="video/mp4")

    async def stats(self, request: Request) -> Response:
        try:
            check_api_key(request.headers.get("authorization"), self.config.api_keys)
        except RequestProblem as problem:
            return JSONResponse(problem.body(), status_code=problem.status)
        extra: dict[str, Any] = {
            "faults_injected": dict(sorted(self.injector.injected.items())),
            "workers": self.config.workers,
            "fast": self.config.fast,
        }
        return JSONResponse(self.store.snapshot(extra))

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(str(request.base_url).rstrip("/")))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, BodyRefused):  # BodyGuard has answered 413/408: no crash
        structlog.get_logger(__name__).exception("studio.request_crashed", path=request.url.path)
    return _error(500, "internal_error", "Internal server error")


def _only(files: ASGIApp, allowed: frozenset[str]) -> ASGIApp:
    """Serve just the listed paths of a StaticFiles app; 404 for everything else."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        wanted = unquote(scope["path"][len(scope.get("root_path", "")) :]).lstrip("/")
        if wanted not in allowed:
            await JSONResponse({"error": "Not found"}, status_code=404)(scope, receive, send)
            return
        await files(scope, receive, send)

    return app


def build_app(
    config: StudioConfig, store: JobStore, runner: JobRunner, injector: FaultInjector
) -> ASGIApp:
    """The full ASGI app, middleware included."""
    h = _Handlers(config, store, runner, injector)
    routes: list[Route | Mount] = [
        Route("/api/v1/jobs/{job_id}", h.get_job, methods=["GET"]),
        Route("/api/v1/{model}", h.create_job, methods=["POST"]),
        Route("/outputs/{name}", h.get_output, methods=["GET", "HEAD"]),
        Route("/_studio/stats", h.stats, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
    ]
    if config.assets_dir is not None:
        # StaticFiles refuses paths resolving outside the directory (.., symlinks).
        files: ASGIApp = StaticFiles(directory=config.assets_dir)
        if config.asset_files is not None:
            files = _only(files, config.asset_files)
        routes.append(Mount("/assets", files))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
    guarded = BodyGuard(FaultsMiddleware(app, injector), timeout=config.body_timeout)
    return _Observe(guarded, store)
