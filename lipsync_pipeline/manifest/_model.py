"""The manifest as values: a Job is the exact API request it becomes, with where it
was written; a Manifest is every job with defaults applied."""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from lipsync_pipeline.manifest._moved import Moved
    from lipsync_pipeline.store import StoreConfig

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "INPUT_FIELDS",
    "INPUT_FIELD_SET",
    "MANIFEST_VERSION",
    "MODEL_BY_KIND",
    "OUTPUT_SUFFIX",
    "Job",
    "Kind",
    "Manifest",
    "Marks",
    "canonical_request",
    "derive_seed",
    "fingerprint_of",
    "reseeded",
]

Kind = Literal["avatar", "dialog", "video"]
MODEL_BY_KIND: Final[Mapping[str, str]] = {
    "avatar": "lipsync-image",
    "dialog": "lipsync-image-multi",
    "video": "lipsync-video",
}
MANIFEST_VERSION: Final = 1
DEFAULT_OUTPUT_DIR: Final = "renders"
OUTPUT_SUFFIX: Final = ".mp4"  # every model's output is an MP4
_SEED_MASK: Final = 0x7FFF_FFFF  # 31 bits: a seed any API's signed 32-bit field accepts
# Fields whose value is an input (URL or local path), in the order people read them.
INPUT_FIELDS: Final = ("image", "video", "audio", "left_audio", "right_audio", "mask_image")
INPUT_FIELD_SET: Final = frozenset(INPUT_FIELDS)


class Marks(Mapping[str, tuple[int, int]]):
    """Where each of a job's fields was written: field -> (line, column), 1-based.

    Read only to locate a message, and kept for every job: as a dict of tuples it was
    the largest part of a job (~0.8 kB, 40 MB at 50,000 jobs). Here the field names
    are a tuple shared by the jobs that spell the same fields, the positions one
    array of unsigned ints."""

    __slots__ = ("_names", "_positions")

    def __init__(self, names: tuple[str, ...], positions: array[int]) -> None:
        self._names = names
        self._positions = positions

    @classmethod
    def of(
        cls, marks: Mapping[str, tuple[int, int]], names: dict[tuple[str, ...], tuple[str, ...]]
    ) -> Marks:
        """``marks`` compacted; ``names`` shares equal name tuples across jobs."""
        key = tuple(marks)
        return cls(
            names.setdefault(key, key), array("I", [n for mark in marks.values() for n in mark])
        )

    def __getitem__(self, name: str) -> tuple[int, int]:
        try:
            i = 2 * self._names.index(name)
        except ValueError:
            raise KeyError(name) from None
        return self._positions[i], self._positions[i + 1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Marks({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class Job:
    """One render job, resolved to the exact API request it becomes."""

    id: str
    kind: Kind
    model: str
    form_state: Mapping[str, Any]
    webhook: str | None
    local_inputs: Mapping[str, Path]
    fingerprint: str
    line: int
    column: int
    marks: Mapping[str, tuple[int, int]]
    seed_derived: bool
    # formState field -> "local-sha256:<hex>": what the fingerprint hashes in place of
    # each local input, kept so that ``reseeded`` can recompute it for another seed.
    hashed_inputs: Mapping[str, str] = field(default_factory=dict)
    # The id template of the matrix entry that made this job (None: written out).
    template: str | None = None
    # How messages name the entry: "jobs[2]", or "jobs[2] (lang=fr)" for a matrix's job.
    where: str = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest: every job with defaults applied."""

    path: Path
    display_name: str
    version: int
    concurrency: int | None
    output_dir: Path
    jobs: tuple[Job, ...]
    # The manifest's ``store:`` (or ``run --store``); None: renders live on disk only.
    store: StoreConfig | None = None
    # The manifest's ``moved:`` entries: renames that carry a lock entry (plan.py).
    moved: tuple[Moved, ...] = ()
    # ``budget:``, the spend cap in credits (see lipsync_pipeline.budget), and the
    # line and column of its value, for messages; None: no cap in the manifest.
    budget: int | None = None
    budget_mark: tuple[int, int] = (1, 1)

    def output_path(self, job_id: str) -> Path:
        """Where job ``job_id``'s render lands: named by the id, so a rename renders anew
        unless ``moved:`` lists it (then a run renames the file)."""
        return self.output_dir / self.output_name(job_id)

    @staticmethod
    def output_name(job_id: str) -> str:
        """The file name of job ``job_id``'s render in ``output_dir``."""
        return job_id + OUTPUT_SUFFIX


def derive_seed(job_id: str) -> int:
    """The seed of a job that sets none: stable, and different per id."""
    return int.from_bytes(hashlib.sha256(job_id.encode("utf-8")).digest()[:4], "big") & _SEED_MASK


# One encoder for every fingerprint: json.dumps with options builds a new one per call.
_CANONICAL: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_request(model: str, form_state: Mapping[str, Any]) -> bytes:
    """The bytes a fingerprint hashes: sorted keys, no spaces, UTF-8, no NaN."""
    return _CANONICAL.encode({"model": model, "formState": form_state}).encode("utf-8")


def fingerprint_of(model: str, hashed_form: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical request; local inputs already replaced by
    their ``local-sha256:`` digests."""
    return "sha256:" + hashlib.sha256(canonical_request(model, hashed_form)).hexdigest()


def reseeded(job: Job, seed: int) -> Job:
    """``job`` rendering with ``seed``: the same request otherwise, fingerprint recomputed
    exactly as the reader computes it (for a job whose lock entry recorded another seed)."""
    form = {**job.form_state, "seed": seed}
    return replace(
        job, form_state=form, fingerprint=fingerprint_of(job.model, {**form, **job.hashed_inputs})
    )
