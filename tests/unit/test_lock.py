"""The lockfile: determinism, located errors, journal replay, atomic compaction, the run lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipsync_pipeline._fs import file_digest
from lipsync_pipeline.errors import LockfileError, RunLockHeld
from lipsync_pipeline.lockfile import (
    Artifact,
    LockEntry,
    LockJournal,
    RunLock,
    default_lock_path,
    journal_path,
    load_lock,
    render_lock,
    run_lock_path,
)

FP = "sha256:" + "ab" * 32


def entry(job_id: str, status: str = "completed", **kw: object) -> LockEntry:
    fields: dict[str, object] = {"request_id": f"req-{job_id}", "seed": 7}
    if status == "completed":
        fields["artifact"] = Artifact(f"renders/{quote(job_id, safe='')}.mp4", "0" * 64, 1234)
    fields.update(kw)
    return LockEntry(job_id, FP, "lipsync-image", status, f"idem-{job_id}", **fields)  # type: ignore[arg-type]


def store_with(path: Path, *entries: LockEntry) -> LockJournal:
    store = LockJournal.open(path)
    store.record(list(entries))
    return store


# --- rendering -----------------------------------------------------------------------------


entries_st = st.lists(
    st.builds(
        entry,
        # Any id the lock accepts: the manifest's id shape (no control characters).
        job_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,11}", fullmatch=True),
        status=st.sampled_from(["submitting", "unknown", "processing", "completed", "failed"]),
        error=st.none() | st.text(max_size=20),
        execution_time_ms=st.none() | st.integers(0, 10**9),
    ),
    unique_by=lambda e: e.job_id,
    max_size=12,
)


@given(entries=entries_st, data=st.data())
def test_render_is_independent_of_order_and_round_trips(
    entries: list[LockEntry], data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shuffled = data.draw(st.permutations(entries))
    rendered = render_lock(entries)
    assert render_lock(shuffled) == rendered == render_lock(entries)
    assert rendered.startswith(b'{\n  "version": 1,\n  "jobs": {')
    assert rendered.endswith(b"}\n")
    path = tmp_path_factory.mktemp("lock") / "r.lock"
    path.write_bytes(rendered)
    assert dict(load_lock(path).entries) == {e.job_id: e for e in entries}


def test_render_is_sorted_and_omits_unknowns() -> None:
    text = render_lock([entry("b"), entry("a", "submitting", seed=None, request_id=None)])
    doc = json.loads(text)
    assert list(doc) == ["version", "jobs"]
    assert list(doc["jobs"]) == ["a", "b"]
    assert doc["jobs"]["a"] == {
        "fingerprint": FP,
        "idempotency_key": "idem-a",
        "model": "lipsync-image",
        "status": "submitting",
    }
    assert list(doc["jobs"]["b"]) == sorted(doc["jobs"]["b"])
    assert b"  " in text and b"\t" not in text


def test_paths() -> None:
    assert default_lock_path(Path("/m/renders.yaml")) == Path("/m/renders.lock")
    assert default_lock_path(Path("/m/renders.yml")) == Path("/m/renders.lock")
    assert default_lock_path(Path("/m/renders")) == Path("/m/renders.lock")
    assert journal_path(Path("/m/r.lock")) == Path("/m/r.lock.journal")
    assert run_lock_path(Path("/m/r.lock")) == Path("/m/r.lock.run")


def test_missing_lock_is_empty(tmp_path: Path) -> None:
    assert dict(load_lock(tmp_path / "none.lock").entries) == {}


def test_file_digest(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert file_digest(tmp_path / "f") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        3,
    )
    assert file_digest(tmp_path / "missing") is None


# --- located errors ------------------------------------------------------------------------

GOOD = render_lock([entry("a")]).decode()


@pytest.mark.parametrize(
    ("content", "line", "column", "message"),
    [
        (b"", 1, 1, "empty"),
        (GOOD[:60].encode(), 5, 20, "truncated"),
        (GOOD[:-10].encode(), 16, 3, "truncated"),
        (
            b'{"version": 7,\n "jobs": {}}',
            1,
            13,
            "written by a newer lipsync-pipeline: lock version 7, this one reads 1",
        ),
        (b'{"version": "1", "jobs": {}}', 1, 13, "1 was expected"),
        (GOOD.replace('"seed": 7', '"seed": "7"').encode(), 14, 15, "not of type 'integer'"),
        (
            GOOD.replace('"status": "completed"', '"status": "done"').encode(),
            15,
            17,
            "is not one of",
        ),
        (GOOD.replace('"bytes": 1234', '"bytes": -1').encode(), 6, 18, "minimum of 0"),
        (
            GOOD.replace('"renders/a.mp4"', '"/etc/passwd"').encode(),
            7,
            17,
            "relative POSIX path",
        ),
        (GOOD.replace('"seed": 7', '"sede": 7').encode(), 14, 7, "unexpected field"),
        (b'{"version": 1, "jobs": {"a": {}}, "version": 1}', 1, 35, "duplicate key"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", 1, 1, "not UTF-8"),
        (b'{"version": 1,\n "jobs": {}}\n\x00\x00', 3, 1, "not valid JSON"),
        (b"[1, 2]", 1, 1, "is not of type 'object'"),
        (b"[" * 100_000, 1, 1, "nested too deeply"),
    ],
)
def test_every_lockfile_error_is_located(
    tmp_path: Path, content: bytes, line: int, column: int, message: str
) -> None:
    path = tmp_path / "r.lock"
    path.write_bytes(content)
    with pytest.raises(LockfileError) as info:
        load_lock(path)
    first = info.value.problems[0]
    assert (first.file, first.line, first.column) == (str(path), line, column), str(info.value)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}:{column}: ")


@pytest.mark.parametrize("code", [*range(0x20), 0x7F], ids=lambda c: f"0x{c:02x}")
def test_a_control_character_in_a_job_id_is_refused(tmp_path: Path, code: int) -> None:
    """Lock ids are manifest ids: a hostile lock cannot smuggle a newline (or an escape
    sequence for the terminal `status` prints to) into an id (issue 10)."""
    bad = f"a\\u{code:04x}"  # JSON-escaped, as a lock would spell it
    path = tmp_path / "r.lock"
    path.write_text(GOOD.replace('"a": {', f'"{bad}": {{'))
    with pytest.raises(LockfileError) as info:
        load_lock(path)
    first = info.value.problems[0]
    assert (first.line, first.column) == (4, 5), str(info.value)
    # The same id in a journal record (the lock itself valid and empty).
    path.write_text('{\n  "version": 1,\n  "jobs": {}\n}\n')
    journal_path(path).write_text(f'{{"drop": ["{bad}"]}}\n')
    with pytest.raises(LockfileError):
        load_lock(path)


def test_duplicate_job_ids_name_both_lines(tmp_path: Path) -> None:
    body = GOOD.replace('  "jobs": {\n', '  "jobs": {\n    "a": {},\n')
    path = tmp_path / "r.lock"
    path.write_text(body)
    with pytest.raises(
        LockfileError, match=r"r.lock:5:5: jobs.a: duplicate job id \(first at line 4\)"
    ):
        load_lock(path)


def test_a_lock_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.lock").mkdir()
    with pytest.raises(LockfileError, match="is a directory"):
        load_lock(tmp_path / "r.lock")


# --- the journal ---------------------------------------------------------------------------


def test_records_are_journalled_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    store = store_with(path, entry("a", "submitting"), entry("b", "processing"))
    store.record([entry("a", "processing")])
    store.drop(["b", "never-there"])
    assert not path.exists()  # nothing compacted yet: the journal alone holds it
    assert dict(load_lock(path).entries) == {"a": entry("a", "processing")}
    # A crash now (no close, no compact) loses nothing: a new store replays the journal.
    again = LockJournal.open(path)
    assert dict(again.entries) == {"a": entry("a", "processing")}
    assert not journal_path(path).exists()  # open folded it in
    assert path.read_bytes() == render_lock([entry("a", "processing")])
    store.close()
    again.close()


def test_unchanged_records_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, entry("a")) as store:
        size = journal_path(path).stat().st_size
        store.record([entry("a")])
        store.drop(["zzz"])
        assert journal_path(path).stat().st_size == size


def test_record_cost_is_per_batch_not_per_lock(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, *(entry(f"job-{i:05}") for i in range(10_000))) as store:
        store.compact()
        lock_stat = path.stat()
        store.record([entry("job-00042", "failed", error="Invalid audio format")])
        assert journal_path(path).stat().st_size < 400
        assert path.stat().st_mtime_ns == lock_stat.st_mtime_ns
        assert len(store.entries) == 10_000


@pytest.mark.parametrize("tail", [b'{"put":{"c":{"fingerprint', b"\x00" * 40 + b"\n", b"{}"])
def test_a_torn_final_line_is_ignored(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, entry("a")) as store:
        store.record([entry("b")])
    with journal_path(path).open("ab") as f:
        f.write(tail)
    assert set(load_lock(path).entries) == {"a", "b"}
    with LockJournal.open(path) as store:
        store.record([entry("c")])  # appends to a fresh journal, not onto the torn line
    assert set(load_lock(path).entries) == {"a", "b", "c"}


def test_a_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, entry("a")) as store:
        store.record([entry("b")])
        store.record([entry("c")])
    lines = journal_path(path).read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"status":"completed"', b'"status":"complete"')
    journal_path(path).write_bytes(b"\n".join(lines))
    with pytest.raises(LockfileError) as info:
        load_lock(path)
    [problem] = info.value.problems
    assert (problem.line, problem.where) == (2, "put.b.status")
    assert problem.column is not None and problem.column > 1
    lines[1] = b'{"put": garbage}'
    journal_path(path).write_bytes(b"\n".join(lines))
    with pytest.raises(LockfileError, match=r"r.lock.journal:2:9: not valid JSON"):
        LockJournal.open(path)


def test_unicode_line_separators_stay_inside_their_line(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    odd = entry("a", "failed", error="line\u2028separator\x85and\u2029more")
    with store_with(path, odd):
        pass
    assert load_lock(path).entries["a"] == odd


# --- compaction ----------------------------------------------------------------------------


def test_compact_rewrites_only_when_the_bytes_change(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, entry("a"), entry("b")) as store:
        assert store.compact() is True
        before = path.stat()
        store.record([entry("a")])  # same value: no change
        assert store.compact() is False
        assert not journal_path(path).exists()
    with LockJournal.open(path) as store:
        assert store.compact() is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_empty_store_creates_no_lockfile(tmp_path: Path) -> None:
    with LockJournal.open(tmp_path / "r.lock") as store:
        assert store.compact() is False
    assert list(tmp_path.iterdir()) == []


def test_a_failed_replace_leaves_the_old_lock_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, entry("a")) as store:
        store.compact()
    old = path.read_bytes()
    store = store_with(path, entry("b"))

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)  # _fs.atomic_write calls os.replace
    with pytest.raises(OSError, match="No space"):
        store.compact()
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.lock", "r.lock.journal"]
    assert set(load_lock(path).entries) == {"a", "b"}  # the journal still has "b"


def test_kill_9_mid_compaction_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    with store_with(path, entry("a")) as store:
        store.compact()
    old = path.read_bytes()
    child = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from lipsync_pipeline import _fs
        from lipsync_pipeline.lockfile import _journal as lock
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_lock import entry
        store = lock.LockJournal.open(Path({str(path)!r}))
        store.record([entry("b")])
        # Die between writing the temp file and renaming it over the lock.
        _fs.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        store.compact()
    """)
    proc = subprocess.run([sys.executable, "-c", child], check=False, timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == old
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the orphaned temp
    assert set(load_lock(path).entries) == {"a", "b"}
    with LockJournal.open(path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.lock"]
    assert set(load_lock(path).entries) == {"a", "b"}


def test_a_closed_store_refuses_records(tmp_path: Path) -> None:
    store = LockJournal.open(tmp_path / "r.lock")
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.record([entry("a")])


# --- the run lock --------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from lipsync_pipeline.lockfile import RunLock
with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_run_lock_between_processes_and_recovery_after_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(RunLockHeld) as info:
            RunLock(path).__enter__()
        assert f"held by pid {holder.pid} on " in str(info.value)
        assert str(path) in str(info.value)
        assert " since 20" in str(info.value)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    with RunLock(path) as run:  # the kernel dropped the dead holder's flock
        info_file = json.loads(run.path.read_text())
        assert info_file["pid"] == os.getpid()
    assert not run_lock_path(path).exists()


def test_run_lock_in_one_process_and_after_release(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    with RunLock(path), pytest.raises(RunLockHeld):
        RunLock(path).__enter__()
    with RunLock(path):
        pass


def test_run_lock_holder_not_yet_written(tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / "r.lock"
    fd = os.open(run_lock_path(path), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(RunLockHeld, match="not yet identified"):
            RunLock(path).__enter__()
    finally:
        os.close(fd)


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.lists(st.sampled_from("abcdef"), max_size=4), max_size=8))
def test_journal_replay_equals_memory(
    batches: list[list[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("j") / "r.lock"
    with LockJournal.open(path) as store:
        for n, ids in enumerate(batches):
            if n % 3 == 2:
                store.drop(ids)
            else:
                store.record([entry(i, "failed", error=f"batch {n}") for i in ids])
        expected = dict(store.entries)
        assert dict(load_lock(path).entries) == expected
    with LockJournal.open(path) as store:
        assert dict(store.entries) == expected


# The fast path that skips jsonschema for valid data must never accept what the schema rejects.
_VALID = json.loads(render_lock([entry("a")]))["jobs"]["a"]
_ODD_VALUES: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "sha256:" + "0" * 64, "0" * 64, "../x", "a\\b", "completed"])
    | st.just({})
    | st.just([])
    | st.just(dict(_VALID["artifact"]))
)


_MUTATION = st.tuples(
    st.booleans(),  # in the artifact, not the entry
    st.sampled_from([*sorted(_VALID), *sorted(_VALID["artifact"]), "extra"]),
    st.booleans(),  # delete, not replace
    _ODD_VALUES,
)


@settings(max_examples=300)
@given(mutations=st.lists(_MUTATION, max_size=3))
def test_the_quick_check_never_accepts_what_the_schema_rejects(
    mutations: list[tuple[bool, str, bool, Any]],
) -> None:
    from lipsync_pipeline.lockfile._format import _quick_check, _validator

    value = json.loads(json.dumps(_VALID))
    for in_artifact, key, delete, new in mutations:
        target = value
        if in_artifact and isinstance(value.get("artifact"), dict):
            target = value["artifact"]
        if delete:
            target.pop(key, None)
        else:
            target[key] = json.loads(json.dumps(new))
    if _quick_check().entry(value):
        errors = list(_validator("journalRecord").iter_errors({"put": {"a": value}}))
        assert not errors, errors


@given(
    st.lists(
        st.builds(
            entry,
            st.text(alphabet="abcxyz-_.0123456789", min_size=1, max_size=8),
            st.sampled_from(["submitting", "unknown", "processing", "completed", "failed"]),
            error=st.none() | st.text(max_size=20),  # quotes, control characters, non-ASCII
            execution_time_ms=st.none() | st.integers(0, 10**9),
        ),
        max_size=6,
    )
)
def test_fast_lock_writer_matches_the_stdlib_byte_for_byte(entries: list[LockEntry]) -> None:
    from lipsync_pipeline.lockfile import entry_json

    by_id = {e.job_id: e for e in entries}
    doc = {"version": 1, "jobs": {k: entry_json(by_id[k]) for k in sorted(by_id)}}
    expected = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    assert render_lock(entries) == expected


# --- symbolic links (issue 10): each writer refuses one on its own, not only the run ---


def test_every_lock_writer_refuses_a_symlink(tmp_path: Path) -> None:
    from lipsync_pipeline._fs import atomic_write
    from lipsync_pipeline._staging import StagedFile
    from lipsync_pipeline.errors import UnsafePathError

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    lock = tmp_path / "r.lock"
    run_lock_path(lock).symlink_to(tmp_path / "nowhere")  # dangling: O_CREAT would follow
    with pytest.raises(UnsafePathError, match=r"r\.lock\.run$"):
        RunLock(lock).acquire()
    journal_path(lock).symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafePathError, match=r"r\.lock\.journal$"):
        store_with(lock, entry("a"))
    lock.symlink_to(victim)
    with pytest.raises(UnsafePathError, match=r"r\.lock$"):
        atomic_write(lock, b"{}")
    staged = tmp_path / ".a.mp4.000000000000.part"
    staged.write_bytes(b"video")
    (tmp_path / "a.mp4").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=r"a\.mp4$"):
        StagedFile(staged, tmp_path / "a.mp4", "0" * 64, 5).publish()
    assert victim.read_bytes() == b"keep" and not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink()) == [
        staged.name,
        "victim",
    ]


