"""The studio under test: started in the test's nursery on loopback port 0, with short media."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from studio_helpers import AUTH, StartStudio

from lipsync_pipeline.studio import Faults, StudioConfig, serve_studio

ROOT = Path(__file__).resolve().parents[3]


def _make_assets_module() -> Any:
    # The demo-asset generator is a script, not a package module: load it by path.
    spec = importlib.util.spec_from_file_location(
        "make_assets", ROOT / "manifests" / "assets" / "make_assets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Short inputs (1-1.5 s) so renders stay fast, plus deliberately bad files."""
    ma = _make_assets_module()
    out = tmp_path_factory.mktemp("media")
    face = ma.Canvas(320, 320, ma.BACKGROUND)
    face.face(160, 150, 100)
    ma.write_png(face, out / "face.png")
    hosts = ma.Canvas(400, 224, (90, 90, 120))
    hosts.face(100, 110, 60)
    hosts.face(300, 110, 60)
    ma.write_png(hosts, out / "hosts.png")
    mask = ma.Canvas(320, 320, (0, 0, 0))
    mask.ellipse(160, 195, 45, 22, (255, 255, 255))
    ma.write_png(mask, out / "mask.png")
    ma.write_audio(ma.voice(1.0, 140.0), out / "a.wav")
    ma.write_audio(ma.voice(1.5, 230.0, seed=1), out / "b.mp3")
    ma.write_clip(out / "clip.mp4", seconds=0.6, fps=10, size=120)
    (out / "garbage.png").write_bytes(b"\x89PNG not really an image" * 10)
    (out / "text.wav").write_text("this is not audio\n" * 20)
    ma.write_png(ma.Canvas(32, 32, (0, 0, 0)), out / "black-mask.png")
    return out


@pytest.fixture
def start(nursery: trio.Nursery, media: Path, tmp_path: Path) -> StartStudio:
    async def _start(**options: Any) -> str:
        options.setdefault("assets_dir", media)
        options.setdefault("data_dir", tmp_path / "studio")
        options.setdefault("faults", Faults())
        root: str = await nursery.start(serve_studio, StudioConfig(**options))
        return root

    return _start


@pytest.fixture
async def root(start: StartStudio) -> str:
    return await start()


@pytest.fixture
async def client(root: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=root, headers=AUTH, timeout=10.0) as c:
        yield c
