"""Every row of the exit-code table (``lipsync-pipeline --help``, README): a test per row.

CI branches on these codes ("fix the disk", "the API is down", "a job failed"), so
each is pinned by the situation a user meets, not by the exception that carries it.
Disks that are full or read-only are real where the kernel lets us (``/dev/full``
answers every write with ENOSPC; a tmpfs remounted read-only when we may mount),
simulated with the errno the kernel gives otherwise. The API rows run under trio's
autojump clock: eight retries with backoff take no real time and nothing is timed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import trio
import trio.testing
from _scripted_server import Reply, scripted_server
from _support import ASSETS, FAST_POLL, TEST_KEY, StartStudio, avatar_manifest

from lipsync_pipeline.api import _client
from lipsync_pipeline.cli import main
from lipsync_pipeline.cli._commands import run_exit_code
from lipsync_pipeline.cli._parser import build_parser
from lipsync_pipeline.errors import (
    EXIT_API,
    EXIT_BUDGET,
    EXIT_CHANGES,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_STORAGE,
    AuthError,
)
from lipsync_pipeline.lockfile import RunLock, load_lock
from lipsync_pipeline.usecases import RunRequest, run_pipeline

LOCAL_JOB: Final = """\
version: 1
jobs:
  - id: a
    kind: avatar
    image: face.png
    audio: voice-a.wav
"""
URL_JOBS: Final = "".join(
    f"  - id: {job_id}\n    kind: avatar\n    image: https://cdn.example.com/a.png\n"
    "    audio: https://cdn.example.com/a.mp3\n"
    for job_id in ("a", "b", "c")
)


@pytest.fixture(autouse=True)
def _leave_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() in-process must not configure structlog: its cache_logger_on_first_use
    would freeze module loggers for the rest of the session (other tests capture logs)."""
    monkeypatch.setattr("lipsync_pipeline.cli._main.configure_logging", lambda *_: None)


def local_checkout(folder: Path) -> Path:
    """A manifest of one job with local inputs (renders with --local, no network)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("face.png", "voice-a.wav"):
        shutil.copy(ASSETS / name, folder / name)
    path = folder / "r.yaml"
    path.write_text(LOCAL_JOB)
    return path


def run(path: Path, *extra: str) -> int:
    return main(["run", str(path), "--local", "-q", "--poll-interval", "0.05", *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


def test_exit_0_every_job_completed(tmp_path: Path) -> None:
    path = local_checkout(tmp_path)
    assert run(path) == EXIT_OK
    assert load_lock(tmp_path / "r.lock").entries["a"].status == "completed"


@contextlib.contextmanager
def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``folder``'s files in a read-only place: a tmpfs remounted read-only when this
    process may mount (root in a container), else writes there answer EROFS as one would.
    (chmod is no test: root writes through it.)"""
    mount = folder.parent / "ro"
    mount.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    shutil.copytree(folder, mount, dirs_exist_ok=True)
    try:
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        else:
            real_open = os.open

            def refusing_open(file: Any, flags: int, *args: Any, **kw: Any) -> int:
                writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT
                if flags & writes and str(file).startswith(str(mount)):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
                return real_open(file, flags, *args, **kw)

            monkeypatch.setattr(os, "open", refusing_open)
        yield mount
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], check=False)


