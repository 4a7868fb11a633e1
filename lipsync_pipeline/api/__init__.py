"""The lipsync.studio HTTP contract as the runner speaks it: submit, get job, fetch.

Private modules: ``_client`` (ApiClient, JobStatus), ``_http`` (httpx transports,
proxies, CA bundles), ``_retry`` (what to retry and when), ``_staging`` (downloads
land in a temp file beside their destination).
"""

from __future__ import annotations

from lipsync_pipeline.api._client import ApiClient, JobStatus
from lipsync_pipeline.api._http import PROXY_ERRORS, unusable_ca_bundle, unusable_proxy
from lipsync_pipeline.api._retry import RetryPolicy
from lipsync_pipeline.api._staging import PARTIAL_DOWNLOAD, StagedFile

__all__ = [
    "PARTIAL_DOWNLOAD",
    "PROXY_ERRORS",
    "ApiClient",
    "JobStatus",
    "RetryPolicy",
    "StagedFile",
    "unusable_ca_bundle",
    "unusable_proxy",
]
