"""Log lines of code that may run before logging is configured, or without it.

``run`` configures logging once it goes the whole way (and a library user may);
``plan`` and an up-to-date ``run`` do not, as it would cost start-up (structlog's
import), and show what they found in their own output. An unconfigured structlog
would print on stdout, into ``--format json``, so until something configures it the
lines are dropped, and structlog is never imported here. Users: the input check, and
what an up-to-date run does under its lock.
"""

from __future__ import annotations

import sys
from typing import Any, Final

__all__ = ["held", "hold_lines", "logger", "release_lines"]

# The lines logged while structlog is not configured, if the command keeps them (see
# hold_lines); None: they are dropped.
_held: list[tuple[str, str, str, dict[str, Any]]] | None = None


class _Drop:
    def __getattr__(self, level: str) -> Any:
        return lambda *args, **kwargs: None


_DROP: Final = _Drop()


class _Hold:
    """A logger whose lines wait in ``_held`` for ``release_lines``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, level: str) -> Any:
        def log(event: str, **fields: Any) -> None:
            if _held is not None:
                _held.append((self._name, level, event, fields))

        return log


def logger(name: str) -> Any:
    """``structlog.get_logger(name)`` once structlog is configured; else a logger whose
    lines wait for ``release_lines`` if the command holds them, or are dropped."""
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        return structlog.get_logger(name)
    return _DROP if _held is None else _Hold(name)


def hold_lines() -> None:
    """Keep the lines logged from now on until logging is configured: ``run`` configures
    it only when the run goes the whole way, or when there are lines to show."""
    global _held
    _held = []


def held() -> bool:
    """Whether lines wait to be shown."""
    return bool(_held)


def release_lines() -> None:
    """Log the lines held (logging is configured now), and hold no more."""
    global _held
    lines, _held = _held or [], None
    for name, level, event, fields in lines:
        getattr(logger(name), level)(event, **fields)
