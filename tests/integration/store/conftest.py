"""Fixtures for the store tests: one real SeaweedFS for the session, a fresh prefix per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from seaweed import Seaweed, running_seaweed

from lipsync_pipeline.store import ObjectStore, StoreConfig, parse_store_config


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    """``weed mini`` on loopback, started once (~1.5 s) and killed at the end."""
    with running_seaweed(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def s3_config(seaweed: Seaweed) -> StoreConfig:
    """A prefix of its own per test, so tests sharing the bucket never see each other."""
    return parse_store_config(f"s3://{seaweed.bucket}/t/{os.urandom(6).hex()}")


@pytest.fixture
def s3_store(seaweed: Seaweed, s3_config: StoreConfig) -> ObjectStore:
    return ObjectStore(s3_config, env=seaweed.env())


@pytest.fixture
def file_store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(parse_store_config(f"file://{tmp_path / 'store'}"), env={})


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "voice.WAV"
    path.write_bytes(b"RIFF" + os.urandom(4096))
    return path
