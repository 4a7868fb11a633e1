"""Reading the API's answers: status codes to errors, JSON bodies, job statuses.

Every text taken from an answer passes through the caller's ``redact`` (it masks
the secrets this run holds), because it may be shown, logged or recorded.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, Final

import httpx

from lipsync_pipeline.api._jobstatus import JobStatus, milliseconds
from lipsync_pipeline.api._retry import NOT_ACTED_ON, RETRY_STATUSES, Retryable, retry_after
from lipsync_pipeline.errors import ApiError, AuthError, RequestRejected

__all__ = ["Redact", "check_answer", "job_status", "json_answer", "json_body", "translated"]

Redact = Callable[[str], str]

_AUTH_STATUSES: Final = frozenset({401, 403})
_SNIPPET: Final = 200  # how much of an unexpected body an error message quotes
# Failures before a request left this process: no connection was made (refused,
# unreachable, DNS, TLS handshake), or none came free in time. The server saw nothing.
_NEVER_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@contextlib.contextmanager
def translated(what: str, redact: Redact) -> Iterator[None]:
    """Translate httpx failures into retry-or-give-up (Retryable) or ApiError."""
    try:
        yield
    except _NEVER_SENT as exc:
        raise Retryable(_reason(exc), reached=False) from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        # Sent (maybe in part), then no answer: an unknown outcome. Safe to repeat
        # for a GET; a POST decides in _retrying.
        raise Retryable(_reason(exc)) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ApiError(redact(f"{what}: {type(exc).__name__}: {exc}")) from None


def check_answer(what: str, resp: httpx.Response, redact: Redact, *, ours: bool = True) -> None:
    """Raise for a non-2xx answer. ``ours``: the URL is the API's (it got the key)."""
    code = resp.status_code
    if 200 <= code < 300:
        return
    detail = _server_message(resp)
    message = redact(f"{what}: HTTP {code}" + (f": {detail}" if detail else ""))
    if code in RETRY_STATUSES:
        raise Retryable(
            message,
            status=code,
            after=retry_after(resp.headers.get("Retry-After")),
            reached=code not in NOT_ACTED_ON,
        )
    if code in _AUTH_STATUSES and ours:
        raise AuthError(message + " (check LIPSYNC_API_KEY)", status=code)
    if code in _AUTH_STATUSES:
        # A storage host refusing an output URL: typically an expired signed link, which
        # asking the API for the job again renews. Not a problem with our key.
        raise RequestRejected(message + " (the output URL may have expired)", status=code)
    if 400 <= code < 500:
        raise RequestRejected(message, status=code)
    raise ApiError(message, status=code)


def _server_message(resp: httpx.Response) -> str:
    """The server's own words: a JSON error field if there is one, else the text."""
    try:
        text = resp.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            for field in ("error", "message", "detail"):
                if isinstance(data.get(field), str) and data[field]:
                    return str(data[field])[:_SNIPPET]
    return " ".join(text.split())[:_SNIPPET]


def json_answer(what: str, resp: httpx.Response, redact: Redact) -> Any:
    """The answer's JSON, or an ApiError quoting a little of what came instead."""
    try:
        return resp.json()
    except ValueError:
        snippet = " ".join(resp.text.split())[:_SNIPPET]
        raise ApiError(
            redact(f"{what}: HTTP {resp.status_code} but the body is not JSON: {snippet!r}"),
            status=resp.status_code,
        ) from None


def job_status(what: str, request_id: str, data: Any, redact: Redact) -> JobStatus:
    """A job status from an answer, every field the secrets masked (see below)."""
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ApiError(redact(f"{what}: a job status without a 'status': {data!r:.200}"))
    output = data.get("output")
    error = data.get("error")
    error_text = "" if error is None else error if isinstance(error, str) else json.dumps(error)
    # Every field taken from the answer is shown or recorded (the lockfile goes to
    # git): a server that echoes our Authorization header must not put the key
    # there. Only the secrets themselves are masked, so an output URL that merely
    # looks like a key ("desk_2_final.mp4") is fetched and recorded as it is.
    return JobStatus(
        id=redact(data["id"]) if isinstance(data.get("id"), str) else request_id,
        model=redact(data["model"]) if isinstance(data.get("model"), str) else "",
        status=redact(data["status"]),
        output=redact(output) if isinstance(output, str) and output else None,
        error=redact(error_text),
        execution_time_ms=milliseconds(data.get("executionTime")),
    )


def json_body(value: Any) -> bytes:
    """JSON as httpx's ``json=`` sends it: compact, UTF-8, no NaN (not valid JSON)."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ApiError(f"cannot send this request as JSON: {exc}") from None
    return text.encode("utf-8")
