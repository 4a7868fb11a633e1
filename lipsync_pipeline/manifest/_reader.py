"""The manifest: YAML in, validated jobs (exact API requests with fingerprints) out.

Reading goes: bytes -> strict YAML (:mod:`._yaml`) -> version check -> matrix
entries expanded into plain jobs (:mod:`._expand`) -> JSON Schema
(``schemas/manifest.schema.json``, the single source of truth for the format) ->
checks the schema cannot express (unique ids, URLs that parse, local files that
exist inside the manifest's directory) -> :class:`Job` values. Every problem in
the file is collected and raised at once as one :class:`ManifestError`.

Decisions a user may notice:

- ``output_dir`` must be relative and is normalized, and it must resolve (symlinks
  followed) inside the manifest's directory, like local inputs (with ``--local`` the
  studio serves exactly that directory): CI runs whatever a pull request commits, and
  a committed ``output_dir: ../../x`` or a ``renders -> /elsewhere`` symlink must not
  choose where a run writes. Writing elsewhere takes ``--output-dir`` on the command
  line (the ``output_dir`` argument here), which replaces the manifest's unchecked.
- A local input is kept in ``form_state`` as a normalized relative POSIX path;
  the fingerprint hashes the file's bytes, so editing an asset renders again and
  moving it (with the manifest edited to match) does not.
- A job without ``seed`` gets one derived from its id (a renamed job renders anew,
  its output being named by the id, unless ``moved:`` lists the rename: ``_moved``);
  for a matrix's job, from the expanded id, so adding a combination changes no other
  job's seed.
- ``order`` has no default here: when left out, the API's own default applies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from lipsync_pipeline._gc import paused_gc
from lipsync_pipeline.errors import ManifestError, Problem, format_where
from lipsync_pipeline.manifest._cache import Facts, ManifestCache
from lipsync_pipeline.manifest._expansion import expand_matrices
from lipsync_pipeline.manifest._ids import id_problems
from lipsync_pipeline.manifest._inside import inside
from lipsync_pipeline.manifest._jobbuilder import JobBuilder
from lipsync_pipeline.manifest._model import (
    INPUT_FIELD_SET,
    MANIFEST_VERSION,
    MODEL_BY_KIND,
    Manifest,
)
from lipsync_pipeline.manifest._moved import Moved, read_moved
from lipsync_pipeline.manifest._nodes import (
    Located,
    mark_of,
    node_at,
    problem_at,
)
from lipsync_pipeline.manifest._output_dir import manifest_output_dir
from lipsync_pipeline.manifest._problems import describe_value, schema_problems
from lipsync_pipeline.manifest._schema import (
    fast_check,
    full_validator,
    kind_fields,
)
from lipsync_pipeline.manifest._store import read_store
from lipsync_pipeline.manifest._yaml import MAX_BYTES, load_yaml

__all__ = ["load_manifest", "parse_manifest"]

# Host names without a port, user or IP literal need no parsing: most inputs, fast.
_PLAIN_URL: Final = re.compile(r"https?://[A-Za-z0-9.-]*[A-Za-z0-9](?:[/?#]|$)")


def load_manifest(
    path: str | os.PathLike[str], *, output_dir: str | os.PathLike[str] | None = None
) -> Manifest:
    """Read and validate a manifest file. Raises ManifestError listing every problem.

    ``output_dir``: the user's ``--output-dir`` (relative to the working directory),
    used instead of the manifest's and trusted wherever it leads."""
    display_name = os.fspath(path)
    absolute = Path(os.path.abspath(display_name))

    def fail(message: str) -> ManifestError:
        return ManifestError([Problem(display_name, None, None, "", message)])

    try:
        size = absolute.stat().st_size
        if absolute.is_dir():
            raise fail("is a directory, not a manifest file")
        if size > MAX_BYTES:  # refused unread
            raise fail(
                f"the file is {size:,} bytes; a manifest may be at most "
                f"{MAX_BYTES // (1024 * 1024)} MiB"
            )
        data = absolute.read_bytes()
    except FileNotFoundError:
        raise fail("file not found") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    override = None if output_dir is None else Path(os.path.abspath(output_dir))
    cache = ManifestCache.open(absolute, override)
    if cache is not None and (found := cache.lookup(data, display_name)) is not None:
        return found
    facts = Facts()
    with paused_gc():
        manifest = _Reader(absolute, display_name, override, facts).read(data)
    if cache is not None:
        cache.save(data, manifest, facts)
    return manifest


