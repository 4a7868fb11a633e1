"""The strict YAML layer: every malformed file is a located problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError, Problem
from lipsync_pipeline.manifest import load_manifest, parse_manifest
from lipsync_pipeline.manifest._yaml import MAX_BYTES, MAX_DEPTH, Yaml11Scalar, load_yaml

JOB = "  - id: a\n    kind: avatar\n    image: https://x.example/a.png\n" \
      "    audio: https://x.example/a.mp3\n"


def problems(data: str | bytes, tmp_path: Path) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, path=tmp_path / "m.yaml", display_name="m.yaml")
    return list(caught.value.problems)


def only(data: str | bytes, tmp_path: Path) -> Problem:
    found = problems(data, tmp_path)
    assert len(found) == 1, found
    return found[0]


def test_syntax_error_is_located(tmp_path: Path) -> None:
    p = only("version: 1\njobs:\n  - id: a\n    kind: avatar\n   image: x\n", tmp_path)
    assert (p.line, p.column) == (5, 4)
    assert p.message.startswith("YAML syntax error:")
    assert "line 3, column 3" in p.message  # the context: where the list began


def test_unclosed_flow_list(tmp_path: Path) -> None:
    p = only("version: 1\njobs: [\n", tmp_path)
    assert (p.line, p.column) == (3, 1)


def test_two_documents_are_refused(tmp_path: Path) -> None:
    p = only("version: 1\n---\njobs: []\n", tmp_path)
    assert (p.line, p.column) == (2, 1)
    assert "another document" in p.message


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = "version: 1\njobs:\n" + JOB + "    audio: https://x.example/b.mp3\n"
    p = only(text, tmp_path)
    assert (p.line, p.column, p.where) == (7, 5, "jobs[0].audio")
    assert "duplicate key 'audio' (first at line 6)" in p.message
    assert str(p).startswith("m.yaml:7:5: jobs[0].audio: duplicate key")


def test_duplicate_keys_do_not_hide_other_problems(tmp_path: Path) -> None:
    text = "version: 1\nversion: 1\nconcurrency: 0\njobs:\n" + JOB
    found = problems(text, tmp_path)
    assert [(p.line, p.column) for p in found] == [(2, 1), (3, 14)]


# Anchors, aliases and merge keys: tests/unit/test_yaml_anchors.py.


def test_tab_in_indentation(tmp_path: Path) -> None:
    p = only("version: 1\njobs:\n  - id: a\n\t  kind: avatar\n", tmp_path)
    assert (p.line, p.column) == (4, 1)
    assert p.message == "a tab in the indentation: YAML indents with spaces only"


def test_tab_after_spaces(tmp_path: Path) -> None:
    p = only("version: 1\njobs:\n  \t- id: a\n", tmp_path)
    assert (p.line, p.column) == (3, 3)
    assert "tab" in p.message


def test_tab_inside_a_value_is_fine(tmp_path: Path) -> None:
    manifest = parse_manifest("version: 1\njobs:\n" + JOB + '    prompt: "a\tb"\n',
                              path=tmp_path / "m.yaml", display_name="m.yaml")
    assert manifest.jobs[0].form_state["prompt"] == "a\tb"


@pytest.mark.parametrize(("text", "line", "column", "what"), [
    ("- a\n- b\n", 1, 1, "a list"),
    ("# c\n\nhello\n", 3, 1, "the text 'hello'"),
    ("42\n", 1, 1, "42, which YAML reads as a number"),
])
def test_not_a_mapping(tmp_path: Path, text: str, line: int, column: int, what: str) -> None:
    p = only(text, tmp_path)
    assert (p.line, p.column) == (line, column)
    assert p.message == f"the manifest must be a mapping with version: and jobs:, not {what}"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "\ufeff"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    p = only(text, tmp_path)
    assert (p.line, p.column) == (1, 1)
    assert p.message.startswith("the manifest is empty")


def test_huge_text_is_refused(tmp_path: Path) -> None:
    p = only(b"#" * (MAX_BYTES + 1), tmp_path)
    assert (p.line, p.column) == (None, None)
    assert "at most 32 MiB" in p.message


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk, and is never read
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    (p,) = caught.value.problems
    assert (p.file, p.line, p.column) == (str(path), None, None)
    assert "a manifest may be at most 32 MiB" in p.message


def test_nul_byte_is_binary(tmp_path: Path) -> None:
    p = only(b"version: 1\njobs: a\x00b\n", tmp_path)
    assert (p.line, p.column) == (2, 8)
    assert p.message.startswith("binary data")


def test_png_is_binary(tmp_path: Path) -> None:
    p = only(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", tmp_path)
    assert (p.line, p.column) == (3, 1)


def test_invalid_utf8_is_located_in_characters(tmp_path: Path) -> None:
    p = only("version: 1\n# café\njobs: ".encode() + b"\xff\n", tmp_path)
    assert (p.line, p.column) == (3, 7)
    assert "not UTF-8" in p.message


def test_utf8_column_counts_characters(tmp_path: Path) -> None:
    p = only("version: 1\njobs: [\"é\", \xff]\n".encode("latin-1"), tmp_path)
    assert (p.line, p.column) == (2, 9)


def test_utf16_is_named(tmp_path: Path) -> None:
    p = only("version: 1\n".encode("utf-16"), tmp_path)
    assert (p.line, p.column) == (1, 1)
    assert "UTF-16" in p.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + ("version: 1\njobs:\n" + JOB).encode()
    manifest = parse_manifest(data, path=tmp_path / "m.yaml", display_name="m.yaml")
    assert manifest.jobs[0].line == 3


def test_control_character(tmp_path: Path) -> None:
    p = only("version: 1\njobs: \x01\n", tmp_path)
    assert (p.line, p.column) == (2, 7)
    assert "U+0001" in p.message


def test_deep_nesting_is_refused_before_the_c_composer(tmp_path: Path) -> None:
    # libyaml's composer recurses in C: ~100,000 '[' crash the interpreter outright.
    depth = 200_000
    p = only("version: 1\nx: " + "[" * depth + "]" * depth + "\n", tmp_path)
    assert (p.line, p.column) == (2, MAX_DEPTH + 3)
    assert f"more than {MAX_DEPTH} levels" in p.message


def test_unsupported_tag(tmp_path: Path) -> None:
    p = only("version: 1\njobs:\n  - id: !!binary aGk=\n    kind: avatar\n", tmp_path)
    assert (p.line, p.column, p.where) == (3, 9, "jobs[0].id")
    assert p.message == "unsupported YAML tag !!binary"


def test_python_tags_are_never_constructed(tmp_path: Path) -> None:
    p = only("version: 1\njobs: !!python/object/apply:os.system [echo hi]\n", tmp_path)
    assert (p.line, p.column) == (2, 7)
    assert "unsupported YAML tag !!python/object/apply:os.system" in p.message


def test_non_text_key(tmp_path: Path) -> None:
    p = only("version: 1\n[a]: 1\njobs: []\n", tmp_path)
    assert (p.line, p.column) == (2, 1)


def test_yaml11_scalars_are_kept_apart() -> None:
    doc = load_yaml("a: on\nb: 0755\nc: 12:30\nd: 2024-01-01\ne: 1_000\nf: '0755'\ng: 7\n"
                    "h: 1.5\ni: ~\nj: .inf\n", display_name="x")
    assert doc.value == {
        "a": True, "b": Yaml11Scalar("0755", "int"), "c": Yaml11Scalar("12:30", "int"),
        "d": Yaml11Scalar("2024-01-01", "timestamp"), "e": Yaml11Scalar("1_000", "int"),
        "f": "0755", "g": 7, "h": 1.5, "i": None, "j": float("inf"),
    }


@pytest.mark.parametrize("c_loader", [True, False])
def test_both_loaders_agree(c_loader: bool) -> None:
    doc = load_yaml("a: [1, {b: 'x'}]\nc: d\n", display_name="x", c_loader=c_loader)
    assert doc.value == {"a": [1, {"b": "x"}], "c": "d"}
    assert doc.trusted
