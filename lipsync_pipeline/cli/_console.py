"""Everything the CLI shows: logging setup, tables, the live progress display, JSON.

Human output on a terminal goes through rich; machine output is plain
``json.dumps`` on stdout. Logs go to stderr, as console lines on a terminal and
JSON lines otherwise, with every secret the process holds (the API key, see
``errors.register_secret``) masked as a last line of defence; nothing else is altered.

rich and structlog are imported where they are used, not here: together they cost
~0.2 s of start-up, and ``validate``, ``plan`` piped or ``--format json``, and
``schema`` need neither (``tests/acceptance/test_import_sets.py``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import IO, TYPE_CHECKING, Any, Final

from lipsync_pipeline.errors import SECRETS, redact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "ProgressDisplay",
    "Rows",
    "configure_logging",
    "count_line",
    "emit_json",
    "stdout_console",
    "table",
]

_REFRESH_PER_SECOND: Final = 4
_STATE_ORDER: Final = (
    "queued",
    "submitting",
    "processing",
    "downloading",
    "completed",
    "skipped",
    "failed",
    "error",
    "timed_out",
    "unknown",
    "cancelled",
    "in_flight",
    "over_budget",
)


def _redact(value: Any) -> Any:
    """``value`` with every registered secret masked, in strings at any depth."""
    if isinstance(value, str):
        if "?" in value and "://" in value:
            # A URL with a query may be presigned (a store's input URL, an API's output
            # link): httpx logs every request's URL at INFO. Imported here, not at the
            # top: the store package costs ~0.3 s of start-up that most commands never need.
            from lipsync_pipeline.store import redact_urls

            value = redact_urls(value)
        return redact(value)
    if isinstance(value, dict):
        return {_redact(k): _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = _redact(value)
    return event


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is *now*: rich's live display swaps it to
    print log lines above the progress line, and a logger bound to the original
    stream would scribble through it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: str, verbosity: int) -> None:
    """Configure structlog (and the stdlib loggers of hypercorn) once, from the CLI.

    ``fmt`` is ``console``, ``json`` or ``auto`` (console on a terminal, JSON otherwise).
    ``verbosity``: -1 warnings only, 0 info, 1 debug.
    """
    import logging

    import structlog

    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        # Not cached: a module's logger cached on first use keeps this configuration
        # for good, so a program (or a test) that calls main() and later reconfigures
        # or captures structlog would not see those loggers change. A few microseconds
        # per log line; a run logs little.
        cache_logger_on_first_use=False,
    )
    # Third-party stdlib loggers (hypercorn, httpx) go through the same renderer, so a
    # JSON log stays JSON lines; they stay quiet below WARNING unless -v.
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING if verbosity < 1 else logging.DEBUG)


_PIPE_WIDTH: Final = 160


def stdout_console() -> Console:
    from rich.console import Console

    # rich assumes 80 columns when stdout is not a terminal; CI logs are wider.
    width = None if sys.stdout.isatty() else _PIPE_WIDTH
    return Console(file=sys.stdout, soft_wrap=False, highlight=False, width=width)


# Only prose wraps (at spaces). Every other cell is one word that people copy or
# search for (an id, a path, a state): on a narrow terminal it is shortened with an
# ellipsis (the JSON output has it whole), never broken across lines mid-word.
_PROSE_COLUMNS: Final = frozenset({"WHY", "NEXT RUN", "ERROR"})
_MAX_WIDTH: Final = {"REQUEST": 12}  # a uuid's first blocks are enough to tell them apart


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for name in columns:
        out.add_column(
            name,
            overflow="fold" if name in _PROSE_COLUMNS else "ellipsis",
            max_width=_MAX_WIDTH.get(name),
        )
    for row in rows:
        # Text, not str: a cell is data, and "[Errno 2]" in an error is not rich markup.
        out.add_row(*map(Text, row))
    return out


def emit_json(data: Any, stream: IO[str] | None = None) -> None:
    """One JSON document: indented for a person at a terminal, one line for a pipe
    (the stdlib's C encoder; indenting falls back to pure Python, ~0.2 ms a job)."""
    stream = stream or sys.stdout
    if stream.isatty() or SECRETS or not isinstance(data, dict) or not all(map(_is_str, data)):
        whole = _whole(data)
        # Masked before encoding, value by value: a secret holding characters JSON
        # escapes would not be found in the encoded text.
        shown = _redact(whole) if SECRETS else whole  # validate, plan, status: none registered
        text = json.dumps(shown, indent=2 if stream.isatty() else None, sort_keys=True, default=str)
        print(text, file=stream)
        return
    _stream_json(data, stream.write)
    stream.write("\n")


class Rows:
    """A JSON array whose items are made as they are written: ``make`` of each of
    ``items``. A pipe gets them a few at a time, never all at once (50,000 steps of a
    plan are ~60 MB as dicts); anything else gets the list."""

    __slots__ = ("_items", "_make")

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Any]) -> None:
        self._items = items
        self._make = make

    def __iter__(self) -> Iterator[Any]:
        return map(self._make, self._items)


