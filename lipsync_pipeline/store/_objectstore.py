"""``ObjectStore``: the operations the pipeline needs from a bucket, blocking.

Every method blocks on network or disk; under trio use
:class:`~lipsync_pipeline.store._trio_store.TrioObjectStore`, which runs them in
worker threads. Keys are relative to the store's URL (see :mod:`._keys`).

Request economy: an upload is HEAD, then PUT only if the object is absent, so an
input shared by 10,000 jobs costs one HEAD per job and one PUT in all (callers
that hash once per distinct file skip even the HEADs). ``requests`` counts what
went out, for reports and the bench.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import obstore
import structlog
from obstore.exceptions import BaseError as ObstoreError

from lipsync_pipeline._staging import StagedFile, put_in_place
from lipsync_pipeline.errors import StoreConfigError, StoreError, StoreIntegrityError
from lipsync_pipeline.store._backend import open_backend
from lipsync_pipeline.store._config import StoreConfig
from lipsync_pipeline.store._download import stage_object
from lipsync_pipeline.store._failures import translate
from lipsync_pipeline.store._keys import check_key, input_key, render_key
from lipsync_pipeline.store._preflight import run_preflight

if TYPE_CHECKING:
    from obstore import Attributes

__all__ = ["DIGEST_METADATA", "ObjectStore", "StoredObject"]

log = structlog.get_logger(__name__)

# User metadata name of an object's sha256 (S3: the x-amz-meta-sha256 header). ETags are
# no digest to rely on: MD5 for simple PUTs, something else for multipart uploads.
DIGEST_METADATA: Final = "sha256"
_RENDER_TYPE: Final = "video/mp4"
_FALLBACK_TYPE: Final = "application/octet-stream"
_HASH_CHUNK: Final = 1024 * 1024
# What obstore raises: its own classes, FileNotFoundError for 404s (an OSError),
# ValueError for paths it cannot parse.
_FAILURES: Final = (ObstoreError, ValueError, OSError)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the store says about one object."""

    key: str
    size: int
    sha256: str | None  # from object metadata; None where the backend keeps none (file://)


