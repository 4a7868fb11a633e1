"""The command as a user runs it: real processes, real signals, a real studio on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import trio
from _support import ROOT, TEST_KEY, StartStudio, avatar_manifest, studio_stats

from lipsync_pipeline.lockfile import load_lock

CLI = [sys.executable, "-m", "lipsync_pipeline"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    env.update(extra)
    return env


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=_env(**env),
        timeout=120, check=False,
    )


def test_help_teaches_commands_and_exit_codes() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for word in ("validate", "plan", "run", "status", "serve", "schema", "exit codes", "130"):
        assert word in result.stdout
    run_help = cli("run", "--help").stdout
    assert "--local" in run_help and "--poll-interval" in run_help


def test_usage_error_exits_2_without_traceback() -> None:
    result = cli("run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_demo_runs_locally_then_is_up_to_date(tmp_path: Path) -> None:
    """The README's main command, then a rerun: no API call, lock byte-identical."""
    demo = tmp_path / "manifests"
    shutil.copytree(ROOT / "manifests", demo, ignore=shutil.ignore_patterns("*.lock", "renders"))
    first = cli("run", demo / "demo.yaml", "--local", "--format", "json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["jobs"] and {j["outcome"] for j in report["jobs"]} == {"completed"}
    lock_path = demo / "demo.lock"
    lock = load_lock(lock_path)
    for entry in lock.entries.values():
        assert entry.artifact is not None
        assert (demo / entry.artifact.path).stat().st_size == entry.artifact.bytes
    before = lock_path.read_bytes()

    second = cli("run", demo / "demo.yaml", "--local", "--format", "json")

    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert {j["outcome"] for j in again["jobs"]} == {"skipped"}
    assert again["requests"] == {}
    assert lock_path.read_bytes() == before
    status = json.loads(cli("status", demo / "demo.yaml", "--format", "json").stdout)
    assert {j["next"] for j in status["jobs"]} == {"skip"}


def test_invalid_manifest_is_located_and_changes_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "version: 1\njobs:\n  - id: a\n    kind: avatar\n"
        "    image: https://example.com/a.png\n    audo: https://example.com/a.mp3\n"
    )
    lock = tmp_path / "bad.lock"
    lock.write_text('{"version": 1, "jobs": {}}\n')
    before = lock.read_bytes()
    result = cli("run", manifest, "--local")
    assert result.returncode == 2
    assert "bad.yaml:6:5" in result.stderr
    assert "Traceback" not in result.stderr
    assert lock.read_bytes() == before
    assert not (tmp_path / "renders").exists()


def test_remote_run_without_a_key_is_refused_before_any_work(tmp_path: Path) -> None:
    manifest = tmp_path / "r.yaml"
    manifest.write_text(avatar_manifest("https://cdn.example.com", ["a"]))
    result = cli("run", manifest)
    assert result.returncode == 2
    assert "LIPSYNC_API_KEY" in result.stderr
    assert not (tmp_path / "r.lock").exists()


def test_local_paths_need_local_mode(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "m", ignore=shutil.ignore_patterns("*.lock"))
    result = cli("run", tmp_path / "m" / "demo.yaml", LIPSYNC_API_KEY=TEST_KEY)
    assert result.returncode == 2
    assert "--local" in result.stderr
    assert "demo.yaml:" in result.stderr
    assert TEST_KEY not in result.stderr + result.stdout


