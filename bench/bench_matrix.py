"""Does a matrix cost more to validate than the jobs written out? (issue 14: "about 1.0")

Run: ``python bench/bench_matrix.py [JOBS]``. Not a test: timings belong here.

It writes two manifests that make the same 10,000 jobs (all three kinds, https
inputs plus a local asset shared by many jobs, as in ``bench_validate.py``): one
with three matrix entries, one with every job written out. It checks that both
load to the same jobs (ids, requests, fingerprints), then times ``load_manifest``
of each in alternating pairs (the same machine state for both) and prints the
medians and their ratio, matrix / written out: the yardstick is measured in the
same run, so the ratio means something on a loaded machine where seconds do not.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from lipsync_pipeline.manifest import Manifest, load_manifest

JOBS: Final = 10_000
PAIRS: Final = 5
LANGS: Final = 40
CDN: Final = "https://cdn.example.com"
HEAD: Final = "version: 1\nconcurrency: 16\ndefaults:\n  resolution: 720p\njobs:\n"

# One entry per kind: (id, fields); {lang} and {clip} are the axes.
ENTRIES: Final = (
    (
        "promo.{lang}.{clip}",
        {
            "kind": "avatar",
            "image": CDN + "/faces/{clip}.png",
            "audio": "assets/voice.wav",
            "prompt": "calm, {lang}",
        },
    ),
    (
        "talk.{lang}.{clip}",
        {
            "kind": "dialog",
            "image": "assets/face.png",
            "left_audio": CDN + "/l/{lang}/{clip}.mp3",
            "right_audio": CDN + "/r/{lang}/{clip}.mp3",
            "order": "meanwhile",
        },
    ),
    (
        "dub.{lang}.{clip}",
        {"kind": "video", "video": CDN + "/v/{clip}.mp4", "audio": CDN + "/a/{lang}/{clip}.mp3"},
    ),
)


def _axes(jobs: int) -> list[tuple[list[str], list[str]]]:
    """Per entry: its languages and clips, so that the three make ``jobs`` in all (rounded
    up to a multiple of the number of languages)."""
    langs = [f"l{i:02d}" for i in range(LANGS)]
    clips = -(-jobs // LANGS)
    return [
        (langs, [f"c{i:04d}" for i in range(clips // 3 + (1 if entry < clips % 3 else 0))])
        for entry in range(3)
    ]


def matrix_text(jobs: int) -> str:
    lines = [HEAD]
    for (template, fields), (langs, clips) in zip(ENTRIES, _axes(jobs), strict=True):
        lines.append(f'  - id: "{template}"\n')
        lines += [f'    {key}: "{value}"\n' for key, value in fields.items()]
        lines.append(f"    matrix:\n      lang: [{', '.join(langs)}]\n")
        lines.append(f"      clip: [{', '.join(clips)}]\n")
    return "".join(lines)


def written_text(jobs: int) -> str:
    lines = [HEAD]
    for (template, fields), (langs, clips) in zip(ENTRIES, _axes(jobs), strict=True):
        for lang in langs:
            for clip in clips:
                lines.append(f"  - id: {template.format(lang=lang, clip=clip)}\n")
                lines += [
                    f'    {key}: "{value.format(lang=lang, clip=clip)}"\n'
                    for key, value in fields.items()
                ]
    return "".join(lines)


def same_jobs(a: Manifest, b: Manifest) -> bool:
    def key(m: Manifest) -> list[tuple[str, str, dict[str, object]]]:
        return sorted((j.id, j.fingerprint, dict(j.form_state)) for j in m.jobs)  # type: ignore[misc]

    return key(a) == key(b)


def timed(path: Path) -> float:
    start = time.perf_counter()
    load_manifest(path)
    return time.perf_counter() - start


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else JOBS
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "assets").mkdir()
        (root / "assets" / "voice.wav").write_bytes(b"RIFF" + bytes(64_000))
        (root / "assets" / "face.png").write_bytes(b"\x89PNG" + bytes(64_000))
        matrix, written = root / "matrix.yaml", root / "written.yaml"
        matrix.write_text(matrix_text(jobs), encoding="utf-8")
        written.write_text(written_text(jobs), encoding="utf-8")
        from_matrix, from_written = load_manifest(matrix), load_manifest(written)
        made = len(from_matrix.jobs)
        assert made == len(from_written.jobs) and same_jobs(from_matrix, from_written)
        matrix_times, written_times = [], []
        for _ in range(PAIRS):  # alternating: both see the same machine, pair by pair
            matrix_times.append(timed(matrix))
            written_times.append(timed(written))
        matrix_lines = matrix.read_text().count("\n")
        written_lines = written.read_text().count("\n")
    m, w = statistics.median(matrix_times), statistics.median(written_times)
    print(f"jobs: {made:,} (the same ids, requests and fingerprints from both manifests)")
    print(f"matrix manifest:      {matrix_lines:>7,} lines, validate {m:.3f} s (median of {PAIRS})")
    print(
        f"written-out manifest: {written_lines:>7,} lines, validate {w:.3f} s (median of {PAIRS})"
    )
    print(f"ratio matrix / written out: {m / w:.2f}  (target: about 1.0 or less)")


if __name__ == "__main__":
    main()
