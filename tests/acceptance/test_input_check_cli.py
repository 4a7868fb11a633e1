"""`plan` and `run --dry-run` with URL inputs, as a user runs them: the estimate, the
reasons, --no-input-check, and no signature in what is shown."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from _media import samples, wav
from _media_server import MediaServer, media_server
from _support import ASSETS

from lipsync_pipeline.cli import main

FACE = (ASSETS / "face.png").read_bytes()
SIGNATURE = "5ecret0f0the0signed0url"


@pytest.fixture(autouse=True)
def _loopback_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """An API on this machine (as `serve` or a test studio), so inputs on loopback are
    ones it could fetch and the check asks them. main() leaves logging alone (it would
    configure structlog for the session), and log lines are captured, not printed."""
    monkeypatch.setenv("LIPSYNC_BASE_URL", "http://127.0.0.1:9/api/v1")
    monkeypatch.setattr("lipsync_pipeline.cli._main.configure_logging", lambda *_: None)
    with structlog.testing.capture_logs() as logs:
        yield logs


@pytest.fixture
def origin() -> Any:
    kinds = samples()
    with media_server({"/face.png": FACE, **{f"/{n}": d for n, d in kinds.items()}}) as server:
        yield server


def write(tmp_path: Path, origin: MediaServer, audio: dict[str, str]) -> Path:
    lines = ["version: 1", "jobs:"]
    for job_id, name in audio.items():
        url = name if "://" in name else f"{origin.url}/{name}"
        lines += [f"  - id: {job_id}", "    kind: avatar"]
        lines += [f"    image: {origin.url}/face.png", f"    audio: {url}"]
    path = tmp_path / "renders.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["plan", *args, "--format", "json"]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    return shown


def test_plan_prices_url_inputs_and_says_why_one_is_unknown(
    tmp_path: Path, origin: MediaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = f"{origin.url}/private.wav?X-Amz-Signature={SIGNATURE}"
    path = write(tmp_path, origin, {"a": "a.wav", "d": "d.m4a", "gone": "gone.wav", "s": signed})
    shown = plan_json(capsys, str(path))
    costs = {s["job"]: (s["estimated_credits"], s.get("cost_unknown")) for s in shown["steps"]}
    assert costs == {
        "a": (10, None),  # 3 s, billed the 5 s minimum, at 480p
        "d": (22, None),  # 11 s, its moov box after the media
        "gone": (None, f"audio: {origin.url}/gone.wav: HTTP 404"),
        "s": (None, f"audio: {origin.url}/private.wav?<redacted>: HTTP 404"),
    }
    assert shown["estimated_credits"] == 32 and shown["unestimated_jobs"] == ["gone", "s"]
    assert shown["input_check"]["urls"] == 5
    assert SIGNATURE not in json.dumps(shown)  # the manifest's URL is shown masked too

    assert main(["plan", str(path)]) == 0  # the table
    table = " ".join(capsys.readouterr().out.split())
    assert f"cost unknown: gone: audio: {origin.url}/gone.wav: HTTP 404" in table
    assert "estimated 32 credits (+2 job(s) of unknown cost)" in table
    assert SIGNATURE not in table


def test_two_hundred_inputs_priced_then_one_conditional_request_per_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's "done when": 200 inputs over an origin with ETags and ranges and one
    without ranges; `plan --format json` prices every job, as it prices the same files
    on disk; a second plan asks each URL once, conditionally (304)."""
    kinds = samples()
    names = sorted(kinds)
    with media_server({"/face.png": FACE}) as ranged, media_server(ranges=False) as plain:
        audio: dict[str, str] = {}
        for n in range(200):
            origin = plain if n % 4 == 0 else ranged
            origin.put(f"/v/{n}", kinds[names[n % len(names)]])
            audio[f"j{n:03d}"] = f"{origin.url}/v/{n}"
        path = write(tmp_path, ranged, audio)
        shown = plan_json(capsys, str(path))
        assert shown["unestimated_jobs"] == [] and shown["submissions"] == 200
        assert all(isinstance(s["estimated_credits"], int) for s in shown["steps"])

        # The same bytes as local files: the estimate does not depend on where they are.
        local = tmp_path / "local"
        local.mkdir()
        for name, data in kinds.items():
            (local / name).write_bytes(data)
        (local / "face.png").write_bytes(FACE)
        lines = ["version: 1", "jobs:"]
        for n in range(200):
            lines += [f"  - id: j{n:03d}", "    kind: avatar", "    image: face.png"]
            lines += [f"    audio: {names[n % len(names)]}"]
        (local / "r.yaml").write_text("\n".join(lines) + "\n")
        on_disk = plan_json(capsys, str(local / "r.yaml"))
        assert {s["job"]: s["estimated_credits"] for s in shown["steps"]} == {
            s["job"]: s["estimated_credits"] for s in on_disk["steps"]
        }
        assert shown["estimated_credits"] == on_disk["estimated_credits"]

        ranged.forget()
        plain.forget()
        again = plan_json(capsys, str(path))
        assert again["estimated_credits"] == shown["estimated_credits"]
        for origin, paths in (
            (ranged, ["/face.png"] + [f"/v/{n}" for n in range(200) if n % 4]),
            (plain, [f"/v/{n}" for n in range(0, 200, 4)]),
        ):
            seen = origin.requests()
            assert sorted(s.path for s in seen) == sorted(paths)
            assert all(s.conditional and s.status == 304 and s.sent == 0 for s in seen)
        assert again["input_check"] == {
            "urls": 201, "requests": 201, "bytes_read": 0, "warnings": []
        }  # fmt: skip


