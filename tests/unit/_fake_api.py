"""A hand-written fake of the ``lipsync_pipeline.run.Api`` protocol, for the job walk's
unit tests: no sockets, scripted per job and per request id, every call recorded
with its virtual time (``trio.current_time()``, so ``autojump_clock`` applies).

Jobs are told apart by their ``image`` input: ``https://cdn.example.com/<job>.png``
(see :func:`manifest_text`). A job's n-th accepted submission gets the request id
``<job>-r<n>``; what polls of a request id answer is a :class:`Render`.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from lipsync_pipeline._staging import StagedFile, staging_path
from lipsync_pipeline.api import JobStatus
from lipsync_pipeline.errors import RequestRejected, TransientApiError

__all__ = ["Call", "FakeApi", "Render", "manifest_text", "request_id"]

_CDN = "https://cdn.example.com"
_OUTPUTS = f"{_CDN}/out/"


def manifest_text(*job_ids: str, extra: str = "") -> str:
    """A manifest of avatar jobs with URL inputs, one image per job (how the fake tells
    jobs apart)."""
    lines = ["version: 1", "jobs:"]
    for job_id in job_ids:
        lines += [
            f"  - id: {job_id}",
            "    kind: avatar",
            f"    image: {_CDN}/{job_id}.png",
            f"    audio: {_CDN}/{job_id}.mp3",
        ]
        lines += [f"    {line}" for line in extra.splitlines()]
    return "\n".join(lines) + "\n"


def request_id(job_id: str, n: int = 1) -> str:
    """The request id the fake gives ``job_id``'s n-th accepted submission."""
    return f"{job_id}-r{n}"


