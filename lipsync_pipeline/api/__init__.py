"""The lipsync.studio HTTP contract as the runner speaks it: submit, get job, fetch.

Private modules: ``_client`` (ApiClient), ``_answers`` (status codes to errors, JSON,
job statuses), ``_jobstatus`` (a job's status, read tolerantly), ``_http`` (httpx
transports, proxies, CA bundles, connection slots), ``_retry`` (what to retry, when).
Downloads are staged by :mod:`lipsync_pipeline._staging`, shared with the object store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.api._client import ApiClient
    from lipsync_pipeline.api._http import PROXY_ERRORS, unusable_ca_bundle, unusable_proxy
    from lipsync_pipeline.api._jobstatus import JobStatus
    from lipsync_pipeline.api._retry import RetryPolicy

__all__ = [
    "PROXY_ERRORS",
    "ApiClient",
    "JobStatus",
    "RetryPolicy",
    "unusable_ca_bundle",
    "unusable_proxy",
]

# Imported on first use (see lipsync_pipeline/_lazy.py); type checkers read the imports above.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_client": ("ApiClient",),
            "_http": ("PROXY_ERRORS", "unusable_ca_bundle", "unusable_proxy"),
            "_jobstatus": ("JobStatus",),
            "_retry": ("RetryPolicy",),
        },
    )
