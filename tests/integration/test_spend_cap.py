"""The spend cap against the reference studio over loopback: a run over its cap makes
no request at all (the studio counts 0 POSTs) and writes nothing; a run within it
reports estimated and billed credits, billed agreeing with what the studio charged.

Costs are known for local inputs (their lengths are read from the files), so the
manifest here has local media and a ``file://`` store that the studio serves as its
assets (``public_base_url``): the hosted-API path (uploads, URLs), with lengths known.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

import pytest
from _support import ASSETS, StartStudio, avatar_manifest, remote_request, studio_stats

from lipsync_pipeline.errors import EXIT_BUDGET, BudgetExceeded
from lipsync_pipeline.run import Outcome
from lipsync_pipeline.usecases import run_pipeline

# voice-a.wav lasts 3.0 s (billed 5 s, the minimum), voice-b.mp3 2.5 s; a dialog in
# turns bills their sum: 5.5 s -> 6 s. At 480p, 2 credits a second.
JOBS: Final = """\
jobs:
  - id: hello
    kind: avatar
    image: face.png
    audio: voice-a.wav
  - id: turns
    kind: dialog
    image: hosts.png
    left_audio: voice-a.wav
    right_audio: voice-b.mp3
    order: left_right
"""
ESTIMATE: Final = 10 + 12


async def _project(tmp_path: Path, start_studio: StartStudio, head: str = "") -> tuple[Path, str]:
    """A manifest with local media and a file:// store that the studio serves."""
    for name in ("face.png", "hosts.png", "voice-a.wav", "voice-b.mp3"):
        shutil.copy(ASSETS / name, tmp_path / name)
    store = tmp_path / "store"
    store.mkdir()
    root = await start_studio(assets_dir=store, fast=True)
    manifest = tmp_path / "r.yaml"
    manifest.write_text(
        f"version: 1\n{head}store:\n  url: file://{store}\n  public_base_url: {root}/assets\n{JOBS}"
    )
    return manifest, root


def _posts(stats: dict[str, object]) -> int:
    requests = stats["requests"]
    assert isinstance(requests, dict)
    return sum(requests.get("POST", {}).values())


