"""Object storage: local inputs reach a hosted API, and renders outlive the machine.

What lives here (issue 12's core; the runner, CLI and manifest use it):

* :mod:`._config`      ``StoreConfig`` parsed from the manifest's ``store:`` value
                      (``s3://``, ``gs://``, ``az://``, ``file:///``; ``url_ttl``,
                      ``public_base_url``)
* :mod:`._keys`        the object layout: ``inputs/sha256/<hex><ext>``,
                      ``renders/<job id>/<hex>.mp4``, relative to the store's URL
* :mod:`._objectstore` ``ObjectStore``: upload once, presign, stat, verified download
                      (blocking, on obstore's sync API)
* :mod:`._trio_store`  ``TrioObjectStore``: the same, awaited from trio in worker threads
* :mod:`._preflight`   write, read back, sign and fetch, delete: fail before paying
* :mod:`._redact`      presigned URLs are credentials: ``redact_url`` for anything shown

Private: ``_backend`` (obstore handles from the standard environment), ``_failures``
(obstore errors -> StoreConfigError / StoreError), ``_download`` (temp file beside the
destination, sha256 check, no symlink following).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.store._config import (
        DEFAULT_URL_TTL,
        MAX_URL_TTL,
        StoreConfig,
        parse_store_config,
        parse_ttl,
    )
    from lipsync_pipeline.store._keys import check_key, input_key, render_key
    from lipsync_pipeline.store._objectstore import DIGEST_METADATA, ObjectStore, StoredObject
    from lipsync_pipeline.store._redact import redact_url, redact_urls
    from lipsync_pipeline.store._trio_store import TrioObjectStore

__all__ = [
    "DEFAULT_URL_TTL",
    "DIGEST_METADATA",
    "MAX_URL_TTL",
    "ObjectStore",
    "StoreConfig",
    "StoredObject",
    "TrioObjectStore",
    "check_key",
    "input_key",
    "parse_store_config",
    "parse_ttl",
    "redact_url",
    "redact_urls",
    "render_key",
]

# Imported on first use (see lipsync_pipeline/_lazy.py); type checkers read the imports above.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_config": (
                "DEFAULT_URL_TTL",
                "MAX_URL_TTL",
                "StoreConfig",
                "parse_store_config",
                "parse_ttl",
            ),
            "_keys": ("check_key", "input_key", "render_key"),
            "_objectstore": ("DIGEST_METADATA", "ObjectStore", "StoredObject"),
            "_redact": ("redact_url", "redact_urls"),
            "_trio_store": ("TrioObjectStore",),
        },
    )
