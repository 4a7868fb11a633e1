"""lipsync-pipeline: lip-sync rendering as GitOps.

A YAML manifest lists render jobs; a lockfile beside it records what was
rendered from what. ``lipsync-pipeline run`` renders only what is new, changed,
unfinished or failed, against the lipsync.studio API or the built-in reference
studio.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
