"""`lipsync-pipeline serve` as a real process: its peak memory under hostile inputs, its keys.

Peak memory is the kernel's high-water mark of the process's resident set
(``VmHWM`` in ``/proc/PID/status``): what the hostile requests cost at their
worst, whatever the timing, read once they have all been answered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio
from studio_helpers import huge_png, wait_job

ENV_KEYS = ("sk_env_first0secret", "sk_env_second0secret")
FILE_KEY = "sk_file_only0secret"
MAX_PEAK_MB = 300
HUGE_BODY = 300 * 1024 * 1024
_CHUNK = 1024 * 1024
_URL_LINE = re.compile(r"lipsync studio on (http://127\.0\.0\.1:\d+)")

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc"
)


@dataclass(frozen=True)
class Served:
    root: str
    pid: int
    argv: tuple[str, ...]


def _peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert found, status
    return int(found.group(1)) / 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[Served]:
    assets = tmp_path_factory.mktemp("hostile-assets")
    huge_png(assets / "huge.png")
    for name in ("face.png", "a.wav"):
        shutil.copy(media / name, assets / name)
    key_file = assets.parent / "studio-keys.txt"
    key_file.write_text(f"# keys of the test studio\n\n{FILE_KEY}\n")
    argv = [sys.executable, "-m", "lipsync_pipeline", "serve", "-q", "--port", "0"]
    argv += ["--assets", str(assets), "--api-key-file", str(key_file)]
    env = {"PATH": "/usr/bin:/bin", "LIPSYNC_STUDIO_API_KEYS": ",".join(ENV_KEYS)}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        found = _URL_LINE.search(proc.stdout.readline())
        assert found, "the studio did not say where it listens"
        yield Served(found.group(1), proc.pid, tuple(argv))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _chunked_post(root: str, key: str) -> bytes:
    """POST a 300 MB chunked body as fast as the studio takes it; the answer's head."""
    port = int(root.rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(
        b"POST /api/v1/lipsync-image HTTP/1.1\r\nhost: studio\r\n"
        b"authorization: Bearer " + key.encode() + b"\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n" % _CHUNK + b"[" * _CHUNK + b"\r\n"
    head = b""

    async def send() -> None:
        try:
            for _ in range(HUGE_BODY // _CHUNK):
                await stream.send_all(chunk)
        except trio.BrokenResourceError:
            pass  # the studio answered and closed: expected

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            while b"\r\n\r\n" not in head:
                more = await stream.receive_some(65536)
                if not more:
                    break
                head += more
            nursery.cancel_scope.cancel()
    await stream.aclose()
    return head


async def test_peak_memory_under_hostile_inputs_stays_bounded(served: Served) -> None:
    root, key = served.root, ENV_KEYS[0]
    head = await _chunked_post(root, key)
    assert head.startswith(b"HTTP/1.1 413"), head[:100]
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=root, headers=auth, timeout=60) as client:
        nested = b'{"formState": ' + b"[" * 500_000 + b"]" * 500_000 + b"}"
        response = await client.post("/api/v1/lipsync-image", content=nested)
        assert response.status_code == 400
        huge, face, voice = (f"{root}/assets/{n}" for n in ("huge.png", "face.png", "a.wav"))
        forms = [
            *[("lipsync-image", {"image": huge, "audio": voice})] * 4,  # decoded at once?
            ("lipsync-image", {"image": face, "audio": huge}),
            ("lipsync-image", {"image": face, "audio": voice, "mask_image": huge}),
            ("lipsync-video", {"video": huge, "audio": voice}),
            ("lipsync-image-multi", {"image": huge, "left_audio": voice, "right_audio": huge}),
        ]
        ids = []
        for model, form in forms:
            response = await client.post(f"/api/v1/{model}", json={"formState": form})
            assert response.status_code == 200, response.text
            ids.append(response.json()["id"])
        jobs = [await wait_job(client, job_id, timeout=60) for job_id in ids]
    assert [job["status"] for job in jobs] == ["failed"] * len(forms)
    peak = _peak_mb(served.pid)
    print(f"studio peak RSS under hostile inputs: {peak:.0f} MB")
    assert peak < MAX_PEAK_MB


async def test_keys_come_from_the_environment_and_a_file(served: Served) -> None:
    assert not any(key in " ".join(served.argv) for key in (*ENV_KEYS, FILE_KEY))
    async with httpx.AsyncClient(base_url=served.root, timeout=10) as client:
        for key, status in [
            *((k, 200) for k in (*ENV_KEYS, FILE_KEY)),
            ("sk_not_accepted0secret", 401),
        ]:
            auth = {"Authorization": f"Bearer {key}"}
            assert (await client.get("/_studio/stats", headers=auth)).status_code == status
        assert (await client.get("/_studio/stats")).status_code == 401


def test_an_unreadable_key_file_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "keys.txt"
    empty.write_text("# nothing but a comment: sk_not_a_key_here\n")
    for path in (tmp_path / "missing.txt", empty):
        argv = [sys.executable, "-m", "lipsync_pipeline", "serve", "--api-key-file", str(path)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert str(path) in done.stderr and "sk_not_a_key_here" not in done.stderr
