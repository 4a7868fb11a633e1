"""A run's part of ``moved:``: the entry carried under the new id, the file renamed, no
API needed, and a crash at any point between those steps recovered by the next run."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError, UnsafePathError
from lipsync_pipeline.lockfile import (
    Artifact,
    LockEntry,
    LockJournal,
    LockSnapshot,
    journal_path,
    read_lock,
)
from lipsync_pipeline.manifest import load_manifest
from lipsync_pipeline.plan import Action, Plan, plan
from lipsync_pipeline.run import Outcome, execute
from lipsync_pipeline.run._moves import carry_moves
from lipsync_pipeline.usecases import check

URL = "https://cdn.example.com"
RENDER = b"\x00\x00\x00\x18ftypmp42 a render's bytes"
JOB = f"    kind: avatar\n    image: {URL}/a.png\n    audio: {URL}/a.mp3\n"


def write_manifest(folder: Path, job_id: str, *, moved: bool) -> Path:
    text = f"version: 1\njobs:\n  - id: {job_id}\n{JOB}"
    if moved:
        text += "moved:\n  - {from: intro-v1, to: intro}\n"
    path = folder / "r.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """A folder where intro-v1 was rendered (lock + file), then renamed to intro with a
    moved: entry. Returns the manifest's path."""
    old = load_manifest(write_manifest(tmp_path, "intro-v1", moved=False)).jobs[0]
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "intro-v1.mp4").write_bytes(RENDER)
    artifact = Artifact("renders/intro-v1.mp4", hashlib.sha256(RENDER).hexdigest(), len(RENDER))
    entry = LockEntry(
        old.id,
        old.fingerprint,
        old.model,
        "completed",
        "idem-1",
        seed=old.form_state["seed"],
        request_id="req-1",
        artifact=artifact,
    )
    with LockJournal.open(tmp_path / "r.lock") as journal:
        journal.record([entry])
        journal.compact()
    return write_manifest(tmp_path, "intro", moved=True)


def on_disk(lock: Path) -> dict[str, LockEntry]:
    """What a run killed right now would leave: the lockfile with its journal replayed."""
    entries, _ = read_lock(lock)
    return entries


def planned(manifest_path: Path) -> Plan:
    return check(manifest_path).plan


class Killed(Exception):
    """Stands for the process dying at that instant."""


class DiesOn(LockJournal):
    """A journal whose ``method`` never returns: the crash lands right there."""

    method = ""

    def record(self, entries: object) -> None:  # type: ignore[override]
        if self.method == "record":
            raise Killed
        super().record(entries)  # type: ignore[arg-type]

    def drop(self, job_ids: object) -> None:  # type: ignore[override]
        if self.method == "drop":
            raise Killed
        super().drop(job_ids)  # type: ignore[arg-type]


def dies_on(method: str, lock: Path) -> DiesOn:
    journal = DiesOn.open(lock)
    assert isinstance(journal, DiesOn)
    journal.method = method
    return journal


async def test_a_move_renames_the_file_and_records_it_without_a_client(rendered: Path) -> None:
    folder = rendered.parent
    the_plan = planned(rendered)
    assert [s.action for s in the_plan.steps] == [Action.MOVE]
    manifest = load_manifest(rendered)
    with LockJournal.open(folder / "r.lock") as journal:
        # No client at all: execute() refuses a plan that needs the API without one.
        report = await execute(the_plan, manifest, journal, None, concurrency=1)
        journal.compact()
    (result,) = report.results
    assert (result.job_id, result.action, result.outcome) == ("intro", Action.MOVE, Outcome.MOVED)
    assert report.requests == {}
    assert not (folder / "renders" / "intro-v1.mp4").exists()
    assert (folder / "renders" / "intro.mp4").read_bytes() == RENDER
    entries = on_disk(folder / "r.lock")
    assert list(entries) == ["intro"]
    assert entries["intro"].request_id == "req-1" and entries["intro"].idempotency_key == "idem-1"
    assert entries["intro"].artifact is not None
    assert entries["intro"].artifact.path == "renders/intro.mp4"
    assert [s.action for s in planned(rendered).steps] == [Action.SKIP]


