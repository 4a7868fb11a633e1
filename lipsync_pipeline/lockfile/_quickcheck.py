"""A plain-Python test that is True only for lock data the schema accepts.

jsonschema costs ~0.1 ms per entry (1 s at 10,000 jobs, more per journal line), so
valid data takes this path and jsonschema runs only to word the errors. Patterns and
bounds are read from the schema itself (``schemas/lock.schema.json``), and a property
test checks that this never accepts what the schema rejects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lipsync_pipeline._ecma import ecma_regex
from lipsync_pipeline.lockfile._entries import STATUSES
from lipsync_pipeline.lockfile._inputs import inputs_checker

__all__ = ["Fields", "LockCheck", "entry_fields"]

_JOB_ID_MAX: Final = 200  # as schemas/lock.schema.json's $defs/jobId

# An entry's values in LockEntry's order after its job id, None where absent, as JSON
# has them (``artifact`` and ``inputs`` still dicts).
Fields = tuple[Any, ...]


def entry_fields(e: Mapping[str, Any]) -> Fields:
    """The values of an entry that has the required keys (nothing else is checked)."""
    get = e.get
    return (
        e["fingerprint"],
        e["model"],
        e["status"],
        e["idempotency_key"],
        get("seed"),
        get("request_id"),
        get("output_url"),
        get("error"),
        get("execution_time_ms"),
        get("artifact"),
        get("inputs"),
    )


def _is_int(v: object) -> bool:
    return type(v) is int  # JSON integers; bool is a subclass, and not one


class LockCheck:
    """The quick checks of one schema: an entry, a job id, a lock's head, a journal line."""

    def __init__(self, schema: Mapping[str, Any], version: int) -> None:
        defs = schema["$defs"]
        props = defs["entry"]["properties"]
        art = defs["artifact"]["properties"]
        self._version = version
        self._entry_keys = frozenset(props)
        self._required = frozenset(defs["entry"]["required"])
        self._art_keys = frozenset(art)
        self._art_required = frozenset(defs["artifact"]["required"])
        self._store_key = ecma_regex(art["store_key"]["pattern"]).search
        self._fingerprint = ecma_regex(props["fingerprint"]["pattern"]).search
        self._sha = ecma_regex(art["sha256"]["pattern"]).search
        self._rel_path = ecma_regex(art["path"]["pattern"]).search
        self._key_max = props["idempotency_key"]["maxLength"]
        self._job_id = ecma_regex(defs["jobId"]["pattern"]).search
        self._inputs = inputs_checker(defs)

    def job_id(self, job_id: object) -> bool:
        return (
            isinstance(job_id, str)
            and len(job_id) <= _JOB_ID_MAX
            and self._job_id(job_id) is not None
        )

    def entry(self, e: Any) -> bool:
        return self.checked_fields(e) is not None

    def checked_fields(self, e: Any) -> Fields | None:
        """``entry_fields(e)`` if the schema accepts ``e`` as an entry, else None: each
        value is fetched once, for the check and for whoever packs it (``_onepass``)."""
        if not (isinstance(e, dict) and self._required <= e.keys() <= self._entry_keys):
            return None
        fields = entry_fields(e)
        fingerprint, model, status, key, seed, request_id, url, error, ms, a, inputs = fields
        # `type(v) is str`, not isinstance: as strict for what JSON makes (no subclass), and
        # cheaper, 50,000 times over; `type(v) is int` also refuses bool, as JSON Schema does.
        ok = (
            type(fingerprint) is str
            and self._fingerprint(fingerprint) is not None
            and type(model) is str
            and model != ""
            and type(status) is str
            and status in STATUSES
            and type(key) is str
            and 0 < len(key) <= self._key_max
            and (seed is None or type(seed) is int)
            and (request_id is None or (type(request_id) is str and request_id != ""))
            and (url is None or type(url) is str)
            and (error is None or type(error) is str)
            and (ms is None or (type(ms) is int and ms >= 0))
            and (a is None or self._artifact(a))
            and (inputs is None or self._inputs(inputs))
        )
        return fields if ok else None

    def _artifact(self, a: Any) -> bool:
        if not (isinstance(a, dict) and self._art_required <= a.keys() <= self._art_keys):
            return False
        path, sha, size = a["path"], a["sha256"], a["bytes"]
        store_key = a.get("store_key")
        return (
            type(path) is str
            and self._rel_path(path) is not None
            and type(sha) is str
            and self._sha(sha) is not None
            and type(size) is int
            and size >= 0
            and (
                "store_key" not in a
                or (type(store_key) is str and self._store_key(store_key) is not None)
            )
        )

    def artifact_names(self, path: object, store_key: object) -> bool:
        """An artifact's path and store key (None: none) are what the schema allows:
        the names a run reads, replaces and deletes files by."""
        if type(path) is not str or self._rel_path(path) is None:
            return False
        return store_key is None or (
            type(store_key) is str and self._store_key(store_key) is not None
        )

    def lock_head(self, value: Any) -> bool:
        """A whole lock but its entries: ``jobs`` is then a dict, each of whose items
        must pass ``job_id`` and ``entry`` (checked as they are read: ``_format``)."""
        return (
            isinstance(value, dict)
            and value.keys() == {"version", "jobs"}
            and _is_int(value["version"])
            and value["version"] == self._version
            and isinstance(value["jobs"], dict)
        )

    def record(self, value: Any) -> bool:
        """A journal line: ``{"put": {id: entry, ...}}`` or ``{"drop": [id, ...]}``."""
        if not isinstance(value, dict) or len(value) != 1:
            return False
        if "put" in value:
            put = value["put"]
            return isinstance(put, dict) and all(
                self.job_id(k) and self.entry(e) for k, e in put.items()
            )
        drop = value.get("drop")
        return isinstance(drop, list) and all(self.job_id(k) for k in drop)
