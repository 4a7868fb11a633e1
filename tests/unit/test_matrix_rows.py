"""matrix: {rows: lines.csv}: combinations from a CSV file beside the manifest (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError
from lipsync_pipeline.manifest import Manifest, parse_manifest
from lipsync_pipeline.manifest import _rows as rows_module

URL = "https://cdn.example.com"
CSV = 'lang,tone\nde,calm\nfr,"warm, bright"\n'


def manifest(rows: str = "lines.csv", *, job_id: str = "ad.{lang}", extra: str = "") -> str:
    return (
        f'version: 1\njobs:\n  - id: "{job_id}"\n    kind: video\n    video: {URL}/ad.mp4\n'
        f'    audio: "{URL}/{{lang}}.mp3"\n    prompt: "{{tone}}"\n    matrix:\n'
        f"      rows: {rows}\n{extra}"
    )


def load(folder: Path, text: str, csv: str | bytes | None = CSV) -> Manifest:
    if csv is not None:
        target = folder / "lines.csv"
        target.write_bytes(csv.encode() if isinstance(csv, str) else csv)
    return parse_manifest(text, path=folder / "m.yaml", display_name="m.yaml")


def problems(folder: Path, text: str, csv: str | bytes | None = CSV) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(folder, text, csv)
    return [str(p) for p in caught.value.problems]


def only(folder: Path, text: str, csv: str | bytes | None = CSV) -> str:
    found = problems(folder, text, csv)
    assert len(found) == 1, found
    return found[0]


def test_each_row_is_a_job_named_by_its_values(tmp_path: Path) -> None:
    jobs = load(tmp_path, manifest()).jobs
    assert [(j.id, j.form_state["prompt"], j.where) for j in jobs] == [
        ("ad.de", "calm", "jobs[0] (lines.csv:2)"),
        ("ad.fr", "warm, bright", "jobs[0] (lines.csv:3)"),
    ]


def test_rows_combine_with_axes_exclude_and_include(tmp_path: Path) -> None:
    extra = (
        "      res: [480p, 720p]\n      exclude: [{lang: fr, res: 720p}]\n"
        "      include: [{lang: de, seed: 9}]\n"
    )
    text = manifest(job_id="ad.{lang}.{res}", extra=extra).replace(
        "    matrix:", '    resolution: "{res}"\n    matrix:'
    )
    jobs = load(tmp_path, text).jobs
    assert [(j.id, j.form_state["resolution"], j.form_state["seed"] == 9) for j in jobs] == [
        ("ad.de.480p", "480p", True),
        ("ad.de.720p", "720p", True),
        ("ad.fr.480p", "480p", False),
    ]
    assert jobs[1].where == "jobs[0] (lines.csv:2, res=720p)"


def test_a_new_row_anywhere_plans_one_new_job_and_keeps_the_others(tmp_path: Path) -> None:
    before = {j.id: j.fingerprint for j in load(tmp_path, manifest()).jobs}
    after = load(tmp_path, manifest(), 'lang,tone\nit,soft\nfr,"warm, bright"\nde,calm\n').jobs
    assert {j.id: j.fingerprint for j in after if j.id in before} == before
    assert [j.id for j in after if j.id not in before] == ["ad.it"]


def test_a_byte_order_mark_a_quoted_multi_line_cell_and_blank_lines_are_fine(
    tmp_path: Path,
) -> None:
    csv = '\ufefflang,tone\n\nde,"calm\nand slow"\n\nfr,warm\n'
    jobs = load(tmp_path, manifest(), csv.encode("utf-8")).jobs
    assert [(j.id, j.form_state["prompt"], j.where) for j in jobs] == [
        ("ad.de", "calm\nand slow", "jobs[0] (lines.csv:3)"),
        ("ad.fr", "warm", "jobs[0] (lines.csv:6)"),
    ]


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("lang,tone\nde,calm\nfr\n", "lines.csv:3: 1 cell, but the header names 2 columns"),
        ('lang,tone\nde,"calm\nslow"\nfr,a,b\n', "lines.csv:4: 3 cells, but the header"),
        ('lang,tone\nde,"calm\n', "lines.csv:2: CSV syntax error: unexpected end of data"),
        (
            "lang,tone,lang\nde,a,b\n",
            "lines.csv:1: column 3 'lang': the name of an earlier column again",
        ),
        ("lang,the tone\nde,a\n", "lines.csv:1: column 2 'the tone': 'the tone' cannot name"),
        (
            "lang,audio\nde,a\n",
            "lines.csv:1: column 2 'audio': an axis or column cannot be named like the job field",
        ),
        (
            "lang;tone\nde;calm\n",
            "lines.csv:1: one column named 'lang;tone': the file looks separated by ';'",
        ),
        ("", "lines.csv:1: the file is empty: its first line names the columns"),
        ("lang,tone\n", "lines.csv:1: no rows under the header"),
        (b"lang,tone\nde,caf\xe9\n", "lines.csv:2:7: not UTF-8 text (byte 0xe9)"),
        (b"lang,tone\nde,a\x00\n", "lines.csv:2:5: binary data (a NUL byte)"),
        (b"\xff\xfel\x00", "lines.csv:1:1: the file is UTF-16 text"),
    ],
)
def test_problems_in_the_file_name_its_line(
    csv: str | bytes, expected: str, tmp_path: Path
) -> None:
    assert only(tmp_path, manifest(), csv).startswith(expected)


def test_the_file_is_named_as_the_user_would_open_it(tmp_path: Path) -> None:
    (tmp_path / "sheets").mkdir()
    (tmp_path / "sheets" / "lines.csv").write_text("lang,tone\nde\n")
    with pytest.raises(ManifestError) as caught:
        parse_manifest(
            manifest("sheets/lines.csv"), path=tmp_path / "m.yaml", display_name="ads/m.yaml"
        )
    assert [str(p) for p in caught.value.problems] == [
        "ads/sheets/lines.csv:2: 1 cell, but the header names 2 columns (lang, tone); quote "
        "a cell that holds a comma"
    ]


def test_two_rows_making_one_id_names_both_lines(tmp_path: Path) -> None:
    found = only(tmp_path, manifest(), "lang,tone\nde,a\nfr,b\nde,c\n")
    assert found == (
        "m.yaml:3:9: jobs[0] (lines.csv:4).id: duplicate id 'ad.de' (also made "
        "by jobs[0] (lines.csv:2) at line 3, column 9)"
    )


@pytest.mark.parametrize(
    ("extra", "job_id", "expected"),
    [
        ("", "ad", "m.yaml:9:13: jobs[0].matrix.rows: the id template 'ad' names no column"),
        ("", "ad.{lang.x}", "m.yaml:3:13: jobs[0].id: the id names a value by its key"),
        (
            "      lang: [de]\n",
            "ad.{lang}",
            "m.yaml:9:13: jobs[0].matrix.rows: 'lang' names both an axis and a column",
        ),
        (
            "      exclude: [{lang: it}]\n",
            "ad.{lang}",
            "m.yaml:10:24: jobs[0].matrix.exclude[0].lang: no row has lang 'it': nothing to "
            "exclude",
        ),
        (
            '      exclude: [{lang: de, tone: "warm, bright"}]\n',
            "ad.{lang}",
            "m.yaml:10:17: jobs[0].matrix.exclude[0]: excludes nothing",
        ),
        (
            "      include: [{lang: it, prompt: x}]\n",
            "ad.{lang}",
            "m.yaml:10:24: jobs[0].matrix.include[0].lang: no row has lang 'it': include matches "
            "rows, it adds none",
        ),
    ],
)
def test_mistakes_about_rows_are_located(
    extra: str, job_id: str, expected: str, tmp_path: Path
) -> None:
    assert only(tmp_path, manifest(job_id=job_id, extra=extra)).startswith(expected)


def test_a_column_holds_text_with_no_fields(tmp_path: Path) -> None:
    text = manifest().replace('"{tone}"', '"{tone.x}"')
    assert only(tmp_path, text).startswith(
        "m.yaml:7:14: jobs[0].prompt: {tone.x}: a CSV column holds text, it has no fields"
    )


def test_an_unreadable_file_does_not_make_its_columns_unknown_names(tmp_path: Path) -> None:
    found = only(tmp_path, manifest(), "lang,tone\nde\n")
    assert found.startswith("lines.csv:2:")  # and no "unknown {lang}" besides


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("missing.csv", "m.yaml:9:13: jobs[0].matrix.rows: file not found: 'missing.csv'"),
        ("line.csv", "did you mean 'lines.csv'?"),
        (
            "../lines.csv",
            "'../lines.csv' points outside the manifest's directory; a rows "
            "file must stay inside it",
        ),
        ("sub", "'sub' is a directory, not a file"),
        ("[a.csv]", "expected a CSV file's path, e.g. rows: lines.csv, not a list"),
    ],
)
def test_the_file_must_be_a_file_inside_the_manifests_tree(
    rows: str, expected: str, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    assert expected in only(tmp_path, manifest(rows))


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_an_absolute_path_is_refused_as_such(tmp_path: Path, where: str) -> None:
    """Not blamed on a symlink; and refused even when it leads into the tree: the
    manifest must work in any checkout."""
    tree = tmp_path / "tree"
    tree.mkdir()
    target = (tree if where == "inside" else tmp_path) / "lines.csv"
    target.write_text(CSV)
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(str(target)), path=tree / "m.yaml", display_name="m.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "m.yaml:9:13: jobs[0].matrix.rows: must be a path relative to the manifest's "
        f"directory, not {str(target)!r}"
    ]


def test_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    outside, tree = tmp_path / "outside.csv", tmp_path / "tree"
    outside.write_text(CSV)
    tree.mkdir()
    os.symlink(outside, tree / "lines.csv")
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(), path=tree / "m.yaml", display_name="m.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "m.yaml:9:13: jobs[0].matrix.rows: 'lines.csv' leads outside the manifest's directory "
        "through a symlink"
    ]


def test_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows_module, "MAX_BYTES", 64)
    found = only(tmp_path, manifest(), CSV + "x,y\n" * 20)
    assert found == (
        "m.yaml:9:13: jobs[0].matrix.rows: 'lines.csv' is over 0 MiB; a rows "
        "file may be at most that"
    )


def test_rows_count_against_the_jobs_a_manifest_may_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lipsync_pipeline.manifest import _expand

    monkeypatch.setattr(_expand, "MAX_JOBS", 3)
    found = only(tmp_path, manifest(), "lang,tone\n" + "".join(f"l{i},t\n" for i in range(5)))
    assert found == "lines.csv:5: more than 3 rows: a manifest may make at most that many jobs"
