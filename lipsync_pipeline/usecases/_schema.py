"""``schema``: the JSON Schema documents, read by the same functions the loaders use,
so what is printed is exactly what is enforced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["schema_document"]


def schema_document(*, lock: bool = False) -> Mapping[str, Any]:
    """The manifest's JSON Schema (2020-12), or with ``lock`` the lockfile's."""
    if lock:
        from lipsync_pipeline.lockfile import lock_schema

        return lock_schema()
    from lipsync_pipeline.manifest import manifest_schema

    return manifest_schema()
