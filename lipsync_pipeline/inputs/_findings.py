"""The values of an input check: what is asked of each URL, what came back, the options."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

from lipsync_pipeline._net import AddressPolicy
from lipsync_pipeline.lockfile import InputVersion

__all__ = [
    "PROBE_CONCURRENCY",
    "PROBE_TIMEOUT",
    "InputCheck",
    "InputFindings",
    "Need",
    "Probed",
    "Progress",
    "Target",
    "sendable",
]

# URLs asked at once. Each ask is a few small requests to (usually) a CDN; 16 keeps
# 200 inputs to a second or two without opening hundreds of connections.
PROBE_CONCURRENCY: Final = 16
# Seconds for each of connect, read, write and waiting for a pooled connection.
PROBE_TIMEOUT: Final = 20.0

# (URLs asked so far, URLs to ask): for a progress line on a terminal.
Progress = Callable[[int, int], None]


@cache
def _max_lengths() -> tuple[int, int]:
    """The lock schema's longest ETag and Last-Modified: a longer one recorded would make
    the lock invalid, and every later command would refuse it."""
    from lipsync_pipeline.lockfile import lock_schema  # read when an origin answered

    props = lock_schema()["$defs"]["inputVersion"]["properties"]
    return props["etag"]["maxLength"], props["last_modified"]["maxLength"]


def _sendable_text(value: str | None, limit: int) -> str | None:
    # Printable ASCII only: a validator is sent back in If-None-Match / If-Match /
    # If-Modified-Since, and a header value must be ASCII (httpx refuses anything else
    # with UnicodeEncodeError); a control character would not be a valid header either.
    if value and len(value) <= limit and value.isascii() and value.isprintable():
        return value
    return None


def sendable(version: InputVersion) -> InputVersion:
    """``version`` without the validators that could not be sent back to the origin or
    recorded in the lock (what an odd origin, an older cache or an older lock may hold):
    a version with fewer validators compares on what is left, never fails a later
    request or makes the lock invalid."""
    etag_max, modified_max = _max_lengths()
    etag = _sendable_text(version.etag, etag_max)
    modified = _sendable_text(version.last_modified, modified_max)
    if (etag, modified) == (version.etag, version.last_modified):
        return version
    return dataclasses.replace(version, etag=etag, last_modified=modified)


class Need(enum.Enum):
    """What a URL is asked for."""

    VERSION = "version"  # validators and size only (an image; a job not being submitted)
    LENGTH_IF_NEW = "length-if-new"  # its length too, unless it is the version the lock has
    LENGTH = "length"  # its media length (a timed input of a job to submit)


@dataclass(frozen=True, slots=True)
class Target:
    """One distinct URL to ask: what for, and the versions the lock records for it
    (sent as validators, so an unchanged input costs one conditional request)."""

    url: str
    need: Need
    known: tuple[InputVersion, ...] = ()


@dataclass(frozen=True, slots=True)
class Probed:
    """What asking one URL found. ``version`` None: the origin could not be asked or
    refused; ``seconds`` None: the length was not needed, or could not be read;
    ``problem`` says why either is missing (the URL redacted), never a guess."""

    version: InputVersion | None
    seconds: float | None = None
    problem: str | None = None
    requests: int = 0
    bytes_read: int = 0  # response body bytes received


@dataclass(frozen=True, slots=True)
class InputCheck:
    """How ``plan``/``run`` ask the origins of URL inputs.

    ``ask=False`` (``--no-input-check``): no request at all; lengths come from the
    cache as they were last seen, and changed inputs are not looked for.
    ``cache_dir`` None: no cache (every input is read again)."""

    policy: AddressPolicy
    cache_dir: Path | None
    ask: bool = True
    concurrency: int = PROBE_CONCURRENCY
    timeout: float = PROBE_TIMEOUT
    progress: Progress | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class InputFindings:
    """What the input check learnt, for the estimate, the plan and the lock.

    ``remote``: timed URL -> seconds or why unknown (``estimate_plan(remote=...)``);
    ``versions``: URL -> what it serves now (recorded in the lock at submission);
    ``changed``: job id -> fields whose URL now serves another version than the one
    rendered; ``warnings``: inputs that could not be checked (their renders are kept)."""

    remote: Mapping[str, float | str] = field(default_factory=dict)
    versions: Mapping[str, InputVersion] = field(default_factory=dict)
    changed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    asked: int = 0  # distinct URLs
    requests: int = 0
    bytes_read: int = 0
