"""``lock merge`` (git's merge driver), ``lock fold`` (shard locks into the main one)
and ``lock install-merge-driver``; the rules themselves are ``lockfile._merge``'s.

The driver is called as git documents (gitattributes(5), "Defining a custom merge
driver"): ``%O %A %B`` are temporary files holding the ancestor's, our and their
version, the result goes to ``%A``, and a non-zero exit leaves the path conflicted.
``%P`` is the lock's real path, so "does this render exist" is asked where the lock
lives, not beside git's temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from lipsync_pipeline._fs import atomic_write, cannot_write, open_nofollow
from lipsync_pipeline.errors import ConfigError, LockfileError, Problem, StorageError
from lipsync_pipeline.lockfile import load_lock

if TYPE_CHECKING:
    import subprocess

    from lipsync_pipeline.lockfile import LockEntry, MergeResult

# subprocess, the merge rules and the run lock are imported where they are used:
# ``validate`` asks driver_warning and ``--help`` reads DRIVER_NAME, nothing more.

__all__ = [
    "DRIVER_COMMAND",
    "DRIVER_NAME",
    "DriverSetup",
    "FileMerge",
    "driver_warning",
    "fold_files",
    "install_merge_driver",
    "merge_files",
    "rebase_artifacts",
]

DRIVER_NAME: Final = "lipsync-lock"
DRIVER_COMMAND: Final = "lipsync-pipeline lock merge --text-fallback --path %P %O %A %B"
ATTRIBUTES_PATTERN: Final = "*.lock"
_GIT_TIMEOUT: Final = 30.0


def _entries(path: Path) -> Mapping[str, LockEntry]:
    """One side of a merge. git hands an empty file for a side that has no version
    (the lock was added on both branches): that is an empty lock, not an error."""
    try:
        if path.stat().st_size == 0:
            return {}
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror or exc}") from exc
    return load_lock(path, keep=False).entries  # a temporary file of git's


@dataclass(frozen=True, slots=True)
class RenderCheck:
    """Whether an entry's render is on disk as recorded (present, with the recorded
    size), relative to the lock's directory. The size, not the digest: a merge must
    stay fast, and a wrong file is caught by the next run's digest check anyway."""

    directory: Path

    def __call__(self, entry: LockEntry) -> bool:
        if entry.artifact is None:
            return False
        try:
            return (self.directory / entry.artifact.path).stat().st_size == entry.artifact.bytes
        except OSError:
            return False


def merge_files(
    base: Path,
    ours: Path,
    theirs: Path,
    *,
    out: Path | None = None,
    lock_path: Path | None = None,
    text_fallback: bool = False,
) -> FileMerge:
    """Merge and write the result to ``out`` (default: ``ours``, as git expects).
    With ``text_fallback``, inputs that are not lipsync locks get ``git merge-file``
    instead (a ``*.lock`` pattern also matches other tools' lock files); without it
    they raise LockfileError."""
    target = out or ours
    try:
        sides = [_entries(p) for p in (base, ours, theirs)]
    except LockfileError:
        if not text_fallback:
            raise
        return FileMerge(None, _text_merge(base, ours, theirs, target))
    from lipsync_pipeline.lockfile import merge_locks, render_merge

    where = (lock_path or target).parent
    result = merge_locks(*sides, exists=RenderCheck(where))
    _write(target, render_merge(result))
    return FileMerge(result, result.clean)


@dataclass(frozen=True, slots=True)
class FileMerge:
    """``result`` None: the files were not lipsync locks and git merged them as text."""

    result: MergeResult | None
    clean: bool


def _text_merge(base: Path, ours: Path, theirs: Path, target: Path) -> bool:
    """git's own line merge, as git would have done without our driver."""
    import subprocess

    command = ["git", "merge-file", "-p", str(ours), str(base), str(theirs)]
    done = subprocess.run(command, capture_output=True, timeout=_GIT_TIMEOUT, check=False)
    if done.returncode < 0 or done.returncode > 127:
        raise StorageError(f"git merge-file failed: {done.stderr.decode(errors='replace')}")
    _write(target, done.stdout)
    return done.returncode == 0  # else the number of conflicts, markers written


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise cannot_write(path, exc) from exc


