"""The reference studio: a local implementation of the lipsync.studio API that renders real MP4s.

Start it inside a trio nursery::

    root_url = await nursery.start(serve_studio, StudioConfig(assets_dir=Path("manifests/assets")))

Its renders are previews (the picture, the new audio, an overlay following the
loudness), not a neural lip-sync model; their lengths and sizes follow the hosted
service's rules.
"""

from __future__ import annotations

from .config import StudioConfig
from .faults import Faults
from .server import HYPERCORN_LOGGER, serve_studio

__all__ = ["HYPERCORN_LOGGER", "Faults", "StudioConfig", "serve_studio"]
