"""The one exception tree of lipsync-pipeline.

Every error a user can cause or meet is one of these; the CLI turns them into a
message and an exit code, never a traceback. Third-party errors (httpx, trio,
PyYAML, jsonschema, PyAV) are translated at the module boundary that meets them
(``raise ApiError(...) from exc``).

Hierarchy::

    LipsyncError                    base; ``exit_code`` says how the CLI exits
    ├── UsageError                  bad flags or environment (exit 2)
    │   └── ConfigError             missing API key, bad base URL, local paths on a remote API
    │       ├── StoreConfigError    bad store URL/ttl, missing bucket, wrong credentials, clock skew
    │       └── UnsafePathError     a write would go through a symbolic link or outside the tree
    ├── InputError                  a user's file is wrong; carries ``problems`` (exit 2)
    │   ├── ManifestError           the manifest: YAML, schema, semantic checks
    │   └── LockfileError           the lockfile: corrupt, future version, contradicts the manifest
    ├── RunLockHeld                 another live run holds the lockfile (exit 3)
    ├── ApiError                    the API answered something we cannot go on with (exit 4)
    │   ├── AuthError               401/403: the key is missing, malformed or refused
    │   ├── RequestRejected         400/404/422: the API says the request itself is wrong
    │   └── TransientApiError       network/5xx/429 still failing after every allowed retry
    │       └── SubmissionUnknown   a POST was sent and got no clear answer: the job may exist
    ├── StudioError                 the reference studio could not start or serve (exit 4)
    ├── StorageError                the disk refused a write: lockfile, journal, output (exit 5)
    ├── BudgetExceeded              what a run would submit is estimated over the spend cap (exit 6)
    └── StoreError                  the object store refused or failed an operation (exit 4)
        └── StoreIntegrityError     a stored object is missing or its bytes are not the digest

Ctrl-C / SIGTERM is not an exception here: the run records what is in flight and
reports ``interrupted``, which the CLI turns into exit 130.

A ``Problem`` is one located finding: ``file:line:col: where: message``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "EXIT_API",
    "EXIT_BUDGET",
    "EXIT_CHANGES",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_JOBS_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_STORAGE",
    "KEY_PATTERN",
    "MASK",
    "SECRETS",
    "ApiError",
    "AuthError",
    "BudgetExceeded",
    "ConfigError",
    "InputError",
    "LipsyncError",
    "LockfileError",
    "ManifestError",
    "Problem",
    "RequestRejected",
    "RunLockHeld",
    "Secrets",
    "StorageError",
    "StoreConfigError",
    "StoreError",
    "StoreIntegrityError",
    "StudioError",
    "SubmissionUnknown",
    "TransientApiError",
    "UnsafePathError",
    "UsageError",
    "format_where",
    "holds_secret",
    "redact",
    "register_api_key",
    "register_secret",
    "register_signature",
    "unwrap_group",
]

EXIT_OK: Final = 0
EXIT_JOBS_FAILED: Final = 1
EXIT_INPUT: Final = 2
EXIT_LOCKED: Final = 3
EXIT_API: Final = 4
EXIT_STORAGE: Final = 5
# The spend cap (run --max-credits, budget:): a run refused or held jobs back; `plan`
# says so too. Not 2 (bad input): nothing is wrong with the files, only with the money.
EXIT_BUDGET: Final = 6
# `plan --detailed-exitcode`: changes pending (Terraform's 2 is our bad input).
EXIT_CHANGES: Final = 7
EXIT_INTERRUPTED: Final = 130

# The documented key shape, sk_<id>_<secret>; the secret part may hold '_' and '-'.
# For validating a key (settings, the studio's auth), never for redacting: text shaped
# like a key (a job id "task_01_welcome", a path "mask_on_dialog.yaml") is not a secret,
# and rewriting it loses data (an output URL rewritten before its download is a paid
# render that can never be fetched). Redaction masks the secret values this process
# actually holds, registered below.
KEY_PATTERN: Final = re.compile(r"sk_([A-Za-z0-9]+)_([A-Za-z0-9_-]+)")
MASK: Final = "***"
_KEY_MASK: Final = "sk_***"
# A key's secret part is masked on its own only when it is long enough not to be an
# ordinary word: the built-in studio's own key, sk_local_pipeline, must not turn every
# "pipeline" into "***". Hosted keys' secrets are far longer.
_MIN_SECRET_PART: Final = 12
# The credential part of a presigned URL (S3/R2/SeaweedFS, GCS, Azure SAS).
_SIGNATURE: Final = re.compile(r"(?:X-Amz-Signature|X-Goog-Signature|\bsig)=(?P<value>[^&#\s\"']+)")


class Secrets:
    """The secret strings this process holds, and how each is shown instead.

    Registered once, where a secret enters the process (the API key when it is read;
    store credentials and presigned-URL signatures have :func:`register_secret` for
    the same), and consulted by every way text leaves it: the log processor,
    ``emit_json``, the reporters' error output and the API client's messages and
    recorded fields. Thread-safe: stdlib loggers may format from other threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Presigned URLs' signatures: one per input URL this run signs, so thousands in
        # a large run. A set, found by one scan for signature parameters, not a
        # substring search each over every text that leaves the process.
        self._signatures: set[str] = set()
        self._masks: dict[str, str] = {}
        # Longest first, so that a key is masked whole before its secret part is.
        self._ordered: tuple[tuple[str, str], ...] = ()

    def add(self, value: str, mask: str = MASK) -> None:
        if not value:
            return
        with self._lock:
            self._masks[value] = mask
            self._ordered = tuple(
                sorted(self._masks.items(), key=lambda item: len(item[0]), reverse=True)
            )

    def add_signature(self, url: str) -> None:
        """Mask the signature of a presigned URL this process made, wherever it shows."""
        with self._lock:
            self._signatures.update(m["value"] for m in _SIGNATURE.finditer(url))

    def __bool__(self) -> bool:
        return bool(self._ordered or self._signatures)

    def redact(self, text: str) -> str:
        for value, mask in self._ordered:
            if value in text:
                text = text.replace(value, mask)
        if self._signatures and "ig" in text:  # Signature=, sig=: a cheap first look
            text = _SIGNATURE.sub(self._mask_signature, text)
        return text

    def _mask_signature(self, found: re.Match[str]) -> str:
        if found["value"] not in self._signatures:
            return found.group(0)  # someone else's (a provider's output link): theirs
        return found.group(0)[: -len(found["value"])] + MASK

    def found_in(self, text: str) -> bool:
        if any(value in text for value, _ in self._ordered):
            return True
        return any(m["value"] in self._signatures for m in _SIGNATURE.finditer(text))


