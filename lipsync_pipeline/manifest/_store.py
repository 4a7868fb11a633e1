"""The manifest's ``store:`` value, checked by the store's own parser and located.

The schema checks the shape (a URL string or a mapping of url, url_ttl and
public_base_url); :func:`lipsync_pipeline.store.parse_store_config` checks the rest
(scheme, bucket name, ttl range, an https public base) and names the setting at
fault as ``store.url_ttl``, which is mapped here to the YAML node's line and column.

The store package is imported only when a manifest has a ``store:``: it pulls in
obstore and the HTTP stack (~0.9 s cold), which validating a plain manifest never needs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lipsync_pipeline._fs import within
from lipsync_pipeline.errors import Problem, StoreConfigError
from lipsync_pipeline.manifest._nodes import node_at, problem_at

if TYPE_CHECKING:
    from lipsync_pipeline.store import StoreConfig

__all__ = ["read_store"]


def read_store(
    value: Any, root: Any, file: str, real_base: str
) -> tuple[StoreConfig | None, Problem | None]:
    """The StoreConfig of the manifest's ``store:`` value, or the located problem.

    A ``file://`` store is a directory this run writes into: like ``output_dir``, a
    manifest may name one only inside its own directory (a pull request must not make
    CI write elsewhere); ``--store`` on the command line may name any."""
    from lipsync_pipeline.store import parse_store_config

    try:
        config = parse_store_config(value, where="store")
    except StoreConfigError as exc:
        # "store.url_ttl" -> the url_ttl node; a missing key's path stops at its parent.
        node = node_at(root, exc.where.split("."))
        return None, problem_at(file, node, exc.where, exc.detail)
    if config.scheme == "file":
        real = os.path.realpath(config.local_root)
        if not within(real, real_base):
            where = ["store", "url"] if isinstance(value, dict) else ["store"]
            message = (
                f"a file:// store leads outside the manifest's directory (to {real}); a "
                "manifest may write only inside its own directory: to use that one, pass "
                "--store on the command line"
            )
            return None, problem_at(file, node_at(root, where), "store", message)
    return config, None
