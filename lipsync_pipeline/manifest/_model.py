"""The manifest as values: a Job is the exact API request it becomes, with where it
was written; a Manifest is every job with defaults applied."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
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
    "canonical_request",
    "derive_seed",
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

    def output_path(self, job_id: str) -> Path:
        """Where job ``job_id``'s render lands: named by the id, so a rename renders anew."""
        return self.output_dir / f"{job_id}{OUTPUT_SUFFIX}"


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