def test_a_lock_that_changed_since_it_was_read_is_read_anew(
    tmp_path: Path, lock_parses: list[str]
) -> None:
    """``run`` reads the lock to plan and again under its run lock; the second read
    may reuse the first parse only if the bytes are the same (see test_lock_reread)."""
    parses = lock_parses
    path = tmp_path / "r.lock"
    path.write_bytes(render_lock([entry("a", "processing", request_id="r1")]))
    assert load_lock(path).entries["a"].status == "processing"
    path.write_bytes(render_lock([entry("a", "completed")]))  # another run finished it
    assert load_lock(path).entries["a"].status == "completed"
    assert len(parses) == 2
    with LockJournal.open(path) as journal:  # the same bytes again: no second parse
        assert journal.entries["a"].status == "completed"
    assert len(parses) == 2


def test_a_run_that_records_nothing_leaves_a_hand_formatted_lock_alone(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    doc = json.loads(render_lock([entry("a"), entry("b", "failed", error="x")]))
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")  # one line
    before = path.read_bytes()
    with LockJournal.open(path) as journal:
        journal.record([journal.entries["a"]])  # the same value: nothing to journal
        assert journal.compact() is False
    assert path.read_bytes() == before
    with LockJournal.open(path) as journal:
        journal.record([entry("b")])  # a change: the lock is written in our layout
        assert journal.compact() is True
    assert path.read_bytes() == render_lock([entry("a"), entry("b")])


# --- the one-pass reader: never accepts what the located, slow path refuses -------------

_DOC_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["jobs", "entry", "artifact", "top"]),
        st.sampled_from(
            ["fingerprint", "status", "artifact", "path", "version", "jobs", "x", "-x"]
        ),
        _ODD_VALUES | st.just({"fingerprint": FP}) | st.just(json.loads(json.dumps(_VALID))),
    ),
    max_size=3,
)


