"""Generate the examples' media in this directory (PyAV + stdlib only, deterministic).

    python manifests/examples/media/make_media.py

Writes spring-sale.mp4 and spring-sale-mouth.png (the ad of localized-ads.yaml), one
short voice per language under voice/, and two presenters (anna.png, ben.png) for
product-tour.yaml, reusing the demo's generator (manifests/assets/make_assets.py).
The voices are short (about a second): the examples run with --local in the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "assets"))

from make_assets import (  # noqa: E402
    Canvas,
    voice,
    write_audio,
    write_clip,
    write_png,
)

LANGS = (
    "ar cs da de el es fi fr hu it ja ko nl pl pt ro sv tr uk zh"
).split()
PRESENTERS = {"anna": (70, 110, 160), "ben": (150, 100, 70)}


def make_all(out_dir: Path) -> None:
    write_clip(out_dir / "spring-sale.mp4", seconds=1.0, size=180)
    mask = Canvas(240, 180, (0, 0, 0))
    mask.ellipse(130, 125, 40, 20, (255, 255, 255))
    write_png(mask, out_dir / "spring-sale-mouth.png")
    (out_dir / "voice").mkdir(exist_ok=True)
    for index, lang in enumerate(LANGS):
        samples = voice(1.0, 120.0 + 7 * index, seed=index)
        write_audio(samples, out_dir / "voice" / f"{lang}.mp3")
    for name, background in PRESENTERS.items():
        face = Canvas(320, 320, background)
        face.face(160, 155, 100)
        write_png(face, out_dir / f"{name}.png")


if __name__ == "__main__":
    make_all(HERE)
