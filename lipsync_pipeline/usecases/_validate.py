"""``validate``: every manifest and the lockfile beside it, checked; reads only.

A lockfile given in place of a manifest (``renders.lock``) stands for the manifest
beside it: a pre-commit hook hands over whichever of the two changed, and a lock is
checked against its manifest or not at all. Each manifest is checked once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lipsync_pipeline.errors import LockfileError, ManifestError, Problem, UsageError
from lipsync_pipeline.lockfile import LOCK_SUFFIX, LockSnapshot
from lipsync_pipeline.manifest import Manifest, load_manifest
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
    results: list[FileValidation] = []
    seen: set[str] = set()
    for given in manifests:
        path = _manifest_of(given) if lock_path is None else given
        if path is None:
            results.append(_orphan(given))
            continue
        key = os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            results.append(_one(path, lock_path))
    return Validation(tuple(results))


def _manifest_of(path: Path) -> Path | None:
    """``path`` itself, or for a lockfile (``renders.lock``) the manifest beside it
    (``renders.yaml``, ``renders.yml``, or the name without ``.lock``), if one exists."""
    if not path.name.endswith(LOCK_SUFFIX) or path.name == LOCK_SUFFIX:
        return path
    bare = path.with_name(path.name[: -len(LOCK_SUFFIX)])
    for candidate in (path.with_suffix(".yaml"), path.with_suffix(".yml"), bare):
        if candidate.is_file():
            return candidate
    return None


def _orphan(lock: Path) -> FileValidation:
    stem = lock.name[: -len(LOCK_SUFFIX)]
    message = (
        f"a lockfile with no manifest beside it (looked for {stem}.yaml and {stem}.yml): "
        "a lock is checked against its manifest; delete it if the manifest is gone"
    )
    return FileValidation(
        str(lock), False, None, None, (Problem(str(lock), None, None, "", message),)
    )


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
    if manifest.moved:  # the plan's module only for a manifest that names moves
        from lipsync_pipeline.plan import moved_warnings

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
