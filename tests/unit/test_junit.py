"""``run --junit``: the report as JUnit XML in the shape GitHub, GitLab and Jenkins read
(Ant's JUnit schema: testsuites > testsuite > testcase > failure | error | skipped |
system-out), with counts that add up, and a file written atomically, never through
a symbolic link."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Final

import pytest

from lipsync_pipeline.cli._junit import check_junit_path, junit_xml, write_junit
from lipsync_pipeline.errors import ConfigError, UnsafePathError, register_secret
from lipsync_pipeline.lockfile import Artifact
from lipsync_pipeline.plan import Action
from lipsync_pipeline.run import JobResult, Outcome, RunReport

# The attributes and children the common JUnit XSD (Jenkins' junit-10.xsd, after Ant's)
# allows, and the attributes it requires.
ALLOWED: Final = {
    "testsuites": {"name", "time", "tests", "failures", "errors", "skipped", "disabled"},
    "testsuite": {
        "name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname",
        "id", "package", "disabled", "file",
    },
    "testcase": {"name", "classname", "time", "assertions", "status", "file", "line"},
    "failure": {"message", "type"},
    "error": {"message", "type"},
    "skipped": {"message"},
    "system-out": set(),
    "system-err": set(),
}  # fmt: skip
REQUIRED: Final = {"testsuite": {"name", "tests"}, "testcase": {"name", "classname"}}
CHILDREN: Final = {
    "testsuites": {"testsuite"},
    "testsuite": {"testcase", "properties", "system-out", "system-err"},
    "testcase": {"failure", "error", "skipped", "system-out", "system-err"},
}
ART = Artifact("renders/a.mp4", "ab" * 32, 1234)


def _check_shape(element: ET.Element) -> None:
    assert set(element.attrib) <= ALLOWED[element.tag], element.tag
    assert REQUIRED.get(element.tag, set()) <= set(element.attrib), element.tag
    for child in element:
        assert child.tag in CHILDREN.get(element.tag, set()), (element.tag, child.tag)
        _check_shape(child)
    if element.tag == "testcase":
        outcomes = [c for c in element if c.tag in ("failure", "error", "skipped")]
        assert len(outcomes) <= 1
    for name in ("time",):
        if name in element.attrib:
            assert float(element.attrib[name]) >= 0


def _report() -> RunReport:
    results = [
        JobResult("a", Action.SUBMIT, Outcome.COMPLETED, "", "req-a", ART, 12.5),
        JobResult("b", Action.SUBMIT, Outcome.FAILED, "Invalid audio format", "req-b", None, 3.0),
        JobResult("c", Action.RESUME, Outcome.TIMED_OUT, "still processing", "req-c", None, 60.0),
        JobResult("d", Action.SUBMIT, Outcome.UNKNOWN, "no clear answer; resending may bill"),
        JobResult("e", Action.SKIP, Outcome.SKIPPED),
        JobResult("f", Action.SUBMIT, Outcome.OVER_BUDGET, "not submitted: past the cap of 60"),
        JobResult("g", Action.UNSELECTED, Outcome.UNSELECTED),
        JobResult("h", Action.SUBMIT, Outcome.ERROR, "the API kept failing (HTTP 503)"),
        JobResult("i", Action.SUBMIT, Outcome.CANCELLED, "interrupted"),
    ]
    return RunReport(results, elapsed=80.25)


def test_one_testcase_per_job_with_counts_that_add_up() -> None:
    root = ET.fromstring(junit_xml(_report(), "renders.yaml", now=datetime(2025, 1, 2, 3, 4, 5)))

    _check_shape(root)
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.attrib["name"] == "renders.yaml"
    assert suite.attrib["timestamp"] == "2025-01-02T03:04:05"
    cases = {case.attrib["name"]: case for case in suite.iter("testcase")}
    assert list(cases) == list("abcdefghi")
    assert {case.attrib["classname"] for case in cases.values()} == {"renders.yaml"}
    assert cases["a"].attrib["time"] == "12.500"
    kind = {name: (case[0].tag if len(case) else "passed") for name, case in cases.items()}
    assert kind == {
        "a": "system-out",  # passed, with the file it produced
        "b": "failure",
        "c": "error",
        "d": "error",
        "e": "skipped",
        "f": "skipped",
        "g": "skipped",
        "h": "error",
        "i": "skipped",
    }
    failure = cases["b"].find("failure")
    assert failure is not None
    assert failure.attrib == {"message": "Invalid audio format", "type": "failed"}
    assert failure.text is not None and "request id: req-b" in failure.text
    over = cases["f"].find("skipped")
    assert over is not None and "spend cap" in over.attrib["message"]
    for element in (root, suite):
        assert element.attrib["tests"] == "9"
        assert element.attrib["failures"] == "1"
        assert element.attrib["errors"] == "3"
        assert element.attrib["skipped"] == "4"
        assert element.attrib["time"] == "80.250"


def test_what_xml_cannot_carry_is_replaced_and_secrets_masked() -> None:
    secret = "junit-secret-token-42"
    register_secret(secret)
    bad = JobResult("a", Action.SUBMIT, Outcome.FAILED, f"bad\x00byte \x1b[31m {secret}")
    data = junit_xml(RunReport([bad]), "renders.yaml")
    root = ET.fromstring(data)  # would raise on a NUL or an ESC
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None
    assert secret.encode() not in data
    assert failure.attrib["message"] == "bad\ufffdbyte \ufffd[31m ***"


def test_a_request_id_xml_cannot_carry_is_replaced() -> None:
    # The request id is the API's answer, so any byte may come back in it.
    odd = JobResult("a", Action.SUBMIT, Outcome.FAILED, "failed", "req\x01id")
    root = ET.fromstring(junit_xml(RunReport([odd]), "renders.yaml"))  # raised before
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert "request id: req\ufffdid" in failure.text


def test_the_file_is_written_atomically_and_never_through_a_link(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("old")
    write_junit(path, _report(), "renders.yaml")
    assert ET.parse(path).getroot().tag == "testsuites"
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]  # no temp file left

    target = tmp_path / "target.xml"
    target.write_text("keep")
    link = tmp_path / "link.xml"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError):
        check_junit_path(link)
    with pytest.raises(UnsafePathError):
        write_junit(link, _report(), "renders.yaml")
    assert target.read_text() == "keep"


def test_a_path_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no directory"):
        check_junit_path(tmp_path / "missing" / "junit.xml")
    with pytest.raises(ConfigError, match="is a directory"):
        check_junit_path(tmp_path)
    check_junit_path(tmp_path / "junit.xml")
