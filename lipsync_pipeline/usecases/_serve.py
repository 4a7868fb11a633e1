"""``serve``: the reference studio as a foreground server, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from lipsync_pipeline._render_delay import RenderDelay
from lipsync_pipeline.errors import UsageError, unwrap_group
from lipsync_pipeline.settings import studio_keys_from_env

__all__ = ["ServeRequest", "serve"]


@dataclass(frozen=True, slots=True)
class ServeRequest:
    """How to serve. ``faults`` holds the studio's fault-injection settings by name
    (error_rate, rate_limit_rate, retry_after, drop_rate, slow_rate, slow_seconds,
    job_failure_rate, seed)."""

    host: str = "127.0.0.1"
    port: int = 0
    assets: Path | None = None
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # given on the command line
    api_key_file: Path | None = None
    allow_private_networks: bool = False
    render_delay: RenderDelay | float = 0.0
    workers: int = 2
    fast: bool = False
    faults: Mapping[str, Any] = field(default_factory=dict)


def serve(request: ServeRequest, announce: Callable[[str], None]) -> None:
    """Serve until a signal; ``announce(root_url)`` once it listens. Blocks."""
    # Imported here: the studio's stack (hypercorn, PyAV) is for this command only.
    from lipsync_pipeline.studio import Faults, StudioConfig, serve_studio
    from lipsync_pipeline.studio._keys import KeySourceError, collect_api_keys

    if request.assets is not None and not request.assets.is_dir():
        raise UsageError(f"--assets {request.assets}: not a directory")
    try:
        keys = collect_api_keys(request.api_keys, studio_keys_from_env(), request.api_key_file)
        faults = Faults(**request.faults)
    except KeySourceError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(f"fault injection: {exc}") from None
    config = StudioConfig(
        host=request.host,
        port=request.port,
        assets_dir=request.assets.resolve() if request.assets else None,
        api_keys=keys,
        allow_private_networks=request.allow_private_networks,
        render_delay=request.render_delay,
        workers=request.workers,
        fast=request.fast,
        faults=faults,
    )

    async def until_signalled() -> None:
        async with trio.open_nursery() as nursery:
            announce(await nursery.start(serve_studio, config))
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            nursery.cancel_scope.cancel()

    try:
        trio.run(until_signalled)
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