class ObjectStore:
    """One configured store. Blocking; safe to share between threads."""

    def __init__(self, config: StoreConfig, *, env: Mapping[str, str] | None = None) -> None:
        """Open the store (no network yet). ``env`` is where S3 settings are read
        (``AWS_*``); default ``os.environ``. Raises StoreConfigError."""
        self.config: Final = config
        self._backend = open_backend(config, os.environ if env is None else env)
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # "HEAD", "PUT", "GET", "DELETE", "SIGN"

    # -- inputs ---------------------------------------------------------------------

    def put_input(self, path: Path) -> str:
        """Upload a local input once; returns ``inputs/sha256/<hex><ext>``.

        The file is opened once, hashed, then uploaded from the same descriptor, so
        the key names the bytes that were read. Skipped when the object exists."""
        try:
            with path.open("rb") as source:
                sha256, size = _hash_stream(source)
                key = input_key(sha256, path.name)
                if self._exists_with_size(key, size):
                    log.debug("store.input.present", key=key, bytes=size)
                    return key
                source.seek(0)
                content_type = mimetypes.guess_type(path.name)[0] or _FALLBACK_TYPE
                self._put(key, source, size=size, sha256=sha256, content_type=content_type)
        except OSError as exc:
            raise StoreError(f"cannot upload {path}: {exc.strerror or exc}") from exc
        return key

    def input_url(self, key: str, *, ttl: timedelta | None = None) -> str:
        """A URL the API can GET ``key`` from: ``public_base_url/key``, else a presigned
        GET valid for ``ttl`` (default ``url_ttl``). The result is a credential: never
        log it."""
        check_key(key)
        if self.config.public_base_url is not None:
            return f"{self.config.public_base_url}/{key}"
        signer = self._backend.signer
        if signer is None:
            raise StoreConfigError(
                "store.public_base_url",
                f"a {self.config.scheme}:// store cannot make URLs the API can fetch; serve"
                " its directory over https and set public_base_url, or use an s3/gs/az store",
            )
        self._count("SIGN")
        try:
            return obstore.sign(signer, "GET", key, ttl or self.config.url_ttl)
        except _FAILURES as exc:
            raise translate(exc, store=self.config.url, op="sign a URL for", key=key) from exc

    # -- renders --------------------------------------------------------------------

    def put_render(self, job_id: str, path: Path, sha256: str) -> str:
        """Upload a finished render to ``renders/<job id>/<sha256>.mp4``, its digest as
        metadata; skipped when already there (a retried upload after a crash)."""
        key = render_key(job_id, sha256)
        try:
            size = path.stat().st_size
            if self._exists_with_size(key, size):
                return key
            with path.open("rb") as source:
                self._put(key, source, size=size, sha256=sha256, content_type=_RENDER_TYPE)
        except OSError as exc:
            raise StoreError(f"cannot upload {path}: {exc.strerror or exc}") from exc
        return key

    # -- reading --------------------------------------------------------------------

    def stat(self, key: str) -> StoredObject | None:
        """Size and digest metadata of ``key``, or None if it does not exist.

        One HEAD: obstore's ``head()`` drops user metadata, ``get(head=True)`` keeps it."""
        check_key(key)
        self._count("HEAD")
        try:
            result = obstore.get(self._backend.handle, key, options={"head": True})
        except FileNotFoundError:
            return None
        except _FAILURES as exc:
            raise translate(exc, store=self.config.url, op="look up", key=key) from exc
        digest = result.attributes.get(DIGEST_METADATA)
        return StoredObject(key=key, size=result.meta["size"], sha256=digest or None)

    def stage(self, key: str, dest: Path, sha256: str) -> StagedFile:
        """Download ``key`` to a temp file beside ``dest``, verified against ``sha256``;
        the caller publishes it (the run's lock writer batches the fsyncs)."""
        check_key(key)
        self._count("GET")
        try:
            return stage_object(self._backend.handle, key, dest, sha256, store=self.config.url)
        except FileNotFoundError as exc:
            raise StoreIntegrityError(f"store {self.config.url}: {key} is missing") from exc
        except _FAILURES as exc:  # local disk errors are StorageErrors already
            raise translate(exc, store=self.config.url, op="download", key=key) from exc

    def fetch(self, key: str, dest: Path, sha256: str) -> int:
        """Download ``key`` to ``dest``, verified and durable; returns its size."""
        staged = self.stage(key, dest, sha256)
        try:
            put_in_place(staged)
        except BaseException:
            staged.discard()
            raise
        return staged.size

    # -- small objects, for the preflight -----------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        check_key(key)
        self._put(
            key,
            data,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type="text/plain",
        )

    def get_bytes(self, key: str) -> bytes:
        check_key(key)
        self._count("GET")
        try:
            return obstore.get(self._backend.handle, key).bytes().to_bytes()
        except _FAILURES as exc:
            raise translate(exc, store=self.config.url, op="read back", key=key) from exc

    def delete(self, key: str) -> None:
        check_key(key)
        self._count("DELETE")
        try:
            obstore.delete(self._backend.handle, key)
        except _FAILURES as exc:
            raise translate(exc, store=self.config.url, op="delete", key=key) from exc

    def may_fetch(self, url: str) -> bool:
        """True if ``url`` points at this store's own endpoint (see the preflight)."""
        return self._backend.may_fetch(url)

    def preflight(self) -> None:
        """Prove the store works before anything is paid for: write, read back, sign and
        fetch, delete. Raises StoreConfigError (exit 2) or StoreError (exit 4)."""
        run_preflight(self)

    # -- internals ------------------------------------------------------------------

    def _exists_with_size(self, key: str, size: int) -> bool:
        found = self.stat(key)
        if found is not None and found.size != size:
            # Same content address, other size: a truncated or foreign object. Replace it.
            log.warning("store.object.size_mismatch", key=key, stored=found.size, local=size)
        return found is not None and found.size == size

    def _put(
        self, key: str, data: IO[bytes] | bytes, *, size: int, sha256: str, content_type: str
    ) -> None:
        attributes: Attributes = {}
        if self._backend.supports_attributes:
            attributes = {"Content-Type": content_type, DIGEST_METADATA: sha256}
        self._count("PUT")
        started = time.perf_counter()
        try:
            obstore.put(self._backend.handle, key, data, attributes=attributes or None)
        except _FAILURES as exc:
            raise translate(exc, store=self.config.url, op="write", key=key) from exc
        log.info(
            "store.put", key=key, bytes=size, ms=round((time.perf_counter() - started) * 1000, 1)
        )

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1


def _hash_stream(source: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(_HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