def _whole(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    return {k: list(v) if type(v) is Rows else v for k, v in data.items()}


_encode: Final = json.JSONEncoder(sort_keys=True, default=str).encode
# Array items encoded by one call: a call's set-up is ~1 us of a plan step's ~7 us.
# Small batches: the whole array in one call, or batches of 300 or 1,000 steps
# (~0.2 or 0.6 MB of text), were slower than one call a step (measured on CPython
# 3.11; batches of 50 or 100 were ~20% faster).
_BATCH: Final = 50


def _is_str(key: object) -> bool:
    return type(key) is str


def _stream_json(doc: dict[str, Any], write: Callable[[str], object]) -> None:
    """``json.dumps(doc, sort_keys=True, default=str)``, byte for byte, written a
    batch of array items at a time: a 50,000-job plan is ~30 MB of text, held twice
    at once (the text and its encoding) when written whole. A batch is a list, whose
    encoding is its items' joined by ", " within brackets, as the whole array's is."""
    write("{")
    for n, key in enumerate(sorted(doc)):
        write((", " if n else "") + _encode(key) + ": ")
        value = doc[key]
        if type(value) is list or type(value) is Rows:
            write("[")
            items = iter(value)
            batch = list(islice(items, _BATCH))
            while batch:
                write(_encode(batch)[1:-1])
                batch = list(islice(items, _BATCH))
                if batch:
                    write(", ")
            write("]")
        else:
            write(_encode(value))
    write("}")


def count_line(label: str, *, enabled: bool) -> Callable[[int, int], None] | None:
    """A "label: 57/200" line on stderr, rewritten in place and erased when the count
    is complete (``plan``'s input check); None when not on a terminal."""
    if not enabled:
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label}: {done}/{total}" if done < total else "\r\x1b[K")
        sys.stderr.flush()

    return show


class ProgressDisplay:
    """Counts of jobs by state with an ETA, live on a terminal; silent otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self._state: dict[str, str] = {}
        self._started = time.monotonic()
        self._enabled = enabled
        self._inputs: tuple[int, int] | None = None

    def job_state(self, job_id: str, state: str) -> None:
        self._state[job_id] = state

    def inputs_checked(self, done: int, total: int) -> None:
        """The input check's count, shown until the jobs start."""
        self._inputs = (done, total)

    def _render(self) -> Text:
        from rich.text import Text

        if self._inputs is not None and not self._state:
            done, total = self._inputs
            return Text(f"checking inputs at their URLs: {done}/{total}")
        counts = Counter(self._state.values())
        total = len(self._state)
        done = sum(counts[s] for s in _STATE_ORDER[4:])
        parts = [f"{counts[s]} {s}" for s in _STATE_ORDER if counts[s]]
        elapsed = time.monotonic() - self._started
        eta = ""
        if 0 < done < total:
            eta = f"  ETA {(elapsed / done) * (total - done):.0f}s"
        return Text(f"[{done}/{total}] {', '.join(parts)}  {elapsed:.0f}s{eta}")

    @contextmanager
    def live(self) -> Iterator[ProgressDisplay]:
        if not self._enabled:
            yield self
            return
        from rich.console import Console
        from rich.live import Live

        with Live(
            get_renderable=self._render,
            console=Console(file=sys.stderr),
            refresh_per_second=_REFRESH_PER_SECOND,
            transient=True,
        ):
            yield self
