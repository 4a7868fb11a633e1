"""The lock merge driver under a real ``git merge``: two branches add jobs and run
them; with the driver the merge is clean and the lock holds both sets, without it
(a clone that never registered it) git conflicts, and ``validate`` says why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import StartStudio, avatar_manifest, remote_request

from lipsync_pipeline.lockfile import load_lock
from lipsync_pipeline.usecases import run_pipeline, validate

# The tests' git sees no user or system configuration, only what they set.
_GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in _GIT_ENV.items():
        monkeypatch.setenv(name, value)
    # git runs the driver by name, as a user's shell would: this interpreter's scripts.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    return dict(os.environ)


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stdout}{done.stderr}")
    return done


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lipsync_pipeline", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


async def test_git_merge_of_two_branches_that_added_jobs(
    start_studio: StartStudio, tmp_path: Path, git_env: dict[str, str]
) -> None:
    root = await start_studio(fast=True)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.invalid")
    (repo / ".gitignore").write_text("renders/\n*.run\n*.journal\n")
    manifest = repo / "renders.yaml"

    async def commit_run(ids: list[str], message: str) -> None:
        manifest.write_text(avatar_manifest(root, ids))
        await run_pipeline(remote_request(manifest, root))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)

    await commit_run(["a", "m"], "base")
    installed = cli(repo, "lock", "install-merge-driver")
    assert installed.returncode == 0, installed.stderr
    assert "merge.lipsync-lock.driver" in installed.stdout and ".gitattributes" in installed.stdout
    again = cli(repo, "lock", "install-merge-driver")
    assert "nothing to do" in again.stdout  # idempotent
    assert (repo / ".gitattributes").read_text() == "*.lock merge=lipsync-lock\n"
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "the lock merges per job")

    # Both insert their job between "a" and "m" in the lock (ids sorted): a text conflict.
    git(repo, "checkout", "-q", "-b", "left")
    await commit_run(["a", "b1", "m"], "add b1")
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "right")
    await commit_run(["a", "m", "b2"], "add b2")
    theirs = load_lock(repo / "renders.lock").entries
    git(repo, "checkout", "-q", "left")
    ours = load_lock(repo / "renders.lock").entries

    clone = tmp_path / "clone"  # a clone never registers the driver: git config is local
    git(tmp_path, "clone", "-q", str(repo), str(clone))

    merged = git(repo, "merge", "--no-edit", "right", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "CONFLICT" not in merged.stdout
    lock_text = (repo / "renders.lock").read_text()
    assert "<<<<<<<" not in lock_text
    result = load_lock(repo / "renders.lock").entries
    assert set(result) == {"a", "b1", "m", "b2"}
    assert result["b1"] == ours["b1"] and result["b2"] == theirs["b2"]
    assert all(e.status == "completed" for e in result.values())
    assert validate([manifest]).valid

    # The silent fallback: .gitattributes names the driver, this clone lacks it.
    checked = validate([clone / "renders.yaml"])
    warnings = [str(w) for f in checked.files for w in f.warnings]
    assert any(".gitattributes:1:" in w and "install-merge-driver" in w for w in warnings)
    git(clone, "config", "user.name", "Test")
    git(clone, "config", "user.email", "test@example.invalid")
    assert git(clone, "branch", "--show-current").stdout.strip() == "left"  # repo's HEAD
    fallback = git(clone, "merge", "--no-edit", "origin/right", check=False)
    assert fallback.returncode != 0
    assert "CONFLICT (content): Merge conflict in renders.lock" in fallback.stdout
    assert "<<<<<<<" in (clone / "renders.lock").read_text()


def test_lock_merge_cli_exit_codes(tmp_path: Path) -> None:
    base, ours, theirs = (tmp_path / n for n in ("base.lock", "ours.lock", "theirs.lock"))
    base.write_bytes(b"")  # git's stand-in for "no common ancestor"
    ours.write_text('{"version": 1, "jobs": {}}\n')
    theirs.write_text("not json\n")
    bad = cli(tmp_path, "lock", "merge", str(base), str(ours), str(theirs))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"{theirs}:1:" in bad.stderr
    theirs.write_text('{"version": 1, "jobs": {}}\n')
    out = tmp_path / "out.lock"
    ok = cli(tmp_path, "lock", "merge", str(base), str(ours), str(theirs), "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    assert out.read_text() == '{\n  "version": 1,\n  "jobs": {}\n}\n'


def test_plan_shard_and_lock_fold_from_the_command_line(tmp_path: Path) -> None:
    manifest = tmp_path / "renders.yaml"
    manifest.write_text(avatar_manifest("https://example.invalid", ["a", "b", "c", "d"]))
    # No input check: tests talk to loopback only.
    shown = cli(
        tmp_path, "plan", str(manifest), "--shard", "1/2", "--no-input-check", "--format", "json"
    )
    assert shown.returncode == 0, shown.stderr
    assert '"unselected"' in shown.stdout and '"submit"' in shown.stdout
    bad = cli(tmp_path, "plan", str(manifest), "--shard", "3/2")
    assert bad.returncode == 2 and "K must be 1 to 2" in bad.stderr
    assert not list(tmp_path.glob("*.shard-*"))  # plan writes nothing

    lock = '{"version": 1, "jobs": {"a": {"fingerprint": "sha256:%s", "idempotency_key": "k", "model": "lipsync-image", "request_id": "%s", "status": "processing"}}}\n'  # noqa: E501
    (tmp_path / "renders.lock").write_text(lock % ("a" * 64, "old"))
    shard = tmp_path / "renders.lock.shard-1-of-2"
    shard.write_text(lock % ("a" * 64, "new"))
    folded = cli(tmp_path, "lock", "fold", "renders.lock", shard.name, "--format", "json")
    # The shard was seeded from the main lock, so its change wins; the id it replaced
    # is reported, not silently dropped.
    assert folded.returncode == 0, folded.stderr
    assert '"request_id": "old"' in folded.stdout and '"kept": "new"' in folded.stdout
    assert '"new"' in (tmp_path / "renders.lock").read_text()

    # Both sides added the job under different ids and neither render exists: a human
    # decides, and until then every command refuses the lock, located.
    (tmp_path / "base.lock").write_bytes(b"")
    (tmp_path / "theirs.lock").write_text(lock % ("a" * 64, "other"))
    merged = cli(tmp_path, "lock", "merge", "base.lock", "renders.lock", "theirs.lock")
    assert merged.returncode == 1 and "needs a human" in merged.stderr
    refused = cli(tmp_path, "plan", str(manifest))
    assert refused.returncode == 2 and "renders.lock:" in refused.stderr
    assert "unfinished `lock merge`" in refused.stderr


def test_a_refused_shard_run_leaves_no_shard_lock(tmp_path: Path) -> None:
    manifest = tmp_path / "renders.yaml"
    manifest.write_text(avatar_manifest("https://example.invalid", ["a", "b", "c", "d"]))
    lock = '{"version": 1, "jobs": {"a": {"fingerprint": "sha256:%s", "idempotency_key": "k", "model": "lipsync-image", "request_id": "r", "status": "processing"}}}\n'  # noqa: E501
    (tmp_path / "renders.lock").write_text(lock % ("a" * 64))
    keyless = {k: v for k, v in os.environ.items() if k != "LIPSYNC_API_KEY"}
    keyed = {**keyless, "LIPSYNC_API_KEY": "sk_test_secret"}
    # A closed loopback port: nothing here may reach the network anyway.
    common = ["run", str(manifest), "--shard", "1/2", "--no-input-check"]
    common += ["--base-url", "http://127.0.0.1:9/api/v1"]
    # A selector that matches nothing, a cap below the estimate, no key: each is
    # refused before anything is written, so no shard lock appears to be committed.
    cases = (
        (["--only", "nosuch"], keyed, 2),
        (["--max-credits", "1"], keyed, 6),
        ([], keyless, 2),
    )
    for extra, env, code in cases:
        done = subprocess.run(
            [sys.executable, "-m", "lipsync_pipeline", *common, *extra],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == code, (extra, done.stderr)
        assert not list(tmp_path.glob("*.shard-*")), extra
