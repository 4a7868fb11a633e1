"""The API key never leaves the process: not in output, logs, lockfiles, journals or reports.

A recognisable canary key goes through the commands a user runs (validate, plan,
run with debug logs in both log formats and JSON reports, a run the API refuses,
a malformed key, status, status --refresh); then every byte the commands printed
and every file under the run's directory is searched for the key and for its
secret part alone (a redaction that keeps the secret would still leak it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trio
from _support import ASSETS, StartStudio, avatar_manifest

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


# Names shaped like sk_<id>_<secret> that are no secret: a job id, a manifest path, input
# files (whose names reach the studio's URLs). Masking any of them loses data.
LOOKALIKE_IDS: Final = ("task_01_welcome", "desk_2_final")
LOOKALIKE_MANIFEST: Final = "mask_on_dialog.yaml"
LOOKALIKE_INPUTS: Final = {"image": "assets/desk_2_final.png", "audio": "assets/risk_of_rain.wav"}


def _lookalike_workspace(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    shutil.copyfile(ASSETS / "face.png", tmp_path / LOOKALIKE_INPUTS["image"])
    shutil.copyfile(ASSETS / "voice-a.wav", tmp_path / LOOKALIKE_INPUTS["audio"])
    lines = ["version: 1", "jobs:"]
    for job_id in LOOKALIKE_IDS:
        lines += [f"  - id: {job_id}", "    kind: avatar"]
        lines += [f"    {field}: {value}" for field, value in LOOKALIKE_INPUTS.items()]
    (tmp_path / LOOKALIKE_MANIFEST).write_text("\n".join(lines) + "\n")
    return tmp_path


async def test_names_shaped_like_a_key_are_shown_and_recorded_as_they_are(
    tmp_path: Path,
) -> None:
    """Redaction masks the secrets the process holds, not text shaped like a key: ids,
    paths and URLs pass untouched through run, status and plan, output and logs."""
    work = _lookalike_workspace(tmp_path)
    debug_json = ("-v", "--log-format", "json", "--format", "json")

    ran = await _cli(work, "run", LOOKALIKE_MANIFEST, "--local", *debug_json)
    status = await _cli(work, "status", LOOKALIKE_MANIFEST, *debug_json)
    planned = await _cli(work, "plan", LOOKALIKE_MANIFEST, "--replace", "desk_2_final", *debug_json)
    missing = await _cli(work, "plan", "mask_on_dialog_v2.yaml")

    for done in (ran, status, planned):
        assert done.returncode == 0, done.output.decode(errors="replace")
    everything = b"".join(r.output for r in (ran, status, planned, missing)).decode()
    assert "***" not in everything
    report = json.loads(ran.output.decode().splitlines()[0])  # stdout comes first
    assert [j["job"] for j in report["jobs"]] == list(LOOKALIKE_IDS)
    assert {j["outcome"] for j in report["jobs"]} == {"completed"}
    assert [a["artifact"]["path"] for a in report["jobs"]] == [
        f"renders/{job_id}.mp4" for job_id in LOOKALIKE_IDS
    ]
    # The studio fetched the inputs from URLs naming them, and the logs say so verbatim.
    assert "task_01_welcome" in ran.output.decode().split("\n", 1)[1]
    shown = json.loads(status.output.decode().splitlines()[0])
    assert [j["job"] for j in shown["jobs"]] == list(LOOKALIKE_IDS)
    assert {j["recorded"]["status"] for j in shown["jobs"]} == {"completed"}
    plan = json.loads(planned.output.decode().splitlines()[0])
    assert plan["manifest"] == LOOKALIKE_MANIFEST
    assert plan["lock"] == "mask_on_dialog.lock"
    assert {s["job"]: s["action"] for s in plan["steps"]} == {
        "task_01_welcome": "skip",
        "desk_2_final": "submit",
    }
    assert plan["steps"][0]["form_state"]["image"] == LOOKALIKE_INPUTS["image"]
    assert missing.returncode == 2 and "mask_on_dialog_v2.yaml" in everything
    lock = json.loads((work / "mask_on_dialog.lock").read_text())
    assert sorted(lock["jobs"]) == sorted(LOOKALIKE_IDS)
    assert all(e["artifact"]["path"].startswith("renders/") for e in lock["jobs"].values())
    assert sorted(p.name for p in (work / "renders").iterdir()) == [
        "desk_2_final.mp4",
        "task_01_welcome.mp4",
    ]