@settings(max_examples=300)
@given(mutations=_DOC_MUTATIONS, duplicate=st.booleans())
def test_the_one_pass_reader_agrees_with_the_slow_path(
    mutations: list[tuple[str, str, Any]], duplicate: bool
) -> None:
    """Whatever one pass returns, the slow path (every check, located errors) returns
    too, entry for entry; whenever the slow path refuses, one pass says None."""
    from lipsync_pipeline.lockfile._format import _quick_check, _slow_entries
    from lipsync_pipeline.lockfile._onepass import entries_in_one_pass

    doc: Any = json.loads(render_lock([entry("a"), entry("fingerprint", "failed")]))
    for where, key, new in mutations:
        target = doc
        for step in {"top": [], "jobs": ["jobs"], "entry": ["jobs", "a"]}.get(
            where, ["jobs", "a", "artifact"]
        ):
            target = target.get(step) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[key] = json.loads(json.dumps(new))
    text = json.dumps(doc, indent=2)
    if duplicate:  # the same key twice: json.loads alone would keep the last silently
        text = text.replace('"model": ', '"model": "x", "model": ', 1)
    fast = entries_in_one_pass(text, _quick_check())
    try:
        slow = _slow_entries("renders.lock", text)
    except LockfileError:
        assert fast is None
    else:
        assert fast is None or fast == slow


