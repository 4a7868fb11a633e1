"""Anchors, aliases and merge keys: YAML 1.1's reuse works, bounded, and errors name both places."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_manifest import only, parse, problems

from lipsync_pipeline.manifest import _walker
from lipsync_pipeline.manifest._walker import MAX_ALIASES, MAX_DEPTH, MAX_EXPANDED_NODES
from lipsync_pipeline.manifest._yaml import load_yaml

URL = "https://cdn.example.com"

# Anchors live under x- keys (ignored by lipsync-pipeline), as in docker-compose.
ANCHORED = f"""\
version: 1
x-avatar: &avatar-defaults
  kind: avatar
  image: {URL}/face.png
  resolution: 720p
x-voice: &voice {URL}/voice.mp3
jobs:
  - <<: *avatar-defaults
    id: intro
    audio: *voice
  - <<: *avatar-defaults
    id: outro
    audio: {URL}/outro.mp3
    resolution: 480p
"""

WRITTEN_OUT = f"""\
version: 1
jobs:
  - id: intro
    kind: avatar
    image: {URL}/face.png
    resolution: 720p
    audio: {URL}/voice.mp3
  - id: outro
    kind: avatar
    image: {URL}/face.png
    audio: {URL}/outro.mp3
    resolution: 480p
"""


def test_merged_manifest_yields_the_written_out_jobs(tmp_path: Path) -> None:
    merged, written = parse(ANCHORED, tmp_path), parse(WRITTEN_OUT, tmp_path)
    assert [(j.id, j.model, dict(j.form_state), j.webhook, j.fingerprint) for j in merged.jobs] == [
        (j.id, j.model, dict(j.form_state), j.webhook, j.fingerprint) for j in written.jobs
    ]


def test_keys_written_in_the_job_override_merged_ones(tmp_path: Path) -> None:
    intro, outro = parse(ANCHORED, tmp_path).jobs
    assert intro.form_state["resolution"] == "720p"  # from the anchor
    assert outro.form_state["resolution"] == "480p"  # the job's own, written after <<


def test_a_merged_field_is_marked_at_the_merge_key(tmp_path: Path) -> None:
    intro, outro = parse(ANCHORED, tmp_path).jobs
    assert intro.marks["image"] == (8, 5)  # the job's `<<`, not the anchor's line
    assert intro.marks["audio"] == (10, 12)  # the alias *voice
    assert outro.marks["resolution"] == (14, 17)  # written in the job


def test_in_a_list_of_merged_mappings_earlier_ones_win(tmp_path: Path) -> None:
    text = f"""\
version: 1
x-a: &a {{kind: avatar, image: {URL}/a.png}}
x-b: &b {{kind: video, image: {URL}/b.png, audio: {URL}/b.mp3}}
jobs:
  - <<: [*a, *b]
    id: j
"""
    (job,) = parse(text, tmp_path).jobs
    assert (job.kind, job.form_state["image"], job.form_state["audio"]) == (
        "avatar",
        f"{URL}/a.png",
        f"{URL}/b.mp3",
    )


def test_an_inline_mapping_can_be_merged(tmp_path: Path) -> None:
    text = (
        f"version: 1\njobs:\n  - <<: {{kind: avatar, image: {URL}/a.png}}\n"
        f"    id: j\n    audio: {URL}/a.mp3\n"
    )
    (job,) = parse(text, tmp_path).jobs
    assert job.kind == "avatar" and job.marks["image"] == (3, 31)  # where it is written


def test_alias_inside_a_list(tmp_path: Path) -> None:
    text = f"""\
