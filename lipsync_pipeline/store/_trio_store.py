"""``TrioObjectStore``: the blocking ObjectStore, awaited from trio.

obstore's ``*_async`` functions need a running asyncio loop and fail under trio
("no running event loop"); its sync functions release the GIL while they wait, so
each call runs in a trio worker thread. A CapacityLimiter of our own bounds them
(trio's default limiter is shared with every other ``to_thread`` user, such as
renders and fsyncs, and an upload burst should not starve those).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Final

import trio

from lipsync_pipeline._staging import StagedFile
from lipsync_pipeline.store._config import StoreConfig
from lipsync_pipeline.store._objectstore import ObjectStore, StoredObject

__all__ = ["DEFAULT_STORE_THREADS", "TrioObjectStore"]

# obstore pools connections per host inside one store; 8 parallel requests keep an
# S3 endpoint busy without a thread per job.
DEFAULT_STORE_THREADS: Final = 8


class TrioObjectStore:
    """Async wrappers over :class:`ObjectStore`; same operations, same errors."""

    def __init__(self, store: ObjectStore, *, threads: int = DEFAULT_STORE_THREADS) -> None:
        self.store: Final = store
        self._limiter = trio.CapacityLimiter(threads)

    @classmethod
    def open(
        cls,
        config: StoreConfig,
        *,
        env: Mapping[str, str] | None = None,
        threads: int = DEFAULT_STORE_THREADS,
    ) -> TrioObjectStore:
        """Open the store (no network yet); raises StoreConfigError."""
        return cls(ObjectStore(config, env=env), threads=threads)

    @property
    def config(self) -> StoreConfig:
        return self.store.config

    async def put_input(self, path: Path) -> str:
        return await trio.to_thread.run_sync(self.store.put_input, path, limiter=self._limiter)

    async def input_url(self, key: str) -> str:
        # Signing is local for static credentials, but may fetch temporary ones.
        return await trio.to_thread.run_sync(self.store.input_url, key, limiter=self._limiter)

    async def put_render(self, job_id: str, path: Path, sha256: str) -> str:
        return await trio.to_thread.run_sync(
            partial(self.store.put_render, job_id, path, sha256), limiter=self._limiter
        )

    async def stat(self, key: str) -> StoredObject | None:
        return await trio.to_thread.run_sync(self.store.stat, key, limiter=self._limiter)

    async def stage(self, key: str, dest: Path, sha256: str) -> StagedFile:
        return await trio.to_thread.run_sync(
            partial(self.store.stage, key, dest, sha256), limiter=self._limiter
        )

    async def fetch(self, key: str, dest: Path, sha256: str) -> int:
        return await trio.to_thread.run_sync(
            partial(self.store.fetch, key, dest, sha256), limiter=self._limiter
        )

    async def preflight(self) -> None:
        await trio.to_thread.run_sync(self.store.preflight, limiter=self._limiter)
