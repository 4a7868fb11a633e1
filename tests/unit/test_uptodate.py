"""An up-to-date run done in the calling thread (usecases/_uptodate.py): the same report
as the whole way, and a hand-over to the whole way, with nothing written, whenever the
run has work after all."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import trio

from lipsync_pipeline.lockfile import Artifact, LockEntry, render_lock
from lipsync_pipeline.manifest import load_manifest
from lipsync_pipeline.run import Outcome, RunReport
from lipsync_pipeline.usecases import RunRequest, admit_run, check_run, run_pipeline, run_up_to_date

URL = "https://cdn.example.com"
TEST_KEY = "sk_test_0123456789secretvalue"  # tests/_support.py's


def completed(folder: Path, ids: list[str]) -> Path:
    """A manifest of ``ids``, its lock saying each is rendered, each render on disk."""
    path = folder / "renders.yaml"
    path.write_text(
        "version: 1\njobs:\n"
        + "".join(
            f"  - id: {i}\n    kind: avatar\n    image: {URL}/{i}.png\n    audio: {URL}/{i}.mp3\n"
            for i in ids
        )
    )
    (folder / "renders").mkdir()
    entries = []
    for job in load_manifest(path).jobs:
        data = f"render of {job.id}".encode()
        (folder / "renders" / f"{job.id}.mp4").write_bytes(data)
        artifact = Artifact(f"renders/{job.id}.mp4", hashlib.sha256(data).hexdigest(), len(data))
        seed = job.form_state["seed"]
        entries.append(
            LockEntry(
                job.id, job.fingerprint, job.model, "completed", "k", seed=seed, artifact=artifact
            )
        )
    (folder / "renders.lock").write_bytes(render_lock(entries))
    return path


def summary(report: RunReport) -> list[tuple[str, str, str, Artifact | None]]:
    return [(r.job_id, r.action.value, r.outcome.value, r.artifact) for r in report.results]


def test_an_up_to_date_run_reports_what_the_whole_way_reports(tmp_path: Path) -> None:
    request = RunRequest(completed(tmp_path, ["a", "b", "c"]), local=True)
    lock_before = (tmp_path / "renders.lock").read_bytes()
    quick = run_up_to_date(admit_run(request, check_run(request)))
    assert quick is not None
    whole = trio.run(partial(run_pipeline, request))
    assert summary(quick) == summary(whole)
    assert {r.outcome for r in quick.results} == {Outcome.SKIPPED}
    assert (quick.budget, quick.warnings) == (whole.budget, whole.warnings)
    assert (tmp_path / "renders.lock").read_bytes() == lock_before
    assert not (tmp_path / "renders.lock.run").exists()


def test_work_found_under_the_run_lock_is_handed_to_the_whole_way(tmp_path: Path) -> None:
    request = RunRequest(completed(tmp_path, ["a", "b"]), local=True)
    admitted = admit_run(request, check_run(request))
    lock_before = (tmp_path / "renders.lock").read_bytes()
    # Between the check and the run lock, a render goes: it is to be rendered again.
    (tmp_path / "renders" / "b.mp4").unlink()
    assert run_up_to_date(admitted) is None
    assert (tmp_path / "renders.lock").read_bytes() == lock_before
    assert not (tmp_path / "renders.lock.journal").exists()
    assert not (tmp_path / "renders.lock.run").exists()


def test_a_run_with_work_is_not_done_here(tmp_path: Path) -> None:
    path = completed(tmp_path, ["a"])
    path.write_text(
        path.read_text() + f"  - id: new\n    kind: avatar\n    image: {URL}/n.png\n"
        f"    audio: {URL}/n.mp3\n"
    )
    request = RunRequest(path, local=True)
    assert run_up_to_date(admit_run(request, check_run(request))) is None


def copies(tmp_path: Path, ids: list[str]) -> tuple[Path, Path]:
    """Two identical projects: one for each way of running."""
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        completed(folder, ids)
    return one, two


def both_ways(one: Path, two: Path, **options: object) -> tuple[RunReport, RunReport]:
    options = {"local": True, **options}
    quick_request = RunRequest(one / "renders.yaml", **options)  # type: ignore[arg-type]
    quick = run_up_to_date(admit_run(quick_request, check_run(quick_request)))
    assert quick is not None, "expected a run with nothing that calls the API"
    whole_request = RunRequest(two / "renders.yaml", **options)  # type: ignore[arg-type]
    whole = trio.run(partial(run_pipeline, whole_request))
    return quick, whole


def same_outcome(one: Path, two: Path, quick: RunReport, whole: RunReport) -> None:
    assert summary(quick) == summary(whole)
    assert [str(w) for w in quick.warnings] == [
        str(w).replace(str(two), str(one)) for w in whole.warnings
    ]
    assert (one / "renders.lock").read_bytes() == (two / "renders.lock").read_bytes()
    assert sorted(p.name for p in (one / "renders").iterdir()) == sorted(
        p.name for p in (two / "renders").iterdir()
    )


def test_renames_and_removals_are_carried_out_the_same_both_ways(tmp_path: Path) -> None:
    one, two = copies(tmp_path, ["a", "b", "c"])
    for folder in (one, two):
        path = folder / "renders.yaml"
        text = path.read_text().replace("id: a\n", "id: a2\n")  # renamed, with moved:
        text = text.replace(f"  - id: c\n    kind: avatar\n    image: {URL}/c.png\n", "")
        text = text.replace(f"    audio: {URL}/c.mp3\n", "")  # c removed
        path.write_text(text + "moved:\n  - from: a\n    to: a2\n")
    quick, whole = both_ways(one, two)
    same_outcome(one, two, quick, whole)
    assert {r.outcome for r in quick.results} == {Outcome.MOVED, Outcome.SKIPPED, Outcome.REMOVED}
    assert (one / "renders" / "a2.mp4").exists() and not (one / "renders" / "a.mp4").exists()


def test_only_and_a_held_submission_are_reported_the_same_both_ways(tmp_path: Path) -> None:
    one, two = copies(tmp_path, ["a", "b"])
    for folder in (one, two):
        lock = folder / "renders.lock"
        data = lock.read_text()
        # b's submission had no clear answer: held (no resend without --resend-unknown).
        entries = json.loads(data)
        entries["jobs"]["b"].update(status="unknown", error="read timeout")
        entries["jobs"]["b"].pop("artifact")
        lock.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    quick, whole = both_ways(one, two, only=("a",))
    same_outcome(one, two, quick, whole)
    assert {r.outcome for r in quick.results} == {Outcome.SKIPPED, Outcome.UNSELECTED}
    # On the hosted API (no --local, which resends) b is held, and nothing is sent.
    hosted = {"local": False, "api_key": TEST_KEY, "base_url": "http://127.0.0.1:9"}
    quick, whole = both_ways(one, two, **hosted)
    same_outcome(one, two, quick, whole)
    assert {r.outcome for r in quick.results} == {Outcome.SKIPPED, Outcome.UNKNOWN}
