"""The reference studio: a local implementation of the lipsync.studio API that renders real MP4s.

Start it inside a trio nursery::

    root_url = await nursery.start(serve_studio, StudioConfig(assets_dir=Path("manifests/assets")))

Its renders are previews (the picture, the new audio, an overlay following the
loudness), not a neural lip-sync model; their lengths and sizes follow the hosted
service's rules.

Private modules: ``_server`` (hypercorn on trio), ``_app`` (routes), ``_config``,
``_validate`` (request checks), ``_keys`` (accepted API keys), ``_limits`` (body and
decode budgets), ``_fetch`` (input downloads and webhooks, address-checked on every
hop), ``_store`` (jobs in memory), ``_jobs`` (the workers), ``_media``, ``_imagesize``,
``_render`` and ``_draw`` (probing and rendering with PyAV), ``_faults`` (fault
injection for tests), ``_openapi`` (``/openapi.json``).
"""

from __future__ import annotations

from ._config import StudioConfig
from ._faults import Faults
from ._server import HYPERCORN_LOGGER, serve_studio

__all__ = ["HYPERCORN_LOGGER", "Faults", "StudioConfig", "serve_studio"]
