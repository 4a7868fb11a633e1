"""Each command loads only what it uses: the modules in ``sys.modules`` after a
command ran in a fresh process, never a timing.

``lipsync-pipeline validate`` runs as a pre-commit hook on every commit; importing
trio, httpx, rich, structlog and the studio up front cost it ~0.6 s of a 0.65 s run.
A command that starts to import one of them again fails here, not in a benchmark.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import ROOT

DEMO = ROOT / "manifests" / "demo.yaml"

# Loaded by the commands that talk to the network, render or serve, never by the others.
NETWORK_AND_STUDIO = frozenset(
    {"trio", "httpx", "httpcore", "hypercorn", "starlette", "av", "obstore", "structlog"}
)
STUDIO = "lipsync_pipeline.studio"
# rich lays out terminal tables; a pipe, JSON and validate's lines do without it.
RICH = "rich"
# jsonschema only words the errors of an invalid file.
JSONSCHEMA = "jsonschema"

_PROBE = """
import json, sys
from lipsync_pipeline.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def loaded(tmp_path: Path, *argv: str | Path) -> tuple[int, set[str]]:
    """(exit code, top-level packages and lipsync_pipeline modules) of one command run
    in a fresh interpreter, its stdout a pipe."""
    dump = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    subprocess.run(
        [sys.executable, "-c", _PROBE, str(dump), *map(str, argv)],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    found = json.loads(dump.read_text(encoding="utf-8"))
    names = set(found["modules"])
    return found["code"], {n.split(".")[0] for n in names} | {
        n for n in names if n.startswith("lipsync_pipeline.")
    }


def _url_manifest(tmp_path: Path) -> Path:
    """A manifest whose inputs are all URLs, as a team on the hosted API writes it."""
    path = tmp_path / "renders.yaml"
    path.write_text(
        "version: 1\njobs:\n"
        "  - id: intro\n    kind: avatar\n"
        "    image: https://cdn.example.com/face.png\n"
        "    audio: https://cdn.example.com/voice.mp3\n",
        encoding="utf-8",
    )
    return path


def _forbidden(modules: set[str], *names: str | frozenset[str]) -> set[str]:
    wanted: set[str] = set()
    for name in names:
        wanted |= {name} if isinstance(name, str) else set(name)
    return modules & wanted


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["schema"], ["schema", "--lock"]])
def test_version_help_and_schema_load_no_third_party_package(
    tmp_path: Path, argv: list[str]
) -> None:
    code, modules = loaded(tmp_path, *argv)
    assert code == 0
    assert _forbidden(modules, NETWORK_AND_STUDIO, STUDIO, RICH, JSONSCHEMA, "yaml") == set()
    if argv[0].startswith("--"):
        # Nothing but the parser: no manifest reader, no lock format.
        assert "lipsync_pipeline.manifest._reader" not in modules
        assert "lipsync_pipeline.lockfile._format" not in modules


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_validate_of_a_valid_manifest_loads_only_the_reader(tmp_path: Path, fmt: str) -> None:
    code, modules = loaded(tmp_path, "validate", DEMO, "--format", fmt)
    assert code == 0
    assert _forbidden(modules, NETWORK_AND_STUDIO, STUDIO, RICH, JSONSCHEMA) == set()
    assert "yaml" in modules  # the probe sees what a command does load
    assert not modules & {  # the matrix modules: only for a manifest with a matrix:
        f"lipsync_pipeline.manifest._{name}" for name in ("expand", "matrix", "combos", "rows")
    }
    # Nor the plan (only for a manifest with `moved:`) or the input check's findings.
    assert not modules & {"lipsync_pipeline.plan", "lipsync_pipeline.inputs._findings"}


