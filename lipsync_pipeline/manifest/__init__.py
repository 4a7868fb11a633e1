"""The manifest: strict YAML in, validated jobs (exact API requests with fingerprints) out.

Private modules: ``_reader`` (load, semantic checks, Job values), ``_yaml`` (the
strict YAML reader), ``_schemacheck`` (a fast valid/invalid check compiled from the
schema), ``_problems`` (schema errors worded as located Problems).
"""

from __future__ import annotations

from lipsync_pipeline.manifest._reader import (
    DEFAULT_OUTPUT_DIR,
    INPUT_FIELDS,
    MANIFEST_VERSION,
    MODEL_BY_KIND,
    OUTPUT_SUFFIX,
    Job,
    Kind,
    Manifest,
    canonical_request,
    derive_seed,
    kind_fields,
    load_manifest,
    manifest_schema,
    parse_manifest,
)

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "INPUT_FIELDS",
    "MANIFEST_VERSION",
    "MODEL_BY_KIND",
    "OUTPUT_SUFFIX",
    "Job",
    "Kind",
    "Manifest",
    "canonical_request",
    "derive_seed",
    "kind_fields",
    "load_manifest",
    "manifest_schema",
    "parse_manifest",
]
