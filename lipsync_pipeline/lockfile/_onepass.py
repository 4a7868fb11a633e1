"""A lockfile's text to its entries in one pass, when the schema accepts it.

``json.loads`` calls its ``object_pairs_hook`` on each object as the object closes,
innermost first. Here the hook checks an entry (``LockCheck``) and packs its fields
into a tuple as soon as the entry is read: a 50,000-entry lock never holds 50,000
entry dicts at once (~30 MB at the command's peak), and each entry is looked at once.

Anything unexpected (a duplicate key, an entry the check refuses, a shape that is not
a lock) makes :func:`entries_in_one_pass` answer None, and the caller reads the text
the slow way, which finds, words and locates every problem. So this path only ever
accepts what that one accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from lipsync_pipeline.lockfile._entries import STATUSES, LockEntry, new_artifact, new_entry
from lipsync_pipeline.lockfile._inputs import inputs_from_json
from lipsync_pipeline.lockfile._quickcheck import Fields, LockCheck, entry_fields

__all__ = ["entries_in_one_pass", "packed"]

# Shared, not one copy per entry: 50,000 entries spell a handful of statuses and models.
_STATUS: Final = {status: status for status in STATUSES}

# An entry's fields after its job id, in LockEntry's order. A plain tuple: JSON makes
# none (arrays are lists), so in a parsed document it can only be a packed entry.
Packed = tuple[Any, ...]


def packed(data: Mapping[str, Any], models: dict[str, str]) -> Packed:
    """An entry's fields (all but its job id) from data the schema accepted;
    ``models`` shares equal model names."""
    return _packed(entry_fields(data), models)


def _packed(fields: Fields, models: dict[str, str]) -> Packed:
    fingerprint, model, status, key, seed, request_id, url, error, ms, art, inputs = fields
    return (
        fingerprint,
        models.setdefault(model, model),
        _STATUS[status],
        key,
        seed,
        request_id,
        url,
        error,
        ms,
        None
        if art is None
        else new_artifact(art["path"], art["sha256"], art["bytes"], art.get("store_key")),
        () if inputs is None else inputs_from_json(inputs),
    )


class _Refused(Exception):
    """Not for the one pass: the slow path says why."""


def entries_in_one_pass(text: str, check: LockCheck) -> dict[str, LockEntry] | None:
    """The entries of a lockfile's text, or None if anything in it is not plainly valid."""
    models: dict[str, str] = {}
    checked = check.checked_fields

    def hook(pairs: list[tuple[str, Any]]) -> Any:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            raise _Refused  # a duplicate key: json.loads would keep the last silently
        # Only an entry has a text "fingerprint" (a job of that name maps to a tuple).
        if type(obj.get("fingerprint")) is not str:
            return obj
        fields = checked(obj)
        if fields is None:
            raise _Refused
        return _packed(fields, models)

    try:
        value = json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError, _Refused):
        return None
    if not check.lock_head(value):
        return None
    job_id_ok = check.job_id
    out = {}
    for job_id, fields in value["jobs"].items():
        if type(fields) is not tuple or not job_id_ok(job_id):
            return None
        out[job_id] = new_entry(job_id, fields)
    return out