@dataclass(frozen=True, slots=True)
class Render:
    """How polls of one request id answer: ``busy_polls`` times ``busy_status``, then
    ``end`` for good (``None``: it never ends)."""

    busy_polls: int = 1
    end: str | None = "completed"
    busy_status: str = "processing"
    error: str = ""
    execution_time_ms: int | None = 4000
    video: bytes = b"\x00\x00\x00\x18ftypmp42 fake video"


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the fake saw it. ``at``: when it arrived, ``done``: when it was
    answered (or raised); both virtual."""

    method: str  # "submit", "get_job" or "fetch"
    job_id: str
    at: float
    done: float
    request_id: str | None = None
    idempotency_key: str | None = None
    form_state: Mapping[str, Any] = field(default_factory=dict)
    raised: BaseException | None = None


class FakeApi:
    """Implements ``lipsync_pipeline.run.Api``; see the module docstring.

    Scripting:

    - ``renders[request_id] = Render(...)``: what polls of that id answer (default:
      ``default_render``); an id from an earlier run must be scripted to be known.
    - ``fail_submit(job, *errors)``: the job's next submissions raise these, in order.
    - ``fail_every_submit(error)``: every submission raises ``error``.
    - ``forget(request_id)``: polls of it answer 404 (``RequestRejected``).
    - ``fail_fetch(request_id, error)``: its download raises ``error`` once.

    ``latency``: virtual seconds each request takes.
    """

    def __init__(self, *, default_render: Render | None = None, latency: float = 0.05) -> None:
        self.default_render = default_render or Render()
        self.latency = latency
        self.renders: dict[str, Render] = {}
        self.calls: list[Call] = []
        self._requests: Counter[str] = Counter()
        self._ok = 0
        self._submit_errors: defaultdict[str, deque[BaseException]] = defaultdict(deque)
        self._every_submit: BaseException | None = None
        self._forgotten: set[str] = set()
        self._fetch_errors: dict[str, BaseException] = {}
        self._accepted: Counter[str] = Counter()
        self._polls: Counter[str] = Counter()
        self._job_of: dict[str, str] = {}
        self._active: set[str] = set()
        self.max_active = 0

    # --- scripting ---------------------------------------------------------------------

    def fail_submit(self, job_id: str, *errors: BaseException) -> None:
        self._submit_errors[job_id].extend(errors)

    def fail_every_submit(self, error: BaseException) -> None:
        self._every_submit = error

    def forget(self, request_id: str) -> None:
        self._forgotten.add(request_id)

    def fail_fetch(self, request_id: str, error: BaseException) -> None:
        self._fetch_errors[request_id] = error

    # --- what happened -----------------------------------------------------------------

    def of(self, method: str, job_id: str | None = None) -> list[Call]:
        """The calls of one method (for one job), in arrival order."""
        return [c for c in self.calls if c.method == method and job_id in (None, c.job_id)]

    def methods(self, job_id: str) -> list[str]:
        return [c.method for c in self.calls if c.job_id == job_id]

    # --- the Api protocol --------------------------------------------------------------

    @property
    def requests(self) -> Mapping[str, int]:
        return dict(self._requests)

    @property
    def requests_ok(self) -> int:
        return self._ok

    async def submit(
        self,
        model: str,
        form_state: Mapping[str, Any],
        *,
        webhook: str | None,
        idempotency_key: str,
    ) -> str:
        job_id = _job_of_form(form_state)
        at = trio.current_time()
        self._requests["POST"] += 1
        self._begin(job_id)
        error = self._every_submit
        if error is None and self._submit_errors[job_id]:
            error = self._submit_errors[job_id].popleft()
        try:
            await trio.sleep(self.latency)
        except BaseException:
            self._end(job_id)
            raise
        if error is not None:
            if not isinstance(error, TransientApiError):
                self._ok += 1  # an answer, if an unwelcome one
            self._end(job_id)
            self._record(
                "submit",
                job_id,
                at,
                idempotency_key=idempotency_key,
                form_state=form_state,
                raised=error,
            )
            raise error
        self._ok += 1
        self._accepted[job_id] += 1
        rid = request_id(job_id, self._accepted[job_id])
        self._job_of[rid] = job_id
        self._record(
            "submit",
            job_id,
            at,
            request_id=rid,
            idempotency_key=idempotency_key,
            form_state=form_state,
        )
        return rid

    async def get_job(self, request_id: str) -> JobStatus:
        job_id = self._known(request_id)
        at = trio.current_time()
        self._requests["GET"] += 1
        self._begin(job_id)
        await trio.sleep(self.latency)
        self._ok += 1
        if request_id in self._forgotten:
            error = RequestRejected(f"GET /jobs/{request_id}: 404 job not found", status=404)
            self._end(job_id)
            self._record("get_job", job_id, at, request_id=request_id, raised=error)
            raise error
        render = self.renders.get(request_id, self.default_render)
        self._polls[request_id] += 1
        status = render.busy_status
        if render.end is not None and self._polls[request_id] > render.busy_polls:
            status = render.end
        if status == "failed":
            self._end(job_id)
        self._record("get_job", job_id, at, request_id=request_id)
        return JobStatus(
            id=request_id,
            model="lipsync-image" if status == "completed" else "lipsync",
            status=status,
            output=f"{_OUTPUTS}{request_id}.mp4" if status == "completed" else None,
            error=render.error if status == "failed" else "",
            execution_time_ms=render.execution_time_ms if status == "completed" else None,
        )

    async def fetch(self, url: str, dest: Path) -> StagedFile:
        assert url.startswith(_OUTPUTS), url
        rid = url.removeprefix(_OUTPUTS).removesuffix(".mp4")
        job_id = self._known(rid)
        at = trio.current_time()
        self._requests["DOWNLOAD"] += 1
        await trio.sleep(self.latency)
        error = self._fetch_errors.pop(rid, None)
        if error is not None:
            self._end(job_id)
            self._record("fetch", job_id, at, request_id=rid, raised=error)
            raise error
        self._ok += 1
        video = self.renders.get(rid, self.default_render).video
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = staging_path(dest)
        tmp.write_bytes(video)
        self._end(job_id)
        self._record("fetch", job_id, at, request_id=rid)
        return StagedFile(tmp, dest, hashlib.sha256(video).hexdigest(), len(video))

    # --- machinery ---------------------------------------------------------------------

    def _known(self, request_id: str) -> str:
        if request_id in self._job_of:
            return self._job_of[request_id]
        if request_id in self.renders or request_id in self._forgotten:
            # An id from an earlier run: "<job>-r<n>" by convention.
            job_id = request_id.rsplit("-r", 1)[0]
            self._job_of[request_id] = job_id
            return job_id
        raise AssertionError(f"the test did not script request id {request_id!r}")

    def _begin(self, job_id: str) -> None:
        self._active.add(job_id)
        self.max_active = max(self.max_active, len(self._active))

    def _end(self, job_id: str) -> None:
        self._active.discard(job_id)

    def _record(self, method: str, job_id: str, at: float, **details: Any) -> None:
        self.calls.append(Call(method, job_id, at, trio.current_time(), **details))


def _job_of_form(form_state: Mapping[str, Any]) -> str:
    image = str(form_state.get("image", ""))
    assert image.startswith(f"{_CDN}/") and image.endswith(".png"), image
    return image.removeprefix(f"{_CDN}/").removesuffix(".png")
