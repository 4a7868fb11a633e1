"""``validate``: every manifest and the lockfile beside it, checked; reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lipsync_pipeline.errors import LockfileError, ManifestError, Problem, UsageError
from lipsync_pipeline.lockfile import LockSnapshot
from lipsync_pipeline.manifest import Manifest, load_manifest
from lipsync_pipeline.plan import moved_warnings
from lipsync_pipeline.usecases._check import check_lock, lock_beside
from lipsync_pipeline.usecases._lockmerge import driver_warning

__all__ = ["FileValidation", "LockValidation", "MatrixIds", "Validation", "validate"]


@dataclass(frozen=True, slots=True)
class LockValidation:
    file: str
    valid: bool
    entries: int | None  # None when invalid


@dataclass(frozen=True, slots=True)
class MatrixIds:
    """The jobs one matrix entry of a manifest expanded into."""

    entry: str  # "jobs[2]"
    template: str  # its id template
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileValidation:
    """One manifest: valid or not, how many jobs, and its lock if it has one."""

    file: str
    valid: bool
    jobs: int | None  # None when the manifest itself is invalid
    lock: LockValidation | None  # None when there is no lock yet (or the manifest failed)
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()  # valid, but a run may refuse it (local paths)
    matrices: tuple[MatrixIds, ...] = ()  # each matrix entry's expanded ids


@dataclass(frozen=True, slots=True)
class Validation:
    files: tuple[FileValidation, ...]

    @property
    def valid(self) -> bool:
        return all(f.valid for f in self.files)


def validate(manifests: Sequence[Path], lock_path: Path | None = None) -> Validation:
    """Check each manifest (schema and semantic checks) and its lockfile (format, a
    pending journal, agreement with the manifest). ``lock_path`` names the lock of a
    single manifest. Every problem is collected; nothing is written."""
    if lock_path is not None and len(manifests) > 1:
        raise UsageError("--lock names the lockfile of one manifest; give only one MANIFEST")
    return Validation(tuple(_one(path, lock_path) for path in manifests))


def _one(path: Path, lock_path: Path | None) -> FileValidation:
    try:
        manifest = load_manifest(path)
    except ManifestError as exc:
        return FileValidation(str(path), False, None, None, tuple(exc.problems))
    jobs = len(manifest.jobs)
    lock_file = str(lock_path or lock_beside(manifest))
    try:
        lock = check_lock(manifest, lock_path)
    except LockfileError as exc:
        bad = LockValidation(lock_file, False, None)
        problems = tuple(exc.problems)
        return FileValidation(str(path), False, jobs, bad, problems, (), _matrices(manifest))
    good = None if lock is None else LockValidation(lock_file, True, len(lock.entries))
    unregistered = driver_warning(Path(lock_file))
    warnings = _local_path_warnings(manifest) + (() if unregistered is None else (unregistered,))
    warnings += moved_warnings(manifest, lock or LockSnapshot(Path(lock_file), {}))
    return FileValidation(str(path), True, jobs, good, (), warnings, _matrices(manifest))


def _matrices(manifest: Manifest) -> tuple[MatrixIds, ...]:
    ids: dict[tuple[str, str], list[str]] = {}
    for job in manifest.jobs:
        if job.template is not None:
            entry = job.where.partition(" ")[0]  # "jobs[2] (lang=fr)" -> "jobs[2]"
            ids.setdefault((entry, job.template), []).append(job.id)
    return tuple(MatrixIds(entry, template, tuple(i)) for (entry, template), i in ids.items())


def _local_path_warnings(manifest: Manifest) -> tuple[Problem, ...]:
    """Valid, and yet a run against the hosted API would refuse it: say so now, once
    per manifest, at the first local path (a demo has a dozen; one line is enough)."""
    if manifest.store is not None:
        return ()  # a store uploads them and hands the API URLs
    places = {
        (job.marks.get(name, (job.line, job.column)), f"{job.where}.{name}")
        for job in manifest.jobs
        for name in job.local_inputs
    }
    if not places:
        return ()
    (line, column), where = min(places)
    count = len({position for position, _ in places})
    paths = "a local file" if count == 1 else f"local files ({count} places)"
    message = (
        f"{paths}: `run --local` renders on the built-in studio, but the hosted API "
        "downloads inputs itself and refuses paths: give https:// URLs, or add a store:"
    )
    return (Problem(manifest.display_name, line, column, where, message),)
