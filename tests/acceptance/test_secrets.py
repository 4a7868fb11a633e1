"""The API key never leaves the process: not in output, logs, lockfiles, journals or reports.

A recognisable canary key goes through the commands a user runs (validate, plan,
run with debug logs in both log formats and JSON reports, a run the API refuses,
a malformed key, status, status --refresh); then every byte the commands printed
and every file under the run's directory is searched for the key and for its
secret part alone (a redaction that keeps the secret would still leak it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trio
from _support import StartStudio, avatar_manifest

CLI: Final = [sys.executable, "-m", "lipsync_pipeline"]
KEY: Final = "sk_canary_S3CRETcanary123"
SECRET: Final = "S3CRETcanary123"
# A key of the same shape the refusing studio expects instead of ours.
OTHER_KEY: Final = "sk_other_0therSecret456"


@dataclass(frozen=True, slots=True)
class Ran:
    args: tuple[str, ...]
    returncode: int
    output: bytes  # stdout and stderr


async def _cli(cwd: Path, *args: str, key: str = KEY) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    env["LIPSYNC_API_KEY"] = key
    done = await trio.run_process(
        [*CLI, *args], cwd=cwd, env=env, capture_stdout=True, capture_stderr=True, check=False
    )
    return Ran(args, done.returncode, done.stdout + done.stderr)


def _leaks(data: bytes) -> list[str]:
    return [s for s in (KEY, SECRET) if s.encode() in data]


async def test_the_api_key_appears_in_no_output_and_no_file(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    good = await start_studio(fast=True)
    slow = await start_studio(fast=True, render_delay=60.0)
    refusing = await start_studio(fast=True, api_keys=frozenset({OTHER_KEY}))
    (tmp_path / "done.yaml").write_text(avatar_manifest(good, ["a", "b"]))
    (tmp_path / "pending.yaml").write_text(avatar_manifest(slow, ["p"]))
    (tmp_path / "refused.yaml").write_text(avatar_manifest(refusing, ["r"]))
    debug_json = ("-v", "--log-format", "json", "--format", "json")
    debug_console = ("-v", "--log-format", "console")

    runs = [
        await _cli(tmp_path, "validate", "done.yaml", *debug_json),
        await _cli(tmp_path, "plan", "done.yaml", *debug_json),
        await _cli(
            tmp_path,
            "run",
            "done.yaml",
            "--base-url",
            f"{good}/api/v1",
            "--poll-interval",
            "0.05",
            *debug_json,
        ),
        await _cli(tmp_path, "status", "done.yaml", *debug_json),
        # Stops waiting while the job is still processing: the lock keeps a request id
        # for status --refresh to ask about, with the key.
        await _cli(
            tmp_path,
            "run",
            "pending.yaml",
            "--base-url",
            f"{slow}/api/v1",
            "--poll-interval",
            "0.05",
            "--job-timeout",
            "0.3",
            *debug_console,
        ),
        await _cli(
            tmp_path,
            "status",
            "pending.yaml",
            "--refresh",
            "--base-url",
            f"{slow}/api/v1",
            *debug_json,
        ),
        await _cli(
            tmp_path,
            "status",
            "pending.yaml",
            "--refresh",
            "--base-url",
            f"{slow}/api/v1",
            *debug_console,
        ),
        await _cli(
            tmp_path, "run", "refused.yaml", "--base-url", f"{refusing}/api/v1", *debug_json
        ),
        await _cli(
            tmp_path, "run", "refused.yaml", "--base-url", f"{refusing}/api/v1", *debug_console
        ),
        # A key that is not of the form sk_<id>_<secret>: the refusal must not echo it.
        await _cli(
            tmp_path,
            "run",
            "done.yaml",
            "--base-url",
            f"{good}/api/v1",
            "--replace",
            "a",
            *debug_json,
            key=f"{KEY}-with a space",
        ),
    ]

    codes = {" ".join(r.args[:2]) + f" #{n}": r.returncode for n, r in enumerate(runs)}
    # The commands did what they are for, so the search below covers real work.
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 1, 0, 0, 4, 4, 2], codes
    assert b"processing" in runs[5].output
    for ran in runs:
        assert _leaks(ran.output) == [], f"{ran.args}: {ran.output.decode(errors='replace')}"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"done.lock", "pending.lock", "a.mp4", "b.mp4"} <= names, names
    for path in files:
        assert _leaks(path.read_bytes()) == [], path
        assert _leaks(str(path).encode()) == [], path
    # A journal exists only during a run; look at one mid-run as well.
    proc = await trio.lowlevel.open_process(
        [*CLI, "run", "pending.yaml", "--base-url", f"{slow}/api/v1", "--replace", "p", "-q"],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")},
            "LIPSYNC_API_KEY": KEY,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = tmp_path / "pending.lock.journal"
    with trio.fail_after(30):
        while not journal.exists() or b"request_id" not in journal.read_bytes():
            await trio.sleep(0.05)
    proc.kill()
    await proc.wait()
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert _leaks(path.read_bytes()) == [], path