async def test_a_run_over_its_cap_makes_no_request_and_writes_nothing(
    tmp_path: Path, start_studio: StartStudio
) -> None:
    manifest, root = await _project(tmp_path, start_studio)
    before = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(BudgetExceeded) as caught:
        await run_pipeline(remote_request(manifest, root, max_credits=ESTIMATE - 1))

    assert caught.value.exit_code == EXIT_BUDGET
    message = str(caught.value)
    assert f"--max-credits {ESTIMATE - 1}: the run would submit 2 job(s) estimated at " in message
    assert f"{ESTIMATE} credits, over the cap of {ESTIMATE - 1}" in message
    assert "dearest: turns 12, hello 10" in message
    stats = await studio_stats(root)
    assert _posts(stats) == 0 and stats["jobs_created"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no lock, no renders
    assert list((tmp_path / "store").iterdir()) == []  # nothing uploaded either


async def test_the_manifest_budget_refuses_a_run_too(
    tmp_path: Path, start_studio: StartStudio
) -> None:
    manifest, root = await _project(tmp_path, start_studio, head="budget: 15\n")
    with pytest.raises(BudgetExceeded, match=r"r\.yaml:2:9: budget: the run would submit"):
        # A flag cannot loosen the manifest's cap.
        await run_pipeline(remote_request(manifest, root, max_credits=1000))
    assert _posts(await studio_stats(root)) == 0


async def test_a_run_within_its_cap_reports_estimated_and_billed_credits(
    tmp_path: Path, start_studio: StartStudio
) -> None:
    manifest, root = await _project(tmp_path, start_studio)

    report = await run_pipeline(remote_request(manifest, root, max_credits=ESTIMATE))

    assert {r.job_id: r.outcome for r in report.results} == {
        "hello": Outcome.COMPLETED,
        "turns": Outcome.COMPLETED,
    }
    assert {r.job_id: r.estimated_credits for r in report.results} == {"hello": 10, "turns": 12}
    stats = await studio_stats(root)
    # Billed from the renders' own lengths, as the studio charged from its inputs.
    assert report.billed_credits == stats["credits_estimated"] == ESTIMATE
    assert {r.job_id: r.billed_credits for r in report.results} == {"hello": 10, "turns": 12}
    assert report.budget == ESTIMATE

    again = await run_pipeline(remote_request(manifest, root, max_credits=0))
    assert {r.outcome for r in again.results} == {Outcome.SKIPPED}  # nothing to pay: no refusal
    assert again.billed_credits == 0


async def test_unknown_costs_count_as_over_the_cap_unless_allowed(
    tmp_path: Path, start_studio: StartStudio
) -> None:
    root = await start_studio()
    manifest = tmp_path / "r.yaml"
    # URL inputs: nothing has measured them, so their cost is unknown.
    manifest.write_text(avatar_manifest(root, ["a", "b"]))

    with pytest.raises(BudgetExceeded) as caught:
        await run_pipeline(remote_request(manifest, root, max_credits=10_000))
    assert "2 of the 2 job(s) the run would submit have an unknown cost" in str(caught.value)
    assert _posts(await studio_stats(root)) == 0

    report = await run_pipeline(
        remote_request(manifest, root, max_credits=10_000, allow_unknown_cost=True)
    )
    assert {r.outcome for r in report.results} == {Outcome.COMPLETED}
    assert {r.estimated_credits for r in report.results} == {None}
    # Billed still comes from what was rendered: 3 s of audio, the 5 s minimum at 480p.
    assert {r.billed_credits for r in report.results} == {10}
    assert _posts(await studio_stats(root)) == 2


async def test_what_a_render_billed_counts_against_the_cap_for_the_jobs_after_it(
    tmp_path: Path, start_studio: StartStudio
) -> None:
    """An unknown cost, allowed, counts as 0 up front (the run is estimated at 10, within
    its cap): once its render is measured, what it billed counts, and a job the cap can
    no longer pay for is held (exit 6), not paid for."""
    manifest, root = await _project(tmp_path, start_studio)
    for name in ("face.png", "voice-a.wav"):  # the URL job's inputs, served by the studio
        shutil.copy(ASSETS / name, tmp_path / "store" / name)
    url_job = avatar_manifest(root, ["from-url"]).split("jobs:\n", 1)[1]
    hello = JOBS.split("  - id: turns")[0].removeprefix("jobs:\n")  # 10 credits, known
    manifest.write_text(manifest.read_text().replace(JOBS, f"jobs:\n{url_job}{hello}"))

    report = await run_pipeline(
        remote_request(manifest, root, max_credits=10, allow_unknown_cost=True, concurrency=1)
    )

    outcomes = {r.job_id: r.outcome for r in report.results}
    # 3 s of audio: the URL job billed 10 credits, the whole cap.
    assert outcomes == {"from-url": Outcome.COMPLETED, "hello": Outcome.OVER_BUDGET}
    held = next(r for r in report.results if r.job_id == "hello")
    assert "10 credits would take the run's credits to 20 (estimates, and what the " in held.error
    assert "renders done billed), past the cap of 10 (--max-credits 10)" in held.error
    assert report.billed_credits == 10
    assert report.over_budget
    assert _posts(await studio_stats(root)) == 1


async def test_under_a_cap_each_render_is_read_once_for_its_bill(
    tmp_path: Path, start_studio: StartStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap reads each render's length as it finishes (to count its bill); the
    report takes that figure instead of opening the file a second time."""
    from lipsync_pipeline.budget import billed_credits
    from lipsync_pipeline.run import _state
    from lipsync_pipeline.usecases import _spend

    manifest, root = await _project(tmp_path, start_studio)
    read: list[str] = []

    def counted(path: Path, resolution: str) -> int | None:
        read.append(path.stem)
        return billed_credits(path, resolution)

    monkeypatch.setattr(_state, "billed_credits", counted)
    monkeypatch.setattr(_spend, "billed_credits", counted)
    report = await run_pipeline(remote_request(manifest, root, max_credits=ESTIMATE))

    assert {r.job_id: r.billed_credits for r in report.results} == {"hello": 10, "turns": 12}
    assert sorted(read) == ["hello", "turns"]
