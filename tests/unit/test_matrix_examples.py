"""The shipped matrix examples, and the schema editors read for matrix: (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lipsync_pipeline.errors import ManifestError
from lipsync_pipeline.manifest import load_manifest, manifest_schema, parse_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "manifests" / "examples"
WRITTEN_OUT = Path(__file__).resolve().parent / "data" / "localized-ads.written-out.yaml"
EDITOR = jsonschema.Draft202012Validator(manifest_schema())


def _jobs_lines(text: str) -> list[str]:
    """The lines of the jobs: section that say something (no comments, no blanks)."""
    section = text.split("\njobs:\n", 1)[1]
    return [
        line for line in section.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_localized_ads_matrix_makes_the_written_out_jobs() -> None:
    matrix = load_manifest(EXAMPLES / "localized-ads.yaml")
    # The twin lives with the tests; placed beside the example, its media paths resolve.
    written = parse_manifest(
        WRITTEN_OUT.read_text(), path=EXAMPLES / "written-out.yaml", display_name="written-out.yaml"
    )
    assert len(matrix.jobs) == 20
    assert [(j.id, j.fingerprint, dict(j.form_state), j.webhook) for j in matrix.jobs] == [
        (j.id, j.fingerprint, dict(j.form_state), j.webhook) for j in written.jobs
    ]
    assert {j.template for j in matrix.jobs} == {"spring-sale.{lang}"}


def test_the_matrix_says_in_a_fifth_of_the_lines_what_the_written_out_jobs_say() -> None:
    matrix = _jobs_lines((EXAMPLES / "localized-ads.yaml").read_text())
    written = _jobs_lines(WRITTEN_OUT.read_text())
    assert len(matrix) * 5 <= len(written), (len(matrix), len(written))


def test_product_tour_takes_its_jobs_from_the_sheet() -> None:
    manifest = load_manifest(EXAMPLES / "product-tour.yaml")
    rows = (EXAMPLES / "product-tour.csv").read_text().splitlines()[1:]
    assert [job.id for job in manifest.jobs] == [f"tour.{row.split(',')[0]}" for row in rows]
    ja = next(job for job in manifest.jobs if job.id == "tour.ja")
    assert ja.form_state["resolution"] == "720p" and ja.form_state["prompt"] == "product tour, 丁寧"
    assert ja.form_state["image"] == "media/ben.png"
    assert ja.where == "jobs[0] (product-tour.csv:5)"


@pytest.mark.parametrize("name", ["localized-ads.yaml", "product-tour.yaml"])
def test_an_editor_with_the_schema_accepts_the_examples(name: str) -> None:
    document = yaml.safe_load((EXAMPLES / name).read_text())
    assert [e.message for e in EDITOR.iter_errors(document)] == []


def _with_matrix(matrix: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "jobs": [
            {
                "id": "ad.{lang}",
                "kind": "video",
                "video": "v.mp4",
                "audio": "{lang}.mp3",
                "matrix": matrix,
            }
        ],
    }


@pytest.mark.parametrize(
    "matrix",
    [
        {"lang": []},  # an empty axis
        {"lang": [{"voice": "x"}]},  # a mapping value without key
        {"lang": [["de"]]},  # a list as a value
        {"lang": [True]},  # YAML's "no"
        {"lang": ["de"], "include": {"lang": "de"}},  # include is a list
        {"lang": ["de"], "exclude": [{"lang": ["de"]}]},  # exclude matches values
        {"rows": 3},
    ],
)
def test_an_editor_with_the_schema_flags_what_the_loader_refuses(
    matrix: Any, tmp_path: Path
) -> None:
    assert list(EDITOR.iter_errors(_with_matrix(matrix)))
    with pytest.raises(ManifestError):
        parse_manifest(
            yaml.safe_dump(_with_matrix(matrix)), path=tmp_path / "m.yaml", display_name="m.yaml"
        )


def test_an_editor_reads_an_id_template_only_under_matrix() -> None:
    plain = _with_matrix({"lang": ["de"]})
    del plain["jobs"][0]["matrix"]
    assert {e.message for e in EDITOR.iter_errors(plain)} == {
        "'ad.{lang}' does not match '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'"
    }


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "matrix.md").read_text()
    return [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]


@pytest.mark.parametrize("block", _doc_blocks())
def test_the_docs_yaml_examples_are_valid_manifests(block: str) -> None:
    text = block if "version: 1" in block else "version: 1\n" + block
    # Placed among the examples, so the sheet and media the docs name are found.
    manifest = parse_manifest(text, path=EXAMPLES / "doc.yaml", display_name="doc.yaml")
    assert all(job.template for job in manifest.jobs)
