"""Presigned URLs are credentials: these helpers make them safe to show.

A presigned URL's query string (``X-Amz-Signature``, GCS's ``X-Goog-Signature``,
Azure's SAS ``sig``) lets anyone holding it read the object until it expires, so
it never goes into a log line, a lock, a report or an exception text. Display
the object's address instead: scheme, host and path, with the query replaced
by a marker that says something was removed.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED_QUERY", "redact_url", "redact_urls"]

REDACTED_QUERY: Final = "<redacted>"
# Any http(s) URL in free text, up to whitespace or a quote/bracket that ends it.
_URL_IN_TEXT: Final = re.compile(r"""https?://[^\s"'<>()\[\]{}]+""", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without its query, fragment and user info: safe for a log or an error.

    ``https://b.s3.amazonaws.com/k.wav?X-Amz-Signature=...`` ->
    ``https://b.s3.amazonaws.com/k.wav?<redacted>``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        # Unparseable (a bad port, a stray bracket): keep only what precedes the query.
        return url.split("?", 1)[0].split("#", 1)[0] + ("?" + REDACTED_QUERY if "?" in url else "")
    if not (parts.query or parts.fragment or "@" in parts.netloc):
        # Nothing to remove: unchanged, so that redacting twice changes nothing (an
        # already redacted "…/k.wav?<redacted>" in a message is matched as "…/k.wav?").
        return url
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    marker = REDACTED_QUERY if parts.query or parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, marker, ""))


def redact_urls(text: str) -> str:
    """``text`` with every http(s) URL in it passed through :func:`redact_url`: for
    messages written by others (an API's error, a library's exception)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
