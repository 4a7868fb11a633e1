"""``moved:`` from the command line: what plan, run, status and validate show (text and
JSON), stale entries as warnings, and a file in the way refused with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _support import ASSETS
from test_cli import cli

JOB = "    kind: avatar\n    image: assets/face.png\n    audio: assets/voice-a.wav\n"


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    """intro-v1 rendered with --local, then renamed to intro; a second moved: entry
    names ids no lock has heard of (stale)."""
    (tmp_path / "assets").mkdir()
    for name in ("face.png", "voice-a.wav"):
        shutil.copy(ASSETS / name, tmp_path / "assets" / name)
    path = tmp_path / "r.yaml"
    path.write_text(f"version: 1\njobs:\n  - id: intro-v1\n{JOB}")
    first = cli("run", "r.yaml", "--local", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    path.write_text(
        f"version: 1\njobs:\n  - id: intro\n{JOB}  - id: extra\n{JOB}"
        "moved:\n  - {from: intro-v1, to: intro}\n  - {from: never, to: extra}\n"
    )
    return path


def test_plan_shows_the_move_and_warns_about_the_stale_entry(renamed: Path) -> None:
    text = cli("plan", "r.yaml", "--local", cwd=renamed.parent)
    assert text.returncode == 0, text.stderr
    assert "move" in text.stdout and "moved from intro-v1" in text.stdout
    assert (
        "warning: r.yaml:13:5: moved[1]: stale: neither 'never' nor 'extra' is in r.lock"
        in text.stderr
    )
    data = json.loads(
        cli("plan", "r.yaml", "--local", "--format", "json", cwd=renamed.parent).stdout
    )
    steps = {s["job"]: s for s in data["steps"]}
    assert (steps["intro"]["action"], steps["intro"]["moved_from"]) == ("move", "intro-v1")
    assert steps["intro"]["estimated_credits"] is None  # not a submission: no cost
    assert "moved_from" not in steps["extra"] and steps["extra"]["action"] == "submit"
    assert [(w["line"], w["column"], w["where"]) for w in data["warnings"]] == [(13, 5, "moved[1]")]


def test_run_moves_then_status_and_validate_see_the_new_id(renamed: Path) -> None:
    folder = renamed.parent
    before = (folder / "renders" / "intro-v1.mp4").read_bytes()
    result = cli("run", "r.yaml", "--local", "--only", "intro", "--format", "json", cwd=folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["requests"] == {}
    (job,) = [j for j in report["jobs"] if j["job"] == "intro"]
    assert (job["action"], job["outcome"]) == ("move", "moved")
    assert job["artifact"]["path"] == "renders/intro.mp4"
    assert [w["where"] for w in report["warnings"]] == ["moved[1]"]
    assert (folder / "renders" / "intro.mp4").read_bytes() == before

    status = json.loads(cli("status", "r.yaml", "--format", "json", cwd=folder).stdout)
    row = next(j for j in status["jobs"] if j["job"] == "intro")
    assert (row["next"], row["recorded"]["location"]) == ("skip", "disk")
    checked = cli("validate", "r.yaml", cwd=folder)
    assert checked.returncode == 0
    assert "r.yaml:12:5: moved[0]: already applied" in checked.stderr
    assert "r.yaml:13:5: moved[1]: stale" in checked.stderr


def test_a_file_in_the_way_is_refused_with_exit_2_and_nothing_changes(renamed: Path) -> None:
    folder = renamed.parent
    (folder / "renders" / "intro.mp4").write_bytes(b"mine")
    lock = (folder / "r.lock").read_bytes()
    result = cli("run", "r.yaml", "--local", cwd=folder)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: r.yaml:12:5: moved[0]:" in result.stderr
    assert "renders/intro.mp4 already exists and is not the render of 'intro-v1'" in result.stderr
    assert (folder / "r.lock").read_bytes() == lock
    assert (folder / "renders" / "intro.mp4").read_bytes() == b"mine"
    assert (folder / "renders" / "intro-v1.mp4").exists()