def test_a_crash_between_the_rename_and_the_lock_write_loses_nothing(rendered: Path) -> None:
    folder = rendered.parent
    lock = folder / "r.lock"
    journal = dies_on("record", lock)
    with pytest.raises(Killed):
        carry_moves(planned(rendered).steps, load_manifest(rendered), journal)
    journal.close()
    # The file is at its new path, the lock still says intro-v1.
    assert (folder / "renders" / "intro.mp4").read_bytes() == RENDER
    assert not (folder / "renders" / "intro-v1.mp4").exists()
    assert list(on_disk(lock)) == ["intro-v1"]
    # The next run plans the move again and finds the render where the rename left it.
    again = planned(rendered)
    assert [s.action for s in again.steps] == [Action.MOVE]
    with LockJournal.open(lock) as journal:
        carry_moves(again.steps, load_manifest(rendered), journal)
    assert (folder / "renders" / "intro.mp4").read_bytes() == RENDER
    assert list(on_disk(lock)) == ["intro"] and on_disk(lock)["intro"].request_id == "req-1"
    assert [s.action for s in planned(rendered).steps] == [Action.SKIP]


def test_a_crash_before_the_old_id_is_dropped_leaves_a_plain_removal(rendered: Path) -> None:
    folder = rendered.parent
    lock = folder / "r.lock"
    journal = dies_on("drop", lock)
    with pytest.raises(Killed):
        carry_moves(planned(rendered).steps, load_manifest(rendered), journal)
    journal.close()
    assert sorted(on_disk(lock)) == ["intro", "intro-v1"]
    again = planned(rendered)
    assert {s.job_id: s.action for s in again.steps} == {
        "intro": Action.SKIP,
        "intro-v1": Action.REMOVE,
    }
    assert [w.where for w in again.warnings] == ["moved[0]"]  # already applied


def test_a_file_in_the_way_is_refused_located_and_nothing_changes(rendered: Path) -> None:
    folder = rendered.parent
    (folder / "renders" / "intro.mp4").write_bytes(b"somebody else's file")
    before = (folder / "r.lock").read_bytes()
    with LockJournal.open(folder / "r.lock") as journal, pytest.raises(ManifestError) as caught:
        carry_moves(planned(rendered).steps, load_manifest(rendered), journal)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column, problem.where) == (
        str(rendered),
        8,
        5,
        "moved[0]",
    )
    assert "already exists and is not the render of 'intro-v1'" in problem.message
    assert (folder / "renders" / "intro.mp4").read_bytes() == b"somebody else's file"
    assert (folder / "renders" / "intro-v1.mp4").read_bytes() == RENDER
    assert (folder / "r.lock").read_bytes() == before
    assert not journal_path(folder / "r.lock").exists()


@pytest.mark.parametrize("which", ["intro-v1.mp4", "intro.mp4"])
def test_a_symbolic_link_at_either_path_is_never_moved(rendered: Path, which: str) -> None:
    folder = rendered.parent
    target = folder / "elsewhere.mp4"
    target.write_bytes(b"not ours")
    link = folder / "renders" / which
    if which == "intro-v1.mp4":
        link.unlink()
    os.symlink(target, link)
    with LockJournal.open(folder / "r.lock") as journal, pytest.raises(UnsafePathError):
        carry_moves(planned(rendered).steps, load_manifest(rendered), journal)
    assert list(on_disk(folder / "r.lock")) == ["intro-v1"]
    assert target.read_bytes() == b"not ours" and link.is_symlink()


def test_an_entry_is_carried_even_when_its_file_is_gone(rendered: Path) -> None:
    folder = rendered.parent
    (folder / "renders" / "intro-v1.mp4").unlink()
    with LockJournal.open(folder / "r.lock") as journal:
        carry_moves(planned(rendered).steps, load_manifest(rendered), journal)
    assert list(on_disk(folder / "r.lock")) == ["intro"]
    # Then it is an ordinary completed job whose file is missing: downloaded, not rendered.
    assert [s.action for s in planned(rendered).steps] == [Action.DOWNLOAD]


def test_an_unfinished_entry_is_carried_before_its_walk(rendered: Path) -> None:
    folder = rendered.parent
    lock = folder / "r.lock"
    (old,) = on_disk(lock).values()
    processing = LockEntry(
        old.job_id,
        old.fingerprint,
        old.model,
        "processing",
        old.idempotency_key,
        seed=old.seed,
        request_id=old.request_id,
    )
    the_plan = plan(load_manifest(rendered), LockSnapshot(lock, {"intro-v1": processing}))
    (step,) = the_plan.steps
    assert (step.action, step.moved_from) == (Action.RESUME, "intro-v1")
    with LockJournal.open(lock) as journal:
        carry_moves(the_plan.steps, load_manifest(rendered), journal)
    assert on_disk(lock) == {"intro": step.entry}
    assert (folder / "renders" / "intro-v1.mp4").read_bytes() == RENDER  # no file to move yet