# Real credentials are far longer (an AWS secret key has 40 characters).
_MIN_SECRET: Final = 8
SECRETS: Final = Secrets()


def register_secret(value: str, *, mask: str = MASK) -> None:
    """Mask ``value`` wherever this process shows or records text from now on.

    Values shorter than a real credential are not registered: masking "s" would turn
    every message into noise (a test's dummy secret did exactly that)."""
    if len(value) >= _MIN_SECRET:
        SECRETS.add(value, mask)


def register_signature(url: str) -> None:
    """Mask the signature of ``url`` (a presigned URL this run made) from now on."""
    SECRETS.add_signature(url)


def register_api_key(key: str) -> None:
    """Mask an API key, and its secret part on its own (a server may echo only that)."""
    SECRETS.add(key, _KEY_MASK)
    shaped = KEY_PATTERN.fullmatch(key)
    if shaped and len(shaped.group(2)) >= _MIN_SECRET_PART:
        SECRETS.add(shaped.group(2))


def redact(text: str, key: str | None = None) -> str:
    """``text`` with ``key`` and every registered secret masked; nothing else changes."""
    if key:
        text = text.replace(key, _KEY_MASK)
    return SECRETS.redact(text)


def holds_secret(text: str) -> bool:
    """Whether ``text`` contains a registered secret (so it must not be recorded as is)."""
    return SECRETS.found_in(text)


