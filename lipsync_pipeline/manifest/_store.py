"""The manifest's ``store:`` value, checked by the store's own parser and located.

The schema checks the shape (a URL string or a mapping of url, url_ttl and
public_base_url); :func:`lipsync_pipeline.store.parse_store_config` checks the rest
(scheme, bucket name, ttl range, an https public base) and names the setting at
fault as ``store.url_ttl``, which is mapped here to the YAML node's line and column.

The store package is imported only when a manifest has a ``store:``: it pulls in
obstore and the HTTP stack (~0.9 s cold), which validating a plain manifest never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lipsync_pipeline.errors import Problem, StoreConfigError
from lipsync_pipeline.manifest._nodes import mark_of, node_at

if TYPE_CHECKING:
    from lipsync_pipeline.store import StoreConfig

__all__ = ["read_store"]


def read_store(value: Any, root: Any, file: str) -> tuple[StoreConfig | None, Problem | None]:
    """The StoreConfig of the manifest's ``store:`` value, or the located problem."""
    from lipsync_pipeline.store import parse_store_config

    try:
        return parse_store_config(value, where="store"), None
    except StoreConfigError as exc:
        # "store.url_ttl" -> the url_ttl node; a missing key's path stops at its parent.
        node = node_at(root, exc.where.split("."))
        return None, Problem(file, *mark_of(node), exc.where, exc.detail)
