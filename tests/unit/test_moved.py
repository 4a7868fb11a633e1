"""``moved:``: the list read and checked (every error located), and the plan's rules for
a renamed job: carried, not re-rendered, and never re-rendered later for its seed."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import jsonschema
import pytest
from test_manifest import parse, problems

from lipsync_pipeline.lockfile import Artifact, LockEntry, LockSnapshot, load_lock
from lipsync_pipeline.manifest import (
    Job,
    derive_seed,
    load_manifest,
    manifest_schema,
    reseeded,
)
from lipsync_pipeline.plan import Action, ArtifactState, as_recorded, plan

URL = "https://cdn.example.com"
DATA = Path(__file__).resolve().parent / "data"


def job(job_id: str, extra: str = "", audio: str = "a.mp3") -> str:
    return (
        f"  - id: {job_id}\n    kind: avatar\n    image: {URL}/a.png\n"
        f"    audio: {URL}/{audio}\n{extra}"
    )


def doc(*jobs: str, moved: str = "") -> str:
    return "version: 1\njobs:\n" + "".join(jobs) + (f"moved:\n{moved}" if moved else "")


def located(text: str, folder: Path) -> list[str]:
    """Each problem as 'LINE:COL where: message'."""
    return [f"{p.line}:{p.column} {p.where}: {p.message}" for p in problems(text, folder)]


# --- reading -------------------------------------------------------------------------------


def test_moved_entries_are_read_in_order_with_their_place(tmp_path: Path) -> None:
    text = doc(
        job("intro"),
        job("outro"),
        moved="  - {from: intro-v1, to: intro}\n  - from: old-outro\n    to: outro\n",
    )
    manifest = parse(text, tmp_path)
    assert [(m.from_id, m.to_id, m.line, m.column, m.where) for m in manifest.moved] == [
        ("intro-v1", "intro", 12, 5, "moved[0]"),
        ("old-outro", "outro", 13, 5, "moved[1]"),
    ]
    assert parse(doc(job("intro")), tmp_path).moved == ()


@pytest.mark.parametrize(
    ("moved", "expected"),
    [
        (
            "  - {from: x, to: intra}\n",
            "12:19 moved[0].to: no job 'intra' in this manifest: `to` is the new id; "
            "did you mean 'intro'?",
        ),
        (
            "  - {from: outro, to: intro}\n",
            "12:12 moved[0].from: 'outro' is still a job of this manifest",
        ),
        ("  - {from: intro, to: intro}\n", "12:23 moved[0].to: moves 'intro' to itself"),
        ("  - {from: ../x, to: intro}\n", "12:12 moved[0].from: must be 1-128 letters"),
        (
            "  - {from: a, to: intro, form: x}\n",
            "12:26 moved[0].form: unknown key 'form' in a moved: entry (did you mean 'from'?)",
        ),
        ("  - {to: intro}\n", "12:5 moved[0].from: missing: a moved: entry needs from"),
        ("  - a -> intro\n", "12:5 moved[0]: expected a mapping"),
        ("  - {from: 12, to: intro}\n", "12:12 moved[0].from: expected text, got 12"),
    ],
)
def test_every_moved_error_is_located(tmp_path: Path, moved: str, expected: str) -> None:
    found = located(doc(job("intro"), job("outro"), moved=moved), tmp_path)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_only_a_likely_typo_is_suggested(tmp_path: Path) -> None:
    # 'outro' and 'intro' share 'tro': 0.6 alike, difflib's default cutoff, but no typo.
    text = doc(job("intro"), moved="  - {from: x, to: outro}\n")
    assert located(text, tmp_path) == [
        "8:19 moved[0].to: no job 'outro' in this manifest: `to` is the new id"
    ]


def test_a_moved_that_is_not_a_list_is_located(tmp_path: Path) -> None:
    text = doc(job("intro")) + "moved: {from: a, to: intro}\n"
    assert located(text, tmp_path) == ["7:8 moved: expected a list, got a mapping"]


def test_one_id_moved_twice_or_two_ids_into_one_are_refused_at_the_second(
    tmp_path: Path,
) -> None:
    twice = doc(
        job("intro"), job("outro"), moved="  - {from: a, to: intro}\n  - {from: a, to: outro}\n"
    )
    assert located(twice, tmp_path) == [
        "13:12 moved[1].from: 'a' is already moved to 'intro' (line 12): one job cannot become two"
    ]
    into_one = doc(job("intro"), moved="  - {from: a, to: intro}\n  - {from: b, to: intro}\n")
    assert located(into_one, tmp_path) == [
        "9:19 moved[1].to: 'intro' already takes the place of 'a' (line 8): two renders "
        "cannot become one"
    ]


def test_chains_and_cycles_are_refused_not_composed(tmp_path: Path) -> None:
    chain = doc(job("c"), moved="  - {from: a, to: b}\n  - {from: b, to: c}\n")
    (message,) = located(chain, tmp_path)
    assert message.startswith("8:19 moved[0].to: 'b' is moved on to 'c' (line 9): a chain")
    assert "{from: b, to: c} if a run has applied this one, else {from: a, to: c}" in message
    cycle = doc(job("a"), job("b"), moved="  - {from: a, to: b}\n  - {from: b, to: a}\n")
    found = located(cycle, tmp_path)
    assert (
        "12:19 moved[0].to: 'b' is moved back to 'a' (line 13): a cycle renames nothing; "
        "remove both entries" in found
    )
    assert any(f.startswith("12:12 moved[0].from: 'a' is still a job") for f in found)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = doc(job("intro"), moved="  - {from: intro, to: x}\n  - {from: y, to: z}\n")
    assert [f.split(" ", 2)[1] for f in located(text, tmp_path)] == [
        "moved[0].from:",
        "moved[0].to:",
        "moved[1].to:",
    ]


def test_moved_problems_come_with_the_other_problems_of_the_manifest(tmp_path: Path) -> None:
    """One ManifestError, every problem in the order of the file: fixing the fields
    does not uncover a second round of moved: problems."""
    text = doc(
        job("intro", "    colour: red\n"),
        job("outro", "    webhook: https://:99999/x\n"),
        moved="  - {from: intro, to: intor}\n",
    )
    assert [f.split(":", 1)[0] + ":" + f.split(" ")[1] for f in located(text, tmp_path)] == [
        "7:jobs[0].colour:",  # the schema
        "12:jobs[1].webhook:",  # a check after the schema
        "14:moved[0].from:",  # 'intro' is still a job
        "14:moved[0].to:",  # no job 'intor'
    ]


def test_the_jobs_of_a_matrix_with_a_problem_are_not_reported_missing(tmp_path: Path) -> None:
    text = (
        "version: 1\njobs:\n"
        f'  - id: "ad.{{lang}}"\n    kind: avatar\n    image: {URL}/a.png\n'
        f'    audio: "{URL}/{{lnag}}.mp3"\n    matrix: {{lang: [de, fr]}}\n'
        "moved:\n  - {from: ad-de, to: ad.de}\n"
    )
    assert [f.split(" ", 2)[1] for f in located(text, tmp_path)] == ["jobs[0].audio:"]


def test_the_schema_describes_moved_for_editors() -> None:
    schema = manifest_schema()
    moved = schema["properties"]["moved"]
    assert moved["type"] == "array" and moved["description"]
    entry = schema["$defs"][moved["items"]["$ref"].rsplit("/", 1)[1]]
    assert entry["required"] == ["from", "to"] and entry["additionalProperties"] is False
    assert all(entry["properties"][k]["description"] for k in ("from", "to"))
    validator = jsonschema.Draft202012Validator(schema)
    base = {"version": 1, "jobs": [{"id": "a", "kind": "avatar", "image": "x", "audio": "y"}]}
    assert validator.is_valid({**base, "moved": [{"from": "b", "to": "a"}]})
    assert not validator.is_valid({**base, "moved": [{"from": "b"}]})
    assert not validator.is_valid({**base, "moved": [{"from": "b/c", "to": "a"}]})


# --- planning ------------------------------------------------------------------------------

OLD = doc(job("intro-v1"), job("other", "    seed: 5\n"))
NEW = doc(
    job("intro"),
    job("outro", "    seed: 5\n"),
    moved="  - {from: intro-v1, to: intro}\n  - {from: other, to: outro}\n",
)


def entry(j: Job, status: str = "completed", **kw: object) -> LockEntry:
    fields: dict[str, object] = {
        "request_id": f"req-{j.id}",
        "idempotency_key": f"key-{j.id}",
        "seed": j.form_state["seed"],
        "execution_time_ms": 900,
    }
    if status == "completed":
        fields["artifact"] = Artifact(f"renders/{j.id}.mp4", "ab" * 32, 1234, "renders/k.mp4")
    fields.update(kw)
    return LockEntry(j.id, j.fingerprint, j.model, status, **fields)  # type: ignore[arg-type]


def old_lock(tmp_path: Path, status: str = "completed", **kw: object) -> LockSnapshot:
    old = parse(OLD, tmp_path)
    return LockSnapshot(tmp_path / "m.lock", {j.id: entry(j, status, **kw) for j in old.jobs})


def test_a_renamed_completed_job_is_moved_with_its_entry(tmp_path: Path) -> None:
    lock = old_lock(tmp_path)
    the_plan = plan(parse(NEW, tmp_path), lock)
    assert [(s.job_id, s.action, s.moved_from) for s in the_plan.steps] == [
        ("intro", Action.MOVE, "intro-v1"),
        ("outro", Action.MOVE, "other"),
    ]
    assert not the_plan.is_noop and not any(s.action.touches_api for s in the_plan.steps)
    assert the_plan.warnings == ()
    step = the_plan.steps[0]
    assert step.reason.startswith("moved from intro-v1")
    before = lock.entries["intro-v1"]
    assert step.entry == dataclasses.replace(
        before,
        job_id="intro",
        artifact=dataclasses.replace(before.artifact, path="renders/intro.mp4"),
    )
    # The derived seed of the old id is kept: that is what the render was made with.
    assert step.job is not None and step.job.form_state["seed"] == derive_seed("intro-v1")
    assert step.job.fingerprint == before.fingerprint


def test_after_the_move_the_job_stays_up_to_date_with_or_without_the_entry(
    tmp_path: Path,
) -> None:
    moved = plan(parse(NEW, tmp_path), old_lock(tmp_path))
    after = LockSnapshot(
        tmp_path / "m.lock", {s.job_id: s.entry for s in moved.steps if s.entry is not None}
    )
    again = plan(parse(NEW, tmp_path), after)
    assert [s.action for s in again.steps] == [Action.SKIP, Action.SKIP]
    assert [w.where for w in again.warnings] == ["moved[0]", "moved[1]"]
    assert all("already applied" in w.message for w in again.warnings)
    without = NEW.split("moved:")[0]
    final = plan(parse(without, tmp_path), after)
    assert [s.action for s in final.steps] == [Action.SKIP, Action.SKIP]
    assert final.warnings == ()


def test_a_rename_that_also_changes_the_request_renders_and_says_both(tmp_path: Path) -> None:
    changed = NEW.replace(
        "intro\n    kind: avatar\n    image: https://cdn.example.com/a.png"
        "\n    audio: https://cdn.example.com/a.mp3",
        "intro\n    kind: avatar\n    image: https://cdn.example.com/a.png"
        "\n    audio: https://cdn.example.com/new.mp3",
    )
    assert changed != NEW
    the_plan = plan(parse(changed, tmp_path), old_lock(tmp_path))
    steps = {s.job_id: s for s in the_plan.steps}
    assert steps["intro"].action is Action.SUBMIT and steps["intro"].moved_from is None
    assert "renamed from intro-v1" in steps["intro"].reason
    assert "request changed" in steps["intro"].reason
    # Not carried, so the old entry is an ordinary removal; the new job renders with the
    # seed of its own id, as any changed request does.
    assert steps["intro-v1"].action is Action.REMOVE
    assert steps["intro"].job is not None
    assert steps["intro"].job.form_state["seed"] == derive_seed("intro")
    assert steps["outro"].action is Action.MOVE


@pytest.mark.parametrize(
    ("status", "extra", "expected", "says"),
    [
        ("processing", {}, Action.RESUME, "still processing as req-intro-v1"),
        ("unknown", {"request_id": None}, Action.HOLD, "outcome unknown"),
        ("submitting", {"request_id": None}, Action.HOLD, "outcome unknown"),
        ("failed", {"error": "bad audio"}, Action.RETRY, "failed last time (bad audio)"),
    ],
)
def test_an_unfinished_entry_is_carried_then_follows_the_usual_rules(
    tmp_path: Path, status: str, extra: dict[str, object], expected: Action, says: str
) -> None:
    lock = old_lock(tmp_path, status, **extra)
    step = plan(parse(NEW, tmp_path), lock).steps[0]
    assert (step.action, step.moved_from) == (expected, "intro-v1")
    assert step.reason.startswith("moved from intro-v1; ") and says in step.reason
    assert step.entry == dataclasses.replace(lock.entries["intro-v1"], job_id="intro")
    # Never a new idempotency key or request: the carried entry's own.
    assert step.entry.idempotency_key == "key-intro-v1"


def test_carried_entries_are_not_also_removed(tmp_path: Path) -> None:
    for status in ("completed", "processing", "unknown"):
        actions = {
            s.job_id: s.action for s in plan(parse(NEW, tmp_path), old_lock(tmp_path, status)).steps
        }
        assert "intro-v1" not in actions and "other" not in actions, actions


def test_local_moves_without_the_studio_and_renders_an_unfinished_one_again(
    tmp_path: Path,
) -> None:
    assert plan(parse(NEW, tmp_path), old_lock(tmp_path), local=True).steps[0].action is Action.MOVE
    # The local studio that had the job is gone: rendered again there (free), and the
    # carried entry is what the new submission replaces.
    unknown = old_lock(tmp_path, "unknown", request_id=None)
    step = plan(parse(NEW, tmp_path), unknown, local=True).steps[0]
    assert (step.action, step.moved_from) == (Action.SUBMIT, "intro-v1")
    assert step.reason.startswith("moved from intro-v1; outcome unknown")
    assert "local studio forgets" in step.reason


def test_replace_and_only_still_decide(tmp_path: Path) -> None:
    lock = old_lock(tmp_path)
    forced = {s.job_id: s for s in plan(parse(NEW, tmp_path), lock, replace=["intro"]).steps}
    assert forced["intro"].action is Action.SUBMIT and forced["intro"].moved_from is None
    assert forced["intro-v1"].action is Action.REMOVE
    picked = {s.job_id: s.action for s in plan(parse(NEW, tmp_path), lock, only=["outro"]).steps}
    assert picked == {"intro": Action.UNSELECTED, "outro": Action.MOVE}


def test_stale_entries_warn_located_and_change_nothing(tmp_path: Path) -> None:
    text = doc(job("intro"), moved="  - {from: never-rendered, to: intro}\n")
    the_plan = plan(parse(text, tmp_path), LockSnapshot(tmp_path / "m.lock", {}))
    assert [(s.job_id, s.action) for s in the_plan.steps] == [("intro", Action.SUBMIT)]
    (warning,) = the_plan.warnings
    assert str(warning) == (
        "m.yaml:8:5: moved[0]: stale: neither 'never-rendered' nor 'intro' is in m.lock, "
        "so 'intro' renders as a new job; delete this entry"
    )


# --- seeds ---------------------------------------------------------------------------------


def test_a_derived_seed_is_the_recorded_one_only_when_the_request_is_otherwise_the_same(
    tmp_path: Path,
) -> None:
    (intro,) = parse(doc(job("intro")), tmp_path).jobs
    recorded = reseeded(intro, 42)
    kept = as_recorded(intro, dataclasses.replace(entry(recorded), job_id="intro"))
    assert kept.form_state["seed"] == 42 and kept.fingerprint == recorded.fingerprint
    other = reseeded(parse(doc(job("intro", audio="b.mp3")), tmp_path).jobs[0], 42)
    assert as_recorded(intro, entry(other)) is intro  # something else changed too
    (explicit,) = parse(doc(job("intro", "    seed: 9\n")), tmp_path).jobs
    assert as_recorded(explicit, entry(reseeded(explicit, 42))) is explicit
    assert as_recorded(intro, entry(intro)) is intro


def test_reseeded_with_the_own_seed_is_the_readers_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "face.png").write_bytes(b"face")
    text = doc(job("intro").replace(f"{URL}/a.png", "./face.png"), job("x", "    seed: 3\n"))
    for j in parse(text, tmp_path).jobs:
        assert reseeded(j, j.form_state["seed"]).fingerprint == j.fingerprint
    assert parse(text, tmp_path).jobs[0].hashed_inputs.keys() == {"image"}


def test_a_lock_written_before_moved_existed_is_up_to_date_job_for_job(tmp_path: Path) -> None:
    """Regression: renders.lock in tests/unit/data/lock-before-moved was written by the
    version before this one. Not one fingerprint may change, nor any decision."""
    shutil.copytree(DATA / "lock-before-moved", tmp_path / "m")
    manifest = load_manifest(tmp_path / "m" / "renders.yaml")
    lock = load_lock(tmp_path / "m" / "renders.lock")
    assert {j.id for j in manifest.jobs} == set(lock.entries)
    for j in manifest.jobs:
        assert j.fingerprint == lock.entries[j.id].fingerprint, j.id
        assert as_recorded(j, lock.entries[j.id]) is j
    ok = dict.fromkeys(lock.entries, ArtifactState.OK)
    assert plan(manifest, lock, artifacts=ok).is_noop
