"""What a reading of a manifest depended on besides its bytes, for the manifest cache
(``_cache``): recorded as the reader meets it, written into the entry, and checked
again before the entry is used.

Each fact is taken when the reader used it, never later: a file's ``stat`` just
before it was hashed (git records its index the same way), a ``rows:`` file's
``stat`` before the matrix read it. A file that changed between then and the entry's
writing makes the entry not written at all.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Final

# A file changed this close to when it was read may have changed unseen (its stat can
# be the same): the racy margin of lipsync_pipeline._digests.
from lipsync_pipeline._digests import RACY_NS
from lipsync_pipeline._fs import Identity, file_digest, stat_identity
from lipsync_pipeline._readcache import credential_like
from lipsync_pipeline.manifest._inside import inside
from lipsync_pipeline.manifest._model import Manifest

__all__ = [
    "RACY_NS",
    "Facts",
    "consistent",
    "could_be_secret",
    "hash_file",
    "still_true",
    "taken_by",
]

RULE: Final = "local inputs must stay inside it (it is what --local serves)"


@dataclass(frozen=True, slots=True)
class Facts:
    """Collected by one reading (the reader and its job builder fill the maps)."""

    # raw text of a local input -> (relative, resolved) as ``inside`` said
    locals: dict[str, tuple[str, str]] = field(default_factory=dict)
    # resolved path of each hashed input -> its stat just before it was hashed
    hashed: dict[str, Identity] = field(default_factory=dict)
    # raw text of each matrix ``rows:`` file -> its stat before the reading (None: no
    # such file then; the reading failed or did not need it)
    rows: dict[str, Identity | None] = field(default_factory=dict)

    def note_rows(self, raws: list[str], base: str, real_base: str) -> None:
        """Before the matrices are read: what each ``rows:`` file is now."""
        for raw in raws:
            found = inside(raw, base, real_base, RULE)
            try:
                seen = None if isinstance(found, str) else stat_identity(os.stat(found[1]))
            except OSError:
                seen = None
            self.rows[raw] = seen


def hash_file(path: str) -> str | None:
    """The sha256 of the file at ``path``, None if it cannot be read."""
    try:
        found = file_digest(path)
    except OSError:
        return None
    return None if found is None else found[0]


def taken_by(facts: Facts, base: str, real_base: str) -> dict[str, Any] | None:
    """The facts as an entry keeps them, or None if any file changed since the reading
    used it (or so recently that a change would not show): then nothing is cached."""
    now = time.time_ns()
    files = {}
    for path, seen in facts.hashed.items():
        try:
            if stat_identity(os.stat(path)) != seen:
                return None
        except OSError:
            return None
        files[path] = list(seen)
    rows = {}
    for raw, before in facts.rows.items():
        found = inside(raw, base, real_base, RULE)
        if before is None or isinstance(found, str):
            return None
        # Hashed now, not when the matrix read it: the same bytes only if the stat taken
        # after the hash says the file is untouched since before the reading (an edit
        # at any moment in between changes it), and it was settled then.
        digest = hash_file(found[1])
        try:
            after = stat_identity(os.stat(found[1]))
        except OSError:
            return None
        if after != before or before[2] + RACY_NS > now or digest is None:
            return None
        rows[raw] = digest
    return {
        "locals": {raw: list(pair) for raw, pair in facts.locals.items()},
        "files": files,
        "rows": rows,
    }


def could_be_secret(manifest: Manifest) -> bool:
    """A webhook, or a URL that could carry a credential (``credential_like``)."""
    for job in manifest.jobs:
        if job.webhook is not None:
            return True
        for value in job.form_state.values():
            if (
                type(value) is str
                and value.startswith(("https://", "http://"))
                and credential_like(value)
            ):
                return True
    return False


def still_true(entry: dict[str, Any], base: str, real_base: str, written_ns: int) -> bool:
    """Whether the file-system facts an entry keeps hold now (``written_ns``: when the
    entry was written, by the file system's clock)."""
    for raw, pair in entry["locals"].items():
        if list(inside(raw, base, real_base, RULE)) != pair:
            return False
    for path, seen in entry["files"].items():
        info = os.stat(path)
        # Changed within the racy margin of the entry's writing: it may have changed
        # unseen after it was hashed (both times are the file system's).
        if list(stat_identity(info)) != seen or info.st_ctime_ns + RACY_NS > written_ns:
            return False
    for raw, digest in entry["rows"].items():
        found = inside(raw, base, real_base, RULE)
        if isinstance(found, str) or hash_file(found[1]) != digest:
            return False
    return True


def consistent(manifest: Manifest, entry: dict[str, Any]) -> bool:
    """What an entry decodes to is what this code writes: no credential-like URL, no
    webhook, and every local input among the places the entry's facts vouch for."""
    if could_be_secret(manifest):
        return False
    places = {(relative, real) for relative, real in entry["locals"].values()}
    hashed = set(entry["files"])
    for job in manifest.jobs:
        for name, path in job.local_inputs.items():
            real = os.fspath(path)
            if (job.form_state.get(name), real) not in places or real not in hashed:
                return False
            if not str(job.hashed_inputs.get(name, "")).startswith("local-sha256:"):
                return False
    return True
