"""Inputs given as URLs: how long they play and whether they changed (issue 13).

``plan`` and ``run`` ask each distinct input URL's origin, a few at a time, what it
serves now, reading as few bytes as they can:

* the **length** of timed inputs (the audio fields), for the credit estimate: range
  requests feed PyAV a file-like object that fetches on demand, so only the container
  header is read (a 1 GB video costs a few hundred KiB at most); an origin that
  ignores ``Range`` is read in order until the header is found, within a bound;
* the **version** of every URL input (ETag, Last-Modified, size; the sha256 when
  the bytes were read anyway), which a run records in the lock when it submits the
  job, and which a later ``plan`` compares: "`audio` changed at its URL";
* a **cache** (``settings.cache_dir``) keyed by a hash of the URL, so that the next
  ``plan`` sends one conditional request per URL (304: nothing changed).

Every hop is checked against the address policy before it is sent (``_fetch``).

Modules: ``_findings`` (the values), ``_targets`` (pure: which URLs, which jobs
changed, what the lock records), ``_examine`` (one check, start to end), ``_cache``,
``_fetch`` (checked GETs, httpx), ``_reader`` (the file-like object PyAV reads),
``_probe`` (one URL's requests and the thread pool; PyAV). Log lines go through
``lipsync_pipeline._quietlog`` (only once logging is configured). httpx and PyAV are
imported only when there is a URL to ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lipsync_pipeline._lazy import lazy_exports

if TYPE_CHECKING:
    from lipsync_pipeline.inputs._cache import CACHE_FILE
    from lipsync_pipeline.inputs._examine import examine
    from lipsync_pipeline.inputs._findings import (
        PROBE_CONCURRENCY,
        PROBE_TIMEOUT,
        InputCheck,
        InputFindings,
        Need,
        Probed,
        Progress,
        Target,
    )
    from lipsync_pipeline.inputs._targets import changes, plan_targets, url_inputs, versions_for

__all__ = [
    "CACHE_FILE",
    "PROBE_CONCURRENCY",
    "PROBE_TIMEOUT",
    "InputCheck",
    "InputFindings",
    "Need",
    "Probed",
    "Progress",
    "Target",
    "changes",
    "examine",
    "plan_targets",
    "url_inputs",
    "versions_for",
]

# Imported on first use (see lipsync_pipeline/_lazy.py): ``Checked`` needs only the
# values, and a plan of local files none of the network.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        __all__,
        {
            "_cache": ("CACHE_FILE",),
            "_examine": ("examine",),
            "_findings": (
                "PROBE_CONCURRENCY",
                "PROBE_TIMEOUT",
                "InputCheck",
                "InputFindings",
                "Need",
                "Probed",
                "Progress",
                "Target",
            ),
            "_targets": ("changes", "plan_targets", "url_inputs", "versions_for"),
        },
    )
