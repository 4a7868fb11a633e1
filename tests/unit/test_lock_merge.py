"""The three-way lock merge and the shard fold: the precedence, conflicts that keep
every candidate, no paid request id ever lost, and argument-order symmetry."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipsync_pipeline.errors import LockfileError
from lipsync_pipeline.lockfile import (
    Artifact,
    LockEntry,
    MergeResult,
    fold_locks,
    load_lock,
    merge_locks,
    render_lock,
    render_merge,
)
from lipsync_pipeline.shard import Shard, parse_shard, shard_index

FP_A = "sha256:" + "a" * 64
FP_B = "sha256:" + "b" * 64


def entry(
    job: str = "j", status: str = "processing", rid: str | None = "r1", **kw: object
) -> LockEntry:
    art = kw.pop("art", None)
    artifact = None if art is None else Artifact(f"renders/{job}.mp4", str(art) * 64, 10)
    return LockEntry(
        job_id=job,
        fingerprint=str(kw.pop("fp", FP_A)),
        model="lipsync-image",
        status=status,  # type: ignore[arg-type]
        idempotency_key=str(kw.pop("key", "k")),
        request_id=rid,
        artifact=artifact,
    )


def one(base: LockEntry | None, ours: LockEntry | None, theirs: LockEntry | None) -> MergeResult:
    def side(e: LockEntry | None) -> dict[str, LockEntry]:
        return {} if e is None else {e.job_id: e}

    return merge_locks(side(base), side(ours), side(theirs))


def test_a_job_changed_on_one_side_takes_that_side() -> None:
    base = entry(status="submitting", rid=None)
    done = entry(status="completed", art="c")
    assert one(base, base, done).entries["j"] == done
    assert one(base, done, base).entries["j"] == done


def test_disjoint_additions_merge_cleanly() -> None:
    ours, theirs = {"a": entry("a")}, {"b": entry("b", rid="r2")}
    result = merge_locks({}, ours, theirs)
    assert result.clean and set(result.entries) == {"a", "b"}
    assert render_merge(result) == render_lock([ours["a"], theirs["b"]])


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (entry(status="completed", rid="r1", art="c"), entry(status="completed", rid="r2")),
        (entry(status="completed", rid="r1"), entry(status="processing", rid="r2")),
        (entry(status="processing", rid="r1"), entry(status="unknown", rid=None)),
        (entry(status="unknown", rid=None), entry(status="submitting", rid=None, key="k2")),
        (entry(status="submitting", rid=None), entry(status="failed", rid="r2")),
    ],
)
def test_both_changed_the_precedence_decides_and_the_loser_is_listed(
    better: LockEntry, worse: LockEntry
) -> None:
    for result in (one(None, better, worse), one(None, worse, better)):
        assert result.clean and result.entries["j"] == better
        lost = {s.request_id for s in result.superseded}
        assert lost == ({worse.request_id} if worse.request_id else set())


def test_equal_states_keep_the_one_whose_render_exists() -> None:
    a, b = (
        entry(status="completed", rid="r1", art="a"),
        entry(status="completed", rid="r2", art="b"),
    )
    result = merge_locks({}, {"j": a}, {"j": b}, exists=lambda e: e.request_id == "r2")
    assert result.clean and result.entries["j"] == b
    assert [(s.request_id, s.kept) for s in result.superseded] == [("r1", "r2")]


def test_equal_states_with_no_way_to_choose_need_a_human() -> None:
    a, b = entry(rid="r1"), entry(rid="r2")
    result = one(None, a, b)
    assert not result.clean
    assert {e.request_id for e in result.conflicts[0].candidates} == {"r1", "r2"}
    data = render_merge(result)
    assert b"<<<<<<<" not in data and b'"conflicts"' in data


def test_a_lock_with_an_unfinished_merge_is_refused_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "renders.lock"
    path.write_bytes(render_merge(one(None, entry(rid="r1"), entry(rid="r2"))))
    with pytest.raises(LockfileError) as caught:
        load_lock(path)
    problem = caught.value.problems[0]
    assert problem.line is not None and problem.column is not None
    assert "unfinished `lock merge`" in problem.message


def test_fingerprints_that_diverged_need_a_human() -> None:
    result = one(entry(fp=FP_A, rid=None), entry(fp=FP_A, rid="r1"), entry(fp=FP_B, rid="r2"))
    assert not result.clean


def test_a_deletion_against_an_untouched_paid_entry_lists_its_request_id() -> None:
    paid = entry(status="completed", rid="r1", art="c")
    result = one(paid, None, paid)
    assert "j" not in result.entries
    assert [s.request_id for s in result.superseded] == ["r1"]


def test_fold_takes_each_shards_jobs_over_the_main_lock() -> None:
    main = {"a": entry("a", status="submitting", rid=None), "b": entry("b", rid="old")}
    shard1 = {"a": entry("a", status="completed", rid="ra", art="a")}
    shard2 = {"b": entry("b", status="completed", rid="rb", art="b")}
    result = fold_locks(main, [shard1, shard2])
    assert result.clean
    assert result.entries == {"a": shard1["a"], "b": shard2["b"]}
    assert [s.request_id for s in result.superseded] == ["old"]


def test_shards_are_stable_and_parsed() -> None:
    ids = [f"job-{n}" for n in range(400)]
    parts = [[i for i in ids if Shard(k, 4).holds(i)] for k in range(1, 5)]
    assert sorted(i for p in parts for i in p) == sorted(ids)  # a partition
    assert all(60 < len(p) < 140 for p in parts)  # balanced enough
    assert shard_index("job-7", 4) == shard_index("job-7", 4)
    assert parse_shard("2/4") == Shard(2, 4)
    for bad in ("0/4", "5/4", "x", "1/0"):
        with pytest.raises(Exception, match="--shard"):
            parse_shard(bad)


# --- properties --------------------------------------------------------------------------

_STATUSES = st.sampled_from(["submitting", "unknown", "processing", "completed", "failed"])
_JOBS = st.sampled_from(["a", "b", "c"])


@st.composite
def entries(draw: st.DrawFn) -> LockEntry:
    job = draw(_JOBS)
    status = draw(_STATUSES)
    return entry(
        job,
        status,
        draw(st.none() | st.sampled_from(["r1", "r2", "r3", "r4"])),
        fp=draw(st.sampled_from([FP_A, FP_B])),
        key=draw(st.sampled_from(["k1", "k2"])),
        art=draw(st.none() | st.sampled_from("de")) if status == "completed" else None,
    )


_LOCKS = st.lists(entries(), max_size=4).map(lambda es: {e.job_id: e for e in es})


def _ids(lock: dict[str, LockEntry]) -> set[tuple[str, str]]:
    return {(k, e.request_id) for k, e in lock.items() if e.request_id is not None}


def _accounted(result: MergeResult) -> set[tuple[str, str]]:
    held = _ids(dict(result.entries))
    held |= {
        (c.job_id, e.request_id) for c in result.conflicts for e in c.candidates if e.request_id
    }
    held |= {(s.job_id, s.request_id) for s in result.superseded}
    return held


@given(_LOCKS, _LOCKS, _LOCKS, st.sets(st.sampled_from(["r1", "r2", "r3", "r4"])))
def test_no_request_id_of_ours_or_theirs_is_ever_lost(
    base: dict[str, LockEntry],
    ours: dict[str, LockEntry],
    theirs: dict[str, LockEntry],
    on_disk: set[str],
) -> None:
    result = merge_locks(base, ours, theirs, exists=lambda e: e.request_id in on_disk)
    assert _ids(ours) | _ids(theirs) <= _accounted(result)


@given(_LOCKS, _LOCKS, _LOCKS, st.sets(st.sampled_from(["r1", "r2", "r3", "r4"])))
def test_the_merge_is_symmetric_byte_for_byte(
    base: dict[str, LockEntry],
    ours: dict[str, LockEntry],
    theirs: dict[str, LockEntry],
    on_disk: set[str],
) -> None:
    def exists(e: LockEntry) -> bool:
        return e.request_id in on_disk

    forward = merge_locks(base, ours, theirs, exists=exists)
    backward = merge_locks(base, theirs, ours, exists=exists)
    assert render_merge(forward) == render_merge(backward)
    assert forward.clean == backward.clean


@given(_LOCKS, st.lists(_LOCKS, max_size=3))
def test_folding_loses_no_request_id_of_any_shard(
    main: dict[str, LockEntry], shards: list[dict[str, LockEntry]]
) -> None:
    result = fold_locks(main, shards)
    wanted = set().union(*(_ids(s) for s in shards))
    assert wanted <= _accounted(result)


def test_a_job_in_three_shards_keeps_every_request_id_among_the_candidates() -> None:
    # Found by the property above: the third shard conflicted with the placeholder of
    # the first two's conflict, and the first shard's request id fell out of the report.
    shards = [
        {"a": entry("a", "submitting", "r1")},
        {"a": entry("a", "submitting", "r2")},
        {"a": entry("a", "submitting", None)},
    ]
    result = fold_locks({}, shards)
    (conflict,) = result.conflicts
    assert {e.request_id for e in conflict.candidates} == {"r1", "r2", None}


def test_fold_keeps_a_pending_journal_without_replaying_it_over_the_fold(tmp_path: Path) -> None:
    """A killed run leaves ``renders.lock.journal`` beside the main lock; folding must
    keep what it recorded, and the next load must not replay it over the fold."""
    from lipsync_pipeline.lockfile import LockJournal, journal_path
    from lipsync_pipeline.usecases._lockmerge import fold_files

    main = tmp_path / "r.lock"
    main.write_bytes(render_lock([entry("a", status="submitting", rid=None)]))
    with LockJournal.open(main) as journal:  # closed without compaction: "killed"
        journal.record([entry("a", rid="ra-main"), entry("c", rid="rc")])
    shard = tmp_path / "r.lock.shard-1-of-2"
    folded_a = entry("a", status="completed", rid="ra")
    shard.write_bytes(render_lock([folded_a]))

    result = fold_files(main, [shard])

    assert result.clean
    after = load_lock(main).entries
    assert after["a"] == folded_a  # not the journal's older "processing"
    assert after["c"] == entry("c", rid="rc")  # the journal's own change is kept
    assert not journal_path(main).exists()
