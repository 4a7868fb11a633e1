"""``run --junit PATH``: the run's report as JUnit XML, which GitHub, GitLab and
Jenkins show natively (one test per render job).

The common JUnit shape (Ant's, as Jenkins and GitLab read it): ``<testsuites>`` holding
one ``<testsuite>`` per manifest, one ``<testcase classname=MANIFEST name=JOB_ID
time=SECONDS>`` per job, each with the counts its parents sum. What a job's outcome
becomes:

==============================================  =========================================
outcome                                         testcase
==============================================  =========================================
completed                                       passed (no child)
failed (the API says the render failed)         ``<failure>`` with the API's error
error, timed_out, in_flight, unknown            ``<error>``: the run could not finish it
                                                (unknown: it may exist and be billed)
skipped (up to date), unselected, removed,      ``<skipped>`` with why: nothing to do, or
cancelled, over_budget                          not started
==============================================  =========================================

Messages are redacted, and characters XML 1.0 cannot carry (an API error with a NUL
in it) are replaced, so the file always parses. It is written atomically, never
through a symbolic link (a pull request could commit one where CI writes reports).
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from lipsync_pipeline._fs import atomic_write, cannot_write, refuse_symlink
from lipsync_pipeline.errors import ConfigError, redact
from lipsync_pipeline.run import JobResult, Outcome, RunReport

__all__ = ["check_junit_path", "junit_xml", "write_junit"]

_FAILURE: Final = frozenset({Outcome.FAILED})
_ERROR: Final = frozenset({Outcome.ERROR, Outcome.TIMED_OUT, Outcome.IN_FLIGHT, Outcome.UNKNOWN})
_SKIPPED_WHY: Final = {
    Outcome.SKIPPED: "up to date",
    Outcome.UNSELECTED: "not selected (--only or --shard)",
    Outcome.REMOVED: "no longer in the manifest: dropped from the lock",
    Outcome.CANCELLED: "not started",
    Outcome.OVER_BUDGET: "not submitted: the spend cap",
}
_MESSAGE: Final = 1000  # characters of a message attribute; the element's text has it all
# Characters XML 1.0 allows (the rest, NUL and most C0 controls, make a file unparsable).
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", redact(text))


def _testcase(suite: ET.Element, manifest: str, result: JobResult) -> str:
    """Add ``result``'s testcase; returns its kind: passed, failure, error or skipped."""
    case = ET.SubElement(
        suite,
        "testcase",
        classname=_clean(manifest),
        name=result.job_id,
        time=f"{result.seconds:.3f}",
    )
    error = _clean(result.error)
    if result.outcome in _FAILURE or result.outcome in _ERROR:
        kind = "failure" if result.outcome in _FAILURE else "error"
        message = error or str(result.outcome)
        child = ET.SubElement(case, kind, message=message[:_MESSAGE], type=str(result.outcome))
        child.text = f"{result.outcome}: {message}" + (
            f"\nrequest id: {_clean(result.request_id)}" if result.request_id else ""
        )
        return kind
    if result.outcome in _SKIPPED_WHY:
        why = _SKIPPED_WHY[result.outcome]
        ET.SubElement(case, "skipped", message=f"{why}: {error}"[:_MESSAGE] if error else why)
        return "skipped"
    if result.artifact is not None:
        out = ET.SubElement(case, "system-out")
        out.text = f"{result.artifact.path} sha256:{result.artifact.sha256}"
    return "passed"


def junit_xml(report: RunReport, manifest: str, *, now: datetime | None = None) -> bytes:
    """The JUnit XML of ``report`` for ``manifest`` (its name as typed), UTF-8."""
    root = ET.Element("testsuites", name="lipsync-pipeline")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_clean(manifest),
        timestamp=(now or datetime.now(UTC)).replace(tzinfo=None).isoformat(timespec="seconds"),
        hostname=_clean(socket.gethostname()),
    )
    kinds = Counter(_testcase(suite, manifest, result) for result in report.results)
    counts = {
        "tests": str(len(report.results)),
        "failures": str(kinds["failure"]),
        "errors": str(kinds["error"]),
        "skipped": str(kinds["skipped"]),
        "time": f"{report.elapsed:.3f}",
    }
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, value)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def check_junit_path(path: Path) -> None:
    """Before the run: ``path`` can be written (its directory exists) and is not a
    symbolic link. Raises ConfigError / UnsafePathError, so nothing is paid for a
    report that could not be written."""
    refuse_symlink(path)
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"--junit {path}: no directory {parent} to write it in")
    if path.is_dir():
        raise ConfigError(f"--junit {path}: is a directory")


def write_junit(path: Path, report: RunReport, manifest: str) -> None:
    """Write the report's JUnit XML to ``path`` atomically. Raises StorageError."""
    try:
        atomic_write(path, junit_xml(report, manifest))
    except OSError as exc:
        raise cannot_write(path, exc) from exc
