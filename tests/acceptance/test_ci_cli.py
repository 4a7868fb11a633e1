"""The CI flags from the command line, in real processes against a studio on loopback:
``run --junit`` with render failures, a ``--junit`` path that cannot be written
(refused before any request), ``plan --format json`` with a cap, and the step summary
that ``plan`` and ``run`` append to."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest
from _support import ASSETS, TEST_KEY, avatar_manifest

CLI: Final = [sys.executable, "-m", "lipsync_pipeline"]
_LISTENING: Final = re.compile(r"lipsync studio on (http://127\.0\.0\.1:\d+)")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIPSYNC_", "GITHUB_"))}
    return {**env, "LIPSYNC_API_KEY": TEST_KEY, **extra}


@pytest.fixture(scope="module")
def failing_studio() -> Iterator[str]:
    """A studio (a process: these tests are synchronous) whose every job fails."""
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--fast", "--assets", str(ASSETS), "-q",
         "--job-failure-rate", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        found = _LISTENING.search(proc.stdout.readline())
        assert found, "the studio did not say where it listens"
        yield found[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _posts(root: str) -> int:
    stats = httpx.get(
        f"{root}/_studio/stats", headers={"Authorization": f"Bearer {TEST_KEY}"}, timeout=10
    ).json()
    return sum(stats["requests"].get("POST", {}).values())


def _cli(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], cwd=cwd, env=_env(**env), capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip


def test_run_junit_reports_failed_renders_as_failures(tmp_path: Path, failing_studio: str) -> None:
    (tmp_path / "r.yaml").write_text(avatar_manifest(failing_studio, ["a", "b"]))
    summary = tmp_path / "summary.md"
    result = _cli(
        "run", "r.yaml", "--base-url", f"{failing_studio}/api/v1", "--poll-interval", "0.05",
        "--junit", "junit.xml", "--format", "json",
        cwd=tmp_path, GITHUB_STEP_SUMMARY=str(summary),
    )  # fmt: skip

    assert result.returncode == 1, result.stderr
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.attrib["tests"], suite.attrib["failures"]) == ("2", "2")
    messages = [f.attrib["message"] for f in suite.iter("failure")]
    assert messages == ["Generation failed (injected fault)"] * 2
    assert [c.attrib["name"] for c in suite.iter("testcase")] == ["a", "b"]
    report = json.loads(result.stdout)
    assert report["counts"] == {"failed": 2}
    # The inputs were priced at their (loopback) URLs; failed renders bill nothing.
    assert report["estimated_credits"] > 0 and report["billed_credits"] == 0
    markdown = summary.read_text()
    assert "❌ 2 failed" in markdown and "| failed | `a` | Generation failed" in markdown


def test_a_junit_path_that_cannot_be_written_is_refused_before_any_request(
    tmp_path: Path, failing_studio: str
) -> None:
    (tmp_path / "r.yaml").write_text(avatar_manifest(failing_studio, ["a"]))
    (tmp_path / "elsewhere.xml").write_text("keep")
    (tmp_path / "junit.xml").symlink_to(tmp_path / "elsewhere.xml")
    posts = _posts(failing_studio)

    for target in ("junit.xml", "no/such/dir/junit.xml"):
        result = _cli(
            "run", "r.yaml", "--base-url", f"{failing_studio}/api/v1", "--junit", target,
            cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and target.split("/")[0] in result.stderr
    assert _posts(failing_studio) == posts
    assert not (tmp_path / "r.lock").exists()
    assert (tmp_path / "elsewhere.xml").read_text() == "keep"


def test_plan_json_and_the_step_summary_say_the_budget(tmp_path: Path) -> None:
    manifest = tmp_path / "r.yaml"
    manifest.write_text(
        "version: 1\nbudget: 15\njobs:\n"
        + "".join(
            f"  - id: {job}\n    kind: avatar\n    image: face.png\n    audio: voice-a.wav\n"
            for job in ("a", "b")
        )
    )
    for name in ("face.png", "voice-a.wav"):
        (tmp_path / name).write_bytes((ASSETS / name).read_bytes())
    summary = tmp_path / "summary.md"

    result = _cli(
        "plan", "r.yaml", "--format", "json", cwd=tmp_path, GITHUB_STEP_SUMMARY=str(summary)
    )

    assert result.returncode == 6, result.stderr
    budget = json.loads(result.stdout)["budget"]
    assert budget == {
        "cap": 15,
        "source": "r.yaml:2:9: budget",
        "allow_unknown_cost": False,
        "estimated_credits": 20,
        "unknown_cost_jobs": [],
        "over": True,
    }
    markdown = summary.read_text()
    assert "❌ **Over budget** (r.yaml:2:9: budget)" in markdown
    assert "| submit | `a` | 10 | new job |" in markdown

    # Invalid input: the summary says so, and the exit code stays 2.
    manifest.write_text("version: 1\njobs: []\n")
    failed = _cli("plan", "r.yaml", cwd=tmp_path, GITHUB_STEP_SUMMARY=str(summary))
    assert failed.returncode == 2
    assert "❌ **plan stopped**" in summary.read_text()