def test_validate_of_an_invalid_manifest_loads_jsonschema_to_word_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\njobs:\n  - id: x\n    kind: avatar\n", encoding="utf-8")
    code, modules = loaded(tmp_path, "validate", bad)
    assert code == 2
    assert JSONSCHEMA in modules
    assert _forbidden(modules, NETWORK_AND_STUDIO, STUDIO, RICH) == set()


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--no-input-check"],
        ["plan", "--format", "json", "--no-input-check"],
        ["status"],
        ["status", "--format", "json"],
        ["run", "--dry-run", "--no-input-check"],
    ],
)
def test_plan_and_status_load_no_network_stack(tmp_path: Path, argv: list[str]) -> None:
    """Piped (as in CI) the table is plain text: rich only draws for a terminal. Asking
    the origins of URL inputs needs httpx and PyAV (issue 13): without that check (and
    for local inputs, see below) plan loads neither; status never asks."""
    code, modules = loaded(tmp_path, argv[0], _url_manifest(tmp_path), *argv[1:])
    assert code == 0
    assert _forbidden(modules, NETWORK_AND_STUDIO, STUDIO, RICH, JSONSCHEMA) == set()


def test_a_run_refused_for_its_manifest_loads_no_runner_and_no_network_stack(
    tmp_path: Path,
) -> None:
    """A broken manifest costs ``run`` what it costs ``validate``: it is checked before
    logging, trio, httpx and the runner are imported (a pre-commit hook or a CI job
    fails in a fraction of a second)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\njobs:\n  - id: x\n    kind: avatar\n", encoding="utf-8")
    code, modules = loaded(tmp_path, "run", bad, "--local")
    assert code == 2
    assert _forbidden(modules, NETWORK_AND_STUDIO, STUDIO, RICH) == set()
    assert "lipsync_pipeline.run._walk" not in modules


def test_plan_measures_local_media_with_pyav_only_when_it_has_some(tmp_path: Path) -> None:
    """The credits of a local input need its length (PyAV reads the header): the one
    heavy package ``plan`` loads, and only for a manifest with local media."""
    code, modules = loaded(tmp_path, "plan", DEMO, "--lock", tmp_path / "none.lock")
    assert code == 0
    assert "av" in modules
    assert _forbidden(modules, NETWORK_AND_STUDIO - {"av"}, STUDIO, RICH, JSONSCHEMA) == set()


def _up_to_date(tmp_path: Path) -> Path:
    """The URL manifest with a lock saying its one job is rendered, the render on disk."""
    from lipsync_pipeline.lockfile import Artifact, LockEntry, render_lock
    from lipsync_pipeline.manifest import load_manifest

    path = _url_manifest(tmp_path)
    job = load_manifest(path).jobs[0]
    render = tmp_path / "renders" / f"{job.id}.mp4"
    render.parent.mkdir()
    render.write_bytes(b"a render")
    artifact = Artifact(f"renders/{render.name}", hashlib.sha256(b"a render").hexdigest(), 8)
    entry = LockEntry(
        job.id,
        job.fingerprint,
        job.model,
        "completed",
        "key",
        seed=job.form_state["seed"],
        artifact=artifact,
    )
    (tmp_path / "renders.lock").write_bytes(render_lock([entry]))
    return path


def test_an_up_to_date_run_loads_no_runner_no_http_client_and_no_studio(tmp_path: Path) -> None:
    """Nothing due: done in the calling thread (usecases/_uptodate.py): no trio, no
    logging set-up, no client, no studio, no request."""
    code, modules = loaded(tmp_path, "run", _up_to_date(tmp_path), "--local", "--format", "json")
    assert code == 0
    assert "lipsync_pipeline.usecases._uptodate" in modules
    assert _forbidden(modules, NETWORK_AND_STUDIO, STUDIO, JSONSCHEMA) == set()
    assert "lipsync_pipeline.run._runner" not in modules


def test_a_run_with_work_goes_the_whole_way(tmp_path: Path) -> None:
    """A job due: the runner, trio and the logging set-up (the studio for --local)."""
    _, modules = loaded(tmp_path, "run", _url_manifest(tmp_path), "--local", "--format", "json")
    assert {"trio", "structlog", "lipsync_pipeline.run._runner", STUDIO} <= modules
