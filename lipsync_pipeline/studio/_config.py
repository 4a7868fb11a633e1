"""How a studio is configured (``StudioConfig``), shared by the server and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._net import AddressPolicy, is_loopback_host
from .._render_delay import RenderDelay
from ._faults import Faults

__all__ = ["StudioConfig"]


@dataclass(frozen=True, slots=True)
class StudioConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks a free port; serve_studio reports the URL
    assets_dir: Path | None = None  # served read-only at /assets/...
    # When set, only these POSIX paths under assets_dir are served: `run --local`
    # serves the manifest's own inputs, not the rest of its folder (.git, .env, ...).
    asset_files: frozenset[str] | None = None
    api_keys: frozenset[str] = frozenset()  # empty: any key of the form sk_<id>_<secret>
    # Minimum seconds a job stays "processing": one figure for every job, or a
    # distribution each job draws from (see _render_delay).
    render_delay: RenderDelay | float = 0.0
    workers: int = 2  # jobs downloading/decoding/encoding at once
    fast: bool = False  # skip real encoding: cached placeholder MP4s (load tests)
    faults: Faults = field(default_factory=Faults)
    data_dir: Path | None = None  # where outputs live; default a temporary directory
    # HTTP_PROXY & co. and SSL_CERT_FILE for fetching remote inputs (`serve`). `run
    # --local` turns them off: its inputs and webhooks are all on loopback.
    env_proxies: bool = True
    # Inputs and webhooks on private networks (RFC 1918, fc00::/7) and loopback, however
    # spelled. Off: only public addresses, plus plain loopback URLs while the studio
    # itself listens on loopback (its own /assets/). Link-local (cloud metadata) never.
    allow_private_networks: bool = False
    # A request body must arrive within this many seconds (slow-body clients hold a
    # connection and a task each); an idle connection is closed after as long.
    body_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if not isinstance(self.render_delay, RenderDelay):
            # One path for every job's render time (and its cap of a day): raises if
            # the figure is not a render time.
            object.__setattr__(self, "render_delay", RenderDelay("fixed", float(self.render_delay)))
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.body_timeout <= 0:
            raise ValueError("body_timeout must be > 0")

    def render_seconds(self, model: str, form_state: Mapping[str, Any]) -> float:
        """How long this job stays "processing" at least."""
        assert isinstance(self.render_delay, RenderDelay)  # made one in __post_init__
        return self.render_delay.seconds_for(model, form_state)

    @property
    def fetch_policy(self) -> AddressPolicy:
        """Which addresses inputs and webhooks may resolve to (see ``studio.fetch``)."""
        return AddressPolicy(
            allow_loopback=self.allow_private_networks or is_loopback_host(self.host),
            allow_private=self.allow_private_networks,
        )