async def _spawn_run(
    path: Path, root: str, *extra: str, stdout: int = subprocess.DEVNULL
) -> trio.Process:
    return await trio.lowlevel.open_process(
        [*CLI, "run", str(path), "--base-url", f"{root}/api/v1", "--poll-interval", "0.1",
         "-q", *extra],
        env=_env(LIPSYNC_API_KEY=TEST_KEY),
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


async def test_kill_9_mid_run_then_rerun_pays_once_per_job(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True, render_delay=1.5)
    ids = [f"k{n}" for n in range(8)]
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ids))
    proc = await _spawn_run(path, root, "--concurrency", "8")
    with trio.move_on_after(30):
        while (await studio_stats(root))["jobs_created"] < 3:
            await trio.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup at all
    await proc.wait()
    load_lock(path.with_suffix(".lock"))  # loads (journal replays) after the kill

    # A kill between a POST and its answer leaves that job's outcome unknown: held
    # until the user says so, which is safe here, as the studio honours the key.
    result = await trio.run_process(
        [*CLI, "run", str(path), "--base-url", f"{root}/api/v1", "--poll-interval", "0.1",
         "--resend-unknown"],
        env=_env(LIPSYNC_API_KEY=TEST_KEY), capture_stdout=True, capture_stderr=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode()
    assert (await studio_stats(root))["jobs_created"] == len(ids)
    lock = load_lock(path.with_suffix(".lock"))
    assert {e.status for e in lock.entries.values()} == {"completed"}


async def test_sigint_records_in_flight_jobs_and_exits_130(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True, render_delay=2.0)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["a", "b"]))
    proc = await _spawn_run(path, root, "--format", "json", stdout=subprocess.PIPE)
    with trio.move_on_after(30):
        while (await studio_stats(root))["jobs_created"] < 2:
            await trio.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert await proc.wait() == 130
    assert proc.stdout is not None
    out = b""
    while chunk := await proc.stdout.receive_some(65536):
        out += chunk
    report = json.loads(out)
    # Not "cancelled": these were submitted and the next run picks them up.
    assert {j["job"]: j["outcome"] for j in report["jobs"]} == {"a": "in_flight", "b": "in_flight"}
    assert all("next run resumes" in j["error"] for j in report["jobs"])
    lock = load_lock(path.with_suffix(".lock"))
    assert {e.status for e in lock.entries.values()} == {"processing"}

    done = await trio.run_process(
        [*CLI, "run", str(path), "--base-url", f"{root}/api/v1", "--poll-interval", "0.1"],
        env=_env(LIPSYNC_API_KEY=TEST_KEY), capture_stdout=True, capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0
    assert (await studio_stats(root))["jobs_created"] == 2


async def test_second_run_on_the_same_lock_is_refused(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True, render_delay=3.0)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["a"]))
    first = await _spawn_run(path, root)
    with trio.move_on_after(30):
        while (await studio_stats(root))["jobs_created"] < 1:
            await trio.sleep(0.05)
    second = await trio.run_process(
        [*CLI, "run", str(path), "--base-url", f"{root}/api/v1"],
        env=_env(LIPSYNC_API_KEY=TEST_KEY), capture_stdout=True, capture_stderr=True,
        check=False,
    )
    first.kill()
    await first.wait()
    assert second.returncode == 3
    assert f"pid {first.pid}" in second.stderr.decode()