def parse_manifest(
    data: bytes | str,
    *,
    path: Path,
    display_name: str,
    output_dir: str | os.PathLike[str] | None = None,
) -> Manifest:
    """Validate manifest text; ``path`` places relative inputs. Raises ManifestError."""
    path = Path(os.path.abspath(path))
    override = None if output_dir is None else Path(os.path.abspath(output_dir))
    with paused_gc():
        return _Reader(path, display_name, override, Facts()).read(data)


def _rows_files(jobs: Any) -> list[str]:
    """The ``rows:`` files the matrix entries of ``jobs`` name (as written)."""
    named = []
    for entry in jobs if isinstance(jobs, list) else ():
        matrix = entry.get("matrix") if isinstance(entry, dict) else None
        if isinstance(matrix, dict) and isinstance(matrix.get("rows"), str):
            named.append(matrix["rows"])
    return named


class _Reader:
    """One validation: collects problems, caches file checks; ``JobBuilder`` makes the jobs."""

    def __init__(
        self, path: Path, display_name: str, output_override: Path | None, facts: Facts
    ) -> None:
        self.path = path
        self.facts = facts  # what the reading depended on besides the bytes (_cache)
        self.output_override = output_override
        self.base = os.path.dirname(path)
        self.real_base = os.path.realpath(self.base)
        self.name = display_name
        self.problems: list[Problem] = []
        self.local_cache: dict[str, tuple[str | None, str | None]] = {}

    def problem(self, line: int | None, column: int | None, where: str, message: str) -> None:
        self.problems.append(Problem(self.name, line, column, where, message))

    def problem_at(self, node: Located, path: tuple[str | int, ...], message: str) -> None:
        """A problem with a value: where it is used, naming the anchor it came from."""
        self.problems.append(problem_at(self.name, node, format_where(path), message))

    def fail(self) -> ManifestError:
        unique = dict.fromkeys(self.problems)  # same finding reached twice: say it once
        # This file's problems first (a matrix's rows file has its own), each by place.
        key = lambda p: (p.file != self.name, p.file, p.line or 0, p.column or 0)  # noqa: E731
        return ManifestError(sorted(unique, key=key))

    def read(self, data: bytes | str) -> Manifest:
        doc = load_yaml(data, display_name=self.name)
        self.problems.extend(doc.problems)
        if not doc.trusted:
            raise self.fail()
        if doc.root is None:
            self.problem(1, 1, "", "the manifest is empty: it needs version: 1 and a jobs: list")
            raise self.fail()
        root, value = doc.root, doc.value
        if not isinstance(value, dict):
            self.problem(
                *mark_of(root),
                "",
                "the manifest must be a mapping with version: and "
                f"jobs:, not {describe_value(value, root)}",
            )
            raise self.fail()
        version = value.get("version", MANIFEST_VERSION)
        if type(version) not in (int, float) or version != MANIFEST_VERSION:
            # A wrong version makes every other finding doubtful: report it alone.
            node = node_at(root, ["version"])
            newer = type(version) is int and version > MANIFEST_VERSION
            self.problem_at(
                node,
                ("version",),
                f"version {version} is newer than this lipsync-pipeline understands "
                "(it reads version 1): upgrade lipsync-pipeline"
                if newer
                else f"version must be the number {MANIFEST_VERSION}, not "
                f"{describe_value(version, node)}",
            )
            raise self.fail()
        self.facts.note_rows(_rows_files(value.get("jobs")), self.base, self.real_base)
        before = len(self.problems)
        expansion = expand_matrices(
            value, root, self.name, self.base, self.real_base, self.problems, doc.text
        )
        value, root = expansion.value, expansion.root
        expanded = len(self.problems)  # problems after this are about the expanded jobs
        invalid = self.check_schema(value, root)
        jobs = value.get("jobs")
        jobs = jobs if isinstance(jobs, list) else []
        self.problems.extend(id_problems(jobs, root, expansion.origin, self.name))
        raw_defaults = value.get("defaults")
        defaults: dict[str, Any] = raw_defaults if isinstance(raw_defaults, dict) else {}
        resolved_defaults = self.check_inputs(defaults, ("defaults",), root, invalid)
        self.check_url(defaults.get("webhook"), ("defaults", "webhook"), root, invalid)
        job_inputs = []
        for index, job in enumerate(jobs):
            if isinstance(job, dict):
                job_inputs.append(self.check_inputs(job, ("jobs", index), root, invalid))
                self.check_url(job.get("webhook"), ("jobs", index, "webhook"), root, invalid)
        store = None
        if "store" in value and not any(path[:1] == ("store",) for path in invalid):
            store, problem = read_store(value["store"], root, self.name, self.real_base)
            if problem is not None:
                self.problems.append(problem)
        output_dir = self.output_override
        if output_dir is None:
            output_dir, problem = manifest_output_dir(
                value, root, invalid, self.name, self.base, self.real_base
            )
            if problem is not None:
                self.problems.append(problem)
        moved: tuple[Moved, ...] = ()
        if "moved" in value and not any(path[:1] == ("moved",) for path in invalid):
            # A matrix with a problem made no job: its ids are unknown, not missing.
            moved, problems = read_moved(value["moved"], root, self.name, jobs, expanded == before)
            self.problems.extend(problems)
        if self.problems:
            self.problems[expanded:] = expansion.relabel(self.problems[expanded:])
            raise self.fail()
        builder = JobBuilder(self.path, self.name)
        manifest = builder.manifest(
            value, root, defaults, resolved_defaults, job_inputs, output_dir, expansion
        )
        self.facts.hashed.update(builder.hashed)
        self.facts.locals.update(
            (raw, (relative, absolute))
            for raw, (relative, absolute) in self.local_cache.items()
            if relative is not None and absolute is not None
        )
        manifest = replace(manifest, moved=moved) if moved else manifest
        if "budget" in value:  # the schema checked it: a whole number >= 0
            mark = mark_of(node_at(root, ["budget"]))
            manifest = replace(manifest, budget=int(value["budget"]), budget_mark=mark)
        return manifest if store is None else replace(manifest, store=store)

    def check_schema(self, value: dict[str, Any], root: Any) -> set[tuple[str | int, ...]]:
        """Schema problems; returns the data paths they concern, to skip further checks."""
        fast = fast_check()
        if fast is not None and fast(value):
            return set()
        validator = full_validator()
        jobs = value.get("jobs")
        picked: list[int] = []
        subject = value
        if fast is not None and isinstance(jobs, list) and jobs:
            # Only the failing jobs go through jsonschema (~150 us a job). Sound because the
            # schema constrains jobs one by one (a test pins the jobs array's keywords).
            head = {k: v for k, v in value.items() if k != "jobs"}
            picked = [i for i, job in enumerate(jobs) if not fast({**head, "jobs": [job]})] or [0]
            subject = {**head, "jobs": [jobs[i] for i in picked]}
        errors = []
        for error in validator.iter_errors(subject):
            error_path = list(error.absolute_path)
            if picked and len(error_path) > 1 and error_path[0] == "jobs":
                error_path[1] = picked[error_path[1]]
            errors.append((tuple(error_path), error))
        problems = schema_problems(errors, value, root, self.name, kind_fields(), MODEL_BY_KIND)
        self.problems.extend(problems)
        return {path for path, _ in errors}

    def check_inputs(
        self,
        fields: Mapping[str, Any],
        prefix: tuple[str | int, ...],
        root: Any,
        invalid: set[tuple[str | int, ...]],
    ) -> dict[str, tuple[str, str | None]]:
        """Check URL or local-file inputs; returns field -> (form value, absolute path)."""
        resolved: dict[str, tuple[str, str | None]] = {}
        for field in INPUT_FIELD_SET.intersection(fields):
            raw, path = fields[field], (*prefix, field)
            if not isinstance(raw, str) or path in invalid:
                continue
            if raw.startswith(("https://", "http://")):
                if self.check_url(raw, path, root, invalid):
                    resolved[field] = (raw, None)
                continue
            relative, absolute_or_error = self.local(raw)
            if relative is None:
                self.problem_at(node_at(root, path), path, str(absolute_or_error))
            else:
                resolved[field] = (relative, absolute_or_error)
        return resolved

    def check_url(
        self, url: Any, path: tuple[str | int, ...], root: Any, invalid: set[tuple[str | int, ...]]
    ) -> bool:
        if not isinstance(url, str) or path in invalid or _PLAIN_URL.match(url):
            return True
        try:
            parts = urlsplit(url)
            ok = bool(parts.hostname)
            _ = parts.port  # raises ValueError on a port out of range or not a number
        except ValueError:
            ok = False
        if not ok:
            self.problem_at(
                node_at(root, path),
                path,
                f"not a valid URL: {url!r} (a host is needed, and a port must be "
                "a number up to 65535)",
            )
        return ok

    def local(self, raw: str) -> tuple[str | None, str | None]:
        """(normalized relative path, absolute path) or (None, message). Cached per text."""
        cached = self.local_cache.get(raw)
        if cached is None:
            cached = self.local_cache[raw] = self._local(raw)
        return cached

    def _local(self, raw: str) -> tuple[str | None, str | None]:
        found = inside(
            raw,
            self.base,
            self.real_base,
            "local inputs must stay inside it (it is what --local serves)",
        )
        return (None, found) if isinstance(found, str) else found
