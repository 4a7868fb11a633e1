"""A loopback HTTP origin for input media: ETags, Last-Modified, ranges, redirects.

A thread (stdlib ``ThreadingHTTPServer``), not trio: the input check is blocking code
in worker threads, and ``plan`` runs it from synchronous code, so the origin must
answer while the test's own thread waits. Every request is counted (method, path,
the headers the check sends) with the body bytes served, so tests can say "one
conditional request per URL" and "a 1 GB file cost less than 1 MiB".

    with media_server({"/a.wav": wav_bytes}) as origin:
        url = origin.url + "/a.wav"
        ...
        origin.put("/a.wav", other_bytes)     # new bytes, new ETag and Last-Modified

``ranges=False`` makes an origin that ignores ``Range`` (answers 200 with the whole
body); ``validators=False`` one that sends neither ETag nor Last-Modified;
``put(path, body, headers={...})`` an odd one, whose headers for that path replace
(or add to) the ones it would send. It also answers as an HTTP proxy would (a request
target in absolute form, ``GET http://host:port/a.wav``), serving the path itself:
with ``HTTP_PROXY`` set to its URL, ``Seen.proxied`` says which requests came that way.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["MediaServer", "Seen", "media_server"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_EPOCH = 1_700_000_000


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names: range, if-none-match, ...
    status: int
    sent: int  # body bytes
    proxied: bool = False  # sent to it as to a proxy (absolute-form target)

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


@dataclass
class _Resource:
    body: bytes | Path
    etag: str
    last_modified: str
    headers: Mapping[str, str] = field(default_factory=dict)  # sent instead of our own

    @property
    def size(self) -> int:
        return self.body.stat().st_size if isinstance(self.body, Path) else len(self.body)

    def write(self, out: BinaryIO, start: int, stop: int, counted: list[int]) -> None:
        """Write bytes ``start:stop``, adding each chunk to ``counted[0]`` once sent."""
        with self.body.open("rb") if isinstance(self.body, Path) else _nothing() as f:
            offset = start
            while offset < stop:
                size = min(stop - offset, 1 << 16)
                if f is None:
                    assert isinstance(self.body, bytes)
                    chunk = self.body[offset : offset + size]
                else:
                    f.seek(offset)
                    chunk = f.read(size)
                if not chunk:
                    break
                out.write(chunk)
                counted[0] += len(chunk)
                offset += len(chunk)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@dataclass
class MediaServer:
    url: str
    ranges: bool
    validators: bool
    resources: dict[str, _Resource] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)
    busy: int = 0  # requests being answered
    _versions: int = 0

    def put(
        self, path: str, body: bytes | Path, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Serve ``body`` at ``path``: a new version (new ETag and Last-Modified).
        ``headers`` are sent as given (a value is written as latin-1, byte for byte)
        in place of the ones of the same name the origin would send."""
        with self.lock:
            self._versions += 1
            digest = hashlib.sha256(body if isinstance(body, bytes) else str(body).encode())
            stamp = email.utils.formatdate(_EPOCH + self._versions, usegmt=True)
            etag = f'"{digest.hexdigest()[:20]}"'
            self.resources[path] = _Resource(body, etag, stamp, dict(headers or {}))

    def redirect(self, path: str, location: str) -> None:
        self.redirects[path] = location

    def requests(self, path: str | None = None) -> list[Seen]:
        """The requests answered so far, once none is being answered: a handler still
        writing to a client that hung up finishes (the write fails) before it counts."""
        with self.lock:
            if not self.lock.wait_for(lambda: self.busy == 0, timeout=60):
                raise TimeoutError("the media server is still answering a request")
            return [s for s in self.seen if path is None or s.path == path]

    def sent(self, path: str | None = None) -> int:
        return sum(s.sent for s in self.requests(path))

    def forget(self) -> None:
        with self.lock:
            self.seen.clear()


def _handler(server: MediaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the check reuses connections

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with server.lock:
                server.busy += 1
            status, sent = 0, 0
            proxied = self.path.startswith(("http://", "https://"))
            if proxied:  # the rest of the handler sees the path alone
                parts = urllib.parse.urlsplit(self.path)
                self.path = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                status, sent = self._answer()
            finally:
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen("GET", self.path, headers, status, sent, proxied)
                with server.lock:
                    server.seen.append(seen)
                    server.busy -= 1
                    server.lock.notify_all()

        def _send(self, status: int, headers: Mapping[str, str], length: int = 0) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _answer(self) -> tuple[int, int]:
            if self.path in server.redirects:
                self._send(302, {"Location": server.redirects[self.path]})
                return 302, 0
            with server.lock:
                found = server.resources.get(self.path)
            if found is None:
                self._send(404, {})
                return 404, 0
            tags = {"ETag": found.etag, "Last-Modified": found.last_modified}
            tags = tags if server.validators else {}
            asked = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if server.validators and (
                (asked is not None and found.etag in [t.strip() for t in asked.split(",")])
                or (asked is None and since == found.last_modified)
            ):
                self._send(304, {**tags, **{k: v for k, v in found.headers.items() if k in tags}})
                return 304, 0
            match = self.headers.get("If-Match")
            if match is not None and server.validators and match != found.etag:
                self._send(412, {})
                return 412, 0
            size, start, stop = found.size, 0, found.size
            wanted = _RANGE.match(self.headers.get("Range", "")) if server.ranges else None
            if wanted is not None:
                first, last = wanted.groups()
                if first:
                    start, stop = int(first), min(size, int(last) + 1 if last else size)
                else:
                    start, stop = max(0, size - int(last or 0)), size
                if start >= size:
                    self._send(416, {"Content-Range": f"bytes */{size}"})
                    return 416, 0
                tags = {**tags, "Content-Range": f"bytes {start}-{stop - 1}/{size}"}
            if server.ranges:
                tags = {**tags, "Accept-Ranges": "bytes"}
            status = 206 if wanted is not None else 200
            self._send(status, {**tags, **found.headers}, stop - start)
            counted = [0]
            try:
                found.write(self.wfile, start, stop, counted)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the check read what it needed and hung up
            return status, counted[0]

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (the check stops reading once it has the header) is
        # normal here; anything else still shows.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def media_server(
    files: Mapping[str, bytes | Path] | None = None,
    *,
    ranges: bool = True,
    validators: bool = True,
    tls: ssl.SSLContext | None = None,
    address: tuple[str, int] = ("127.0.0.1", 0),
) -> Iterator[MediaServer]:
    """An origin on 127.0.0.1 (a free port; or ``address``, another loopback address)
    serving ``files`` by path, for the block. With ``tls`` (a server context), HTTPS at
    ``https://localhost:PORT``."""
    httpd = _QuietServer(address, BaseHTTPRequestHandler)
    port = httpd.server_address[1]
    url = f"http://{address[0]}:{port}"
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
        url = f"https://localhost:{port}"
    server = MediaServer(url, ranges, validators)
    httpd.RequestHandlerClass = _handler(server)
    for path, body in (files or {}).items():
        server.put(path, body)
    thread = threading.Thread(target=httpd.serve_forever, name="media-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
