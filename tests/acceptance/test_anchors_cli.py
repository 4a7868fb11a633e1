"""The anchors example as a user runs it: validate, run --local, rerun with nothing to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from _support import ROOT

CLI = [sys.executable, "-m", "lipsync_pipeline"]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_anchors_example_validates_runs_locally_and_is_then_up_to_date(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(
        ROOT / "manifests" / "examples", folder, ignore=shutil.ignore_patterns("*.lock", "renders")
    )
    manifest = folder / "anchors.yaml"
    checked = cli("validate", manifest, "--format", "json")
    assert checked.returncode == 0, checked.stderr

    first = cli("run", manifest, "--local", "--format", "json")

    assert first.returncode == 0, first.stderr
    jobs = {j["job"]: j["outcome"] for j in json.loads(first.stdout)["jobs"]}
    assert jobs == dict.fromkeys(["welcome", "welcome-720", "hosts-chat"], "completed")
    assert all((folder / "renders" / f"{job}.mp4").stat().st_size > 0 for job in jobs)
    again = cli("run", manifest, "--local", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert {j["outcome"] for j in json.loads(again.stdout)["jobs"]} == {"skipped"}
