"""An up-to-date ``run`` from the command line: done without the runner, yet with the
log lines a whole run would show, and read from the manifest cache the second time."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from lipsync_pipeline._digests import DIGESTS_FILE, REMEMBER_BYTES
from lipsync_pipeline.lockfile import Artifact, LockEntry, render_lock
from lipsync_pipeline.manifest import load_manifest

CLI = [sys.executable, "-m", "lipsync_pipeline"]
URL = "https://cdn.example.com"


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def project(folder: Path, render_bytes: int) -> Path:
    """One job, its lock saying it is rendered, the render (``render_bytes`` long) there."""
    path = folder / "renders.yaml"
    path.write_text(
        f"version: 1\njobs:\n  - id: a\n    kind: avatar\n    image: {URL}/a.png\n"
        f"    audio: {URL}/a.mp3\n"
    )
    job = load_manifest(path).jobs[0]
    data = os.urandom(render_bytes)
    (folder / "renders").mkdir()
    (folder / "renders" / "a.mp4").write_bytes(data)
    artifact = Artifact("renders/a.mp4", hashlib.sha256(data).hexdigest(), len(data))
    seed = job.form_state["seed"]
    entry = LockEntry(
        "a", job.fingerprint, job.model, "completed", "k", seed=seed, artifact=artifact
    )
    (folder / "renders.lock").write_bytes(render_lock([entry]))
    return path


def test_an_up_to_date_run_still_shows_its_log_lines(tmp_path: Path) -> None:
    # Enough to hash that the run remembers the digests, where a link refuses the write.
    path = project(tmp_path, REMEMBER_BYTES + 1)
    (tmp_path / "renders" / DIGESTS_FILE).symlink_to(tmp_path / "elsewhere.json")

    done = cli(
        "run", "--local", "-v", "--log-format", "json", "--format", "json", path, cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"skipped": 1}
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(line["event"] == "digests not remembered" for line in lines), done.stderr
    assert not (tmp_path / "elsewhere.json").exists()


def test_a_second_run_reads_the_manifest_from_the_cache_and_says_the_same(
    tmp_path: Path,
) -> None:
    path = project(tmp_path, 64)
    lock = (tmp_path / "renders.lock").read_bytes()
    first = cli("run", "--local", "--format", "json", path, cwd=tmp_path)
    cache = Path(os.environ["LIPSYNC_CACHE_DIR"]) / "manifests"
    assert len(list(cache.glob("*.json"))) == 1
    second = cli("run", "--local", "--format", "json", path, cwd=tmp_path)
    assert (first.returncode, second.returncode) == (0, 0)
    assert json.loads(first.stdout)["jobs"] == json.loads(second.stdout)["jobs"]
    assert (tmp_path / "renders.lock").read_bytes() == lock
