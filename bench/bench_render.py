"""Render speed of the reference studio, as a real-time factor (RTF).

    python bench/bench_render.py

RTF = seconds of output video per second of wall time (higher is faster; > 1
means faster than real time). Renders the demo assets in-process (no HTTP), for
each endpoint at 480p and 720p. Not a test: pytest does not collect ``bench_*``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lipsync_pipeline.studio._render import render  # noqa: E402

ASSETS = ROOT / "manifests" / "assets"


def main() -> None:
    cases = [
        ("lipsync-image", {"image": "face.png", "audio": "voice-a.wav"}, None),
        ("lipsync-video", {"video": "clip.mp4", "audio": "voice-a.wav"}, None),
        (
            "lipsync-image-multi",
            {"image": "hosts.png", "left_audio": "voice-a.wav", "right_audio": "voice-b.mp3"},
            "left_right",
        ),
    ]
    print(f"{'model':<22}{'res':<6}{'video s':>9}{'wall s':>9}{'RTF':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for resolution in ("480p", "720p"):
            total_video = total_wall = 0.0
            for model, fields, order in cases:
                inputs = {k: ASSETS / v for k, v in fields.items()}
                begin = time.perf_counter()
                result = render(model, resolution, inputs, Path(tmp) / "out.mp4", order=order)
                wall = time.perf_counter() - begin
                total_video += result.seconds
                total_wall += wall
                print(
                    f"{model:<22}{resolution:<6}{result.seconds:>9.2f}{wall:>9.2f}"
                    f"{result.seconds / wall:>8.1f}"
                )
            print(
                f"{'all':<22}{resolution:<6}{total_video:>9.2f}{total_wall:>9.2f}"
                f"{total_video / total_wall:>8.1f}"
            )


if __name__ == "__main__":
    main()
