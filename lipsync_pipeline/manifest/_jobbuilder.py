"""Job values from a manifest that passed every check: defaults merged, seeds derived,
local inputs hashed, fingerprints computed, and repeated strings, paths and maps
shared among the jobs (one object each, not one per job: memory at 50,000 jobs)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lipsync_pipeline._fs import Identity, stat_identity
from lipsync_pipeline.manifest._expansion import Expansion, Origin
from lipsync_pipeline.manifest._model import (
    INPUT_FIELD_SET,
    MANIFEST_VERSION,
    MODEL_BY_KIND,
    Job,
    Manifest,
    Marks,
    derive_seed,
    fingerprint_of,
)
from lipsync_pipeline.manifest._nodes import SeqLoc, item_marks, node_at, value_marks
from lipsync_pipeline.manifest._schema import default_resolution, kind_fields

__all__ = ["JobBuilder"]


class JobBuilder:
    """Builds one manifest's jobs; caches digests and shares repeated values."""

    def __init__(self, path: Path, display_name: str) -> None:
        self.path = path
        self.name = display_name
        self.digests: dict[str, str] = {}
        self.hashed: dict[str, Identity] = {}  # each hashed file's stat as it was hashed
        self.shared: dict[Any, Any] = {}
        self.maps: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
        self.paths: dict[str, Path] = {}

    def digest(self, absolute: str) -> str:
        """``local-sha256:<hex>`` of the file: what a fingerprint hashes in its place."""
        # Once per file per load: 10,000 jobs sharing one voice hash it once (and share
        # the one string).
        found = self.digests.get(absolute)
        if found is None:
            with open(absolute, "rb") as handle:
                # What the file was as it was hashed, for the manifest cache (_cache).
                self.hashed[absolute] = stat_identity(os.fstat(handle.fileno()))
                hexdigest = hashlib.file_digest(handle, "sha256").hexdigest()
            found = self.digests[absolute] = "local-sha256:" + hexdigest
        return found

    def manifest(
        self,
        value: dict[str, Any],
        root: Any,
        defaults: Mapping[str, Any],
        resolved_defaults: Mapping[str, tuple[str, str | None]],
        job_inputs: list[Any],
        output_dir: Path,
        expansion: Expansion,
    ) -> Manifest:
        defaults_marks = value_marks(node_at(root, ["defaults"])) if defaults else {}
        located = node_at(root, ["jobs"])
        places: list[Any] = item_marks(located)
        # Each job's parsed mapping and locations are let go as soon as its Job is
        # built (nothing reads them after this), so the document and the jobs are
        # never both whole in memory: ~60 MB of a 50,000-job manifest's peak.
        raws: list[Any] = value["jobs"]
        locs: list[Any] = located.loc.items if type(located.loc) is SeqLoc else []
        jobs = []
        for index, raw in enumerate(raws):
            jobs.append(
                self.job(
                    raw,
                    places[index],
                    defaults,
                    defaults_marks,
                    {**resolved_defaults, **job_inputs[index]},
                    expansion.origin(index),
                )
            )
            raws[index] = places[index] = job_inputs[index] = None
            if index < len(locs):
                locs[index] = None
        concurrency = value.get("concurrency")
        return Manifest(
            self.path,
            self.name,
            MANIFEST_VERSION,
            None if concurrency is None else int(concurrency),
            output_dir,
            tuple(jobs),
        )

    def job(
        self,
        raw: Mapping[str, Any],
        place: tuple[tuple[int, int], dict[str, tuple[int, int]]],
        defaults: Mapping[str, Any],
        defaults_marks: Mapping[str, tuple[int, int]],
        inputs: Mapping[str, tuple[str, str | None]],
        origin: Origin,
    ) -> Job:
        kind, job_id = self.share(raw["kind"]), raw["id"]
        start, own_marks = place
        form: dict[str, Any] = {}
        marks: dict[str, tuple[int, int]] = {
            k: own_marks[k] for k in ("id", "kind", "webhook") if k in own_marks
        }
        for field in kind_fields()[kind]:
            if field in raw or field in defaults:
                form[field] = self.share(raw[field]) if field in raw else defaults[field]
                marks[field] = own_marks[field] if field in raw else defaults_marks[field]
        if "webhook" not in marks and "webhook" in defaults:
            marks["webhook"] = defaults_marks["webhook"]
        form.setdefault("resolution", default_resolution())
        seed_derived = "seed" not in form
        # The schema accepts 7.0 as an integer; the API and the fingerprint get 7.
        form["seed"] = derive_seed(job_id) if seed_derived else int(form["seed"])
        local_inputs: dict[str, Path] = {}
        digests: dict[str, str] = {}
        for field in form.keys() & INPUT_FIELD_SET:
            relative, absolute = inputs[field]
            form[field] = relative
            if absolute is not None:
                local_inputs[field] = self.paths.get(absolute) or self.paths.setdefault(
                    absolute, Path(absolute)
                )
                digests[field] = self.digest(absolute)
        model = MODEL_BY_KIND[kind]
        fingerprint = fingerprint_of(model, {**form, **digests})
        webhook = raw.get("webhook", defaults.get("webhook"))
        return Job(
            job_id,
            kind,
            model,
            form,
            webhook,
            self.share_map(local_inputs),
            fingerprint,
            *start,
            Marks.of(marks, self.shared),
            seed_derived,
            self.share_map(digests),
            origin.template,
            origin.where,
        )

    def share(self, value: Any) -> Any:
        return self.shared.setdefault(value, value) if type(value) is str else value

    def share_map(self, mapping: dict[str, Any]) -> dict[str, Any]:
        """One dict for all the jobs whose ``mapping`` is the same, in the same order
        (every job that reads one voice file: ~0.4 kB a job). Never changed once built:
        a Job's mappings are only read."""
        return self.maps.setdefault(tuple(mapping.items()), mapping)
