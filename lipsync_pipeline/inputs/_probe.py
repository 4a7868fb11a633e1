"""Asking one URL what it serves and how long it plays, and asking many at once.

The first request does everything it can: a GET of the first bytes (``Range``) that
carries the validators already known (the cache's and the lock's: ``If-None-Match``,
else ``If-Modified-Since``). A 304 says the version is one we know: done, and the
length comes from the cache. A 206 gives the validators, the size (``Content-Range``)
and the first block of the header PyAV reads next; more ranges follow only if the
header is elsewhere. A 200 means the origin ignores ``Range``: the body is read in
order until PyAV has the header, within a bound.

Imports httpx at the top, and PyAV (``_media``) on the first length it reads: only
``inputs._examine`` imports this module, and only when there is a URL to ask
(``validate`` and ``status`` never load them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Final

import httpx

from lipsync_pipeline._media import UnreadableMedia, media_seconds
from lipsync_pipeline.inputs._cache import Cached, InputCache
from lipsync_pipeline.inputs._fetch import Fetcher, Reply, Unfetchable
from lipsync_pipeline.inputs._findings import InputCheck, Need, Probed, Target, sendable
from lipsync_pipeline.inputs._reader import BLOCK, Budget, RangedFile, Ranges, Stream
from lipsync_pipeline.lockfile import InputVersion
from lipsync_pipeline.store import redact_url

__all__ = ["probe", "probe_all"]

_NOT_MODIFIED: Final = 304
_PARTIAL: Final = 206
_OK: Final = 200
_UNSATISFIABLE: Final = 416
_PRECONDITION_FAILED: Final = 412


class _Changed(Exception):
    """The resource changed between two range requests of one read."""


@dataclasses.dataclass
class _Tally:
    requests: int = 0
    bytes_read: int = 0


def _validators(known: list[InputVersion]) -> dict[str, str]:
    """Conditional headers naming every known version (If-None-Match takes a list);
    a validator that could not be sent (from a lock written before it was filtered) is
    left out."""
    known = [sendable(v) for v in known]
    etags = list(dict.fromkeys(v.etag for v in known if v.etag))
    if etags:
        return {"If-None-Match": ", ".join(etags)}
    dates = [v.last_modified for v in known if v.last_modified]
    return {"If-Modified-Since": dates[-1]} if dates else {}


def _not_modified(
    response: httpx.Response, known: list[InputVersion], sent: Mapping[str, str]
) -> InputVersion | None:
    """Which known version a 304 confirms; None if it cannot be told (ask again)."""
    if "If-None-Match" in sent:
        tags = [t.strip() for t in sent["If-None-Match"].split(", ")]
        tag = response.headers.get("etag") or (tags[0] if len(tags) == 1 else None)
        base = next((v for v in known if v.etag == tag), None)
    else:
        date = response.headers.get("last-modified") or sent.get("If-Modified-Since")
        base = next((v for v in known if v.last_modified == date), None)
    return base


def _total(content_range: str | None) -> int | None:
    """The full size from ``Content-Range: bytes 0-65535/1234567`` (None for ``/*``)."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isascii() and total.isdigit() else None  # not "²"


def _version(response: httpx.Response, size: int | None) -> InputVersion:
    """What the response says of the version; only validators that can be sent back."""
    found = InputVersion(
        etag=response.headers.get("etag") or None,
        last_modified=response.headers.get("last-modified") or None,
        bytes=size,
    )
    return sendable(found)


def _body(response: httpx.Response, limit: int, tally: _Tally) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        tally.bytes_read += len(chunk)
        if len(data) > limit:
            raise OSError(f"the origin sent more than the {limit} bytes asked for")
    return bytes(data)


def _drain(response: httpx.Response, tally: _Tally) -> None:
    """Read a short body to its end, so that the connection goes back to the pool
    (httpx closes one whose response was not read to the end, even an empty 304's)."""
    read = 0
    for chunk in response.iter_bytes():
        read += len(chunk)
        if read > BLOCK:
            break  # a long error page: closing the connection is cheaper
    tally.bytes_read += read


def _length(file: RangedFile) -> float | str:
    """The media length PyAV reads from the header, as ``estimate`` reads a local file's."""
    try:
        seconds = media_seconds(file)
    except UnreadableMedia:
        seconds = None
        if file.failure is None:
            return "not a readable media file"
    if file.failure is not None:
        # Whatever FFmpeg made of a cut-off read (a length from the bitrate, say) is
        # a guess: the reason the read stopped is the answer.
        return _failure(file.failure)
    return seconds if seconds is not None else "no duration in its header"


def _failure(exc: BaseException) -> str:
    if isinstance(exc, Budget | Unfetchable):
        return str(exc)
    if isinstance(exc, _Changed):
        return "it changed while its header was being read"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return "its TLS certificate could not be verified"
    if isinstance(exc, httpx.HTTPError):
        return f"unreachable ({type(exc).__name__})"
    if isinstance(exc, ValueError | httpx.InvalidURL):
        return f"could not be asked ({type(exc).__name__})"
    return f"could not be read ({exc})"


class _Asker:
    """The requests of one URL (one worker thread)."""

    def __init__(self, target: Target, cached: Cached | None, fetcher: Fetcher) -> None:
        self.target, self.cached, self.fetcher = target, cached, fetcher
        self.tally = _Tally()

    def ask(self) -> Probed:
        try:
            version, seconds, problem = self._ask()
        # ValueError and InvalidURL: a header or URL httpx refuses to send (UnicodeEncodeError
        # for a non-ASCII value): one odd origin is a reason, never a traceback.
        except (
            Unfetchable,
            httpx.HTTPError,
            httpx.InvalidURL,
            OSError,
            ValueError,
            _Changed,
        ) as exc:
            version, seconds, problem = None, None, _failure(exc)
        shown = None if problem is None else f"{redact_url(self.target.url)}: {problem}"
        return Probed(version, seconds, shown, self.tally.requests, self.tally.bytes_read)

    def _ask(self) -> tuple[InputVersion | None, float | None, str | None]:
        known = list(self.target.known)
        if self.cached is not None:
            known.append(self.cached.version)
        sent = _validators(known)
        first = 1 if self.target.need is Need.VERSION else BLOCK
        with self.fetcher.get(self.target.url, {"Range": f"bytes=0-{first - 1}", **sent}) as reply:
            self.tally.requests += reply.hops
            if reply.response.status_code != _NOT_MODIFIED:
                return self._read(reply)
            _drain(reply.response, self.tally)
            now = _not_modified(reply.response, known, sent)
        if now is not None:
            cached = self.cached
            seconds = cached.seconds if cached and cached.version.compare(now) else None
            if seconds is not None or not self._wants_length(now):
                return now, seconds, None
        # A 304 that does not say which version, or a length nobody kept: ask again.
        with self.fetcher.get(self.target.url, {"Range": f"bytes=0-{first - 1}"}) as reply:
            self.tally.requests += reply.hops
            return self._read(reply)

    def _wants_length(self, now: InputVersion) -> bool:
        need = self.target.need
        if need is Need.LENGTH_IF_NEW:
            return any(then.compare(now) is not True for then in self.target.known)
        return need is Need.LENGTH

    def _read(self, reply: Reply) -> tuple[InputVersion | None, float | None, str | None]:
        response = reply.response
        status = response.status_code
        if status not in (_PARTIAL, _OK):
            _drain(response, self.tally)
            if status == _UNSATISFIABLE:
                return _version(response, 0), None, "it is empty"
            return None, None, f"HTTP {status}"
        partial = status == _PARTIAL
        size = (
            _total(response.headers.get("content-range")) if partial else _length_header(response)
        )
        version = _version(response, size)
        if not self._wants_length(version):
            if partial:  # a byte or a block: read, so that the connection is reused
                _body(response, BLOCK, self.tally)
            return version, None, None
        if partial:
            if size is None:
                return version, None, "the origin does not say its size (Content-Range */*)"
            etag = version.etag
            head = _body(response, BLOCK, self.tally)
            source: Ranges | Stream = Ranges(
                lambda lo, hi: self._range(reply.url, lo, hi, etag), size, head
            )
        else:
            source = Stream(self._counted(response), size)
        file = RangedFile(source)
        seconds = _length(file)
        version = dataclasses.replace(version, sha256=file.digest())
        if isinstance(seconds, str):
            return version, None, seconds
        return version, seconds, None

    def _counted(self, response: httpx.Response) -> Iterator[bytes]:
        for chunk in response.iter_bytes():
            self.tally.bytes_read += len(chunk)
            yield chunk

    def _range(self, url: str, lo: int, hi: int, etag: str | None) -> bytes:
        headers = {"Range": f"bytes={lo}-{hi - 1}"}
        if etag and not etag.startswith("W/"):  # If-Match compares strongly: never a weak tag
            headers["If-Match"] = etag
        with self.fetcher.get(url, headers) as reply:
            self.tally.requests += reply.hops
            status = reply.response.status_code
            if status == _PRECONDITION_FAILED:
                raise _Changed
            if status != _PARTIAL:
                raise OSError(f"HTTP {status} for bytes {lo}-{hi - 1}")
            return _body(reply.response, hi - lo, self.tally)