version: 1
x-intro: &intro {{id: intro, kind: avatar, image: {URL}/a.png, audio: {URL}/a.mp3}}
x-outro: &outro {{id: outro, kind: avatar, image: {URL}/b.png, audio: {URL}/b.mp3}}
jobs: [*intro, *outro]
"""
    jobs = parse(text, tmp_path).jobs
    assert [j.id for j in jobs] == ["intro", "outro"]
    assert jobs[1].line == 4 and jobs[1].column == 16  # where the alias stands


def test_an_error_in_a_merged_field_names_the_use_and_the_anchor(tmp_path: Path) -> None:
    text = ANCHORED.replace("resolution: 720p", "resolution: 1080p")
    found = problems(text, tmp_path)
    # Reported once per job that takes it from the anchor (outro sets its own).
    (p,) = found
    assert (p.line, p.column, p.where) == (8, 5, "jobs[0].resolution")
    assert str(p).endswith(
        "(from the anchor &avatar-defaults at m.yaml:2:11; written at m.yaml:5:15)"
    )
    assert "unknown value '1080p'" in p.message


def test_an_unknown_key_in_an_anchor_is_located_at_each_use(tmp_path: Path) -> None:
    text = ANCHORED.replace("  kind: avatar\n", "  kind: avatar\n  colour: red\n")
    found = problems(text, tmp_path)
    assert [(p.line, p.column, p.where) for p in found] == [
        (9, 5, "jobs[0].colour"),
        (12, 5, "jobs[1].colour"),
    ]
    assert "unknown field 'colour' for an avatar job" in found[0].message
    assert found[0].message.endswith(
        "(from the anchor &avatar-defaults at m.yaml:2:11; written at m.yaml:4:3)"
    )


def test_yaml11_surprise_through_an_alias(tmp_path: Path) -> None:
    text = ANCHORED.replace("x-voice: &voice", "x-prompt: &calm on\nx-voice: &voice")
    text = text.replace("    audio: *voice\n", "    audio: *voice\n    prompt: *calm\n")
    p = only(text, tmp_path)
    assert (p.line, p.column, p.where) == (12, 13, "jobs[0].prompt")
    assert "got on, which YAML reads as the boolean true" in p.message
    assert p.message.endswith("(from the anchor &calm at m.yaml:6:11)")


def test_alias_to_a_scalar(tmp_path: Path) -> None:
    intro = parse(ANCHORED, tmp_path).jobs[0]
    assert intro.form_state["audio"] == f"{URL}/voice.mp3"


def test_a_missing_local_file_through_an_alias_names_the_anchor(tmp_path: Path) -> None:
    text = ANCHORED.replace(f"&voice {URL}/voice.mp3", "&voice assets/voice.wav")
    p = only(text, tmp_path)
    assert (p.line, p.column) == (10, 12)
    assert p.message.startswith("file not found: 'assets/voice.wav'")
    assert p.message.endswith("(from the anchor &voice at m.yaml:6:10)")


# Checks after the schema (ids, output_dir, moved:, the version) name the anchor too.
@pytest.mark.parametrize(
    ("head", "tail", "at", "says", "note"),
    [
        (
            "x-again: &again intro\n",
            "    id: *again\n",
            (13, 9, "jobs[1].id"),
            "duplicate id 'intro' (first at line 10)",
            "(from the anchor &again at m.yaml:2:10)",
        ),
        (
            "x-out: &out ../elsewhere\n",
            "output_dir: *out\n",
            (16, 13, "output_dir"),
            "'../elsewhere' leads outside the manifest's directory",
            "(from the anchor &out at m.yaml:2:8)",
        ),
        (
            "x-new: &new intor\n",
            "moved:\n  - {from: intro-v1, to: *new}\n",
            (17, 26, "moved[0].to"),
            "no job 'intor' in this manifest",
            "(from the anchor &new at m.yaml:2:8)",
        ),
    ],
)
def test_a_later_check_on_an_aliased_value_names_the_anchor(
    tmp_path: Path, head: str, tail: str, at: tuple[int, int, str], says: str, note: str
) -> None:
    # ANCHORED one line down: the anchor is written on line 2.
    text = ANCHORED.replace("version: 1\n", "version: 1\n" + head)
    if "id:" in tail:  # the second job's id
        text = text.replace("    id: outro\n", tail)
    else:
        text += tail
    p = only(text, tmp_path)
    assert (p.line, p.column, p.where) == at
    assert says in p.message and p.message.endswith(note), p.message


def test_a_wrong_version_through_an_alias_names_the_anchor(tmp_path: Path) -> None:
    p = only("x-v: &v 2\n" + ANCHORED.replace("version: 1", "version: *v"), tmp_path)
    assert (p.line, p.column, p.where) == (2, 10, "version")
    assert p.message.endswith("upgrade lipsync-pipeline (from the anchor &v at m.yaml:1:6)")


def test_an_unknown_top_level_key_still_fails_and_hints_at_x(tmp_path: Path) -> None:
    p = only(ANCHORED.replace("x-avatar:", "avatar:"), tmp_path)
    assert (p.line, p.column) == (2, 1)
    assert "start with x-" in p.message


@pytest.mark.parametrize(
    ("merge", "column", "message"),
    [
        ("<<: *voice", 9, "merge key (<<) takes a mapping"),
        ("<<: [*avatar-defaults, *voice]", 28, "this item is the text"),
        ("<<: on", 9, "(<<: [*a, *b]), not on, which YAML reads as the boolean true"),
    ],
)
def test_merging_something_else_than_a_mapping(
    tmp_path: Path, merge: str, column: int, message: str
) -> None:
    text = ANCHORED.replace(
        "  - <<: *avatar-defaults\n    id: outro", f"  - {merge}\n    id: outro"
    )
    found = problems(text, tmp_path)
    assert (found[0].line, found[0].column) == (11, column if "[" in merge else 5)
    assert message in found[0].message


def test_duplicate_keys_are_still_refused_beside_a_merge(tmp_path: Path) -> None:
    text = ANCHORED.replace("    id: intro\n", "    id: intro\n    id: again\n")
    p = only(text, tmp_path)
    assert (p.line, p.column, p.where) == (10, 5, "jobs[0].id")
    assert "duplicate key 'id' (first at line 9)" in p.message


def test_two_merge_keys_in_one_mapping_are_a_duplicate(tmp_path: Path) -> None:
    text = ANCHORED.replace("    id: intro\n", "    id: intro\n    <<: {prompt: x}\n")
    p = only(text, tmp_path)
    assert (p.line, p.column) == (10, 5)
    assert "duplicate key '<<' (first at line 8)" in p.message


def test_undefined_alias(tmp_path: Path) -> None:
    p = only("version: 1\njobs: *nothing\n", tmp_path)
    assert (p.line, p.column) == (2, 7)
    assert "alias *nothing has no anchor &nothing before it" in p.message


def test_an_alias_inside_its_own_anchor(tmp_path: Path) -> None:
    p = only("version: 1\njobs: &j [*j]\n", tmp_path)
    assert (p.line, p.column) == (2, 11)
    assert "alias *j is inside its own anchor &j" in p.message


def test_an_anchor_defined_twice(tmp_path: Path) -> None:
    text = ANCHORED.replace("x-voice: &voice", "x-voice: &avatar-defaults")
    found = problems(text, tmp_path)
    assert (found[0].line, found[0].column) == (6, 10)
    assert "anchor &avatar-defaults is defined twice (first at line 2)" in found[0].message


def billion_laughs(levels: int = 10) -> str:
    lines = ["version: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join([*lines, f"jobs: *a{levels - 1}"]) + "\n"


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_bound(tmp_path: Path) -> None:
    # 9**10 values if expanded: this test would never end without the bound.
    p = only(billion_laughs(), tmp_path)
    # Up to a6 the document holds ~5.4 million values; the first *a6 doubles that.
    assert (p.line, p.column) == (9, 10)
    assert p.message.startswith(f"alias *a6 takes the document past {MAX_EXPANDED_NODES:,}")
    assert "billion laughs" in p.message


def test_the_alias_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_ALIASES >= 1_000_000  # 20 aliases a job at 50,000 jobs
    monkeypatch.setattr(_walker, "MAX_ALIASES", 3)
    p = only("version: 1\nx: &x 1\ny: [*x, *x, *x, *x]\njobs: []\n", tmp_path)
    assert (p.line, p.column) == (3, 17)
    assert "more than 3 aliases" in p.message


def test_nesting_through_aliases_is_bounded(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    # The anchor nests 62 levels under the root mapping: fine where it is written,
    # and too deep once placed two levels further down.
    p = only(f"version: 1\nx: &deep {deep}\njobs: [[*deep]]\n", tmp_path)
    assert (p.line, p.column) == (3, 9)
    assert f"alias *deep nests the document more than {MAX_DEPTH} levels deep" in p.message


def test_fifty_thousand_jobs_merging_defaults_stay_inside_the_bounds() -> None:
    jobs = "".join(
        f"  - <<: *d\n    id: job-{i}\n    audio: {URL}/{i}.mp3\n" for i in range(50_000)
    )
    text = f"version: 1\nx-d: &d {{kind: avatar, image: {URL}/face.png}}\njobs:\n{jobs}"
    document = load_yaml(text, display_name="m.yaml")
    assert document.trusted and not document.problems
    assert document.value["jobs"][49_999] == {
        "id": "job-49999",
        "audio": f"{URL}/49999.mp3",
        "kind": "avatar",
        "image": f"{URL}/face.png",
    }


def test_both_parsers_read_anchors_alike() -> None:
    fast = load_yaml(ANCHORED, display_name="m.yaml")
    slow = load_yaml(ANCHORED, display_name="m.yaml", c_loader=False)
    assert fast.value == slow.value
    assert fast.value["jobs"][1] == {
        "id": "outro",
        "audio": f"{URL}/outro.mp3",
        "resolution": "480p",
        "kind": "avatar",
        "image": f"{URL}/face.png",
    }