def test_a_second_plan_asks_each_url_once_and_no_input_check_asks_nothing(
    tmp_path: Path, origin: MediaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, origin, {"a": "a.wav", "b": "b.wav", "c": "c.mp3"})
    first = plan_json(capsys, str(path))
    origin.forget()
    again = plan_json(capsys, str(path))
    assert again["estimated_credits"] == first["estimated_credits"] == 10 + 16 + 12
    assert len(origin.requests()) == 4 and all(s.status == 304 for s in origin.requests())

    origin.forget()
    pinned = plan_json(capsys, str(path), "--no-input-check")
    dry = main(["run", str(path), "--dry-run", "--no-input-check", "--format", "json"])
    assert dry == 0 and json.loads(capsys.readouterr().out)["estimated_credits"] == 38
    assert origin.requests() == []  # not one request: lengths from the cache
    assert pinned["estimated_credits"] == 38


def test_a_replaced_input_is_not_noticed_by_status(
    tmp_path: Path, origin: MediaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """status stays offline: it never asks an origin."""
    path = write(tmp_path, origin, {"a": "a.wav"})
    origin.forget()
    assert main(["status", str(path), "--format", "json"]) == 0
    capsys.readouterr()
    assert origin.requests() == []


def test_the_help_says_what_the_check_asks_and_how_to_skip_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("plan", "run"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "--no-input-check" in text and "conditional request per URL" in text
    assert main(["--help"]) == 0
    assert "LIPSYNC_CACHE_DIR" in capsys.readouterr().out


def test_a_plan_with_a_changed_input_says_so(
    tmp_path: Path, origin: MediaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lock as a run writes it (what each job was rendered from), then a file replaced
    at its URL: plan says which job a run would render again, and why."""
    from lipsync_pipeline.inputs import InputCheck
    from lipsync_pipeline.lockfile import Artifact, LockEntry, render_lock
    from lipsync_pipeline.settings import input_policy
    from lipsync_pipeline.usecases import check

    path = write(tmp_path, origin, {"a": "a.wav", "b": "b.wav"})
    found = check(path, inputs=InputCheck(input_policy(), None)).inputs.versions
    render = b"an mp4"
    entries = []
    for job in check(path).manifest.jobs:
        (tmp_path / "renders").mkdir(exist_ok=True)
        (tmp_path / "renders" / f"{job.id}.mp4").write_bytes(render)
        artifact = Artifact(f"renders/{job.id}.mp4", hashlib.sha256(render).hexdigest(), 6)
        versions = (("audio", found[str(job.form_state["audio"])]),)
        entries.append(
            LockEntry(job.id, job.fingerprint, job.model, "completed", "k", request_id="r",
                      artifact=artifact, inputs=versions)
        )  # fmt: skip
    (tmp_path / "renders.lock").write_bytes(render_lock(entries))
    origin.put("/b.wav", wav(9.0))
    shown = plan_json(capsys, str(path))
    steps = {s["job"]: (s["action"], s["reason"]) for s in shown["steps"]}
    assert steps == {"a": ("skip", "up to date"), "b": ("submit", "`audio` changed at its URL")}
    assert shown["estimated_credits"] == 18  # 9 s at 480p: the new file's length
