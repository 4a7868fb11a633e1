"""What a URL input was when its job was submitted: ``InputVersion``, its JSON and its check.

A lock entry may carry ``inputs``: per formState field whose value is a URL, the
validators the origin gave for it (ETag, Last-Modified), its size, and its sha256 when
the bytes were read anyway. The URL itself is not recorded (the manifest has it, and
the fingerprint covers it; a presigned URL would leak its signature into the lock).
``plan`` compares what the origin says now with this record to notice a file replaced
at the same URL (issue 13).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lipsync_pipeline._ecma import ecma_regex

__all__ = ["InputVersion", "inputs_checker", "inputs_from_json", "inputs_json"]

# (field, version) pairs sorted by field: a tuple keeps LockEntry hashable and equal
# entries equal whatever order the versions were found in.
Inputs = tuple[tuple[str, "InputVersion"], ...]


@dataclass(frozen=True, slots=True)
class InputVersion:
    """What an origin said about a URL input: any of its validators, size and digest.

    Two versions are *different* when a validator both know disagrees (the ETag first:
    it is the origin's own word for "these bytes"), and the *same* when one agrees;
    with nothing in common they cannot be compared (:meth:`compare` says None)."""

    etag: str | None = None
    last_modified: str | None = None
    bytes: int | None = None
    sha256: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bytes": self.bytes,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "sha256": self.sha256,
        }
        return {k: v for k, v in data.items() if v is not None}

    @property
    def empty(self) -> bool:
        return self.as_json() == {}

    def compare(self, now: InputVersion) -> bool | None:
        """True if ``now`` is the same version, False if it differs, None if unknowable."""
        if self.etag is not None and now.etag is not None:
            return self.etag == now.etag
        if self.sha256 is not None and now.sha256 is not None:
            return self.sha256 == now.sha256
        pairs = [
            (mine, theirs)
            for mine, theirs in (
                (self.last_modified, now.last_modified),
                (self.bytes, now.bytes),
            )
            if mine is not None and theirs is not None
        ]
        if not pairs:
            return None
        return all(mine == theirs for mine, theirs in pairs)


def inputs_json(inputs: Inputs) -> dict[str, Any]:
    return {name: version.as_json() for name, version in sorted(inputs)}


def inputs_from_json(data: Mapping[str, Any] | None) -> Inputs:
    """From data the schema already accepted (absent: no record)."""
    if not data:
        return ()
    return tuple(
        (
            name,
            InputVersion(
                etag=value.get("etag"),
                last_modified=value.get("last_modified"),
                bytes=value.get("bytes"),
                sha256=value.get("sha256"),
            ),
        )
        for name, value in sorted(data.items())
    )


def inputs_checker(defs: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A plain-Python test of an entry's ``inputs`` (absent is fine), compiled from the
    lock schema's ``$defs`` so that it never accepts what the schema rejects."""
    fields = frozenset(defs["entry"]["properties"]["inputs"]["propertyNames"]["enum"])
    props = defs["inputVersion"]["properties"]
    keys = frozenset(props)
    sha = ecma_regex(props["sha256"]["pattern"])
    text_max = {name: props[name]["maxLength"] for name in ("etag", "last_modified")}

    def text_ok(v: dict[str, Any], name: str) -> bool:
        if name not in v:
            return True  # absent is fine; null is not
        value = v[name]
        return isinstance(value, str) and 0 < len(value) <= text_max[name]

    def version_ok(v: Any) -> bool:
        if not (isinstance(v, dict) and v and v.keys() <= keys):
            return False
        size = v.get("bytes", 0)
        digest = v.get("sha256", "0" * 64)
        return (
            text_ok(v, "etag")
            and text_ok(v, "last_modified")
            and type(size) is int
            and size >= 0
            and isinstance(digest, str)
            and sha.search(digest) is not None
        )

    def ok(inputs: Any) -> bool:
        if inputs is None:
            return True
        return (
            isinstance(inputs, dict)
            and bool(inputs)
            and inputs.keys() <= fields
            and all(version_ok(v) for v in inputs.values())
        )

    return ok
