"""The integrations shipped in the repository, run as their hosts would run them:
the GitHub Action (action.yml's ``run:`` steps as bash, inputs substituted, against the
built-in studio) and the pre-commit hook (.pre-commit-hooks.yaml's entry on the
bad-input corpus and on the good manifests). Both files parse and name commands and
flags that exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from _support import ASSETS, ROOT

from lipsync_pipeline.cli._parser import build_parser
from lipsync_pipeline.lockfile import load_lock
from lipsync_pipeline.manifest import load_manifest

ACTION: Final = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
HOOKS: Final = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
CORPUS: Final = ROOT / "tests" / "acceptance" / "corpus"
# GitHub runs a `shell: bash` step as this (docs: "Using a specific shell").
BASH: Final = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
_EXPRESSION: Final = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
# A job of 3 s of audio: 10 credits at 480p.
ONE_JOB: Final = """\
version: 1
jobs:
  - id: hello
    kind: avatar
    image: face.png
    audio: voice-a.wav
"""


# --- the GitHub Action -------------------------------------------------------------------


def test_the_action_is_a_composite_action_with_the_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert {"manifest", "command", "max-credits", "working-directory"} <= set(ACTION["inputs"])
    assert ACTION["inputs"]["manifest"]["required"] is True
    assert ACTION["inputs"]["command"]["default"] == "plan"
    assert set(ACTION["outputs"]) == {"exit-code", "changes", "summary-file"}
    text = (ROOT / "action.yml").read_text("utf-8")
    assert not re.search(r"\bgit\s+(commit|push|add)\b", text)  # it commits nothing


def test_the_action_names_commands_and_flags_that_exist() -> None:
    parser = build_parser()
    for command in ("plan", "run"):
        args = [command, "r.yaml", "--format", "markdown", "--max-credits", "5"]
        args += ["--detailed-exitcode"] if command == "plan" else ["--local"]
        parsed = parser.parse_args(args)  # argparse exits on an unknown flag
        assert parsed.command == command and parsed.format == "markdown"
    assert "-m lipsync_pipeline" in _step("lipsync")["run"]


def _step(step_id: str) -> dict[str, Any]:
    return next(step for step in ACTION["runs"]["steps"] if step.get("id") == step_id)


def _substitute(text: str, inputs: Mapping[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        expression = found[1]
        assert expression.startswith("inputs."), f"the test does not know {expression!r}"
        return inputs[expression.removeprefix("inputs.")]

    return _EXPRESSION.sub(value, text)


def _run_action(tmp_path: Path, checkout: Path, **given: str) -> tuple[int, dict[str, str], str]:
    """Run action.yml's ``run:`` steps as GitHub would: bash -eo pipefail, inputs
    substituted (defaults included), the step's env, its working directory, and
    GITHUB_STEP_SUMMARY / GITHUB_OUTPUT pointing at files here. `uses:` steps
    (setup-python) are GitHub's own; `python3 -m pip install` goes to a recorder (no
    network in tests), every other python3 to this interpreter. Returns the exit
    code of the last step, the outputs and the pip install arguments."""
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs.update({name.replace("_", "-"): value for name, value in given.items()})
    shims = tmp_path / "shims"
    shims.mkdir(exist_ok=True)
    pip_log = tmp_path / "pip.log"
    python3 = shims / "python3"
    python3.write_text(
        "#!/bin/bash\n"
        'if [ "$1 $2 $3" = "-m pip install" ]; then printf "%s\\n" "$@" > "$PIP_LOG"; exit 0; fi\n'
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    python3.chmod(0o755)
    outputs_file = tmp_path / "github_output"
    outputs_file.write_text("")
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIPSYNC_", "GITHUB_"))}
    env.update(
        PATH=f"{shims}{os.pathsep}{env.get('PATH', '')}",
        PIP_LOG=str(pip_log),
        GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_OUTPUT=str(outputs_file),
        GITHUB_STEP_SUMMARY=str(tmp_path / "step_summary.md"),
        RUNNER_TEMP=str(runner_temp),
    )
    code = 0
    for step in ACTION["runs"]["steps"]:
        if "run" not in step:
            assert step["uses"].startswith("actions/setup-python@")
            continue
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], "inputs reach the script through env only"
        step_env = {k: _substitute(str(v), inputs) for k, v in step.get("env", {}).items()}
        cwd = checkout / _substitute(step.get("working-directory", "."), inputs)
        script = tmp_path / "step.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            [*BASH, str(script)],
            cwd=cwd,
            env={**env, **step_env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        code = result.returncode
        assert "Traceback" not in result.stderr, result.stderr
        if code != 0:
            break
    outputs = dict(
        line.split("=", 1) for line in outputs_file.read_text().splitlines() if "=" in line
    )
    return code, outputs, pip_log.read_text() if pip_log.exists() else ""


def _checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "media").mkdir(parents=True)
    for name in ("face.png", "voice-a.wav"):
        shutil.copy(ASSETS / name, checkout / "media" / name)
    (checkout / "media" / "renders.yaml").write_text(ONE_JOB)
    return checkout


def test_the_action_plans_runs_and_writes_the_step_summary(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    summary = tmp_path / "step_summary.md"
    common = {"manifest": "renders.yaml", "working_directory": "media", "args": "--local"}

    code, out, pip = _run_action(tmp_path, checkout, command="plan", **common)

    # Installed from the action's own checkout: the tool and action.yml are one version.
    assert pip.splitlines()[-1] == str(ROOT)
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == (
        "lipsync-pipeline"
    )
    assert code == 0  # changes pending is a plan's success
    assert (out["exit-code"], out["changes"]) == ("7", "true")
    comment = Path(out["summary-file"]).read_text()
    assert comment.startswith("<!-- lipsync-pipeline plan: renders.yaml -->")
    assert "| submit | `hello` | 10 | new job |" in comment
    assert summary.read_text() == comment  # the step summary got the same Markdown

    code, out, _ = _run_action(tmp_path, checkout, command="run", max_credits="10", **common)

    assert (code, out["exit-code"]) == (0, "0")
    assert load_lock(checkout / "media" / "renders.lock").entries["hello"].status == "completed"
    ran = summary.read_text()
    assert "### lipsync-pipeline run: renders.yaml" in ran
    assert "✅ 1 completed" in ran and "billed **10** for 1 render(s)" in ran and "cap 10" in ran

    code, out, _ = _run_action(tmp_path, checkout, command="plan", **common)
    assert (code, out["exit-code"], out["changes"]) == (0, "0", "false")
    assert "✅ **Up to date**" in Path(out["summary-file"]).read_text()


def test_the_action_fails_the_step_over_the_spend_cap_and_on_a_bad_command(
    tmp_path: Path,
) -> None:
    checkout = _checkout(tmp_path)
    lock = checkout / "media" / "renders.lock"
    code, out, _ = _run_action(
        tmp_path,
        checkout,
        command="run",
        manifest="renders.yaml",
        working_directory="media",
        max_credits="9",
        args="--local",
    )
    assert (code, out["exit-code"]) == (6, "6")
    assert not lock.exists()
    assert "over the cap of 9" in (tmp_path / "step_summary.md").read_text()

    code, out, _ = _run_action(tmp_path, checkout, command="apply", manifest="renders.yaml")
    assert code == 2 and out == {}


# --- the pre-commit hook -----------------------------------------------------------------


def _hook() -> dict[str, Any]:
    (hook,) = HOOKS
    return dict(hook)


def test_the_hook_names_the_validate_command_and_matches_manifest_names() -> None:
    hook = _hook()
    assert hook["id"] == "lipsync-validate" and hook["language"] == "python"
    program, command = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts
    assert build_parser().parse_args([command, "x.yaml"]).command == "validate"
    files = re.compile(hook["files"])
    for name in (
        "renders.yaml",
        "renders.lock",
        "renders-prod.yml",
        "media/renders.yaml",
        "ads/spring.lipsync.yaml",
        "ads/spring.lipsync.lock",
    ):
        assert files.search(name), name
    for name in (
        "action.yml",
        ".github/workflows/render.yml",
        "renders/intro.yaml",  # a folder named renders holds renders, not manifests
        "renders.lock.journal",
        "poetry.lock",
        "config.yaml",
    ):
        assert not files.search(name), name


def _entry(*files: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The hook's entry as pre-commit runs it: the command, then the changed files."""
    program, *args = shlex.split(_hook()["entry"])
    executable = Path(sys.executable).parent / program
    assert executable.exists(), "the console script pyproject.toml declares"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    return subprocess.run(
        [str(executable), *args, *map(str, files)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=300,
        check=False,
    )


def test_the_hook_passes_the_good_manifests() -> None:
    good = [
        ROOT / "manifests" / "demo.yaml",
        *sorted((ROOT / "manifests" / "examples").glob("*.yaml")),
    ]
    result = _entry(*good)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": valid (") == len(good)