def fold_files(main: Path, shards: Sequence[Path]) -> MergeResult:
    """Fold shard locks into ``main`` under its run lock (a run of the main lock must
    not interleave). Artifact paths are recorded relative to each lock's directory,
    so a shard lock kept elsewhere has them rebased onto the main lock's."""
    if not shards:
        raise ConfigError("lock fold: give at least one shard lock")
    from lipsync_pipeline.lockfile import LockJournal, RunLock, fold_locks, render_merge

    run_lock = RunLock(main)
    try:
        run_lock.acquire()
    except OSError as exc:
        raise StorageError(f"{run_lock.path}: {exc.strerror or exc}") from exc
    try:
        loaded = [
            rebase_artifacts(load_lock(s, keep=False).entries, s.parent, main.parent)
            for s in shards  # each read once, and gone with the CI job that made it
        ]
        # A killed run's journal is compacted into the main lock first (and removed):
        # left beside it, the next load would replay its older states over the fold.
        try:
            with LockJournal.open(main) as journal:
                base = dict(journal.entries)
        except OSError as exc:
            raise cannot_write(main, exc) from exc
        result = fold_locks(base, loaded, exists=RenderCheck(main.parent))
        _write(main, render_merge(result))
    finally:
        run_lock.release()
    return result


def rebase_artifacts(
    entries: Mapping[str, LockEntry], source: Path, target: Path
) -> Mapping[str, LockEntry]:
    if os.path.abspath(source) == os.path.abspath(target):
        return entries
    out = {}
    for job_id, entry in entries.items():
        if entry.artifact is not None:
            moved = os.path.relpath(source / entry.artifact.path, target)
            entry = replace(entry, artifact=replace(entry.artifact, path=Path(moved).as_posix()))
        out[job_id] = entry
    return out


# --- git configuration ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriverSetup:
    """What ``install-merge-driver`` did, one sentence per change (empty: all was there)."""

    repository: Path
    done: tuple[str, ...]


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import subprocess

    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed (or not on PATH)") from None


def _toplevel(where: Path) -> Path:
    done = _git(where, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise ConfigError(f"{where}: not inside a git repository ({done.stderr.strip()})")
    return Path(done.stdout.strip())


def install_merge_driver(where: Path) -> DriverSetup:
    """Register the driver in the repository's own config (.git/config: each clone
    registers it once, as git never runs a command a repository merely commits) and
    name it in the top-level .gitattributes. Idempotent."""
    top = _toplevel(where)
    done: list[str] = []
    wanted = {
        f"merge.{DRIVER_NAME}.name": "lipsync-pipeline lockfile merge",
        f"merge.{DRIVER_NAME}.driver": DRIVER_COMMAND,
    }
    for key, value in wanted.items():
        if _git(top, "config", "--local", "--get", key).stdout.rstrip("\n") != value:
            if _git(top, "config", "--local", key, value).returncode != 0:
                raise StorageError(f"git config {key}: could not write {top}/.git/config")
            done.append(f"git config {key} {value!r}")
    line = f"{ATTRIBUTES_PATTERN} merge={DRIVER_NAME}"
    attributes = top / ".gitattributes"
    if line not in _attribute_lines(attributes):
        _append_line(attributes, line)
        done.append(f"added {line!r} to {attributes}")
    return DriverSetup(top, tuple(done))


def _attribute_lines(path: Path) -> list[str]:
    try:
        return [raw.strip() for raw in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc


def _append_line(path: Path, line: str) -> None:
    """Append (creating the file if need be) without following a committed link."""
    try:
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        with os.fdopen(fd, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            needs_newline = size > 0 and os.pread(f.fileno(), 1, size - 1) != b"\n"
            f.write((b"\n" if needs_newline else b"") + line.encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise cannot_write(path, exc) from exc


def driver_warning(lock_path: Path) -> Problem | None:
    """For ``validate``: a .gitattributes names our driver, but this clone's git config
    does not define it, so git silently falls back to a text merge of the lock. Reads
    only; None when all is well or there is no git (no repository, no git binary)."""
    start = Path(os.path.abspath(lock_path)).parent
    named = [found for d in _up_to_repository(start) if (found := _names_driver(d))]
    if not named:
        return None
    import subprocess

    try:
        done = _git(start, "config", "--get", f"merge.{DRIVER_NAME}.driver")
    except (ConfigError, OSError, subprocess.SubprocessError):
        return None
    if done.returncode == 0 and done.stdout.strip():
        return None
    file, line, column = named[0]
    message = (
        f"names the merge driver {DRIVER_NAME!r}, but this clone's git config does not "
        "define it, so git merges the lock as text (and may conflict or drop a paid "
        "request id): run `lipsync-pipeline lock install-merge-driver`"
    )
    return Problem(str(file), line, column, "", message)


def _up_to_repository(start: Path) -> Iterable[Path]:
    for directory in (start, *start.parents):
        yield directory
        if (directory / ".git").exists():
            return


def _names_driver(directory: Path) -> tuple[Path, int, int] | None:
    """(.gitattributes, line, column) of the first line naming the driver, if any."""
    path = directory / ".gitattributes"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    needle = f"merge={DRIVER_NAME}"
    for number, line in enumerate(text.splitlines(), start=1):
        column = line.split("#")[0].find(needle)
        if column >= 0:
            return path, number, column + 1
    return None
