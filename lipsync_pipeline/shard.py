"""Shards: one manifest spread over N CI jobs, each running the jobs whose id hashes
into its part. Pure: no I/O.

A job's shard is the first 8 bytes of sha256(id) modulo N: it depends on the id
alone, so it does not change with the order of the jobs, and adding or removing
other jobs never moves it (unlike "every N-th job"). sha256 is uniform enough
that shards are balanced to within a few percent from a few hundred jobs on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from lipsync_pipeline.errors import ConfigError

__all__ = ["MAX_SHARDS", "Shard", "parse_shard", "shard_index"]

MAX_SHARDS: Final = 1000  # more CI jobs than that is a typo, not a plan
_HASH_BYTES: Final = 8
_SPEC: Final = re.compile(r"(\d+)/(\d+)")


def shard_index(job_id: str, count: int) -> int:
    """The 1-based shard of ``job_id`` among ``count`` (CI systems count from 1:
    GitLab's CI_NODE_INDEX, a matrix of 1..N)."""
    digest = hashlib.sha256(job_id.encode()).digest()[:_HASH_BYTES]
    return int.from_bytes(digest, "big") % count + 1


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1 <= index <= count)."""

    index: int
    count: int

    def holds(self, job_id: str) -> bool:
        return shard_index(job_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def suffix(self) -> str:
        """What the shard's own lock adds to the main lock's name."""
        return f".shard-{self.index}-of-{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> Shard, or a ConfigError saying what is wrong (for ``--shard``)."""
    match = _SPEC.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 2/4 (shard 2 of 4)")
    index, count = int(match[1]), int(match[2])
    if not 1 <= count <= MAX_SHARDS:
        raise ConfigError(f"--shard {text}: N must be 1 to {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise ConfigError(f"--shard {text}: K must be 1 to {count} (shards count from 1)")
    return Shard(index, count)
