"""Build the obstore handle for a StoreConfig, from the standard environment.

Why obstore: one ~5.6 MB wheel with no dependencies covers S3 (and R2, MinIO,
SeaweedFS), GCS, Azure and local directories, signs URLs for all three clouds, and
reads each cloud's usual environment. Its ``*_async`` functions need an asyncio
loop, so callers under trio use the sync functions in a worker thread
(:mod:`lipsync_pipeline.store._trio_store`).

Credentials stay inside obstore: for S3 we read ``AWS_*`` from the environment we
are given and hand them over; nothing here keeps, logs or formats them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from obstore.exceptions import BaseError
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store

from lipsync_pipeline._net import is_loopback_host
from lipsync_pipeline.errors import StoreConfigError, register_secret
from lipsync_pipeline.store._config import StoreConfig

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig, S3Config

__all__ = ["Backend", "open_backend"]

# obstore's defaults retry for up to 180 s: a dead endpoint would stall a run's
# preflight for minutes. A few quick retries ride out a blip; the run fails fast otherwise.
_RETRY: Final[RetryConfig] = {
    "max_retries": 3,
    "retry_timeout": timedelta(seconds=20),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5)},
}
_CONNECT_TIMEOUT: Final = timedelta(seconds=5)
# Whole-request limit; renders are tens of MB and go up as 5 MB multipart parts.
_REQUEST_TIMEOUT: Final = timedelta(seconds=120)
# Standard variable -> obstore's S3 setting. AWS_ENDPOINT_URL is the name the AWS
# CLI and SDKs use; AWS_ENDPOINT is object_store's older one.
_S3_ENV: Final = (
    ("AWS_ACCESS_KEY_ID", "access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
    ("AWS_SESSION_TOKEN", "session_token"),
    ("AWS_DEFAULT_REGION", "region"),
    ("AWS_REGION", "region"),
)
_SECRET_VARIABLES: Final = frozenset({"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
# What GCS and Azure read from the environment themselves (obstore's names) that is
# a secret: masked like the S3 key once such a store is opened.
_CLOUD_SECRET_VARIABLES: Final = (
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
)
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
# Where signed URLs may point when no custom endpoint is set (the preflight fetches one).
_CLOUD_HOSTS: Final = {
    "s3": ".amazonaws.com",
    "gs": "storage.googleapis.com",
    "az": ".blob.core.windows.net",
}


@dataclass(frozen=True, slots=True)
class Backend:
    """An obstore handle and what we know about where it talks."""

    handle: ObjectStore
    endpoint: str | None  # origin of a custom S3 endpoint ("http://127.0.0.1:8333"), else None
    scheme: str
    supports_attributes: bool  # LocalStore refuses object metadata

    @property
    def signer(self) -> S3Store | GCSStore | AzureStore | None:
        """The handle, if it can presign URLs (the clouds can; a directory cannot)."""
        handle = self.handle
        return handle if isinstance(handle, S3Store | GCSStore | AzureStore) else None

    def may_fetch(self, url: str) -> bool:
        """True if ``url`` (a signed or public URL) points at the store itself, so the
        preflight may request it without sending a credential elsewhere."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.endpoint is not None:
            # Path-style URLs use the endpoint's host; virtual-hosted ones <bucket>.<host>.
            ours = urlsplit(self.endpoint)
            ours_host = ours.hostname or ""
            return (
                (parts.scheme, parts.port) == (ours.scheme, ours.port)
                and bool(ours_host)
                and (host == ours_host or host.endswith("." + ours_host))
            )
        suffix = _CLOUD_HOSTS.get(self.scheme)
        return (
            parts.scheme == "https"
            and suffix is not None
            and (host == suffix or host.endswith(suffix))
        )


def open_backend(config: StoreConfig, env: Mapping[str, str]) -> Backend:
    """The obstore handle for ``config``; raises StoreConfigError on unusable settings."""
    try:
        if config.scheme == "file":
            # mkdir: a file:// store is the embedded default for local use; its
            # directory appearing on first use is what a user expects.
            local = LocalStore(prefix=config.local_root, mkdir=True)
            return Backend(local, None, "file", supports_attributes=False)
        client = _client_options(config, env)
        prefix = config.prefix or None
        if config.scheme == "s3":
            s3, endpoint = _s3_settings(env)
            store: ObjectStore = S3Store(
                config.bucket,
                prefix=prefix,
                config=s3,
                client_options=client,
                retry_config=_RETRY,
            )
            return Backend(store, endpoint, "s3", supports_attributes=True)
        for variable in _CLOUD_SECRET_VARIABLES:
            register_secret(env.get(variable) or "")
        if config.scheme == "gs":
            store = GCSStore(
                config.bucket, prefix=prefix, client_options=client, retry_config=_RETRY
            )
        else:
            store = AzureStore(
                config.bucket, prefix=prefix, client_options=client, retry_config=_RETRY
            )
        return Backend(store, None, config.scheme, supports_attributes=True)
    except StoreConfigError:
        raise
    except (BaseError, ValueError, OSError) as exc:
        # Construction reads only the environment and the disk: no network, no secret
        # in the text, but keep just its first line (the rest is a Rust debug dump).
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreConfigError("store.url", f"cannot open store {config.url}: {first}") from exc


def _s3_settings(env: Mapping[str, str]) -> tuple[S3Config, str | None]:
    s3: S3Config = {}
    for variable, setting in _S3_ENV:
        value = env.get(variable)
        if value:
            s3[setting] = value  # type: ignore[literal-required]
            if variable in _SECRET_VARIABLES:
                # Masked wherever this process shows or records text from now on.
                register_secret(value)
    endpoint_url = env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT")
    if not endpoint_url:
        return s3, None
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreConfigError("AWS_ENDPOINT_URL", "expected http(s)://host[:port]")
    if parts.scheme == "http" and not (
        is_loopback_host(parts.hostname) or env.get("AWS_ALLOW_HTTP", "").lower() in _TRUE
    ):
        # Plain http exposes every object and every presigned URL on the wire.
        raise StoreConfigError(
            "AWS_ENDPOINT_URL",
            "plain http to a host that is not loopback; use https, or set AWS_ALLOW_HTTP=true"
            " if the network in between is trusted",
        )
    s3["endpoint"] = endpoint_url.rstrip("/")
    return s3, f"{parts.scheme}://{parts.netloc}"


def _client_options(config: StoreConfig, env: Mapping[str, str]) -> ClientConfig:
    client: ClientConfig = {"connect_timeout": _CONNECT_TIMEOUT, "timeout": _REQUEST_TIMEOUT}
    endpoint = env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT") or ""
    if config.scheme == "s3" and endpoint.lower().startswith("http://"):
        client["allow_http"] = True  # _s3_settings has vetted it: loopback or opted in
    return client