def test_the_one_pass_builders_make_what_the_constructors_make() -> None:
    """``new_entry`` and ``new_artifact`` skip the dataclasses' __init__ (speed): every
    field must still be set, each to its own value, however many fields there are."""
    from dataclasses import fields

    from lipsync_pipeline.lockfile._entries import new_artifact, new_entry

    job = tuple(object() for _ in fields(LockEntry))
    art = tuple(object() for _ in fields(Artifact))
    cases = ((LockEntry, job, new_entry(job[0], job[1:])), (Artifact, art, new_artifact(*art)))
    for cls, values, built in cases:
        made = cls(*values)
        assert type(built) is cls and built == made and hash(built) == hash(made)
        assert all(getattr(built, f.name) is v for f, v in zip(fields(cls), values, strict=True))


def test_a_job_named_like_an_entry_field_reads_in_one_pass(tmp_path: Path) -> None:
    from lipsync_pipeline.lockfile._format import _quick_check
    from lipsync_pipeline.lockfile._onepass import entries_in_one_pass

    entries = [entry("fingerprint"), entry("model", "failed"), entry("artifact")]
    found = entries_in_one_pass(render_lock(entries).decode(), _quick_check())
    assert found == {e.job_id: e for e in entries}


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc["jobs"].update({"-x": doc["jobs"]["a"]}),  # not a job id
        lambda doc: doc["jobs"]["a"].update(model=""),
        lambda doc: doc["jobs"]["a"]["artifact"].update(extra=1),
        lambda doc: doc["jobs"]["a"].update(artifact=dict(doc["jobs"]["a"])),  # an entry inside
        lambda doc: doc["jobs"]["a"].update(inputs={"audio": dict(doc["jobs"]["a"])}),
        lambda doc: doc.update(version=2),
        lambda doc: doc.update(conflicts={}),
        lambda doc: doc.update(jobs=[]),
    ],
)
def test_the_one_pass_reader_leaves_every_invalid_lock_to_the_slow_path(edit: Any) -> None:
    from lipsync_pipeline.lockfile._format import _quick_check, _slow_entries
    from lipsync_pipeline.lockfile._onepass import entries_in_one_pass

    doc = json.loads(render_lock([entry("a")]))
    edit(doc)
    text = json.dumps(doc)
    assert entries_in_one_pass(text, _quick_check()) is None
    with pytest.raises(LockfileError):
        _slow_entries("renders.lock", text)
