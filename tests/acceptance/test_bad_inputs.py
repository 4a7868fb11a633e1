"""The bad-input corpus: every broken manifest, lockfile and journal under tests/acceptance/corpus/.

Each case is run as a user would (``lipsync-pipeline run FILE --base-url STUDIO``,
with a key) against a live studio that counts every request, and must end in exit
2 with a located message, no traceback, no API call and no byte changed on disk.
What each file must say is in tests/acceptance/corpus/expected.toml.

Cases run concurrently (the CLI is mostly interpreter start-up), each lane with a
studio of its own, so "no API call" is measured per case, not per suite.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from _support import ASSETS, TEST_KEY

from lipsync_pipeline.manifest import load_manifest
from lipsync_pipeline.manifest._yaml import MAX_BYTES

CORPUS: Final = Path(__file__).resolve().parent / "corpus"
EXPECTED: Final[dict[str, dict[str, Any]]] = tomllib.loads(
    (CORPUS / "expected.toml").read_text("utf-8")
)
CLI: Final = [sys.executable, "-m", "lipsync_pipeline"]
LANES: Final = 4
_STUDIO_LINE: Final = re.compile(r"lipsync studio on (http://127\.0\.0\.1:\d+)")
_FINGERPRINT: Final = re.compile(rb"@FP:([A-Za-z0-9._-]+)@")
# Large enough to be several MB, so that locating an error deep in it is exercised.
_LATE_ERROR_JOBS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    returncode: int
    stderr: str
    shown: str  # the name the broken file goes by in messages
    api_requests: int
    jobs_created: int
    changed: list[str]  # files created, changed or removed in the case's directory


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    env["LIPSYNC_API_KEY"] = TEST_KEY
    return env


@pytest.fixture(scope="module")
def studios() -> Iterator[queue.Queue[str]]:
    """Studios as subprocesses (the tests here are synchronous), one per lane."""
    procs = [
        subprocess.Popen(
            [*CLI, "serve", "--port", "0", "--fast", "--assets", str(ASSETS), "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(),
        )
        for _ in range(LANES)
    ]
    lanes: queue.Queue[str] = queue.Queue()
    try:
        for proc in procs:
            assert proc.stdout is not None
            found = _STUDIO_LINE.search(proc.stdout.readline())
            assert found, "the studio did not say where it listens"
            lanes.put(found.group(1))
        yield lanes
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _stats(root: str) -> tuple[int, int]:
    auth = {"Authorization": f"Bearer {TEST_KEY}"}
    stats = httpx.get(f"{root}/_studio/stats", headers=auth, timeout=10).json()
    return int(stats["requests_total"]), int(stats["jobs_created"])


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(directory.rglob("*"))
    }


def _fill_fingerprints(data: bytes) -> bytes:
    jobs = {job.id: job.fingerprint for job in load_manifest(CORPUS / "base.yaml").jobs}
    return _FINGERPRINT.sub(lambda m: jobs[m.group(1).decode()].encode(), data)


def _generate(name: str, dest: Path) -> None:
    if name == "generated/oversized.yaml":
        with dest.open("wb") as f:
            f.write(b"version: 1\njobs:\n")
            line = b"# " + b"x" * 1022 + b"\n"
            for _ in range(MAX_BYTES // len(line) + 1):
                f.write(line)
    elif name == "generated/late-error.yaml":
        job = (
            "  - id: j{n}\n    kind: avatar\n"
            "    image: http://127.0.0.1:9/assets/face.png\n"
            "    audio: http://127.0.0.1:9/assets/voice-a.wav\n"
        )
        body = "".join(job.format(n=n) for n in range(_LATE_ERROR_JOBS))
        bad = job.format(n="bad").replace("kind: avatar", "kind: avtar")
        dest.write_text("version: 1\njobs:\n" + body + bad)
    else:
        raise AssertionError(f"no generator for {name}")


def _prepare(name: str, workdir: Path) -> tuple[str, str]:
    """Lay out one case in ``workdir``; (manifest to run, the name the broken file shows)."""
    role, _, filename = name.partition("/")
    stem = Path(filename).stem
    manifest, lock = f"{stem}.yaml", f"{stem}.lock"
    if role in ("manifests", "generated"):
        if role == "generated":
            _generate(name, workdir / manifest)
        else:
            shutil.copyfile(CORPUS / name, workdir / manifest)
        shutil.copyfile(CORPUS / "base.lock", workdir / lock)
        return manifest, manifest
    shutil.copyfile(CORPUS / "base.yaml", workdir / manifest)
    data = _fill_fingerprints((CORPUS / name).read_bytes())
    if role == "locks":
        (workdir / lock).write_bytes(data)
        return manifest, lock
    assert role == "journals", name
    (workdir / lock).write_text('{\n  "version": 1,\n  "jobs": {}\n}\n')
    (workdir / f"{lock}.journal").write_bytes(data)
    return manifest, f"{lock}.journal"


def _run_case(name: str, workdir: Path, lanes: queue.Queue[str]) -> Outcome:
    workdir.mkdir()
    manifest, shown = _prepare(name, workdir)
    before = _snapshot(workdir)
    root = lanes.get()  # this lane's studio serves only this case until put back
    try:
        requests0, created0 = _stats(root)
        result = subprocess.run(
            [*CLI, "run", manifest, "--base-url", f"{root}/api/v1", "--poll-interval", "0.1"],
            cwd=workdir,
            env=_env(),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
            check=False,
        )
        requests1, created1 = _stats(root)
    finally:
        lanes.put(root)
    after = _snapshot(workdir)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return Outcome(
        result.returncode,
        result.stderr,
        shown,
        requests1 - requests0,
        created1 - created0,
        changed,
    )


@pytest.fixture(scope="module")
def outcomes(
    studios: queue.Queue[str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("corpus")
    names = sorted(EXPECTED)
    with ThreadPoolExecutor(LANES) as pool:
        results = pool.map(
            lambda pair: _run_case(pair[1], base / f"case{pair[0]}", studios), enumerate(names)
        )
        return dict(zip(names, results, strict=True))


def _params() -> list[Any]:
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(reason=spec["xfail"], strict=True)] if "xfail" in spec else [],
        )
        for name, spec in sorted(EXPECTED.items())
    ]


def test_the_corpus_is_big_and_every_file_has_an_expectation() -> None:
    on_disk = {
        str(p.relative_to(CORPUS))
        for role in ("manifests", "locks", "journals")
        for p in (CORPUS / role).iterdir()
    }
    listed = {name for name in EXPECTED if not name.startswith("generated/")}
    assert on_disk == listed, f"unlisted: {on_disk - listed}, missing: {listed - on_disk}"
    assert len(EXPECTED) >= 40
    for name, spec in EXPECTED.items():
        assert set(spec) <= {"at", "says", "also", "xfail"}, name
        assert "says" in spec, name


@pytest.mark.parametrize("name", _params())
def test_bad_input_is_refused_located_and_harmless(name: str, outcomes: dict[str, Outcome]) -> None:
    spec = EXPECTED[name]
    out = outcomes[name]
    assert "Traceback" not in out.stderr, out.stderr
    assert out.api_requests == 0, f"{out.api_requests} API requests:\n{out.stderr[-2000:]}"
    assert out.jobs_created == 0
    assert out.changed == [], f"files changed: {out.changed}"
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.lower().splitlines()
    where = f"{out.shown}:{spec['at']}:" if "at" in spec else f"{out.shown}:"
    says = spec["says"].lower()
    # The file is named as the user wrote it (relative to where they ran), not absolute.
    located = f"error: {where}".lower()
    assert any(line.startswith(located) and says in line for line in lines), (
        f"no error line with {where!r} and {spec['says']!r} in:\n{out.stderr}"
    )
    for extra in spec.get("also", []):
        assert f"{out.shown}:{extra}:".lower() in out.stderr.lower(), out.stderr


def test_validate_refuses_the_same_files_without_a_run(tmp_path: Path) -> None:
    """``validate`` is the pre-merge gate: it must catch a broken or contradicting lock
    beside a manifest as ``run`` does, at the same place, and write nothing."""
    names = [n for n, spec in sorted(EXPECTED.items()) if "xfail" not in spec]
    names = [n for n in names if not n.startswith("generated/")]  # manifest-only, slow
    manifests: list[str] = []
    shown: dict[str, str] = {}
    for index, name in enumerate(names):
        workdir = tmp_path / f"case{index}"
        workdir.mkdir()
        manifest, broken = _prepare(name, workdir)
        manifests.append(f"case{index}/{manifest}")
        shown[f"case{index}/{manifest}"] = f"case{index}/{broken}"
    before = _snapshot(tmp_path)
    result = subprocess.run(
        [*CLI, "validate", "--format", "json", *manifests],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(tmp_path) == before
    report = {f["file"]: f for f in json.loads(result.stdout)["files"]}
    for manifest, name in zip(manifests, names, strict=True):
        spec, checked = EXPECTED[name], report[manifest]
        assert checked["valid"] is False, name
        if not name.startswith("manifests/"):  # a good manifest beside a bad lock or journal
            assert checked["jobs"] >= 1 and checked["lock"]["valid"] is False, checked
        lines = [
            f"{e['file']}:{e['line']}:{e['column']}: {e['where']}: {e['message']}".lower()
            for e in checked["errors"]
        ]
        where = f"{shown[manifest]}:{spec['at']}:" if "at" in spec else f"{shown[manifest]}:"
        assert any(
            line.startswith(where.lower()) and spec["says"].lower() in line for line in lines
        ), f"{name}: no error at {where!r} saying {spec['says']!r} in {lines}"
