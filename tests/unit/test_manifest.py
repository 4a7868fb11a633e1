"""The manifest format: schema and semantic checks, located messages, jobs as API requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest

from lipsync_pipeline.errors import ManifestError, Problem
from lipsync_pipeline.manifest import (
    MODEL_BY_KIND,
    Manifest,
    derive_seed,
    kind_fields,
    load_manifest,
    manifest_schema,
    parse_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
URL = "https://cdn.example.com"


def parse(text: str, folder: Path) -> Manifest:
    return parse_manifest(text, path=folder / "m.yaml", display_name="m.yaml")


def problems(text: str, folder: Path) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        parse(text, folder)
    return list(caught.value.problems)


def only(text: str, folder: Path) -> Problem:
    found = problems(text, folder)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def avatar(extra: str = "", *, job_id: str = "a") -> str:
    return (f"  - id: {job_id}\n    kind: avatar\n    image: {URL}/a.png\n"
            f"    audio: {URL}/a.mp3\n{extra}")


def doc(*jobs: str, head: str = "") -> str:
    return "version: 1\n" + head + "jobs:\n" + "".join(jobs)


@pytest.fixture
def assets(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "face.png").write_bytes(b"face")
    (tmp_path / "assets" / "voice.wav").write_bytes(b"voice")
    yield tmp_path


# -- the shipped manifests -------------------------------------------------------------------

@pytest.mark.parametrize("path", [MANIFESTS / "demo.yaml",
                                  *sorted((MANIFESTS / "examples").glob("*.yaml"))],
                         ids=lambda p: p.name)
def test_shipped_manifests_validate(path: Path) -> None:
    manifest = load_manifest(path)
    assert manifest.jobs
    assert path.read_text().startswith("# yaml-language-server: $schema=")


def test_demo_covers_every_kind_with_local_assets() -> None:
    manifest = load_manifest(MANIFESTS / "demo.yaml")
    assert {job.kind for job in manifest.jobs} == set(MODEL_BY_KIND)
    assert 4 <= len(manifest.jobs) <= 5
    for job in manifest.jobs:
        assert job.local_inputs, job.id
        for field, path in job.local_inputs.items():
            assert path == (MANIFESTS / str(job.form_state[field])).resolve()
    assert len(list((MANIFESTS / "examples").glob("*.yaml"))) >= 3


# -- the schema ------------------------------------------------------------------------------

def test_schema_is_valid_2020_12_with_id_and_descriptions() -> None:
    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    for name, definition in schema["properties"].items():
        assert definition.get("description") or "$ref" in definition, name


def test_schema_copy_is_private() -> None:
    manifest_schema()["properties"].clear()
    assert manifest_schema()["properties"]


def test_kinds_take_exactly_the_api_fields() -> None:
    # docs/api-contract.md, the formState columns.
    assert kind_fields() == {
        "avatar": ("image", "audio", "resolution", "mask_image", "prompt", "seed"),
        "dialog": ("image", "left_audio", "right_audio", "order", "resolution", "prompt", "seed"),
        "video": ("video", "audio", "resolution", "mask_image", "prompt", "seed"),
    }


def test_jobs_array_constrains_items_one_by_one() -> None:
    # The fast path validates only failing jobs with jsonschema; that is sound only
    # while no keyword relates jobs to each other (uniqueItems, contains, ...).
    schema = manifest_schema()
    assert set(schema["properties"]["jobs"]) <= {"title", "description", "type", "minItems",
                                                 "items"}


# -- jobs as API requests --------------------------------------------------------------------

def test_job_resolves_to_the_exact_request(tmp_path: Path) -> None:
    manifest = parse(doc(avatar("    seed: 7\n")), tmp_path)
    (job,) = manifest.jobs
    assert job.model == "lipsync-image"
    assert dict(job.form_state) == {"image": f"{URL}/a.png", "audio": f"{URL}/a.mp3",
                                    "resolution": "480p", "seed": 7}
    assert not job.seed_derived and job.webhook is None and not job.local_inputs
    assert (job.line, job.column) == (3, 5)
    assert job.marks["audio"] == (6, 12) and job.marks["seed"] == (7, 11)
    assert job.fingerprint.startswith("sha256:") and len(job.fingerprint) == 71
    assert manifest.output_dir == tmp_path / "renders"
    assert manifest.concurrency is None and manifest.version == 1


def test_derived_seed_is_stable_and_31_bits(tmp_path: Path) -> None:
    (job,) = parse(doc(avatar(job_id="intro")), tmp_path).jobs
    assert job.seed_derived
    assert job.form_state["seed"] == derive_seed("intro") == derive_seed("intro")
    assert 0 <= derive_seed("intro") < 2**31 and derive_seed("intro") != derive_seed("outro")


def test_defaults_apply_only_where_the_kind_takes_them(tmp_path: Path) -> None:
    head = ("defaults:\n  mask_image: https://x.example/m.png\n  resolution: 720p\n"
            "  order: meanwhile\n  webhook: https://hooks.example.com/x\n")
    dialog = (f"  - id: d\n    kind: dialog\n    image: {URL}/h.png\n    left_audio: {URL}/l.mp3\n"
              f"    right_audio: {URL}/r.mp3\n    resolution: 480p\n")
    a, d = parse(doc(avatar(), dialog, head=head), tmp_path).jobs
    assert a.form_state["mask_image"] == "https://x.example/m.png" and "order" not in a.form_state
    assert "mask_image" not in d.form_state and d.form_state["order"] == "meanwhile"
    assert a.form_state["resolution"] == "720p" and d.form_state["resolution"] == "480p"
    assert a.webhook == d.webhook == "https://hooks.example.com/x"
    assert a.marks["resolution"] == (4, 15)  # the defaults line it came from


def test_required_input_may_come_from_defaults(tmp_path: Path) -> None:
    head = f"defaults:\n  image: {URL}/shared.png\n"
    (job,) = parse(doc(f"  - id: a\n    kind: avatar\n    audio: {URL}/a.mp3\n", head=head),
                   tmp_path).jobs
    assert job.form_state["image"] == f"{URL}/shared.png"


def test_local_inputs_are_checked_and_normalized(assets: Path) -> None:
    text = doc("  - id: a\n    kind: avatar\n    image: ./assets/face.png\n"
               "    audio: assets/../assets/voice.wav\n")
    (job,) = parse(text, assets).jobs
    assert job.form_state["image"] == "assets/face.png"
    assert job.form_state["audio"] == "assets/voice.wav"
    assert job.local_inputs == {"image": assets / "assets" / "face.png",
                                "audio": assets / "assets" / "voice.wav"}


def test_output_dir_is_normalized(tmp_path: Path) -> None:
    manifest = parse(doc(avatar(), head="output_dir: ./out/../renders\nconcurrency: 8\n"),
                     tmp_path)
    assert manifest.output_dir == tmp_path / "renders"
    assert manifest.concurrency == 8


@pytest.mark.parametrize("value", ["../renders", "./out/../../renders", "a/../../../x"])
def test_an_output_dir_outside_the_manifests_folder_is_refused(
    tmp_path: Path, value: str
) -> None:
    """CI runs whatever a pull request commits: the manifest must not choose to write
    outside its own tree (issue 10)."""
    p = only(doc(avatar(), head=f"output_dir: {value}\n"), tmp_path)
    assert (p.line, p.column, p.where) == (2, 13, "output_dir")
    assert "outside the manifest's directory" in p.message and "--output-dir" in p.message


def test_a_symlinked_output_dir_leading_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "m" / "renders").symlink_to(tmp_path / "elsewhere")  # the default name
    with pytest.raises(ManifestError) as caught:
        parse(doc(avatar()), tmp_path / "m")
    (p,) = caught.value.problems
    assert (p.line, p.where) == (None, "output_dir")
    assert "'renders' (the default) leads through a symbolic link" in p.message
    (tmp_path / "m" / "inside").mkdir()
    (tmp_path / "m" / "out").symlink_to("inside")  # a link that stays inside is fine
    manifest = parse(doc(avatar(), head="output_dir: out\n"), tmp_path / "m")
    assert manifest.output_dir == tmp_path / "m" / "out"


def test_the_command_lines_output_dir_replaces_the_manifests_anywhere(tmp_path: Path) -> None:
    manifest = parse_manifest(doc(avatar(), head="output_dir: ../../x\n"),
                              path=tmp_path / "m.yaml", display_name="m.yaml",
                              output_dir=tmp_path.parent / "renders")
    assert manifest.output_dir == tmp_path.parent / "renders"


CONTROL_CHARACTERS = [*range(0x20), 0x7F]


@pytest.mark.parametrize("code", CONTROL_CHARACTERS, ids=lambda c: f"0x{c:02x}")
@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_control_character_in_an_id_is_refused(tmp_path: Path, code: int, where: str) -> None:
    """Python's `$` matches before a final newline: "job\\n" once passed the id check and
    became a file name with a newline in it (issue 10)."""
    escaped = f"\\x{code:02x}"
    job_id = f"job{escaped}" if where == "end" else f"jo{escaped}b"
    p = only(doc(avatar(job_id=f'"{job_id}"')), tmp_path)
    assert (p.line, p.column, p.where) == (3, 9, "jobs[0].id")
    # The fast check alone must say "invalid" too, or jsonschema is never asked.
    from lipsync_pipeline.manifest._schema import fast_check

    check = fast_check()
    assert check is not None
    value = {"version": 1, "jobs": [{"id": f"job{chr(code)}", "kind": "avatar",
                                     "image": f"{URL}/a.png", "audio": f"{URL}/a.mp3"}]}
    assert not check(value)


def test_integer_given_as_float_is_sent_as_integer(tmp_path: Path) -> None:
    (job,) = parse(doc(avatar("    seed: 7.0\n")), tmp_path).jobs
    assert job.form_state["seed"] == 7 and type(job.form_state["seed"]) is int


def test_load_manifest_keeps_the_name_as_given(assets: Path) -> None:
    (assets / "m.yaml").write_text(doc(avatar()))
    cwd = os.getcwd()
    os.chdir(assets)
    try:
        manifest = load_manifest("m.yaml")
    finally:
        os.chdir(cwd)
    assert manifest.display_name == "m.yaml" and manifest.path == assets / "m.yaml"


# -- one test per error class, line and column asserted --------------------------------------

def test_wrong_version_is_reported_alone(tmp_path: Path) -> None:
    p = only("version: 2\njobs: 5\nbogus: 1\n", tmp_path)
    assert (p.line, p.column, p.where) == (1, 10, "version")
    assert "newer than this lipsync-pipeline understands" in p.message


def test_version_as_text(tmp_path: Path) -> None:
    p = only(doc(avatar()).replace("version: 1", "version: '1'"), tmp_path)
    assert (p.line, p.column) == (1, 10)
    assert p.message == "version must be the number 1, not the text '1'"


def test_missing_version(tmp_path: Path) -> None:
    p = only("# c\njobs:\n" + avatar(), tmp_path)
    assert (p.line, p.column, p.where) == (2, 1, "version")
    assert p.message == "missing: write version: 1 at the top"


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    p = only(doc(f"  - id: a\n    kind: avatar\n    image: {URL}/a.png\n    audoi: {URL}/a.mp3\n"
                 f"    audio: {URL}/a.mp3\n"), tmp_path)
    assert (p.line, p.column, p.where) == (6, 5, "jobs[0].audoi")  # the key's column
    assert p.message == "unknown field 'audoi' for an avatar job (did you mean 'audio'?)"


def test_unknown_top_level_and_defaults_keys(tmp_path: Path) -> None:
    found = problems(doc(avatar(), head="outptu_dir: x\ndefaults:\n  resolutoin: 720p\n"),
                     tmp_path)
    assert [(p.line, p.column, p.where) for p in found] == [
        (2, 1, "outptu_dir"), (4, 3, "defaults.resolutoin")]
    assert "(did you mean 'output_dir'?)" in found[0].message
    assert "(did you mean 'resolution'?)" in found[1].message


def test_unknown_key_without_a_close_match_lists_the_fields(tmp_path: Path) -> None:
    p = only(doc(avatar("    colour: red\n")), tmp_path)
    assert (p.line, p.column) == (7, 5)
    assert p.message.startswith("unknown field 'colour' for an avatar job; it takes audio, ")


def test_mask_image_on_a_dialog(tmp_path: Path) -> None:
    text = doc(f"  - id: d\n    kind: dialog\n    image: {URL}/h.png\n    left_audio: {URL}/l.mp3\n"
               f"    right_audio: {URL}/r.mp3\n    mask_image: {URL}/m.png\n")
    p = only(text, tmp_path)
    assert (p.line, p.column, p.where) == (8, 5, "jobs[0].mask_image")
    assert p.message == ("dialog jobs do not take 'mask_image': the lipsync-image-multi API has "
                         "no such field (only avatar and video jobs take it)")


@pytest.mark.parametrize(("extra", "column", "message"), [
    ("    seed: '7'\n", 11, "expected a whole number, got the text '7'"),
    ("    seed: -1\n", 11, "must be at least 0, not -1"),
    ("    prompt: [a, b]\n", 13, "expected text, got a list"),
    ("    resolution: 1080p\n", 17, "unknown value '1080p'; expected one of 480p, 720p"),
    ("    resolution: 72p\n", 17,
     "unknown value '72p' (did you mean '720p'?); expected one of 480p, 720p"),
    ("    prompt:\n", 12, "expected text, got nothing (an empty value)"),
])
def test_wrong_type_or_value(tmp_path: Path, extra: str, column: int, message: str) -> None:
    p = only(doc(avatar(extra)), tmp_path)
    assert (p.line, p.column) == (7, column)
    assert p.message == message


def test_job_that_is_not_a_mapping(tmp_path: Path) -> None:
    p = only(doc("  - just text\n"), tmp_path)
    assert (p.line, p.column, p.where) == (3, 5, "jobs[0]")
    assert p.message == "expected a mapping, got the text 'just text'"


def test_missing_fields_point_at_the_job(tmp_path: Path) -> None:
    found = problems(doc("  - kind: avatar\n    image: x.png\n"), tmp_path)
    assert [(p.line, p.column, p.where) for p in found][:2] == [
        (3, 5, "jobs[0].id"), (3, 5, "jobs[0].audio")]


def test_unknown_kind(tmp_path: Path) -> None:
    p = only(doc("  - id: a\n    kind: avtar\n"), tmp_path)
    assert (p.line, p.column, p.where) == (4, 11, "jobs[0].kind")
    assert p.message == ("unknown kind 'avtar' (did you mean 'avatar'?); "
                         "expected one of avatar, dialog, video")


def test_empty_jobs_and_bad_concurrency(tmp_path: Path) -> None:
    found = problems("version: 1\nconcurrency: 300\njobs: []\n", tmp_path)
    assert [(p.line, p.column, p.message) for p in found] == [
        (2, 14, "must be at most 256, not 300"),
        (3, 7, "the jobs list is empty: add at least one job")]


def test_absolute_output_dir(tmp_path: Path) -> None:
    p = only(doc(avatar(), head="output_dir: /tmp/x\n"), tmp_path)
    assert (p.line, p.column) == (2, 13)
    assert p.message.startswith("must be a path relative to the manifest's directory")


@pytest.mark.parametrize(("value", "message"), [
    ("ftp://x.example/a.png", "must be an https:// or http:// URL, or a file path relative to "
                              "the manifest's directory, not 'ftp://x.example/a.png'"),
    ("/etc/passwd", "must be an https:// or http:// URL, or a file path relative to the "
                    "manifest's directory, not '/etc/passwd'"),
    ("https://:99999/a.png", "not a valid URL: 'https://:99999/a.png' (a host is needed, and a "
                             "port must be a number up to 65535)"),
    ("https://x.example:99999/a.png", "not a valid URL: 'https://x.example:99999/a.png' (a host "
                                      "is needed, and a port must be a number up to 65535)"),
])
def test_bad_url(tmp_path: Path, value: str, message: str) -> None:
    p = only(doc(f"  - id: a\n    kind: avatar\n    image: {value}\n    audio: {URL}/a.mp3\n"),
             tmp_path)
    assert (p.line, p.column, p.where) == (5, 12, "jobs[0].image")
    assert p.message == message


@pytest.mark.parametrize(("hook", "ok"), [
    ("https://hooks.example.com/x", True), ("http://127.0.0.1:8000/x", True),
    ("http://localhost/x", True), ("http://[::1]:9/x", True),
    ("http://hooks.example.com/x", False), ("http://127.0.0.1.evil.example/x", False),
])
def test_webhook_is_https_or_loopback(tmp_path: Path, hook: str, ok: bool) -> None:
    text = doc(avatar(f"    webhook: {hook}\n"))
    if ok:
        assert parse(text, tmp_path).jobs[0].webhook == hook
    else:
        p = only(text, tmp_path)
        assert (p.line, p.column, p.where) == (7, 14, "jobs[0].webhook")
        assert p.message.startswith("must be an https:// URL (http:// only for localhost")


def test_missing_local_file_with_suggestion(assets: Path) -> None:
    p = only(doc("  - id: a\n    kind: avatar\n    image: assets/face.png\n"
                 "    audio: assets/voise.wav\n"), assets)
    assert (p.line, p.column, p.where) == (6, 12, "jobs[0].audio")
    assert p.message == (f"file not found: 'assets/voise.wav' (relative to {assets}); "
                         "did you mean 'voice.wav'?")


def test_local_file_outside_the_manifest_folder(assets: Path) -> None:
    sub = assets / "sub"
    sub.mkdir()
    (sub / "link.wav").symlink_to(assets / "assets" / "voice.wav")
    found = problems(doc("  - id: a\n    kind: avatar\n    image: x/../../assets/face.png\n"
                         "    audio: link.wav\n"), sub)
    assert [(p.line, p.column) for p in found] == [(5, 12), (6, 12)]
    assert "points outside the manifest's directory" in found[0].message
    assert "through a symlink" in found[1].message


def test_symlink_out_of_the_folder(assets: Path) -> None:
    (assets / "assets" / "escape.wav").symlink_to("/etc/hostname")
    p = only(doc("  - id: a\n    kind: avatar\n    image: assets/face.png\n"
                 "    audio: assets/escape.wav\n"), assets)
    assert (p.line, p.column) == (6, 12)
    assert "outside the manifest's directory through a symlink" in p.message


def test_directory_as_input(assets: Path) -> None:
    p = only(doc("  - id: a\n    kind: avatar\n    image: assets\n    audio: assets/voice.wav\n"),
             assets)
    assert (p.line, p.column) == (5, 12)
    assert p.message == "'assets' is a directory, not a file"


def test_bad_default_is_reported_once_at_the_default(assets: Path) -> None:
    jobs = [f"  - id: j{i}\n    kind: avatar\n    image: assets/face.png\n" for i in range(3)]
    p = only(doc(*jobs, head="defaults:\n  audio: assets/nope.wav\n"), assets)
    assert (p.line, p.column, p.where) == (3, 10, "defaults.audio")


def test_duplicate_id(tmp_path: Path) -> None:
    p = only(doc(avatar(job_id="intro"), avatar(job_id="intro")), tmp_path)
    assert (p.line, p.column, p.where) == (7, 9, "jobs[1].id")
    assert p.message == "duplicate id 'intro' (first at line 3)"


def test_ids_differing_only_in_case(tmp_path: Path) -> None:
    p = only(doc(avatar(job_id="intro"), avatar(job_id="Intro")), tmp_path)
    assert (p.line, p.column) == (7, 9)
    assert "only in case" in p.message


@pytest.mark.parametrize("job_id", ["-a", "a/b", "a b", "x" * 129, ".hidden"])
def test_id_must_be_a_safe_file_name(tmp_path: Path, job_id: str) -> None:
    p = only(doc(avatar(job_id=json.dumps(job_id))), tmp_path)
    assert (p.line, p.column, p.where) == (3, 9, "jobs[0].id")
    assert "letters, digits" in p.message


@pytest.mark.parametrize(("value", "read_as"), [
    ("on", "on, which YAML reads as the boolean true"),
    ("no", "no, which YAML reads as the boolean false"),
    ("0755", "0755, which YAML reads as the octal number 493 in YAML 1.1, but 755 in YAML 1.2"),
    ("12:30", "12:30, which YAML reads as the number 750 (base 60) in YAML 1.1, but text in "
              "YAML 1.2"),
    ("2024-01-01", "2024-01-01, which YAML reads as a date"),
    ("1_000", "1_000, which YAML reads as the number 1000 in YAML 1.1, but text in YAML 1.2"),
])
def test_yaml11_surprise_in_a_text_field(tmp_path: Path, value: str, read_as: str) -> None:
    p = only(doc(avatar(f"    prompt: {value}\n")), tmp_path)
    assert (p.line, p.column, p.where) == (7, 13, "jobs[0].prompt")
    assert p.message == f'expected text, got {read_as}; quote it ("{value}") if you mean the text'


def test_yaml11_surprise_in_an_id_and_a_seed(tmp_path: Path) -> None:
    found = problems(doc(avatar("    seed: 0755\n", job_id="2024-01-01")), tmp_path)
    assert [(p.line, p.column, p.where) for p in found] == [
        (3, 9, "jobs[0].id"), (7, 11, "jobs[0].seed")]
    assert found[1].message.endswith("; write it in plain decimal digits")


def test_quoted_surprises_are_text(tmp_path: Path) -> None:
    (job,) = parse(doc(avatar("    prompt: 'on'\n", job_id="'0755'")), tmp_path).jobs
    assert job.id == "0755" and job.form_state["prompt"] == "on"


def test_every_problem_at_once_in_file_order(tmp_path: Path) -> None:
    text = doc(avatar("    resolution: 1080p\n", job_id="x"),
               avatar("    colour: red\n", job_id="x"), head="concurrency: 0\n")
    found = problems(text, tmp_path)
    assert [(p.line, p.column) for p in found] == [(2, 14), (8, 17), (9, 9), (13, 5)]
    assert str(found[1]) == ("m.yaml:8:17: jobs[0].resolution: unknown value '1080p'; "
                             "expected one of 480p, 720p")


def test_many_bad_jobs_in_a_large_manifest(tmp_path: Path) -> None:
    good = [avatar(job_id=f"j{i}") for i in range(2000)]
    good[1500] = avatar("    seed: x\n", job_id="j1500")
    p = only(doc(*good), tmp_path)
    assert p.where == "jobs[1500].seed" and p.line == 3 + 4 * 1500 + 4


def test_missing_and_directory_manifest(tmp_path: Path) -> None:
    for path, message in [(tmp_path / "nope.yaml", "file not found"),
                          (tmp_path, "is a directory, not a manifest file")]:
        with pytest.raises(ManifestError) as caught:
            load_manifest(path)
        (p,) = caught.value.problems
        assert (p.line, p.column, p.message) == (None, None, message)


def test_valid_files_load_without_jsonschema(tmp_path: Path) -> None:
    """jsonschema only words errors: a valid run must not pay its ~50 ms import."""
    lock = tmp_path / "demo.lock"
    lock.write_text('{"jobs": {}, "version": 1}\n', encoding="utf-8")
    demo = ROOT / "manifests" / "demo.yaml"
    code = (
        "import sys; from pathlib import Path\n"
        "from lipsync_pipeline.cli import main\n"
        "from lipsync_pipeline.manifest import load_manifest\n"
        "from lipsync_pipeline.lockfile import load_lock\n"
        f"load_manifest(Path({str(demo)!r})); load_lock(Path({str(lock)!r}))\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("field", "limit", "value_of"),
    [
        ("prompt", 4000, lambda n: "x" * n),
        ("mask_image", 4096, lambda n: "https://cdn.example.com/" + "a" * (n - 24)),
    ],
)
def test_limits_the_api_enforces_are_found_by_validate(
    tmp_path: Path, field: str, limit: int, value_of: Callable[[int], str]
) -> None:
    """The studio (and the API) refuse a 4,001-character prompt; validate must say so
    before a run pays for the jobs ahead of it."""
    parse(doc(avatar(f"    {field}: {value_of(limit)}")), tmp_path)  # at the limit: fine
    problem = only(doc(avatar(f"    {field}: {value_of(limit + 1)}")), tmp_path)
    assert problem.where == f"jobs[0].{field}"
    assert f"at most {limit:,} characters" in problem.message


@pytest.mark.parametrize(
    "mistake",
    [
        "  image: /abs/x.png\n",
        "  image: missing.png\n",
        "  resolution: 1080p\n  image: https://cdn.example.com/a.png\n",
        "  seed: -1\n  image: https://cdn.example.com/a.png\n",
        "  prompt: yes\n  image: https://cdn.example.com/a.png\n",
    ],
)
def test_a_mistake_under_defaults_is_reported_once_at_its_own_line(
    tmp_path: Path, mistake: str
) -> None:
    jobs = "".join(
        f"  - id: j{n}\n    kind: avatar\n    audio: {URL}/a.mp3\n" for n in range(4)
    )
    problem = only("version: 1\ndefaults:\n" + mistake + "jobs:\n" + jobs, tmp_path)
    assert problem.where.startswith("defaults.") and problem.line in (3, 4)
