"""obstore's exceptions turned into ours, with messages a user can act on.

obstore raises a few Python classes (``FileNotFoundError``, ``PermissionDeniedError``,
``GenericError``...) whose text is a Rust debug dump: the request URL, the retry
state, the server's XML body. We keep none of that text in our messages: only the
operation, the key, the HTTP status, the S3-style error ``<Code>`` and a hint. (The
dump holds no secret, since obstore signs with headers, not query strings, but a
server's body may echo the access key id and the string it signed.)

Which failures are whose fault:
  * configuration (exit 2, :class:`StoreConfigError`): the bucket does not exist, the
    key id or secret is wrong, the clock is skewed, the region is wrong;
  * refused (exit 4, :class:`StoreError`): the credentials are valid but may not do this
    (``AccessDenied``), or the store is unreachable after obstore's retries.
"""

from __future__ import annotations

import re
from typing import Final

from obstore.exceptions import UnauthenticatedError

from lipsync_pipeline.errors import StoreConfigError, StoreError
from lipsync_pipeline.store._redact import redact_urls

__all__ = ["error_code", "http_status", "translate"]

_STATUS: Final = re.compile(r"status code: (\d{3})")
_CODE: Final = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")
_OS_MESSAGE: Final = re.compile(r'message: "([^"]{1,120})"')

# S3 / GCS (XML API) / Azure error codes that mean "your settings are wrong":
# code -> (the setting at fault, what to tell the user).
_CONFIG_CODES: Final[dict[str, tuple[str, str]]] = {
    "NoSuchBucket": ("store.url", "the bucket does not exist (or is in another account)"),
    "ContainerNotFound": ("store.url", "the container does not exist"),
    "InvalidBucketName": ("store.url", "the store refuses this bucket name"),
    "InvalidAccessKeyId": ("AWS_ACCESS_KEY_ID", "the store does not know this access key id"),
    "SignatureDoesNotMatch": (
        "AWS_SECRET_ACCESS_KEY",
        "the store refused the request signature: the secret key does not belong to the"
        " access key id",
    ),
    "RequestTimeTooSkewed": (
        "clock",
        "this machine's clock is too far from the store's for signatures to be accepted;"
        " synchronise it (NTP)",
    ),
    "AuthorizationHeaderMalformed": ("AWS_REGION", "the bucket is in another region"),
    "PermanentRedirect": ("AWS_REGION", "the bucket is in another region"),
    "ExpiredToken": ("AWS_SESSION_TOKEN", "the session token has expired"),
    "InvalidToken": ("AWS_SESSION_TOKEN", "the session token is not valid"),
    "AuthenticationFailed": ("credentials", "the store refused the credentials"),
}


def http_status(exc: BaseException) -> int | None:
    """The HTTP status obstore's error text reports, if any."""
    match = _STATUS.search(str(exc))
    return int(match.group(1)) if match else None


def error_code(exc: BaseException | str) -> str | None:
    """The S3-style ``<Code>`` from the server's error body, if any."""
    match = _CODE.search(str(exc))
    return match.group(1) if match else None


def translate(
    exc: BaseException, *, store: str, op: str, key: str
) -> StoreError | StoreConfigError:
    """The error to raise for obstore's ``exc`` while doing ``op`` ("write", "read", ...)
    on ``key`` of the store displayed as ``store``."""
    status = http_status(exc)
    code = error_code(exc)
    if code in _CONFIG_CODES:
        where, hint = _CONFIG_CODES[code]
        return StoreConfigError(where, f"store {store}: cannot {op} {key}: {code}: {hint}")
    if isinstance(exc, UnauthenticatedError) or status == 401:
        return StoreConfigError(
            "credentials", f"store {store}: cannot {op} {key}: the store refused the credentials"
        )
    if status == 403:
        return StoreError(
            f"store {store}: cannot {op} {key}: refused ({code or 'HTTP 403'}); the credentials"
            " are valid but lack the permission"
        )
    if status is not None:
        return StoreError(f"store {store}: cannot {op} {key}: HTTP {status} {code or ''}".rstrip())
    return StoreError(f"store {store}: cannot {op} {key}: {_network_reason(exc)}")


def _network_reason(exc: BaseException) -> str:
    text = str(exc)
    match = _OS_MESSAGE.search(text)
    if match:
        return f"cannot reach the store: {match.group(1)}"
    for marker, reason in (
        ("TimedOut", "the store did not answer in time"),
        ("timed out", "the store did not answer in time"),
        ("dns error", "the store's host name does not resolve"),
        ("error sending request", "cannot reach the store"),
    ):
        if marker in text:
            return reason
    # Unknown shape: the first line, URLs stripped of any query, never the debug dump.
    first = text.splitlines()[0] if text else type(exc).__name__
    return redact_urls(first)[:200]