def test_plan_estimates_credits_from_local_media_per_the_pricing_rules(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "m", ignore=shutil.ignore_patterns("*.lock"))
    result = cli("plan", tmp_path / "m" / "demo.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    credits = {s["job"]: s["estimated_credits"] for s in plan["steps"]}
    # voice-a.wav is 3.0 s, voice-b.mp3 2.5 s: both under the 5 s minimum alone.
    assert credits["face-hello"] == 5 * 2  # 480p
    assert credits["face-hello-720"] == 5 * 4  # 720p
    assert credits["hosts-turns"] == 6 * 2  # left_right bills the sum, 5.5 s -> 6 s
    assert plan["estimated_credits"] == sum(credits.values())
    assert not (tmp_path / "m" / "demo.lock").exists()  # plan writes nothing


def test_plan_prices_a_wav_whose_tags_are_not_utf8(tmp_path: Path) -> None:
    """A latin-1 LIST/INFO tag made PyAV's metadata decoding raise: a traceback."""
    from _media import wav_with_latin1_tag

    shutil.copy(ROOT / "manifests" / "assets" / "face.png", tmp_path / "face.png")
    (tmp_path / "voice.wav").write_bytes(wav_with_latin1_tag(6.0))
    manifest = tmp_path / "r.yaml"
    manifest.write_text(
        "version: 1\njobs:\n  - id: a\n    kind: avatar\n    image: face.png\n"
        "    audio: voice.wav\n"
    )
    result = cli("plan", manifest, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (step,) = json.loads(result.stdout)["steps"]
    assert step["estimated_credits"] == 6 * 2  # 6 s at 480p


def test_validate_reports_every_file_as_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\njobs:\n  - id: a\n    kind: avatar\n    image: nope\n")
    result = cli("validate", ROOT / "manifests" / "demo.yaml", bad, "--format", "json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    files = {Path(f["file"]).name: f for f in report["files"]}
    assert report["valid"] is False
    assert files["demo.yaml"]["valid"] is True
    errors = files["bad.yaml"]["errors"]
    assert {(e["line"], e["where"]) for e in errors} >= {(5, "jobs[0].image")}
    assert all(e["file"].endswith("bad.yaml") and e["column"] for e in errors)


def test_validate_names_the_lock_it_checked(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "m")
    (tmp_path / "m" / "demo.lock").unlink(missing_ok=True)
    alone = cli("validate", "demo.yaml", cwd=tmp_path / "m")
    assert (alone.returncode, alone.stdout) == (0, "demo.yaml: valid (5 jobs)\n")
    (tmp_path / "m" / "demo.lock").write_text('{"version": 1, "jobs": {}}\n')
    both = cli("validate", "demo.yaml", cwd=tmp_path / "m")
    assert both.stdout == "demo.yaml: valid (5 jobs); demo.lock: valid (0 entries)\n"


def test_validate_checks_the_lock_a_run_would_use(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "m")
    (tmp_path / "m" / "elsewhere.lock").write_text('{"version": 1, "jobs": {"x": 3}}\n')
    result = cli("validate", "demo.yaml", "--lock", "elsewhere.lock", cwd=tmp_path / "m")
    assert result.returncode == 2
    assert result.stderr.startswith("elsewhere.lock:1:30: jobs.x:"), result.stderr
    both = cli("validate", "demo.yaml", "demo.yaml", "--lock", "x.lock", cwd=tmp_path / "m")
    assert both.returncode == 2 and "give only one MANIFEST" in both.stderr


def test_serve_with_an_unusable_proxy_or_ca_bundle_says_which(tmp_path: Path) -> None:
    proxy = cli("serve", "--port", "0", HTTP_PROXY="socks4://me:hun@ter2@proxy.internal:1")
    assert proxy.returncode == 2 and "Traceback" not in proxy.stderr
    assert "socks4://proxy.internal:1" in proxy.stderr and "ter2" not in proxy.stderr
    missing = tmp_path / "ca.pem"
    ca = cli("serve", "--port", "0", SSL_CERT_FILE=str(missing))
    assert ca.returncode == 2 and f"SSL_CERT_FILE={missing}" in ca.stderr


def test_schema_command_prints_the_2020_12_schema() -> None:
    result = cli("schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"].endswith("2020-12/schema") and schema["$id"]
    lock_schema = json.loads(cli("schema", "--lock").stdout)
    assert lock_schema["$id"] != schema["$id"]


async def test_status_refresh_asks_the_api_about_unfinished_jobs(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True, render_delay=30)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["slow"]))
    env = _env(LIPSYNC_API_KEY=TEST_KEY)
    base = ["--base-url", f"{root}/api/v1"]
    first = await trio.run_process(
        [*CLI, "run", str(path), *base, "--poll-interval", "0.1", "--job-timeout", "0.5",
         "--format", "json"], env=env, capture_stdout=True, capture_stderr=True, check=False)
    assert first.returncode == 1  # timed out: resumable, not failed
    assert json.loads(first.stdout)["jobs"][0]["outcome"] == "timed_out"

    status = await trio.run_process(
        [*CLI, "status", str(path), "--refresh", *base, "--format", "json"], env=env,
        capture_stdout=True, capture_stderr=True, check=False)

    assert status.returncode == 0, status.stderr.decode()
    (job,) = json.loads(status.stdout)["jobs"]
    assert job["recorded"]["status"] == "processing"
    assert job["live"]["status"] == "processing"
    assert job["next"] == "resume"


async def test_serve_prints_its_url_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = await trio.lowlevel.open_process(
        [*CLI, "serve", "--port", "0", "--assets", str(ROOT / "manifests" / "assets")],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = b""
    with trio.fail_after(30):
        while b"\n" not in line:
            line += await proc.stdout.receive_some(1024)
    root = line.decode().split()[3]
    assert root.startswith("http://127.0.0.1:")
    stats = await studio_stats(root)
    assert stats["jobs_created"] == 0
    proc.send_signal(signal.SIGINT)
    with trio.fail_after(30):
        assert await proc.wait() == 0


async def test_json_logs_stay_json_lines_with_third_party_debug_logs(
    start_studio: StartStudio, tmp_path: Path
) -> None:
    root = await start_studio(fast=True)
    path = tmp_path / "renders.yaml"
    path.write_text(avatar_manifest(root, ["a"]))
    result = await trio.run_process(
        [*CLI, "run", str(path), "--base-url", f"{root}/api/v1", "--poll-interval", "0.1",
         "-v", "--log-format", "json"],
        env=_env(LIPSYNC_API_KEY=TEST_KEY), capture_stdout=True, capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0
    lines = result.stderr.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line, httpcore's included
    assert any(r.get("logger", "").startswith("httpcore") for r in records)
    assert any(r["event"] == "submitted" for r in records)


def test_validate_warns_that_local_paths_need_local_once_per_manifest(tmp_path: Path) -> None:
    """The demo's local files are valid, but a run against the hosted API refuses
    them: validate says so at the first one (exit 0), instead of the run saying it."""
    result = cli("validate", ROOT / "manifests" / "demo.yaml")
    assert result.returncode == 0
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: ") and "demo.yaml:16:12: jobs[0].image:" in warning
    assert "13 places" in warning and "--local" in warning
    urls = tmp_path / "urls.yaml"
    urls.write_text(
        "version: 1\njobs:\n  - id: a\n    kind: avatar\n"
        "    image: https://cdn.example.com/a.png\n    audio: https://cdn.example.com/a.mp3\n"
    )
    quiet = cli("validate", urls, "--format", "json")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert json.loads(quiet.stdout)["files"][0]["warnings"] == []


def test_validate_does_not_warn_about_local_paths_when_a_store_uploads_them(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "m")
    demo = tmp_path / "m" / "demo.yaml"
    store = "version: 1\nstore: s3://team-renders/lipsync\n"
    demo.write_text(demo.read_text().replace("version: 1\n", store, 1))
    result = cli("validate", demo)
    assert (result.returncode, result.stderr) == (0, "")