def _length_header(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def probe(target: Target, cached: Cached | None, fetcher: Fetcher) -> Probed:
    """Ask one URL (blocking; each worker thread runs one at a time)."""
    return _Asker(target, cached, fetcher).ask()


def probe_all(
    targets: Mapping[str, Target], cache: InputCache, check: InputCheck
) -> dict[str, Probed]:
    """Ask every target, ``check.concurrency`` at a time; the cache is updated with
    what was learnt (the caller saves it)."""
    found: dict[str, Probed] = {}
    fetcher = Fetcher(check.policy, timeout=check.timeout, connections=check.concurrency)
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(check.concurrency, len(targets))), thread_name_prefix="input-check"
    )
    finished = False
    try:
        futures: dict[Future[Probed], str] = {
            pool.submit(probe, target, cache.get(url), fetcher): url
            for url, target in targets.items()
        }
        for done, future in enumerate(as_completed(futures), start=1):
            url = futures[future]
            found[url] = result = future.result()
            _remember(cache, url, result)
            if check.progress is not None:
                check.progress(done, len(futures))
        finished = True
    finally:
        # Interrupted (Ctrl-C): do not wait for the requests in flight.
        pool.shutdown(wait=finished, cancel_futures=True)
        if finished:
            fetcher.close()
    return found


def _remember(cache: InputCache, url: str, probed: Probed) -> None:
    version = probed.version
    if version is None or version.empty:
        return
    seconds = probed.seconds
    if seconds is None:
        before = cache.get(url)
        if before is not None and before.version.compare(version):
            seconds = before.seconds  # the same version: what was known stays known
    cache.put(url, Cached(version, seconds))