_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_where(path: Iterable[str | int]) -> str:
    """``("jobs", 2, "audio")`` -> ``jobs[2].audio``: the ``where`` of a Problem.

    Keys that are not plain names are quoted (``jobs["a b"].seed``)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding in a file, located as precisely as the file allows.

    ``line`` and ``column`` are 1-based; ``None`` where the file has no lines
    (a binary file, a missing file). ``where`` is the data path, e.g. ``jobs[2].audio``.
    """

    file: str
    line: int | None
    column: int | None
    where: str
    message: str

    def __str__(self) -> str:
        loc = self.file
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return f"{loc}: {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "where": self.where,
            "message": self.message,
        }


class LipsyncError(Exception):
    """Base of every error lipsync-pipeline raises on purpose."""

    exit_code: int = EXIT_INPUT


class UsageError(LipsyncError):
    """The command line or the environment is wrong."""

    exit_code = EXIT_INPUT


class ConfigError(UsageError):
    """Configuration that cannot work: no API key for a remote API, a bad base URL, ..."""


class InputError(LipsyncError):
    """A user's file is wrong. ``problems`` lists every finding, not just the first."""

    exit_code = EXIT_INPUT

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid input")


class ManifestError(InputError):
    """The manifest is not valid: syntax, schema or semantic checks."""


class LockfileError(InputError):
    """The lockfile cannot be trusted: corrupt, truncated, from a future version, ..."""


class RunLockHeld(LipsyncError):
    """Another live ``run`` holds the lockfile."""

    exit_code = EXIT_LOCKED


class ApiError(LipsyncError):
    """The API answered something we cannot go on with.

    ``status`` is the HTTP status when there was one. Messages never contain the API key.
    """

    exit_code = EXIT_API

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """401/403: the API key is missing, malformed or refused."""


class RequestRejected(ApiError):
    """400/404/422: the API says this request is wrong; retrying will not help."""


class TransientApiError(ApiError):
    """Network failures, 5xx or 429 that outlived every allowed retry.

    From a submission, this means no attempt can have created a job (never sent, or
    refused with 429/408): it is safe to submit again. See SubmissionUnknown."""


class SubmissionUnknown(TransientApiError):
    """A submission reached the API and got no clear answer (a 5xx, a read timeout, a
    dropped connection, an answer we cannot record): the job may exist and be billed.
    Sending it again may bill twice unless the API honours ``Idempotency-Key``."""


class StudioError(LipsyncError):
    """The reference studio could not start or serve."""

    exit_code = EXIT_API


class StorageError(LipsyncError):
    """A write the run depends on failed: disk full, read-only, permissions, a file
    where a directory should be. What was recorded before it stays recorded."""

    exit_code = EXIT_STORAGE


class BudgetExceeded(LipsyncError):
    """What a run would submit is estimated over the spend cap (or of unknown cost):
    refused before anything is submitted. The message says the estimate, the cap and
    the dearest jobs (``lipsync_pipeline.budget``)."""

    exit_code = EXIT_BUDGET


def unwrap_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception to show for a nursery's ExceptionGroup: the first of our
    own errors, else the first that is not a cancellation. A user never sees a group."""
    flat: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            flat.append(exc)

    walk(group)
    ours = [e for e in flat if isinstance(e, LipsyncError)]
    if ours:
        return ours[0]
    others = [e for e in flat if type(e).__name__ != "Cancelled"]
    return (others or flat or [group])[0]


class StoreError(LipsyncError):
    """The object store refused or failed an operation: a write it forbids, a network
    failure that outlived the retries. Messages never hold credentials or presigned URLs."""

    exit_code = EXIT_API


class StoreIntegrityError(StoreError):
    """A stored object the lock relies on is missing, or its bytes hash to another digest."""


class StoreConfigError(ConfigError):
    """The store cannot work as configured. ``where`` names the setting at fault
    (``store.url_ttl``, ``AWS_SECRET_ACCESS_KEY``, ...) so the manifest can locate it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.detail = message


class UnsafePathError(ConfigError):
    """A file we would write is a symbolic link (or the output directory leads outside
    the manifest's tree). A pull request can commit a symlink; CI then runs whatever it
    committed, so a write must never follow one. ``path`` is the path as we spell it."""

    def __init__(self, path: object, message: str | None = None) -> None:
        super().__init__(message or f"refusing to write through a symbolic link: {path}")
        self.path = path