def test_the_hook_fails_every_bad_manifest_of_the_corpus() -> None:
    bad = sorted((CORPUS / "manifests").iterdir())
    result = _entry(*bad)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    as_json = _entry(*bad, "--format", "json")  # `args: [--format, json]` in a config
    files = json.loads(as_json.stdout)["files"]
    assert as_json.returncode == 2
    assert [f["file"] for f in files] == [str(p) for p in bad]
    assert [f["file"] for f in files if f["valid"]] == []
    assert all(f["errors"] for f in files)


def _fill_fingerprints(data: bytes) -> bytes:
    jobs = {job.id: job.fingerprint for job in load_manifest(CORPUS / "base.yaml").jobs}
    return re.sub(rb"@FP:([A-Za-z0-9._-]+)@", lambda m: jobs[m[1].decode()].encode(), data)


@pytest.mark.parametrize("role", ["locks", "journals"])
def test_a_changed_bad_lock_fails_the_hook_with_its_manifest(tmp_path: Path, role: str) -> None:
    """pre-commit hands over the lock alone when only the lock changed."""
    cases = sorted((CORPUS / role).iterdir())
    locks = []
    for index, case in enumerate(cases):
        folder = tmp_path / f"case{index}"
        folder.mkdir()
        shutil.copy(CORPUS / "base.yaml", folder / "renders.yaml")
        lock = folder / "renders.lock"
        data = _fill_fingerprints(case.read_bytes())
        if role == "locks":
            lock.write_bytes(data)
        else:
            lock.write_text('{\n  "version": 1,\n  "jobs": {}\n}\n')
            (folder / "renders.lock.journal").write_bytes(data)
        locks.append(lock)

    result = _entry(*locks, "--format", "json")

    assert result.returncode == 2, result.stderr
    files = json.loads(result.stdout)["files"]
    assert [f["file"] for f in files] == [str(lock.with_suffix(".yaml")) for lock in locks]
    assert [f["lock"]["valid"] for f in files] == [False] * len(cases)
    # The same folders with a good lock pass: the hook judged the locks, not the manifest.
    for lock in locks:
        lock.write_text('{\n  "version": 1,\n  "jobs": {}\n}\n')
        lock.with_name("renders.lock.journal").unlink(missing_ok=True)
    assert _entry(*locks).returncode == 0


def test_a_lock_without_its_manifest_fails_the_hook(tmp_path: Path) -> None:
    (tmp_path / "renders.lock").write_text('{\n  "version": 1,\n  "jobs": {}\n}\n')
    result = _entry("renders.lock", cwd=tmp_path)
    assert result.returncode == 2
    assert "renders.lock: a lockfile with no manifest beside it" in result.stderr
