"""A validated Manifest as plain JSON data and back, for the manifest cache (``_cache``).

The data is what the reader built, field for field, so that a manifest read from the
cache is equal to one read from its YAML. Repeated values are written once and shared
again on the way back (the field names of a job's marks, the maps of local inputs and
their digests, short strings), as the reader shares them: the memory of 50,000 jobs.

Decoding trusts the shape no more than any file it did not write this instant: a value
of the wrong type raises ValueError (TypeError, KeyError and IndexError are turned
into it), and the caller then reads the YAML as if nothing was cached.
"""

from __future__ import annotations

from array import array
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from lipsync_pipeline.manifest._model import MODEL_BY_KIND, Job, Kind, Manifest, Marks
from lipsync_pipeline.manifest._moved import Moved

if TYPE_CHECKING:
    from lipsync_pipeline.store import StoreConfig

__all__ = ["decode_manifest", "encode_manifest"]

_SHARED_UP_TO: Final = 16
"""Strings this short (kinds, resolutions, orders, paths of shared assets) repeat from
job to job: each distinct one is kept once, as the reader keeps them."""


def encode_manifest(manifest: Manifest) -> dict[str, Any]:
    """``manifest`` as JSON-ready data, but its path and display name (the caller's)."""
    names: dict[tuple[str, ...], int] = {}
    maps: dict[tuple[tuple[str, str], ...], int] = {}

    def map_index(mapping: Any) -> int:
        key = tuple((k, str(v)) for k, v in mapping.items())
        return maps.setdefault(key, len(maps))

    jobs = []
    for job in manifest.jobs:
        marks = job.marks
        if not isinstance(marks, Marks):
            marks = Marks.of(marks, {})
        jobs.append(
            [
                job.id,
                job.kind,
                job.form_state,
                job.webhook,
                map_index(job.local_inputs),
                job.fingerprint,
                job.line,
                job.column,
                names.setdefault(tuple(marks), len(names)),
                [n for field in marks for n in marks[field]],
                job.seed_derived,
                map_index(job.hashed_inputs),
                job.template,
                job.where,
            ]
        )
    return {
        "version": manifest.version,
        "concurrency": manifest.concurrency,
        "output_dir": str(manifest.output_dir),
        "budget": manifest.budget,
        "budget_mark": list(manifest.budget_mark),
        "moved": [[m.from_id, m.to_id, m.index, m.line, m.column] for m in manifest.moved],
        "store": None if manifest.store is None else _encode_store(manifest.store),
        "names": [list(n) for n in names],
        "maps": [dict(m) for m in maps],
        "jobs": jobs,
    }


def decode_manifest(data: Any, path: Path, display_name: str) -> Manifest:
    """The Manifest ``encode_manifest`` made ``data`` from. Raises ValueError."""
    try:
        return _decode(data, path, display_name)
    except (TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"not a cached manifest: {exc!r}") from None


def _decode(data: dict[str, Any], path: Path, display_name: str) -> Manifest:
    shared: dict[str, str] = {}
    names = [tuple(_texts(n, shared)) for n in data["names"]]
    paths: dict[str, Path] = {}
    maps: list[dict[str, str]] = [_text_map(m, shared) for m in data["maps"]]
    as_paths: dict[int, dict[str, Path]] = {}

    def local_inputs(index: int) -> dict[str, Path]:
        found = as_paths.get(index)
        if found is None:
            found = as_paths[index] = {
                k: paths.get(v) or paths.setdefault(v, Path(v)) for k, v in maps[index].items()
            }
        return found

    jobs = []
    for row in data["jobs"]:
        (
            job_id,
            kind,
            form,
            webhook,
            inputs,
            fingerprint,
            line,
            column,
            name_index,
            positions,
            seed_derived,
            hashed,
            template,
            where,
        ) = row
        if not isinstance(form, dict) or not isinstance(job_id, str):
            raise TypeError("a job's id or request")
        model = MODEL_BY_KIND[kind]  # KeyError for anything but a kind
        for key, value in form.items():
            if type(value) is str and len(value) <= _SHARED_UP_TO:
                form[key] = shared.setdefault(value, value)
        jobs.append(
            Job(
                job_id,
                cast(Kind, shared.setdefault(kind, kind)),
                model,
                form,
                _optional_text(webhook),
                local_inputs(inputs),
                _text(fingerprint),
                _int(line),
                _int(column),
                Marks(names[name_index], array("I", positions)),
                bool(seed_derived),
                maps[hashed],
                _optional_text(template),
                _text(where),
            )
        )
    concurrency, budget = data["concurrency"], data["budget"]
    line, column = data["budget_mark"]
    return Manifest(
        path,
        display_name,
        _int(data["version"]),
        None if concurrency is None else _int(concurrency),
        Path(_text(data["output_dir"])),
        tuple(jobs),
        store=None if data["store"] is None else _decode_store(data["store"]),
        moved=tuple(
            Moved(_text(f), _text(t), _int(i), _int(ln), _int(col))
            for f, t, i, ln, col in data["moved"]
        ),
        budget=None if budget is None else _int(budget),
        budget_mark=(_int(line), _int(column)),
    )


def _encode_store(store: StoreConfig) -> dict[str, Any]:
    return {
        "url": store.url,
        "scheme": store.scheme,
        "bucket": store.bucket,
        "prefix": store.prefix,
        "url_ttl": store.url_ttl.total_seconds(),
        "public_base_url": store.public_base_url,
    }


def _decode_store(data: dict[str, Any]) -> StoreConfig:
    from lipsync_pipeline.store import StoreConfig

    ttl = data["url_ttl"]
    if type(ttl) not in (int, float):
        raise TypeError("store.url_ttl")
    return StoreConfig(
        _text(data["url"]),
        data["scheme"] if data["scheme"] in ("s3", "gs", "az", "file") else _bad("scheme"),
        _text(data["bucket"]),
        _text(data["prefix"]),
        timedelta(seconds=ttl),
        _optional_text(data["public_base_url"]),
    )


def _texts(values: Any, shared: dict[str, str]) -> list[str]:
    return [shared.setdefault(v, v) for v in map(_text, values)]


def _text_map(mapping: Any, shared: dict[str, str]) -> dict[str, str]:
    return {shared.setdefault(k, k): _text(v) for k, v in mapping.items()}


def _text(value: Any) -> str:
    return value if type(value) is str else _bad("a text")


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _int(value: Any) -> int:
    return value if type(value) is int else _bad("a number")


def _bad(what: str) -> Any:
    raise TypeError(f"expected {what}")
