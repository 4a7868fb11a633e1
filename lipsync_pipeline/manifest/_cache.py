"""Validated manifests kept between invocations: an unchanged manifest is read once.

Reading a manifest is most of what an up-to-date ``run`` or a ``plan`` costs (10,000
jobs: about a second, most of it libyaml's). So after a manifest validates, what it
became is written to ``<cache dir>/manifests/<key>.json`` (see
``settings.cache_dir``; ``key``: a hash of the manifest's absolute path and the
``--output-dir`` given), and the next invocation that reads the same bytes takes it
from there instead. It is a cache, never a source: whenever anything does not match,
the YAML is read as if nothing was cached (and the entry replaced).

What an entry must match, all checked on every use:

- the manifest's bytes (sha256), its absolute path and the ``--output-dir`` given;
- the code that reads it (a stamp of this package's files: an upgrade, or an edit in a
  checkout, reads again);
- what the file system said then: each local input still resolves where it did inside
  the manifest's directory, each hashed input file is unchanged by ``stat`` (size,
  mtime, ctime, inode, device: git's rule, with the racy margin of ``_digests``), each
  matrix ``rows:`` file has the same bytes, the output directory and a ``file://``
  store still resolve inside the manifest's directory.

Safe by construction:

- a manifest holding what could be a credential is never written here: a URL with a
  query string, a fragment or a user (presigned URLs), or any webhook (its path can be
  the secret). The input cache keeps hashes of URLs for the same reason;
- the cache is not used at all when it lies inside the manifest's git work tree (or
  its directory, outside one): a pull request can commit files, and a committed entry
  would let it show one manifest and run another. Its folder must be this user's and
  private (0700), each entry this user's file and private (0600), read without
  following a link: neither git nor a ``COPY`` makes those modes. An entry must also
  decode to what this code writes (no webhook, no credential-like URL, local inputs
  only where its facts vouch);
- an entry is written at the second reading of the same bytes (the first leaves a
  marker): a CI runner that keeps no cache pays nothing for one;
- ``LIPSYNC_MANIFEST_CACHE=off`` turns it off; failures to read or write it are
  ignored (the next invocation reads the YAML).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._fs import within
from lipsync_pipeline._readcache import ReadCache, code_stamp
from lipsync_pipeline.manifest._cachecodec import decode_manifest, encode_manifest
from lipsync_pipeline.manifest._cachefacts import (
    Facts,
    consistent,
    could_be_secret,
    still_true,
    taken_by,
)
from lipsync_pipeline.manifest._model import Manifest

__all__ = ["Facts", "ManifestCache"]

_FORMAT: Final = 2
_SUBDIR: Final = "manifests"
# Larger entries are not written: a manifest is at most 32 MiB, but a matrix can expand
# a small one into far more (rereading the YAML then costs less than this file).
_MAX_ENTRY_BYTES: Final = 64 << 20
# Entries kept: one per manifest path (and --output-dir); the least recently written
# go first.
_MAX_ENTRIES: Final = 64
_SEEN: Final = ".seen"
# The reading of the same bytes at which an entry is written (tests of what an entry
# holds set 1; see ``ManifestCache._seen_before``).
KEEP_AT_READ = 2


class ManifestCache:
    """The entry of one manifest (path and ``--output-dir``): looked up, then saved.

    Nothing here raises: a cache that cannot be used is a cache that is not there
    (every failure is the YAML read again, or an entry not written)."""

    def __init__(self, folder: ReadCache, manifest_path: Path, override: Path | None) -> None:
        name = os.fsencode(manifest_path) + b"\0" + os.fsencode(override or "")
        self._folder = folder
        self.path = folder.entry_path(name)
        self.manifest_path = manifest_path
        self.override = override
        self.base = os.path.dirname(manifest_path)
        self.real_base = os.path.realpath(self.base)
        self._digest: str | None = None

    @classmethod
    def open(
        cls, manifest_path: Path, override: Path | None, environ: Mapping[str, str] | None = None
    ) -> ManifestCache | None:
        """The cache for this manifest, or None when it is off or may not be used."""
        folder = ReadCache.open(
            _SUBDIR,
            manifest_path,
            max_entry_bytes=_MAX_ENTRY_BYTES,
            max_entries=_MAX_ENTRIES,
            environ=environ,
        )
        return None if folder is None else cls(folder, manifest_path, override)

    def lookup(self, data: bytes, display_name: str) -> Manifest | None:
        """The manifest cached for exactly these bytes, if everything still matches."""
        try:
            found = self._folder.read(self.path)
            if found is None:
                return None
            raw, written_ns = found
            entry = json.loads(raw)
            if not self._matches(entry, data, written_ns):
                return None
            manifest = decode_manifest(entry["manifest"], self.manifest_path, display_name)
            return manifest if consistent(manifest, entry) else None
        except Exception:  # damaged or not ours, whatever the way (a cache never decides)
            return None

    def save(self, data: bytes, manifest: Manifest, facts: Facts) -> None:
        """Remember ``manifest`` as what ``data`` reads as, unless it could hold a
        credential, a file it used changed meanwhile, or it is too large; and only at
        the second reading of these bytes (see :meth:`_seen_before`)."""
        try:
            if could_be_secret(manifest) or not self._seen_before(self._sha256(data)):
                return
            taken = taken_by(facts, self.base, self.real_base)
            if taken is None:
                return
            entry = {
                "format": _FORMAT,
                "stamp": code_stamp(),
                "sha256": self._sha256(data),
                "path": os.fsdecode(self.manifest_path),
                "override": None if self.override is None else os.fsdecode(self.override),
                **taken,
                "manifest": encode_manifest(manifest),
            }
            text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
            self._folder.write(self.path, text.encode("utf-8", "surrogateescape"))
        except Exception:  # a full disk, a read-only home, ...: the next reading reads YAML
            return

    def _seen_before(self, digest: str) -> bool:
        """Whether these bytes were read before (a marker beside the entry says so,
        and is then dropped); if not, the marker now says so. A CI runner that keeps
        no cache, or a manifest that changes before every command, never pays for
        writing an entry nobody reads (+12-17 % of a validate at 10,000 jobs)."""
        if KEEP_AT_READ < 2:
            return True
        marker = self.path.with_suffix(_SEEN)
        found = self._folder.read(marker)
        if found is not None and found[0] == digest.encode():
            marker.unlink()  # first: the limit counts the entry, not both
            return True
        self._folder.write(marker, digest.encode())
        return False

    def _sha256(self, data: bytes) -> str:
        """The manifest's digest, taken once for its lookup and its save (the same bytes:
        ``load_manifest`` hands both the ones it read)."""
        if self._digest is None:
            self._digest = hashlib.sha256(data).hexdigest()
        return self._digest

    def _matches(self, entry: Any, data: bytes, written_ns: int) -> bool:
        override = None if self.override is None else os.fsdecode(self.override)
        if not (
            isinstance(entry, dict)
            and entry.get("format") == _FORMAT
            and entry.get("path") == os.fsdecode(self.manifest_path)
            and entry.get("override") == override
            and entry.get("sha256") == self._sha256(data)
            and entry.get("stamp") == code_stamp()
            and still_true(entry, self.base, self.real_base, written_ns)
        ):
            return False
        cached = entry["manifest"]
        if self.override is None:
            real = os.path.realpath(cached["output_dir"])
            if not within(real, self.real_base):
                return False
        store = cached["store"]
        if store is not None and store["scheme"] == "file":
            real = os.path.realpath("/" + store["prefix"])
            if not within(real, self.real_base):
                return False
        return True
