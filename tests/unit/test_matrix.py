"""matrix: on a job entry: what it expands to, and every mistake located (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError, Problem
from lipsync_pipeline.lockfile import Artifact, LockEntry, LockSnapshot
from lipsync_pipeline.manifest import Manifest, derive_seed, parse_manifest
from lipsync_pipeline.manifest._matrix import MAX_JOBS
from lipsync_pipeline.plan import Action, plan

URL = "https://cdn.example.com"

ISSUE_EXAMPLE = """\
version: 1
jobs:
  - id: "spring-sale.{lang}"
    kind: video
    video: https://cdn.example.com/ads/spring-sale.mp4
    audio: "https://cdn.example.com/ads/voice/{lang}.mp3"
    matrix:
      lang: [de, es, fr, nl]
  - id: "{host}-ep{ep}"
    kind: avatar
    image: "https://cdn.example.com/{host}.png"
    audio: "https://cdn.example.com/{host}/ep{ep}.wav"
    matrix:
      host: [anna, ben]
      ep: ["01", "02", "03"]
      exclude: [{host: ben, ep: "01"}]
      include: [{host: anna, ep: "04", prompt: "season finale"}]
"""


def parse(text: str, folder: Path) -> Manifest:
    return parse_manifest(text, path=folder / "m.yaml", display_name="m.yaml")


def problems(text: str, folder: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse(text, folder)
    return [str(p) for p in caught.value.problems]


def only(text: str, folder: Path) -> str:
    found = problems(text, folder)
    assert len(found) == 1, found
    return found[0]


def video(matrix: str, *, job_id: str = "ad.{lang}", extra: str = "") -> str:
    """A video entry whose audio names {lang}; ``matrix`` is indented under matrix:."""
    return (
        f'version: 1\njobs:\n  - id: "{job_id}"\n    kind: video\n    video: {URL}/ad.mp4\n'
        f'    audio: "{URL}/{{lang}}.mp3"\n{extra}    matrix:\n{matrix}'
    )


def completed_lock(manifest: Manifest, folder: Path) -> LockSnapshot:
    entries = {
        job.id: LockEntry(
            job.id,
            job.fingerprint,
            job.model,
            "completed",
            "k",
            request_id=f"r-{job.id}",
            artifact=Artifact(f"renders/{job.id}.mp4", "0" * 64, 1),
        )
        for job in manifest.jobs
    }
    return LockSnapshot(folder / "m.lock", entries)


# -- what a matrix makes ---------------------------------------------------------------------


def test_the_issues_example_expands_to_plain_jobs(tmp_path: Path) -> None:
    manifest = parse(ISSUE_EXAMPLE, tmp_path)
    ids = [job.id for job in manifest.jobs]
    assert ids == [
        "spring-sale.de",
        "spring-sale.es",
        "spring-sale.fr",
        "spring-sale.nl",
        "anna-ep01",
        "anna-ep02",
        "anna-ep03",
        "ben-ep02",
        "ben-ep03",
        "anna-ep04",
    ]
    fr = manifest.jobs[2]
    assert fr.form_state["audio"] == f"{URL}/ads/voice/fr.mp3"
    assert (fr.template, fr.where, fr.line, fr.column) == (
        "spring-sale.{lang}",
        "jobs[0] (lang=fr)",
        3,
        5,
    )
    finale = manifest.jobs[-1]
    assert finale.form_state["prompt"] == "season finale"
    assert finale.form_state["audio"] == f"{URL}/anna/ep04.wav"
    assert finale.marks["prompt"] == (17, 48)  # where the include wrote it
    assert finale.marks["audio"] == (12, 12)  # the template's line and column
    assert "prompt" not in manifest.jobs[4].form_state


def test_a_written_out_job_is_the_same_job(tmp_path: Path) -> None:
    written = parse(
        f"version: 1\njobs:\n  - id: spring-sale.fr\n    kind: video\n"
        f"    video: {URL}/ads/spring-sale.mp4\n    audio: {URL}/ads/voice/fr.mp3\n",
        tmp_path,
    ).jobs[0]
    expanded = parse(ISSUE_EXAMPLE, tmp_path).jobs[2]
    assert (expanded.id, expanded.fingerprint, dict(expanded.form_state)) == (
        written.id,
        written.fingerprint,
        dict(written.form_state),
    )
    assert (written.template, written.where) == (None, "jobs[0]")


def test_a_derived_seed_comes_from_the_expanded_id(tmp_path: Path) -> None:
    for job in parse(ISSUE_EXAMPLE, tmp_path).jobs:
        assert job.seed_derived and job.form_state["seed"] == derive_seed(job.id)


def test_adding_a_value_plans_exactly_one_new_job(tmp_path: Path) -> None:
    before = parse(ISSUE_EXAMPLE, tmp_path)
    lock = completed_lock(before, tmp_path)
    after = parse(ISSUE_EXAMPLE.replace("[de, es, fr, nl]", "[de, es, fr, it, nl]"), tmp_path)

    steps = plan(after, lock).steps
    assert [(s.job_id, s.action) for s in steps if s.action is not Action.SKIP] == [
        ("spring-sale.it", Action.SUBMIT)
    ]
    # The others keep their ids, seeds and fingerprints: adding renamed nothing.
    old = {job.id: job.fingerprint for job in before.jobs}
    assert {job.id: job.fingerprint for job in after.jobs if job.id in old} == old


def test_reordering_values_plans_nothing(tmp_path: Path) -> None:
    before = parse(ISSUE_EXAMPLE, tmp_path)
    shuffled = (
        ISSUE_EXAMPLE.replace("[de, es, fr, nl]", "[nl, fr, de, es]")
        .replace("[anna, ben]", "[ben, anna]")
        .replace('["01", "02", "03"]', '["03", "01", "02"]')
    )
    after = parse(shuffled, tmp_path)
    assert [j.id for j in after.jobs] != [j.id for j in before.jobs]  # the order did change
    assert plan(after, completed_lock(before, tmp_path)).is_noop


def test_mapping_values_are_named_by_their_key(tmp_path: Path) -> None:
    text = video(
        "      lang:\n        - {key: de, voice: deu-v2}\n        - {key: fr, voice: fra-v1}\n",
        job_id="ad.{lang.key}",
    ).replace("{lang}.mp3", "{lang.voice}.mp3?l={lang}")
    manifest = parse(text, tmp_path)
    assert [(j.id, j.form_state["audio"]) for j in manifest.jobs] == [
        ("ad.de", f"{URL}/deu-v2.mp3?l=de"),
        ("ad.fr", f"{URL}/fra-v1.mp3?l=fr"),
    ]
    assert manifest.jobs[1].where == "jobs[0] (lang=fr)"


def test_only_text_is_a_template_and_double_braces_are_literal(tmp_path: Path) -> None:
    text = video(
        "      lang: [de]\n      n: [1, 2]\n",
        job_id="ad.{lang}.{n}",
        extra='    prompt: "{{not a placeholder}} take {n}"\n    seed: 7\n',
    )
    manifest = parse(text, tmp_path)
    assert [j.id for j in manifest.jobs] == ["ad.de.1", "ad.de.2"]
    assert manifest.jobs[1].form_state["prompt"] == "{not a placeholder} take 2"
    assert manifest.jobs[1].form_state["seed"] == 7


def test_include_sets_fields_on_what_it_matches_and_adds_back_what_exclude_dropped(
    tmp_path: Path,
) -> None:
    text = video(
        "      lang: [de, fr]\n      v: [a, b]\n"
        "      exclude: [{lang: fr}]\n"
        '      include:\n        - {lang: de, prompt: "german {v}"}\n'
        "        - {lang: fr, v: b, seed: 3}\n",
        job_id="ad.{lang}.{v}",
    )
    jobs = {j.id: j for j in parse(text, tmp_path).jobs}
    assert list(jobs) == ["ad.de.a", "ad.de.b", "ad.fr.b"]
    assert jobs["ad.de.b"].form_state["prompt"] == "german b"
    assert jobs["ad.fr.b"].form_state["seed"] == 3 and not jobs["ad.fr.b"].seed_derived


def test_a_plain_manifest_is_read_as_before(tmp_path: Path) -> None:
    manifest = parse(
        f"version: 1\njobs:\n  - id: a\n    kind: avatar\n    image: {URL}/a.png\n"
        f"    audio: {URL}/a.mp3\n",
        tmp_path,
    )
    assert [(j.id, j.template, j.where) for j in manifest.jobs] == [("a", None, "jobs[0]")]


# -- every mistake, located ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        ("      lang: []\n", "m.yaml:8:13: jobs[0].matrix.lang: the axis lang is empty"),
        (
            "      lang: [de, [fr]]\n",
            "m.yaml:8:18: jobs[0].matrix.lang[1]: expected a word, a whole number or a mapping",
        ),
        (
            "      lang: [de, {voice: x}]\n",
            "m.yaml:8:18: jobs[0].matrix.lang[1]: a mapping value needs a key:",
        ),
        (
            "      lang: [de, no]\n",
            "m.yaml:8:18: jobs[0].matrix.lang[1]: expected a word, a whole number or a mapping "
            'with key:, not no, which YAML reads as the boolean false; quote it ("no")',
        ),
        (
            "      lang: [de, fr, de]\n",
            "m.yaml:8:22: jobs[0].matrix.lang[2]: the value 'de' again (first at line 8, "
            "column 14)",
        ),
        ("      lang: de\n", "m.yaml:8:13: jobs[0].matrix.lang: expected a list of values"),
        (
            "      lang: [de]\n      resolution: [480p]\n",
            "m.yaml:9:7: jobs[0].matrix.resolution: an axis or column cannot be named like the "
            "job field 'resolution'",
        ),
        (
            "      lang: [de]\n      v: [a]\n",
            "m.yaml:9:7: jobs[0].matrix.v: the id template 'ad.{lang}' does not name the axis v",
        ),
        (
            "      lang: [de]\n      exclude: [{lang: dee}]\n",
            "m.yaml:9:24: jobs[0].matrix.exclude[0].lang: lang has no value 'dee' (did you mean "
            "'de'?)",
        ),
        (
            "      lang: [de, fr]\n      exclude: [{lnag: de}]\n",
            "m.yaml:9:18: jobs[0].matrix.exclude[0].lnag: unknown key 'lnag' (did you mean "
            "'lang'?)",
        ),
        (
            "      lang: [de]\n      exclude: [{}]\n",
            "m.yaml:9:17: jobs[0].matrix.exclude[0]: each exclude entry maps axes to values, not "
            "an empty mapping",
        ),
        (
            "      lang: [de]\n      exclude: {lang: de}\n",
            "m.yaml:9:16: jobs[0].matrix.exclude: expected a list of mappings",
        ),
        (
            "      lang: [de]\n      exclude: [{lang: de}]\n",
            "m.yaml:8:7: jobs[0].matrix: exclude drops every combination: the matrix makes no job",
        ),
        (
            "      lang: [de]\n      include: [{lang: de}]\n",
            "m.yaml:9:17: jobs[0].matrix.include[0]: sets no field, and its combination is there "
            "already",
        ),
        (
            "      lang: [de]\n      v: [a, b]\n      include: [{v: a}]\n",
            "m.yaml:10:17: jobs[0].matrix.include[0]: sets no field on the combinations it matches",
        ),
        (
            "      lang: [de]\n      include: [{lang: de, audoi: x}]\n",
            "m.yaml:9:28: jobs[0].matrix.include[0].audoi: unknown key 'audoi' (did you mean "
            "'audio'?)",
        ),
        (
            "      lang: [de]\n      include: [{lang: de, id: x}]\n",
            "m.yaml:9:28: jobs[0].matrix.include[0].id: include cannot set the id",
        ),
        (
            "      lang: [de]\n      include: [{prompt: x}]\n",
            "m.yaml:9:17: jobs[0].matrix.include[0]: names no axis",
        ),
        (
            "      lang: [de]\n      v: [a]\n      include: [{v: b, prompt: x}]\n",
            "m.yaml:10:17: jobs[0].matrix.include[0]: matches no combination; to add one, name "
            "every axis (also lang)",
        ),
        (
            "      lang: [de]\n      include: [{lang: de, prompt: x}, {lang: de, prompt: y}]\n",
            "m.yaml:9:51: jobs[0].matrix.include[1].prompt: sets prompt again on a combination "
            "that the include at line 9, column 28 sets it on",
        ),
        ("      include: []\n", "m.yaml:8:7: jobs[0].matrix: no axis: matrix: takes axes"),
        ("      - de\n", "m.yaml:8:7: jobs[0].matrix: matrix: takes axes"),
    ],
)
def test_matrix_mistakes_are_located(matrix: str, expected: str, tmp_path: Path) -> None:
    # An axis v is in the id unless the case is about leaving it out.
    job_id = (
        "ad.{lang}.{v}" if "v: [" in matrix and "does not name" not in expected else ("ad.{lang}")
    )
    assert only(video(matrix, job_id=job_id), tmp_path).startswith(expected)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            '    prompt: "take {lnag}"\n',
            "m.yaml:7:19: jobs[0].prompt: unknown {lnag} (did you mean 'lang'?): the matrix has "
            "lang",
        ),
        ("    prompt: take {lnag}\n", "m.yaml:7:18: jobs[0].prompt: unknown {lnag}"),
        ('    prompt: "a {brace"\n', "m.yaml:7:16: jobs[0].prompt: '{' is never closed"),
        ('    prompt: "a brace}"\n', "m.yaml:7:21: jobs[0].prompt: a lone '}'"),
        ('    prompt: "{}"\n', "m.yaml:7:14: jobs[0].prompt: '{}' is no placeholder"),
        (
            '    prompt: "{lang.voice}"\n',
            "m.yaml:9:14: jobs[0].matrix.lang[0]: lang=de is a word, not a mapping with voice: "
            "(jobs[0].prompt reads {lang.voice})",
        ),
        (
            '    seed: "{lang}"\n',
            "m.yaml:7:11: jobs[0].seed: seed is a number and a template makes text",
        ),
    ],
)
def test_template_mistakes_are_located_at_the_placeholder(
    field: str, expected: str, tmp_path: Path
) -> None:
    assert only(video("      lang: [de]\n", extra=field), tmp_path).startswith(expected)


@pytest.mark.parametrize(
    ("job_id", "expected"),
    [
        (
            "ad",
            "m.yaml:8:7: jobs[0].matrix.lang: the id template 'ad' does not name the axis "
            "lang: each combination needs its own id",
        ),
        (
            "ad.{lang.voice}",
            "m.yaml:3:13: jobs[0].id: the id names a value by its key: write "
            "{lang}, not {lang.voice}",
        ),
    ],
)
def test_id_template_mistakes_are_located(job_id: str, expected: str, tmp_path: Path) -> None:
    text = video("      lang: [{key: de, voice: x}]\n", job_id=job_id)
    assert only(text, tmp_path).startswith(expected)


def test_an_unquoted_template_that_yaml_reads_as_a_mapping_says_so(tmp_path: Path) -> None:
    text = video("      lang: [de]\n").replace('id: "ad.{lang}"', "id: {lang}")
    assert "quote a template that starts with {" in only(text, tmp_path)


def test_a_collision_with_a_written_out_job_names_both_places(tmp_path: Path) -> None:
    text = video("      lang: [de, fr]\n") + (
        f"  - id: ad.fr\n    kind: video\n    video: {URL}/v.mp4\n    audio: {URL}/a.mp3\n"
    )
    assert only(text, tmp_path) == (
        "m.yaml:9:9: jobs[1].id: duplicate id 'ad.fr' (also made by jobs[0] (lang=fr) at "
        "line 3, column 9)"
    )


def test_a_collision_between_two_matrices_names_both_combinations(tmp_path: Path) -> None:
    second = (
        f'  - id: "AD.{{x}}"\n    kind: video\n    video: {URL}/v.mp4\n'
        f"    audio: {URL}/a.mp3\n    matrix:\n      x: [DE]\n"
    )
    found = only(video("      lang: [de, fr]\n") + second, tmp_path)
    assert found == (
        "m.yaml:9:9: jobs[1] (x=DE).id: id 'AD.DE' differs from 'ad.de' (also made by jobs[0] "
        "(lang=de) at line 3, column 9) only in case: their outputs would collide on "
        "case-insensitive file systems"
    )


def test_a_problem_of_one_combination_names_it(tmp_path: Path) -> None:
    text = video("      lang: [de, f r]\n")
    found = problems(text, tmp_path)
    assert found[0].startswith("m.yaml:3:9: jobs[0] (lang=f r).id: must be 1-128 letters")
    assert all("(lang=de)" not in p for p in found)


def test_a_problem_every_combination_shares_is_said_once(tmp_path: Path) -> None:
    text = video("      lang: [de, fr, it]\n", extra="    audoi: x\n")
    assert only(text, tmp_path).startswith("m.yaml:7:5: jobs[0].audoi: unknown field 'audoi'")


def test_many_combinations_with_one_problem_are_counted_not_listed(tmp_path: Path) -> None:
    text = video(
        "      lang: [a, b, c, d, e]\n      v: [x, y]\n",
        job_id="ad.{lang}.{v}",
        extra='    resolution: "{v}p"\n',
    )
    found = problems(text, tmp_path)
    assert [p.split(": ")[1] for p in found] == [
        "jobs[0] (lang=a, v=x, and 4 more).resolution",
        "jobs[0] (lang=a, v=y, and 4 more).resolution",
    ]


def test_the_number_of_jobs_is_bounded_before_any_is_made(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(400))
    text = video(f"      lang: [{values}]\n      v: [{values}]\n", job_id="ad.{lang}.{v}")
    assert only(text, tmp_path).startswith(
        f"m.yaml:8:7: jobs[0].matrix: 160,000 combinations; a manifest may make at most "
        f"{MAX_JOBS:,} jobs"
    )


def test_problems_come_as_problems_with_file_line_column(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        parse(video("      lang: []\n"), tmp_path)
    (problem,) = caught.value.problems
    assert problem == Problem(
        "m.yaml", 8, 13, "jobs[0].matrix.lang", "the axis lang is empty: it would make no job"
    )


def test_a_misspelt_matrix_key_is_recognised(tmp_path: Path) -> None:
    text = (
        video("      lang: [de]\n")
        .replace("ad.{lang}", "ad-de")
        .replace("    matrix:", "    matrx:")
    )
    assert "unknown field 'matrx' for a video job (did you mean 'matrix'?)" in only(text, tmp_path)
