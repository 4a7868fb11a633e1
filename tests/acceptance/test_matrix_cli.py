"""Matrix manifests as a user runs them: the shipped examples end to end, and mistakes
reported before anything is written (issue 14)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _support import ROOT
from test_cli import cli


def _examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    shutil.copytree(ROOT / "manifests" / "examples", folder,
                    ignore=shutil.ignore_patterns("*.lock", "renders", "make_media.py"))
    return folder


def _plan(path: Path) -> dict[str, object]:
    result = cli("plan", path, "--format", "json")
    assert result.returncode == 0, result.stderr
    plan: dict[str, object] = json.loads(result.stdout)
    return plan


def test_the_matrix_examples_run_locally_then_a_new_value_is_the_only_new_job(
    tmp_path: Path,
) -> None:
    folder = _examples(tmp_path)
    ads, tour = folder / "localized-ads.yaml", folder / "product-tour.yaml"
    for manifest, count in ((ads, 20), (tour, 5)):
        first = cli("run", manifest, "--local", "--format", "json")
        assert first.returncode == 0, first.stderr
        jobs = json.loads(first.stdout)["jobs"]
        assert len(jobs) == count and {j["outcome"] for j in jobs} == {"completed"}
    assert len(list((folder / "renders" / "ads").glob("spring-sale.*.mp4"))) == 20
    assert sorted(p.name for p in (folder / "renders" / "tour").iterdir()) == [
        "tour.de.mp4", "tour.es.mp4", "tour.fr.mp4", "tour.ja.mp4", "tour.pt.mp4"]

    again = cli("run", tour, "--local", "--format", "json")
    assert json.loads(again.stdout)["requests"] == {}

    # One more language, written anywhere in the list: one new job, nothing else.
    shutil.copy(folder / "media" / "voice" / "de.mp3", folder / "media" / "voice" / "eo.mp3")
    text = ads.read_text()
    ads.write_text(text.replace("[ar, cs, da, de,", "[ar, cs, da, eo, de,"))
    plan = _plan(ads)
    assert plan["counts"] == {"skip": 20, "submit": 1}
    (new,) = [s for s in plan["steps"] if s["action"] == "submit"]  # type: ignore[attr-defined]
    assert (new["job"], new["template"], new["reason"]) == (
        "spring-sale.eo", "spring-sale.{lang}", "new job")

    # The same languages in another order: nothing to do.
    ads.write_text(text.replace("[ar, cs, da, de, el, es, fi, fr, hu, it, ja, ko, nl, pl, pt,"
                                " ro, sv, tr, uk, zh]",
                                "[zh, uk, tr, sv, ro, pt, pl, nl, ko, ja, it, hu, fr, fi, es,"
                                " el, de, da, cs, ar]"))
    assert _plan(ads)["up_to_date"] is True
    table = cli("plan", folder / "product-tour.yaml").stdout
    assert "up to date" in table


def test_validate_lists_each_matrix_entrys_ids(tmp_path: Path) -> None:
    folder = _examples(tmp_path)
    result = cli("validate", "product-tour.yaml", "quickstart.yaml", "--format", "json",
                 cwd=folder)
    assert result.returncode == 0, result.stderr
    tour, quickstart = json.loads(result.stdout)["files"]
    assert tour["matrices"] == [{
        "entry": "jobs[0]",
        "template": "tour.{lang}",
        "ids": ["tour.de", "tour.es", "tour.fr", "tour.ja", "tour.pt"],
    }]
    assert tour["jobs"] == 5 and quickstart["matrices"] == []
    text = cli("validate", "product-tour.yaml", cwd=folder)
    assert text.stdout == "product-tour.yaml: valid (5 jobs)\n"
    assert "product-tour.yaml:15:12: jobs[0] (product-tour.csv:2).image: local files" in (
        text.stderr)


def test_a_new_job_shows_its_template_in_the_plan_table(tmp_path: Path) -> None:
    folder = _examples(tmp_path)
    table = cli("plan", folder / "product-tour.yaml").stdout
    assert "new job from tour.{lang}" in table


def test_matrix_mistakes_are_located_and_change_nothing(tmp_path: Path) -> None:
    folder = _examples(tmp_path)
    (folder / "product-tour.csv").write_text("lang,presenter,voice,tone\nde,anna\n")
    bad = folder / "product-tour.yaml"
    bad.write_text(bad.read_text().replace('"tour.{lang}"', '"tour.{lnag}"'))
    lock = folder / "product-tour.lock"
    lock.write_text('{"version": 1, "jobs": {}}\n')
    before = lock.read_bytes()

    result = cli("run", bad, "--local")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # The sheet's columns are unknown while it cannot be read: no "unknown {lnag}" yet.
    assert result.stderr.splitlines() == [
        f"error: {folder / 'product-tour.csv'}:2: 2 cells, but the header names 4 columns "
        "(lang, presenter, voice, tone); quote a cell that holds a comma",
    ]
    assert lock.read_bytes() == before
    assert not (folder / "renders").exists()

    (folder / "product-tour.csv").write_text("lang,presenter,voice,tone\nde,anna,x.mp3,calm\n")
    located = cli("validate", bad)
    assert located.returncode == 2
    assert f"{bad}:13:15: jobs[0].id: unknown {{lnag}} (did you mean 'lang'?)" in located.stderr


def test_the_schema_command_describes_matrix_for_editors() -> None:
    result = cli("schema")
    schema = json.loads(result.stdout)
    job = schema["$defs"]["job"]
    assert job["properties"]["matrix"] == {"$ref": "#/$defs/matrix"}
    assert job["then"] == {"$ref": "#/$defs/matrix_job"}
    assert {"rows", "include", "exclude"} <= set(schema["$defs"]["matrix"]["properties"])
