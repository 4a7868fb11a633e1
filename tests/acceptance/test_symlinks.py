"""A pull request that commits symbolic links gets nowhere (issue 10, item 1).

In a GitOps setup CI runs whatever a pull request commits, and git stores symlinks.
Each case plants one where the runner writes and checks that the run is refused
(exit 2, the path named, no traceback), that the link's target keeps its bytes and
that nothing appears outside the checkout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest
from _support import ASSETS

from lipsync_pipeline.cli import main
from lipsync_pipeline.errors import EXIT_INPUT, EXIT_OK

LOCAL_JOB: Final = """\
version: 1
jobs:
  - id: a
    kind: avatar
    image: face.png
    audio: voice-a.wav
"""
VICTIM: Final = b"someone's file: must keep these bytes\n"


@pytest.fixture(autouse=True)
def _leave_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() in-process must not configure structlog: its cache_logger_on_first_use
    would freeze module loggers for the rest of the session (other tests capture logs)."""
    monkeypatch.setattr("lipsync_pipeline.cli._main.configure_logging", lambda *_: None)


def outside_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/repo`` with a local one-job manifest, and ``tmp_path/outside/victim``;
    the working directory is the checkout, so messages name paths as a user types them."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("face.png", "voice-a.wav"):
        shutil.copy(ASSETS / name, repo / name)
    (repo / "r.yaml").write_text(LOCAL_JOB)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "victim").write_bytes(VICTIM)
    monkeypatch.chdir(repo)
    return repo


def run(*extra: str) -> int:
    return main(["run", "r.yaml", "--local", "-q", "--poll-interval", "0.05", *extra])


def _lock_run(repo: Path) -> str:
    (repo / "r.lock.run").symlink_to("../outside/victim")
    return "refusing to write through a symbolic link: r.lock.run"


def _dangling_journal(repo: Path) -> str:
    (repo / "r.lock.journal").symlink_to("../outside/created-by-the-run")
    return "refusing to write through a symbolic link: r.lock.journal"


def _lock(repo: Path) -> str:
    # A valid, empty lock outside: reading through the link is harmless, writing is not.
    (repo.parent / "outside" / "victim").write_bytes(b'{\n  "version": 1,\n  "jobs": {}\n}\n')
    (repo / "r.lock").symlink_to("../outside/victim")
    return "refusing to write through a symbolic link: r.lock"


def _output(repo: Path) -> str:
    (repo / "renders").mkdir()
    (repo / "renders" / "a.mp4").symlink_to("../../outside/victim")
    return f"refusing to write through a symbolic link: {repo / 'renders' / 'a.mp4'}"


def _output_dir(repo: Path) -> str:
    (repo / "renders").symlink_to("../outside")
    return "r.yaml: output_dir: 'renders' (the default) leads through a symbolic link"


def _output_dir_in_manifest(repo: Path) -> str:
    (repo / "r.yaml").write_text("output_dir: ../outside\n" + LOCAL_JOB)
    return "r.yaml:1:13: output_dir: '../outside' leads outside the manifest's directory"


@pytest.mark.parametrize(
    "plant",
    [_lock_run, _dangling_journal, _lock, _output, _output_dir, _output_dir_in_manifest],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_committed_symlink_does_not_redirect_a_write(
    checkout: Path, capsys: pytest.CaptureFixture[str], plant: Callable[[Path], str]
) -> None:
    says = plant(checkout)
    outside = checkout.parent / "outside"
    before = outside_files(outside)

    assert run() == EXIT_INPUT

    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert outside_files(outside) == before  # the target's bytes, and no new file
    output = checkout / "renders" / "a.mp4"
    assert output.is_symlink() or not output.exists()  # nothing rendered, nothing paid for


def test_the_command_line_may_write_outside(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output-dir is the user's own choice, not the pull request's: it is trusted."""
    (checkout / "r.yaml").write_text("output_dir: ../outside\n" + LOCAL_JOB)
    assert main(["plan", "r.yaml", "--output-dir", "../renders"]) == EXIT_OK
    assert run("--output-dir", "../renders") == EXIT_OK
    assert (checkout.parent / "renders" / "a.mp4").is_file()
    assert "../renders/a.mp4" in (checkout / "r.lock").read_text()
    assert os.listdir(checkout.parent / "outside") == ["victim"]
