"""The manifest: strict YAML in, validated jobs (exact API requests with fingerprints) out.

Private modules: ``_model`` (Job and Manifest values, fingerprints), ``_reader`` (load
and semantic checks), ``_schema`` (the JSON Schema and what derives from it), ``_yaml``
(the strict YAML reader), ``_walker`` (libyaml's events to values and locations;
anchors, aliases, bounds), ``_merge`` (merge keys), ``_scalars`` (YAML 1.1 scalar
types), ``_nodes`` (the location tree, finding and describing values), ``_output_dir``
(where renders go: inside the manifest's tree), ``_schemacheck`` (a fast valid/invalid
check compiled from the schema), ``_problems`` (schema errors worded as located
Problems), ``_store`` (the ``store:`` key), ``_moved`` (the ``moved:`` list of renames
and its checks), ``_inside`` (named files stay inside the manifest's tree), ``_cache``
(validated manifests kept between invocations), ``_cachefacts`` (what a reading depended
on besides the bytes, checked again before an entry is used) and ``_cachecodec`` (a
Manifest as JSON data and back). Matrix entries (``matrix:``): ``_expand`` (into plain
jobs, before the schema), ``_matrix`` (combinations), ``_combos`` (their values),
``_selectors`` (include and exclude), ``_template`` ({axis} placeholders), ``_rows`` (a
CSV file's rows), all imported only for a manifest that has a matrix; ``_expansion``
(the expanded document, where each job was written), ``_jobbuilder`` (Job values from a
checked manifest, repeated values shared), ``_ids`` (unique ids, both places named).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.manifest._model import (
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
        reseeded,
    )
    from lipsync_pipeline.manifest._moved import Moved
    from lipsync_pipeline.manifest._reader import load_manifest, parse_manifest
    from lipsync_pipeline.manifest._schema import kind_fields, manifest_schema

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "INPUT_FIELDS",
    "MANIFEST_VERSION",
    "MODEL_BY_KIND",
    "OUTPUT_SUFFIX",
    "Job",
    "Kind",
    "Manifest",
    "Moved",
    "canonical_request",
    "derive_seed",
    "kind_fields",
    "load_manifest",
    "manifest_schema",
    "parse_manifest",
    "reseeded",
]

# Imported on first use (see lipsync_pipeline/_lazy.py); type checkers read the imports above.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_model": (
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
                "reseeded",
            ),
            "_moved": ("Moved",),
            "_reader": ("load_manifest", "parse_manifest"),
            "_schema": ("kind_fields", "manifest_schema"),
        },
    )
