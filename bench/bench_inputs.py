"""What the input check costs (issue 13): bytes and requests per input, and 200 inputs.

Run: ``python bench/bench_inputs.py [INPUTS]``. Not a test (pytest collects only
``tests/``): it prints figures and ratios, asserts only facts (a complete estimate,
one conditional request per URL the second time).

Everything is on 127.0.0.1: the loopback origin of the tests (``tests/_media_server``,
a thread), serving short real clips (``tests/_media``) and two sparse 1 GB files.
The yardstick, measured in the same run, is the obvious alternative: download each
input whole (same URLs, same 16 threads, httpx) and read the length from the file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import httpx

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _media import m4a, samples, sparse_mp4, sparse_wav  # noqa: E402
from _media_server import MediaServer, media_server  # noqa: E402

from lipsync_pipeline._net import AddressPolicy  # noqa: E402
from lipsync_pipeline.estimate import estimate_plan  # noqa: E402
from lipsync_pipeline.inputs import PROBE_CONCURRENCY, InputCheck  # noqa: E402
from lipsync_pipeline.usecases import check  # noqa: E402

INPUTS: Final = 200
FACE: Final = (ROOT / "manifests" / "assets" / "face.png").read_bytes()


def write_manifest(path: Path, audio: dict[str, str], image: str) -> Path:
    lines = ["version: 1", "jobs:"]
    for job_id, url in audio.items():
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            f"    image: {image}",
            f"    audio: {url}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def per_file(tmp: Path) -> None:
    """Bytes and requests the check spends on one input of each kind."""
    big_mp4, big_wav = tmp / "big.mp4", tmp / "big.wav"
    sparse_mp4(big_mp4, m4a(30.0, moov_first=False), 1 << 30)
    sparse_wav(big_wav, 1 << 30)
    files: dict[str, bytes | Path] = {**samples(), "big.mp4": big_mp4, "big.wav": big_wav}
    print("| input | size | ranges: requests | ranges: bytes read | no ranges: bytes sent |")
    print("|---|---:|---:|---:|---:|")
    with (
        media_server({f"/{n}": d for n, d in files.items()}) as ranged,
        media_server({f"/{n}": d for n, d in files.items()}, ranges=False) as plain,
    ):
        for name, data in files.items():
            size = data.stat().st_size if isinstance(data, Path) else len(data)
            figures = []
            for origin in (ranged, plain):
                path = write_manifest(tmp / "one.yaml", {"a": f"{origin.url}/{name}"}, "face.png")
                (tmp / "face.png").write_bytes(FACE)
                result = check(path, inputs=InputCheck(AddressPolicy(allow_loopback=True), None))
                known = isinstance(result.remote.get(f"{origin.url}/{name}"), float)
                figures.append((len(origin.requests(f"/{name}")), origin.sent(f"/{name}"), known))
            (requests, read, _), (_, sent, known) = figures
            shown = f"{sent:,}" if known else f"{sent:,} (unknown: header past 4 MiB)"
            print(f"| {name} | {size:,} | {requests} | {read:,} | {shown} |")


def download_all(urls: list[str]) -> tuple[float, int]:
    """The yardstick: every URL downloaded whole, 16 at a time."""
    with httpx.Client(trust_env=False) as client:

        def get(url: str) -> int:
            return len(client.get(url).content)

        start = time.perf_counter()
        with ThreadPoolExecutor(PROBE_CONCURRENCY) as pool:
            total = sum(pool.map(get, urls))
        return time.perf_counter() - start, total


def many(tmp: Path, count: int) -> None:
    kinds = samples()
    names = sorted(kinds)
    with media_server({"/face.png": FACE}) as ranged, media_server(ranges=False) as plain:
        audio: dict[str, str] = {}
        for n in range(count):
            origin = plain if n % 4 == 0 else ranged
            origin.put(f"/v/{n}", kinds[names[n % len(names)]])
            audio[f"j{n}"] = f"{origin.url}/v/{n}"
        path = write_manifest(tmp / "r.yaml", audio, f"{ranged.url}/face.png")
        inputs = InputCheck(AddressPolicy(allow_loopback=True), tmp / "cache")
        rows = []
        for label in ("first plan (empty cache)", "second plan"):
            for origin in (ranged, plain):
                origin.forget()
            start = time.perf_counter()
            result = check(path, inputs=inputs)
            took = time.perf_counter() - start
            estimate = estimate_plan(result.plan, remote=result.remote)
            assert not estimate.unknown, estimate.unknown  # a complete estimate
            rows.append((label, took, _requests(ranged, plain), _sent(ranged, plain)))
        assert rows[1][2] == count + 1  # one conditional request per URL
        yard_time, yard_bytes = download_all(list(audio.values()))
    print(f"\n{count} inputs ({count // 4} on an origin without ranges), one image URL")
    print("| pass | wall s | requests | bytes | time / download-all | bytes / download-all |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, took, requests, sent in rows:
        print(
            f"| {label} | {took:.2f} | {requests} | {sent:,} | "
            f"{took / yard_time:.2f} | {sent / yard_bytes:.3f} |"
        )
    print(f"| yardstick: download all | {yard_time:.2f} | {count} | {yard_bytes:,} | 1 | 1 |")


def _requests(*origins: MediaServer) -> int:
    return sum(len(o.requests()) for o in origins)


def _sent(*origins: MediaServer) -> int:
    return sum(o.sent() for o in origins)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else INPUTS
    with tempfile.TemporaryDirectory() as tmp:
        per_file(Path(tmp))
        many(Path(tmp), count)


if __name__ == "__main__":
    main()
