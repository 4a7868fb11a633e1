"""The manifest cache: an unchanged manifest is read from it, equal to its YAML reading;
anything it depended on that changed makes it read the YAML again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import pytest

from lipsync_pipeline.errors import ManifestError
from lipsync_pipeline.manifest import (
    Manifest,
    _cache,
    _cachefacts,
    _jobbuilder,
    _matrix,
    _reader,
    load_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
URL = "https://cdn.example.com"


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, outside the manifests' tree; files are trusted at
    once (no racy margin: a test's files are all a second old)."""
    folder = tmp_path_factory.mktemp("manifest-cache")
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(folder))
    monkeypatch.delenv("LIPSYNC_MANIFEST_CACHE", raising=False)
    monkeypatch.setattr(_cachefacts, "RACY_NS", 0)
    monkeypatch.setattr(_cache, "KEEP_AT_READ", 1)  # kept at once: these tests read it
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped manifests (every feature: matrices, rows, anchors, moved)."""
    folder = tmp_path / "project"
    shutil.copytree(ROOT / "manifests", folder)
    return folder


class Unread(Exception):
    pass


def load_cached(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> Manifest:
    """``load_manifest`` that must not read the YAML (the cache must answer)."""

    def refuse(*_: object) -> None:
        raise Unread(path)

    with monkeypatch.context() as patched:
        patched.setattr(_reader._Reader, "read", refuse)
        return load_manifest(path, **kwargs)  # type: ignore[arg-type]


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "manifests").glob("*.json")) if (cache / "manifests").exists() else []


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def avatar(job_id: str, image: str = f"{URL}/a.png", extra: str = "") -> str:
    return (
        f"  - id: {job_id}\n    kind: avatar\n    image: {image}\n"
        f"    audio: {URL}/{job_id}.mp3\n{extra}"
    )


@pytest.mark.parametrize(
    "name",
    ["demo.yaml", *sorted(p.name for p in (ROOT / "manifests" / "examples").glob("*.yaml"))],
)
def test_a_cached_manifest_equals_its_yaml_reading(
    name: str, project: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / name if name == "demo.yaml" else project / "examples" / name
    first = load_manifest(path)
    if any(job.webhook for job in first.jobs):  # a webhook's path can be a secret
        assert entries(cache) == []
        return
    assert len(entries(cache)) == 1
    again = load_cached(path, monkeypatch, output_dir=None)
    assert again == first
    assert [dict(job.marks) for job in again.jobs] == [dict(job.marks) for job in first.jobs]
    assert again.jobs[0].model == first.jobs[0].model


def test_the_display_name_is_the_callers(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    monkeypatch.chdir(tmp_path)
    assert load_cached(Path("m.yaml"), monkeypatch).display_name == "m.yaml"


def test_an_edited_manifest_is_read_again(tmp_path: Path, cache: Path) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    write(path, "version: 1\njobs:\n" + avatar("b"))
    assert [job.id for job in load_manifest(path).jobs] == ["b"]
    write(path, "version: 1\njobs:\n" + avatar("b", extra="    bogus: 1\n"))
    with pytest.raises(ManifestError, match="bogus"):
        load_manifest(path)


def test_a_changed_local_input_is_hashed_again(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "face.png").write_bytes(b"face one")
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a", "face.png"))
    before = load_manifest(path).jobs[0]
    (tmp_path / "face.png").write_bytes(b"face two")  # same size: the stat still differs
    after = load_manifest(path).jobs[0]
    assert after.fingerprint != before.fingerprint
    assert after.hashed_inputs["image"] != before.hashed_inputs["image"]


def test_a_local_input_replaced_by_a_link_out_is_refused(tmp_path: Path, cache: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "face.png").write_bytes(b"face")
    (tmp_path / "secret.png").write_bytes(b"elsewhere")
    path = write(project / "m.yaml", "version: 1\njobs:\n" + avatar("a", "face.png"))
    load_manifest(path)
    (project / "face.png").unlink()
    (project / "face.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(ManifestError, match="symlink"):
        load_manifest(path)


def test_an_output_dir_turned_into_a_link_out_is_refused(tmp_path: Path, cache: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    path = write(project / "m.yaml", "version: 1\noutput_dir: out\njobs:\n" + avatar("a"))
    load_manifest(path)
    (tmp_path / "elsewhere").mkdir()
    (project / "out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ManifestError, match="output_dir"):
        load_manifest(path)


def test_a_changed_rows_file_is_read_again(project: Path, cache: Path) -> None:
    path = project / "examples" / "product-tour.yaml"
    rows = project / "examples" / "product-tour.csv"
    count = len(load_manifest(path).jobs)
    lines = rows.read_text().splitlines()
    rows.write_text("\n".join(lines[:-1]) + "\n")  # one row fewer
    assert len(load_manifest(path).jobs) < count


def test_an_output_dir_given_makes_its_own_entry(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    plain = load_manifest(path)
    moved = load_manifest(path, output_dir=tmp_path / "elsewhere")
    assert len(entries(cache)) == 2
    assert load_cached(path, monkeypatch, output_dir=tmp_path / "elsewhere") == moved
    assert load_cached(path, monkeypatch) == plain


@pytest.mark.parametrize(
    "field",
    [
        f"    webhook: {URL}/hooks/T000/B000/XXXX\n",
        "",  # with the webhook in defaults: (head below)
        "    left_audio: x\n",  # not an avatar field: invalid, never cached
    ],
)
def test_no_entry_for_a_webhook_or_an_invalid_manifest(
    tmp_path: Path, cache: Path, field: str
) -> None:
    head = "" if field else f"defaults:\n  webhook: {URL}/hooks/T000/B000/YYYY\n"
    path = write(tmp_path / "m.yaml", f"version: 1\n{head}jobs:\n" + avatar("a", extra=field))
    with contextlib.suppress(ManifestError):
        load_manifest(path)
    assert entries(cache) == []


@pytest.mark.parametrize(
    "url",
    [
        f"{URL}/a.png?X-Amz-Signature=abc",
        f"{URL}/a.png#token",
    ],
)
def test_a_url_that_may_carry_a_credential_is_never_cached(
    tmp_path: Path, cache: Path, url: str
) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a", url))
    assert load_manifest(path).jobs[0].form_state["image"] == url
    assert entries(cache) == []


def test_a_cache_inside_the_repository_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(tmp_path / ".cache"))
    path = write(tmp_path / "sub" / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    assert not (tmp_path / ".cache").exists()


def test_the_cache_can_be_turned_off(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIPSYNC_MANIFEST_CACHE", "off")
    load_manifest(write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a")))
    assert entries(cache) == []


def test_an_entry_others_may_write_is_not_used(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    os.chmod(cache / "manifests", 0o777)
    with pytest.raises(Unread):
        load_cached(path, monkeypatch)


def test_new_code_reads_again(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    monkeypatch.setattr(_cache, "code_stamp", lambda: "another version")
    with pytest.raises(Unread):
        load_cached(path, monkeypatch)


def test_a_damaged_entry_is_ignored(tmp_path: Path, cache: Path) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    expected = load_manifest(path)
    (entry,) = entries(cache)
    data = json.loads(entry.read_text())
    data["manifest"]["jobs"][0][2] = "not a request"
    entry.write_text(json.dumps(data))
    assert load_manifest(path) == expected
    entry.write_text("{ truncated")
    assert load_manifest(path) == expected


def test_a_file_touched_just_before_the_entry_was_written_is_hashed_again(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cachefacts, "RACY_NS", 3_000_000_000)
    (tmp_path / "face.png").write_bytes(b"face")
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a", "face.png"))
    load_manifest(path)
    with pytest.raises(Unread):
        load_cached(path, monkeypatch)


# -- what the review found: each a way the cache could have answered wrong --------------------


def test_a_local_input_edited_while_it_was_read_is_not_cached_with_its_old_digest(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    face = tmp_path / "face.png"
    face.write_bytes(b"face one")
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a", "face.png"))
    hashed = _jobbuilder.JobBuilder.digest

    def then_edited(self: _jobbuilder.JobBuilder, absolute: str) -> str:
        digest = hashed(self, absolute)
        face.write_bytes(b"face two, saved by an editor meanwhile")
        return digest

    with monkeypatch.context() as editing:
        editing.setattr(_jobbuilder.JobBuilder, "digest", then_edited)
        load_manifest(path)
    fresh = load_manifest(path).jobs[0].hashed_inputs["image"]
    assert fresh.endswith(_cachefacts.hash_file(str(face)) or "?")


def test_a_rows_file_edited_while_it_was_read_is_not_cached_with_its_old_rows(
    project: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "examples" / "product-tour.yaml"
    rows = project / "examples" / "product-tour.csv"
    original = rows.read_text()
    lines = original.splitlines()
    read_rows = _matrix.read_rows

    def then_edited(*args: object, **kwargs: object) -> object:
        found = read_rows(*args, **kwargs)  # type: ignore[arg-type]
        rows.write_text("\n".join(lines[:-1]) + "\n")  # a row gone meanwhile
        return found

    with monkeypatch.context() as editing:
        editing.setattr(_matrix, "read_rows", then_edited)
        before = len(load_manifest(path).jobs)
    assert len(load_manifest(path).jobs) < before


def test_a_rows_file_edited_as_the_entry_is_written_is_not_cached_with_its_old_rows(
    project: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "examples" / "product-tour.yaml"
    rows = project / "examples" / "product-tour.csv"
    lines = rows.read_text().splitlines()
    hash_file = _cachefacts.hash_file

    def edited_first(where: str) -> str | None:
        if where == str(rows.resolve()):
            rows.write_text("\n".join(lines[:-1]) + "\n")  # saved just before the hash
        return hash_file(where)

    with monkeypatch.context() as editing:
        editing.setattr(_cachefacts, "hash_file", edited_first)
        before = len(load_manifest(path).jobs)
    assert len(load_manifest(path).jobs) < before


def read_entry(cache: Path) -> tuple[Path, dict[str, object]]:
    (entry,) = entries(cache)
    return entry, json.loads(entry.read_text())


def plant(entry: Path, data: dict[str, object]) -> None:
    """Rewrite an entry in place, keeping it this user's and private (0600)."""
    entry.write_text(json.dumps(data))
    os.chmod(entry, 0o600)


