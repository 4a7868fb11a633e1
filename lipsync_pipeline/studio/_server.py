"""Serving the studio in a trio nursery on hypercorn's trio worker.

Why hypercorn + starlette: hypercorn is the one production ASGI server with a
native trio worker, so the studio, the runner and the tests share one event loop
and one nursery (cancel the nursery and everything stops); starlette runs on trio
through anyio. ``nursery.start`` hands back the bound URL, which makes port 0 easy.

Logging: hypercorn logs through stdlib logging; we give it a named logger
(``HYPERCORN_LOGGER``) without handlers, so its records go wherever the caller's
logging goes (the CLI routes stdlib into structlog; under pytest they are captured).
The access log is off: requests are counted in ``/_studio/stats`` instead.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Final

import httpx
import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from lipsync_pipeline._net import environment_proxies
from lipsync_pipeline.api import unusable_ca_bundle
from lipsync_pipeline.errors import StudioError

from ._app import build_app
from ._config import StudioConfig
from ._faults import FaultInjector
from ._fetch import Fetcher
from ._jobs import JobRunner
from ._store import JobStore

__all__ = ["HYPERCORN_LOGGER", "serve_studio"]

HYPERCORN_LOGGER: Final = "lipsync_pipeline.studio.hypercorn"
_DOWNLOAD_CONNECTIONS: Final = 16


def _hypercorn_config(config: StudioConfig) -> HypercornConfig:
    hc = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hc.bind = [f"{host}:{config.port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger(HYPERCORN_LOGGER)
    hc.graceful_timeout = 1.0  # shutdown must be prompt
    return hc


def _first_os_error(group: BaseException) -> OSError | None:
    if isinstance(group, OSError):
        return group
    if isinstance(group, BaseExceptionGroup):
        for inner in group.exceptions:
            found = _first_os_error(inner)
            if found is not None:
                return found
    return None


async def serve_studio(
    config: StudioConfig, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the studio until cancelled; ``task_status.started(root_url)``.

    ``root_url`` is like ``"http://127.0.0.1:PORT"``: the API is at
    ``root_url + "/api/v1"``, stats at ``root_url + "/_studio/stats"``. Prints
    nothing; logs only at debug level. Raises ``StudioError`` if it cannot bind.
    """
    # Everything started below inherits this task's (cleared) logging context.
    structlog.contextvars.clear_contextvars()
    if config.assets_dir is not None and not config.assets_dir.is_dir():
        raise StudioError(f"assets directory not found: {config.assets_dir}")
    with tempfile.TemporaryDirectory(prefix="lipsync-studio-") as tmp:
        data_dir = config.data_dir or Path(tmp)
        store = JobStore()
        injector = FaultInjector(config.faults)
        # Input downloads and webhooks: explicit timeouts and a bounded pool (pitfalls.md).
        limits = httpx.Limits(max_connections=_DOWNLOAD_CONNECTIONS)
        timeout = httpx.Timeout(30.0, connect=10.0)
        try:
            tls = httpx.create_ssl_context(trust_env=config.env_proxies)
        except OSError as exc:  # SSL_CERT_FILE / SSL_CERT_DIR unreadable
            raise unusable_ca_bundle(exc) from None
        # The environment's proxies are read once, here; the fetcher's clients never
        # read it (see _fetch.py). A proxy that cannot work is a ConfigError now.
        fetcher = Fetcher(
            config.fetch_policy,
            limits=limits,
            timeout=timeout,
            tls=tls,
            proxies=environment_proxies() if config.env_proxies else {},
        )
        async with fetcher, trio.open_nursery() as nursery:
            runner = JobRunner(config, store, injector, fetcher, nursery, data_dir)
            app = build_app(config, store, runner, injector)
            try:
                binds = await nursery.start(serve, app, _hypercorn_config(config))
            except (OSError, BaseExceptionGroup) as exc:
                # Hypercorn binds inside its own nursery: the OSError arrives in a group.
                found = exc if isinstance(exc, OSError) else _first_os_error(exc)
                if found is None:
                    raise
                raise StudioError(
                    f"cannot listen on {config.host}:{config.port}: {found.strerror or found}"
                ) from None
            root_url = str(binds[0]).rstrip("/")
            structlog.get_logger(__name__).debug("studio.started", url=root_url)
            task_status.started(root_url)
