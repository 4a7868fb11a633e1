"""Running jobs: download the inputs, render off the event loop, finish, notify the webhook.

Each job is one task in the studio's nursery. A ``CapacityLimiter`` of ``workers``
bounds the jobs that download/decode/encode at once; the others wait as
``processing``, like a GPU queue. Downloads are async (so a job may fetch the
studio's own ``/assets/`` over loopback without deadlocking the event loop);
decoding and encoding run in ``trio.to_thread.run_sync`` because they would
otherwise stall every request for a second or more. Those threads share a second
limiter of ``MAX_CONCURRENT_DECODES``, whatever ``workers`` says: decoded inputs
are what costs memory, and a thread abandoned by a timed-out job keeps its slot
until it really ends.

Downloads and webhooks go through ``fetch.Fetcher`` (allowed addresses only).
A failed download says which input and, if one came, the HTTP status: nothing
else about what answered (no body, no server header, no address, no error class,
which would tell a closed port from a filtered one).

Whatever happens, a job ends ``completed`` or ``failed`` with a clear ``error``:
bad media raise ``MediaError``; anything unexpected is logged and reported as an
internal error; a job that exceeds ``JOB_TIMEOUT`` fails instead of hanging.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Final

import httpx
import structlog
import trio

from .. import pricing
from ._config import StudioConfig
from ._faults import FaultInjector
from ._fetch import Fetcher, FetchRefused
from ._media import MediaError
from ._render import RenderResult, probe, render, render_placeholder
from ._store import Job, JobStore
from ._validate import URL_FIELDS

__all__ = ["JOB_TIMEOUT", "MAX_CONCURRENT_DECODES", "MAX_DOWNLOAD_BYTES", "JobRunner"]

logger = structlog.get_logger(__name__)

MAX_DOWNLOAD_BYTES: Final = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT: Final = 120.0
JOB_TIMEOUT: Final = 30 * 60.0
WEBHOOK_ATTEMPTS: Final = 4
WEBHOOK_BACKOFF: Final = 0.5  # seconds, doubled after each failed attempt
WEBHOOK_TIMEOUT: Final = 10.0
MAX_CONCURRENT_DECODES: Final = 2


class JobRunner:
    def __init__(
        self,
        config: StudioConfig,
        store: JobStore,
        injector: FaultInjector,
        fetcher: Fetcher,
        nursery: trio.Nursery,
        data_dir: Path,
    ) -> None:
        self.config, self.store, self.injector = config, store, injector
        self._fetcher, self._nursery = fetcher, nursery
        self.outputs = data_dir / "outputs"
        self._work = data_dir / "work"
        self._cache = data_dir / "placeholders"
        for directory in (self.outputs, self._work, self._cache):
            directory.mkdir(parents=True, exist_ok=True)
        self._limiter = trio.CapacityLimiter(config.workers)
        self._decodes = trio.CapacityLimiter(MAX_CONCURRENT_DECODES)
        # fast mode: the probe of each distinct request is done once (load tests repeat them).
        self._probes: dict[tuple[str, ...], RenderResult] = {}
        self._placeholder_lock = trio.Lock()  # concurrent jobs must not write one file twice

    def start(self, job: Job) -> None:
        job.fail_injected = self.injector.job_fails()
        self._nursery.start_soon(self._run, job)

    async def _run(self, job: Job) -> None:
        # Job tasks must not inherit a request's logging context.
        structlog.contextvars.clear_contextvars()
        log = logger.bind(job_id=job.id, model=job.model)
        error = ""
        result: RenderResult | None = None
        try:
            with trio.fail_after(JOB_TIMEOUT):
                if job.fail_injected:
                    error = "Generation failed (injected fault)"
                else:
                    result = await self._process(job)
        except MediaError as exc:
            error = str(exc)
        except trio.TooSlowError:
            error = f"Generation timed out after {JOB_TIMEOUT:.0f} s"
        except Exception:
            log.exception("studio.job_crashed")
            error = "Internal error while rendering"
        finally:
            shutil.rmtree(self._work / job.id, ignore_errors=True)
        render_delay = self.config.render_seconds(job.model, job.form_state)
        remaining = job.created + render_delay - trio.current_time()
        if remaining > 0:
            await trio.sleep(remaining)
        self._finish(job, result, error)
        log.debug("studio.job_finished", status=job.status, error=job.error)
        if job.webhook:
            self._nursery.start_soon(self._deliver, job)

    def _finish(self, job: Job, result: RenderResult | None, error: str) -> None:
        job.execution_ms = round((trio.current_time() - job.created) * 1000)
        if result is None:
            job.status, job.error = "failed", error or "Generation failed"
            return
        order = job.form_state.get("order")
        job.credits = pricing.estimate_credits(
            job.model,
            pricing.resolution_of(job.form_state),
            durations=result.durations,
            order=order,
        )
        stats = self.store.stats
        stats.credits_estimated += job.credits
        stats.billed_seconds += pricing.billed_seconds(
            job.model, durations=result.durations, order=order
        )
        stats.output_seconds += result.seconds
        job.status = "completed"

    async def _process(self, job: Job) -> RenderResult:
        form = job.form_state
        resolution, order = pricing.resolution_of(form), form.get("order")
        key = (
            job.model,
            resolution,
            str(order),
            *(f"{k}={form[k]}" for k in sorted(URL_FIELDS & set(form))),
        )
        async with self._limiter:
            started = trio.current_time()
            if self.config.fast and key in self._probes:
                result = self._probes[key]
            else:
                inputs = await self._download_inputs(job)
                if self.config.fast:
                    result = await trio.to_thread.run_sync(
                        partial(probe, job.model, resolution, inputs, order=order),
                        abandon_on_cancel=True,
                        limiter=self._decodes,
                    )
                    self._probes[key] = result
                else:
                    out = self.outputs / f"{job.id}.mp4"
                    result = await trio.to_thread.run_sync(
                        partial(render, job.model, resolution, inputs, out, order=order),
                        abandon_on_cancel=True,
                        limiter=self._decodes,
                    )
                    job.output_path = out
            if self.config.fast:
                job.output_path = await self._placeholder(result)
            self.store.stats.render_seconds += trio.current_time() - started
        return result

    async def _placeholder(self, result: RenderResult) -> Path:
        """One cached grey MP4 per (size, length to 10 ms): right shape, no real encoding."""
        centis = round(result.seconds * 100)
        path = self._cache / f"{result.width}x{result.height}-{centis}.mp4"
        async with self._placeholder_lock:
            if not path.exists():
                await trio.to_thread.run_sync(
                    render_placeholder, path, (result.width, result.height), centis / 100
                )
        return path

    async def _download_inputs(self, job: Job) -> Mapping[str, Path]:
        work = self._work / job.id
        work.mkdir(parents=True, exist_ok=True)
        inputs: dict[str, Path] = {}
        for field in sorted(URL_FIELDS & set(job.form_state)):
            inputs[field] = await self._download(str(job.form_state[field]), work / field, field)
        return inputs

    async def _download(self, url: str, dest: Path, field: str) -> Path:
        what = f"Could not fetch input `{field}`"
        too_large = MediaError(f"{what}: larger than {MAX_DOWNLOAD_BYTES >> 20} MB")
        try:
            with trio.fail_after(DOWNLOAD_TIMEOUT):
                async with self._fetcher.get(url) as response:
                    if response.status_code != 200:
                        raise MediaError(f"{what}: HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                        raise too_large
                    size = 0
                    with dest.open("wb") as sink:
                        async for chunk in response.aiter_bytes():
                            size += len(chunk)
                            if size > MAX_DOWNLOAD_BYTES:
                                raise too_large
                            sink.write(chunk)
        except FetchRefused:
            raise MediaError(
                f"{what}: its address is not allowed (only public addresses are fetched; "
                "see `serve --allow-private-networks`)"
            ) from None
        except trio.TooSlowError:
            raise MediaError(f"{what}: timed out after {DOWNLOAD_TIMEOUT:.0f} s") from None
        except httpx.HTTPError:
            raise MediaError(what) from None
        if size == 0:
            raise MediaError(f"{what}: the file is empty")
        return dest

    async def _deliver(self, job: Job) -> None:
        """POST the final job JSON; retry with exponential backoff on failure."""
        structlog.contextvars.clear_contextvars()
        assert job.webhook is not None
        stats = self.store.stats.webhooks
        body = job.public()
        delay = WEBHOOK_BACKOFF
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            stats["attempts"] += 1
            try:
                with trio.fail_after(WEBHOOK_TIMEOUT):  # name resolution included
                    status = await self._fetcher.post(job.webhook, body, WEBHOOK_TIMEOUT)
                if 200 <= status < 300:
                    stats["delivered"] += 1
                    return
                if 300 <= status < 400:
                    # Not a delivery, and the target is never POSTed to (it could be
                    # anywhere); nor is the same URL retried: it will say the same.
                    logger.warning("studio.webhook_redirected", job_id=job.id, status=status)
                    break
                outcome = f"HTTP {status}"
            except FetchRefused:
                # Refused before connecting; its address will not become allowed.
                logger.warning("studio.webhook_refused", job_id=job.id)
                break
            except (httpx.HTTPError, trio.TooSlowError) as exc:
                outcome = type(exc).__name__
            logger.debug("studio.webhook_retry", job_id=job.id, attempt=attempt, outcome=outcome)
            if attempt < WEBHOOK_ATTEMPTS:
                await trio.sleep(delay)
                delay *= 2
        stats["failed"] += 1
        logger.warning("studio.webhook_failed", job_id=job.id, attempts=attempt)
