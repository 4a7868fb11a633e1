"""matrix: with YAML anchors, aliases and merge keys: expanded jobs locate each field
where the file names it, and a mistake in an aliased value says where it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError
from lipsync_pipeline.manifest import Manifest, parse_manifest

ANCHORED = """\
version: 1
x-base: &base {kind: avatar, image: "https://cdn.example.com/{lang}.png"}
x-finale: &finale {lang: fr, prompt: "finale {lang}"}
jobs:
  - <<: *base
    id: "ad.{lang}"
    audio: "https://cdn.example.com/{lang}.wav"
    matrix:
      lang: [de, fr]
      include:
        - *finale
"""


def parse(text: str, folder: Path) -> Manifest:
    return parse_manifest(text, path=folder / "m.yaml", display_name="m.yaml")


def test_merged_and_aliased_fields_expand_and_are_located_where_used(tmp_path: Path) -> None:
    de, fr = parse(ANCHORED, tmp_path).jobs
    assert (de.id, fr.id) == ("ad.de", "ad.fr")
    assert de.form_state["image"] == "https://cdn.example.com/de.png"
    assert fr.form_state["image"] == "https://cdn.example.com/fr.png"
    assert "prompt" not in de.form_state and fr.form_state["prompt"] == "finale fr"
    assert de.marks["kind"] == fr.marks["kind"] == (5, 5)  # the << that merged it
    assert fr.marks["prompt"] == (11, 11)  # the alias that brought it
    assert "prompt" not in de.marks


def test_a_mistake_in_an_aliased_include_names_its_anchor(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        parse(ANCHORED.replace('"finale {lang}"', '"finale {lnag}"'), tmp_path)
    assert str(caught.value) == (
        "m.yaml:11:11: jobs[0].matrix.include[0].prompt: unknown {lnag} (did you mean "
        "'lang'?): the matrix has lang (write {{ for a literal brace) (from the anchor "
        "&finale at m.yaml:3:11; written at m.yaml:3:38)"
    )


@pytest.mark.parametrize(
    ("written", "column"),
    [
        ('"take {lnag}"', 19),  # quoted, as it reads: at the brace
        ("'it''s {lnag}'", 13),  # an escape: the text's start
        ('"t\\u0061ke {lnag}"', 13),
    ],
)
def test_template_mistakes_point_inside_the_text_only_where_it_reads_as_written(
    written: str, column: int, tmp_path: Path
) -> None:
    text = ANCHORED.replace('"finale {lang}"', '"finale"') + f"    prompt: {written}\n"
    with pytest.raises(ManifestError) as caught:
        parse(text, tmp_path)
    assert str(caught.value).startswith(f"m.yaml:12:{column}: jobs[0].prompt: unknown {{lnag}}")
