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

__all__ = ["logger"]


class _Drop:
    def __getattr__(self, level: str) -> Any:
        return lambda *args, **kwargs: None


_DROP: Final = _Drop()


def logger(name: str) -> Any:
    """``structlog.get_logger(name)`` once structlog is configured, else a sink."""
    structlog = sys.modules.get("structlog")
    if structlog is None or not structlog.is_configured():
        return _DROP
    return structlog.get_logger(name)
