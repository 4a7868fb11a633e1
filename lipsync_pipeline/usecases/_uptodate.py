"""An up-to-date ``run`` carried out in this thread: the same steps under the same run
lock as ``run_pipeline``, without what only a run that calls the API needs.

A rerun with nothing due is the run people make most (every CI push that changed no
job), and on it trio, structlog and the runner cost more start-up than the work:
~0.4 s of CPU here against ~0.1 s of checking 10,000 outputs. So ``run`` first tries
this path, and goes the whole way (``run_pipeline``) whenever it returns None: when
the plan calls the API, asks an object store (a store, ``--verify``), or when the
lock cannot be taken (the whole way then runs ``unlocked_noop`` on a read-only
checkout) or changed meanwhile; nothing is written before that decision
but what ``run_pipeline`` writes the same way (partial downloads removed, the digests
remembered, a pending journal folded), so going on from there is safe.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from lipsync_pipeline._digests import DigestCache
from lipsync_pipeline._gc import settled
from lipsync_pipeline._quietlog import logger
from lipsync_pipeline.errors import StorageError, UnsafePathError
from lipsync_pipeline.lockfile import LockJournal, LockSnapshot, RunLock, journal_path
from lipsync_pipeline.manifest import Manifest
from lipsync_pipeline.plan import ArtifactState, Plan, plan
from lipsync_pipeline.run import ProgressSink, RunReport, execute_static
from lipsync_pipeline.usecases._admit import Admitted
from lipsync_pipeline.usecases._outputs import check_artifacts, remove_partial_downloads
from lipsync_pipeline.usecases._spend import bill_report_now, priced

__all__ = ["open_journal", "outputs_now", "replan", "run_up_to_date", "unlocked_noop"]


def _calls_api(the_plan: Plan) -> bool:
    return any(step.action.touches_api for step in the_plan.steps)


def run_up_to_date(admitted: Admitted, progress: ProgressSink | None = None) -> RunReport | None:
    """The report of ``admitted``'s run if nothing in it calls the API, else None (then
    ``run_pipeline(..., admitted=admitted)`` does the run). Raises as a run would."""
    request, checked = admitted.request, admitted.checked
    if admitted.store is not None or request.verify or _calls_api(checked.plan):
        return None
    manifest, lock_path = checked.manifest, admitted.lock_path
    run_lock = RunLock(lock_path)
    try:
        run_lock.acquire()
    except OSError:
        return None  # the whole way says why (or runs unlocked on a read-only checkout)
    with open_journal(manifest, lock_path, run_lock) as journal:
        current = LockSnapshot(lock_path, journal.entries)
        the_plan = replan(admitted, current, outputs_now(manifest, current))
        if _calls_api(the_plan):
            return None  # another run left work to do: the whole way
        estimate = priced(the_plan, admitted.first, checked.remote)
        report = execute_static(the_plan, manifest, journal, progress)
        report.warnings = the_plan.warnings
        bill_report_now(report, the_plan, estimate, admitted.cap, lock_path.parent)
    return report


def unlocked_noop(admitted: Admitted, progress: ProgressSink | None = None) -> RunReport | None:
    """The report of a run that has nothing to write, or None if it has something.

    Taking the run lock means creating a file; a read-only checkout (or a full disk)
    refuses that, yet "is everything up to date?" needs no write. Nobody can race a
    run that writes nothing, so it goes ahead unlocked: the outputs verified, no
    journal, no compaction. A pending journal means the lock needs folding: a write."""
    manifest, lock = admitted.checked.manifest, admitted.checked.lock
    if os.path.lexists(journal_path(lock.path)):
        return None
    # A changed input (the input check's word, in replan) is something to do.
    the_plan = replan(admitted, lock, check_artifacts(manifest, lock))
    if not the_plan.is_noop:
        return None
    logger(__name__).info(
        "the lock's directory cannot be written, and nothing is due: not locking it"
    )
    journal = LockJournal(lock.path, dict(lock.entries))  # never written: nothing to record
    report = execute_static(the_plan, manifest, journal, progress)
    report.warnings = the_plan.warnings
    return report


@contextmanager
def open_journal(manifest: Manifest, lock_path: Path, run_lock: RunLock) -> Iterator[LockJournal]:
    """The lock's journal, ``run_lock`` held (and released on the way out), partial
    downloads of a killed run removed first; compacted and closed whatever happens. An
    OSError (the lock's directory missing, read-only or full) becomes a StorageError,
    no traceback, and the lock is as it was (every step was journalled and fsynced)."""
    try:
        remove_partial_downloads(manifest)
        journal = LockJournal.open(lock_path)
        try:
            yield journal
        finally:
            journal.compact()
            journal.close()
    except OSError as exc:
        raise StorageError(f"{lock_path}: {exc.strerror or exc}") from exc
    finally:
        run_lock.release()


def outputs_now(manifest: Manifest, lock: LockSnapshot) -> dict[str, ArtifactState]:
    """Each completed job's output checked against ``lock`` (under the run lock), the
    digests it took remembered for the next check."""
    with settled():  # kept for the whole run: out of the collector's way (_gc)
        digests = DigestCache.load(manifest.output_dir)
        artifacts = check_artifacts(manifest, lock, digests)
    # Only an optimisation: a directory that refuses the write costs a re-hash next
    # time, not the run.
    try:
        digests.save()
    except (OSError, StorageError, UnsafePathError) as exc:
        logger(__name__).debug("digests not remembered", path=str(digests.path), error=str(exc))
    return artifacts


def replan(admitted: Admitted, lock: LockSnapshot, artifacts: Mapping[str, ArtifactState]) -> Plan:
    """The plan again under the run lock (another run may have finished meanwhile), with
    what the origins said before the lock was taken: asked once per run."""
    request = admitted.request
    with settled():
        return plan(
            admitted.checked.manifest,
            lock,
            artifacts=artifacts,
            only=request.only,
            replace=request.replace,
            local=request.local,
            resend_unknown=request.options.resend_unknown,
            shard=request.shard,
            changed=admitted.checked.inputs.changed,
        )
