"""``StoreConfig``: where the object store is, parsed from the manifest's ``store:`` value.

Two spellings, one value::

    store: s3://team-renders/lipsync              # short form
    store:
      url: s3://team-renders/lipsync              # s3://, gs://, az://, file:///abs/path
      url_ttl: 6h                                 # presigned input URLs live this long
      public_base_url: https://cdn.example.com/lipsync   # objects are public here: no signing

Parsing checks shape only (scheme, bucket name, ttl range); whether the bucket exists
and the credentials work is :meth:`ObjectStore.preflight`'s job. Every error is a
:class:`StoreConfigError` whose ``where`` names the field (``store.url_ttl``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Final, Literal
from urllib.parse import urlsplit

from lipsync_pipeline._net import is_loopback_host
from lipsync_pipeline.errors import StoreConfigError

__all__ = [
    "DEFAULT_URL_TTL",
    "MAX_URL_TTL",
    "MIN_URL_TTL",
    "Scheme",
    "StoreConfig",
    "parse_store_config",
    "parse_ttl",
]

Scheme = Literal["s3", "gs", "az", "file"]
_SCHEMES: Final[tuple[Scheme, ...]] = ("s3", "gs", "az", "file")

DEFAULT_URL_TTL: Final = timedelta(hours=24)
# SigV4 (S3, R2, MinIO, SeaweedFS) and GCS V4 signatures refuse X-Amz-Expires above 7
# days at request time, long after signing: catch it while reading the manifest instead.
MAX_URL_TTL: Final = timedelta(days=7)
# Signatures carry their date to the second, so a URL signed at hh:mm:ss.9 with a 1 s
# lifetime is dead 0.1 s later (measured on SeaweedFS): real ttls are minutes or more,
# 1 s is for the expiry test.
MIN_URL_TTL: Final = timedelta(seconds=1)

_TTL: Final = re.compile(r"(?P<n>[0-9]{1,7})\s*(?P<unit>[smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# S3's rules (also GCS's for names without dots); az containers are a subset.
_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT: Final = re.compile(r"[A-Za-z0-9._=+@-]+")
_KEYS: Final = frozenset({"url", "url_ttl", "public_base_url"})


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where objects live. Keys handed out by the store are relative to ``url``, so a
    lock stays valid when the same objects are served from another prefix or a CDN."""

    url: str  # normalised: no trailing slash
    scheme: Scheme
    bucket: str  # bucket (s3, gs) or container (az); "" for file
    prefix: str  # "a/b" inside the bucket, no slashes at the ends
    url_ttl: timedelta = DEFAULT_URL_TTL
    public_base_url: str | None = None  # no trailing slash

    @property
    def local_root(self) -> str:
        """The directory of a ``file://`` store (``/`` + prefix)."""
        return "/" + self.prefix

    @property
    def signs_urls(self) -> bool:
        """True when input URLs are presigned (no public base URL, a cloud scheme)."""
        return self.public_base_url is None and self.scheme != "file"


def parse_ttl(value: object, *, where: str = "store.url_ttl") -> timedelta:
    """``"6h"`` -> 6 hours. Units s, m, h, d; a bare number is refused (seconds or hours?)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise StoreConfigError(where, f"expected a duration like 90s, 30m, 6h or 1d, got {value!r}")
    match = _TTL.fullmatch(value.strip())
    if match is None:
        raise StoreConfigError(
            where, f"expected a duration like 90s, 30m, 6h or 1d (units s, m, h, d), got {value!r}"
        )
    ttl = timedelta(seconds=int(match["n"]) * _UNIT_SECONDS[match["unit"]])
    if ttl < MIN_URL_TTL:
        raise StoreConfigError(where, "must be at least 1s")
    if ttl > MAX_URL_TTL:
        raise StoreConfigError(where, f"{value} is over 7d, the most a presigned URL may live")
    return ttl


def parse_store_config(value: object, *, where: str = "store") -> StoreConfig:
    """The manifest's ``store:`` value (a URL string or a mapping) as a StoreConfig."""
    if isinstance(value, str):
        return _parse_url(value, where=where)
    if not isinstance(value, Mapping):
        raise StoreConfigError(where, "expected a URL (s3://bucket/prefix) or a mapping with url:")
    unknown = sorted(str(k) for k in value if k not in _KEYS)
    if unknown:
        raise StoreConfigError(
            f"{where}.{unknown[0]}", f"unknown setting; expected one of {', '.join(sorted(_KEYS))}"
        )
    if "url" not in value:
        raise StoreConfigError(f"{where}.url", "missing: the store's URL (s3://bucket/prefix)")
    url = value["url"]
    if not isinstance(url, str):
        raise StoreConfigError(f"{where}.url", f"expected a URL string, got {url!r}")
    config = _parse_url(url, where=f"{where}.url")
    ttl = parse_ttl(value["url_ttl"], where=f"{where}.url_ttl") if "url_ttl" in value else None
    public = value.get("public_base_url")
    if public is not None:
        public = _parse_public_base(public, where=f"{where}.public_base_url")
    return StoreConfig(
        url=config.url,
        scheme=config.scheme,
        bucket=config.bucket,
        prefix=config.prefix,
        url_ttl=ttl or DEFAULT_URL_TTL,
        public_base_url=public,
    )


def _parse_url(url: str, *, where: str) -> StoreConfig:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise StoreConfigError(
            where, f"unsupported scheme in {url!r}; use s3://, gs://, az:// or file:///abs/path"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        # A query could smuggle store options (or a SAS token) past review: refuse it.
        raise StoreConfigError(where, "a store URL has no query, fragment or credentials")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreConfigError(where, f"expected file:///absolute/path, got {url!r}")
        prefix = _parse_prefix(parts.path, where=where, allow_empty=False)
        return StoreConfig(url=f"file:///{prefix}", scheme="file", bucket="", prefix=prefix)
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise StoreConfigError(
            where, f"{bucket!r} is not a bucket name (3-63 lowercase letters, digits, '-', '.')"
        )
    prefix = _parse_prefix(parts.path, where=where, allow_empty=True)
    normal = f"{scheme}://{bucket}" + (f"/{prefix}" if prefix else "")
    return StoreConfig(url=normal, scheme=scheme, bucket=bucket, prefix=prefix)


def _parse_prefix(path: str, *, where: str, allow_empty: bool) -> str:
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or not _PREFIX_SEGMENT.fullmatch(segment):
            raise StoreConfigError(where, f"path segment {segment!r} is not allowed in a store URL")
    if not segments and not allow_empty:
        raise StoreConfigError(
            where, "a file:// store needs an absolute directory: file:///abs/path"
        )
    return str(PurePosixPath(*segments)) if segments else ""


def _parse_public_base(value: object, *, where: str) -> str:
    if not isinstance(value, str):
        raise StoreConfigError(where, f"expected an https:// URL, got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreConfigError(where, f"expected an https:// URL, got {value!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        # The API fetches these from the internet; plain http invites tampering in transit.
        raise StoreConfigError(where, "must be https:// (plain http only for a loopback host)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise StoreConfigError(where, "a public base URL has no query, fragment or credentials")
    return value.strip().rstrip("/")
