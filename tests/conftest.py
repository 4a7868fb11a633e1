"""Fixtures shared across the suite: a reference studio on loopback."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from _support import ASSETS, StartStudio

from lipsync_pipeline.studio import Faults, StudioConfig, serve_studio


@pytest.fixture
def start_studio(nursery: trio.Nursery) -> StartStudio:
    """Start a studio in the test's nursery; returns its root URL (http://127.0.0.1:PORT)."""

    async def start(**options: Any) -> str:
        faults = options.pop("faults", Faults())
        options.setdefault("assets_dir", ASSETS)
        root: str = await nursery.start(serve_studio, StudioConfig(faults=faults, **options))
        return root

    return start


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run on CI runners too: no test appends to the runner's own step summary
    (tests that mean one set $GITHUB_STEP_SUMMARY to a file of their own)."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The machine's own proxy settings removed: a test sets exactly the ones it means."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input check's cache in a temporary directory, never the user's ~/.cache
    (subprocesses inherit it through the environment)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(cache / "lipsync-pipeline"))


@pytest.fixture
def lock_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lockfiles whose text was parsed while the test ran, one name a parse (a
    lock served from the last read, unchanged, is not parsed again)."""
    from lipsync_pipeline.lockfile import _format

    parsed: list[str] = []
    real = _format._parse_lock_text

    def counting(file: str, text: str) -> Any:
        parsed.append(file)
        return real(file, text)

    monkeypatch.setattr(_format, "_parse_lock_text", counting)
    monkeypatch.setattr(_format, "_last_parsed", None)  # nothing left by an earlier test
    return parsed