def test_an_entry_others_can_read_or_write_is_not_used(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    entry, _ = read_entry(cache)
    os.chmod(entry, 0o644)  # what git or a COPY would make of a committed one
    with pytest.raises(Unread):
        load_cached(path, monkeypatch)


@pytest.mark.parametrize("what", ["webhook", "local input", "negative mark"])
def test_an_entry_this_code_would_not_write_is_not_used(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    expected = load_manifest(path)
    entry, data = read_entry(cache)
    manifest = data["manifest"]
    assert isinstance(manifest, dict)
    job = manifest["jobs"][0]
    if what == "webhook":
        job[3] = "https://attacker.example/hook"
    elif what == "local input":
        manifest["maps"].append({"image": "/etc/passwd"})
        job[4] = len(manifest["maps"]) - 1
    else:
        job[9] = [-1, 1]
    plant(entry, data)
    with pytest.raises(Unread):
        load_cached(path, monkeypatch)
    assert load_manifest(path) == expected


def test_a_cache_in_the_manifests_folder_is_not_used_outside_git_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIPSYNC_CACHE_DIR", str(tmp_path / "cache"))
    load_manifest(write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a")))
    assert not (tmp_path / "cache").exists()


def test_a_manifest_under_a_path_that_is_not_utf8_still_reads(tmp_path: Path, cache: Path) -> None:
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    path = write(folder / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    assert [job.id for job in load_manifest(path).jobs] == ["a"]
    assert [job.id for job in load_manifest(path).jobs] == ["a"]


def test_no_home_directory_means_no_cache_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LIPSYNC_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)

    def homeless() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(homeless))
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    assert [job.id for job in load_manifest(path).jobs] == ["a"]


def test_an_entry_larger_than_the_cap_is_not_written(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "_MAX_ENTRY_BYTES", 1000)
    jobs = "".join(avatar(f"j{i}") for i in range(20))
    load_manifest(write(tmp_path / "m.yaml", "version: 1\njobs:\n" + jobs))
    assert entries(cache) == []


def test_only_the_most_recently_written_entries_are_kept(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "_MAX_ENTRIES", 2)
    paths = []
    for n in range(3):
        (tmp_path / f"p{n}").mkdir()
        paths.append(write(tmp_path / f"p{n}" / "m.yaml", "version: 1\njobs:\n" + avatar("a")))
        load_manifest(paths[-1])
        for entry in entries(cache):  # written earlier than the one to come
            os.utime(entry, ns=(entry.stat().st_mtime_ns - 10**9,) * 2)
    assert len(entries(cache)) == 2
    load_cached(paths[2], monkeypatch)  # the newest is kept
    with pytest.raises(Unread):
        load_cached(paths[0], monkeypatch)  # the oldest went


def test_an_entry_is_written_at_the_second_reading_of_the_same_bytes(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "KEEP_AT_READ", 2)
    path = write(tmp_path / "m.yaml", "version: 1\njobs:\n" + avatar("a"))
    first = load_manifest(path)
    assert entries(cache) == []  # a CI runner that keeps no cache writes no entry
    write(path, "version: 1\njobs:\n" + avatar("b"))  # other bytes: seen once again
    load_manifest(path)
    assert entries(cache) == []
    write(path, "version: 1\njobs:\n" + avatar("a"))
    load_manifest(path)
    assert entries(cache) == []
    assert load_manifest(path) == first  # the second reading of these bytes keeps them
    assert load_cached(path, monkeypatch) == first
    assert [p.suffix for p in (cache / "manifests").iterdir()] == [".json"]  # no marker