def test_exit_0_an_up_to_date_run_on_a_read_only_checkout_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is due, so nothing needs writing, not even the run lock (issue 10: was 5)."""
    path = local_checkout(tmp_path / "w")
    assert run(path) == EXIT_OK
    with read_only(tmp_path / "w", monkeypatch) as checkout:
        before = snapshot(checkout)
        assert run(checkout / "r.yaml") == EXIT_OK
        assert snapshot(checkout) == before


async def test_exit_1_a_job_failed(start_studio: StartStudio, tmp_path: Path) -> None:
    from lipsync_pipeline.studio import Faults

    root = await start_studio(fast=True, faults=Faults(job_failure_rate=1.0))
    path = tmp_path / "r.yaml"
    path.write_text(avatar_manifest(root, ["a"]))
    report = await run_pipeline(
        RunRequest(path, base_url=f"{root}/api/v1", api_key=TEST_KEY, options=FAST_POLL)
    )
    assert [str(r.outcome) for r in report.results] == ["failed"]
    assert run_exit_code(report) == EXIT_JOBS_FAILED


def test_exit_2_invalid_input_changes_nothing(tmp_path: Path) -> None:
    path = local_checkout(tmp_path)
    path.write_text(LOCAL_JOB.replace("kind: avatar", "kind: avatr"))
    before = snapshot(tmp_path)
    assert run(path) == EXIT_INPUT
    assert snapshot(tmp_path) == before


def test_exit_2_dry_run_with_junit_is_refused_naming_both_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run renders nothing: a --junit PATH would silently stay unwritten."""
    path = local_checkout(tmp_path)
    before = snapshot(tmp_path)
    junit = str(tmp_path / "junit.xml")
    for flags in (["--dry-run", "--junit", junit], ["--junit", junit, "--dry-run"]):
        assert main(["run", str(path), "--local", *flags]) == EXIT_INPUT
        error = capsys.readouterr().err
        assert "run: error: --junit PATH is not allowed with --dry-run" in error
    assert snapshot(tmp_path) == before


def test_exit_3_another_run_holds_the_lock(tmp_path: Path) -> None:
    path = local_checkout(tmp_path)
    with RunLock(tmp_path / "r.lock"):  # a second flock of the file, even in-process, waits
        assert run(path) == EXIT_LOCKED


def test_exit_6_a_run_over_its_spend_cap_submits_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = local_checkout(tmp_path)  # one avatar job: 3 s of audio, 10 credits at 480p
    before = snapshot(tmp_path)
    assert run(path, "--max-credits", "9") == EXIT_BUDGET
    assert snapshot(tmp_path) == before
    refused = capsys.readouterr().err
    assert "error: --max-credits 9: the run would submit 1 job(s) estimated at 10" in refused
    assert "error: nothing was submitted" in refused
    assert run(path, "--max-credits", "10") == EXIT_OK
    shown = " ".join(capsys.readouterr().out.split())
    assert "credits: estimated 10, billed 10 (1 render(s), from their lengths), cap 10" in shown


def test_exit_6_jobs_the_cap_held_back_during_a_run() -> None:
    """Held back, not failed: the cap outranks a job's own failure in the exit code."""
    from lipsync_pipeline.plan import Action
    from lipsync_pipeline.run import JobResult, Outcome, RunReport

    held = JobResult("a", Action.SUBMIT, Outcome.OVER_BUDGET, "not submitted: over the cap")
    failed = JobResult("b", Action.SUBMIT, Outcome.FAILED, "Invalid audio format")
    assert run_exit_code(RunReport([held, failed])) == EXIT_BUDGET
    assert run_exit_code(RunReport([failed])) == EXIT_JOBS_FAILED


def test_exit_7_plan_detailed_exitcode_with_changes_pending(tmp_path: Path) -> None:
    path = local_checkout(tmp_path)
    plan = ["plan", str(path), "--local", "-q", "--detailed-exitcode", "--format", "json"]
    assert main(plan) == EXIT_CHANGES
    assert main(plan[:-3]) == EXIT_OK  # without the flag, pending changes are no error
    assert run(path) == EXIT_OK
    assert main(plan) == EXIT_OK  # up to date
    assert main([*plan, "--max-credits", "0", "--replace", "a"]) == EXIT_BUDGET


def _url_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\njobs:\n" + URL_JOBS)
    return path


