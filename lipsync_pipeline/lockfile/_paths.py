"""The files that live beside a manifest: its lockfile, the lock's crash journal and
its run lock, each named from the one before."""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = [
    "JOURNAL_SUFFIX",
    "LOCK_SUFFIX",
    "RUN_SUFFIX",
    "default_lock_path",
    "journal_path",
    "run_lock_path",
]

LOCK_SUFFIX: Final = ".lock"
JOURNAL_SUFFIX: Final = ".journal"
RUN_SUFFIX: Final = ".run"


def default_lock_path(manifest_path: Path) -> Path:
    """``renders.yaml`` -> ``renders.lock`` beside it (any other suffix is kept whole)."""
    if manifest_path.suffix.lower() in (".yaml", ".yml"):
        return manifest_path.with_suffix(LOCK_SUFFIX)
    return manifest_path.with_name(manifest_path.name + LOCK_SUFFIX)


def journal_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + JOURNAL_SUFFIX)


def run_lock_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + RUN_SUFFIX)
