"""The input check's log lines, only once logging is configured.

``run`` configures logging (and a library user may); ``plan`` does not, as it would
cost start-up, and shows what the check found in its own output. An unconfigured
structlog would print on stdout, into ``plan --format json``, so until something
configures it the lines are dropped, and structlog is never imported here.
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