async def test_exit_4_an_unreachable_api(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    request = RunRequest(
        _url_manifest(tmp_path),
        base_url="http://127.0.0.1:9/api/v1",  # nobody listens: refused at once
        api_key=TEST_KEY,
        concurrency=1,
        options=FAST_POLL,
    )
    report = await run_pipeline(request)
    # Refused, or (the clock jumping while the refusal is on its way) a connect
    # timeout: either way nothing was sent, and the run says the API let nothing through.
    assert "ConnectError" in report.api_error or "ConnectTimeout" in report.api_error
    assert run_exit_code(report) == EXIT_API  # was 1 (issue 10)


async def test_exit_4_repeated_server_errors(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with scripted_server(default=Reply(503)) as server:
        request = RunRequest(
            _url_manifest(tmp_path),
            base_url=f"{server.url}/api/v1",
            api_key=TEST_KEY,
            concurrency=1,
            options=FAST_POLL,
        )
        report = await run_pipeline(request)
    # "503", or a read timeout if the clock jumped while an answer was on its way.
    assert report.api_error
    assert run_exit_code(report) == EXIT_API  # was 1 (issue 10)


async def test_exit_4_a_refused_key(tmp_path: Path) -> None:
    async with scripted_server(default=Reply(401, json={"error": "bad key"})) as server:
        request = RunRequest(
            _url_manifest(tmp_path),
            base_url=f"{server.url}/api/v1",
            api_key=TEST_KEY,
            options=FAST_POLL,
        )
        with pytest.raises(AuthError) as caught:
            await run_pipeline(request)
    assert caught.value.exit_code == EXIT_API


def test_exit_5_a_full_output_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download's temp file is /dev/full: the kernel's own ENOSPC on every write."""
    path = local_checkout(tmp_path)
    monkeypatch.setattr(
        _client, "create_exclusive", lambda _path: os.open("/dev/full", os.O_WRONLY)
    )
    assert run(path, "--format", "json") == EXIT_STORAGE  # was 1 (issue 10)
    # The render is paid and recorded: the next run downloads it, it does not re-render.
    assert load_lock(tmp_path / "r.lock").entries["a"].status == "completed"
    assert not (tmp_path / "renders" / "a.mp4").exists()


def test_exit_5_a_read_only_output_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = local_checkout(tmp_path)

    def read_only_fs(file: Path) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))

    monkeypatch.setattr(_client, "create_exclusive", read_only_fs)
    assert run(path) == EXIT_STORAGE  # was 1 (issue 10)


def test_exit_5_a_full_disk_at_start_leaves_no_run_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk still creates the (empty) file, then refuses its bytes."""
    path = local_checkout(tmp_path)

    def full(*_args: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    before = snapshot(tmp_path)
    assert run(path) == EXIT_STORAGE
    assert snapshot(tmp_path) == before  # no 0-byte r.lock.run left behind (issue 10)
    assert "r.lock.run" in capsys.readouterr().err


# 130 needs a real process and a real SIGINT: test_cli.py has it.
ELSEWHERE: Final = {EXIT_INTERRUPTED: "test_sigint_records_in_flight_jobs_and_exits_130"}


def test_every_row_of_the_table_has_a_test() -> None:
    epilog = build_parser().epilog or ""
    table = epilog.split("exit codes:")[1].split("\n\n")[0]
    rows = {int(code) for code in re.findall(r"^\s+(\d+)\s", table, re.MULTILINE)}
    assert rows == {0, 1, 2, 3, 4, 5, 6, 7, 130}
    source = Path(__file__).read_text()
    here = {int(c) for c in re.findall(r"^(?:async )?def test_exit_(\d+)_", source, re.MULTILINE)}
    cli_tests = (Path(__file__).parent / "test_cli.py").read_text()
    assert all(f"def {name}(" in cli_tests for name in ELSEWHERE.values())
    assert rows == here | set(ELSEWHERE)


def test_exit_4_an_object_store_that_refuses_a_render_mid_run() -> None:
    """The store refused a render after the preflight (credentials revoked mid-run):
    like an API that refuses us, 4; the render is paid and recorded, the next run
    keeps it."""
    from lipsync_pipeline.run import RunReport

    assert run_exit_code(RunReport(store_error="store refused renders/a/x.mp4")) == EXIT_API
    assert run_exit_code(RunReport()) == 0
