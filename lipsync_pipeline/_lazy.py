"""A package's public names, imported on first use (PEP 562).

A command imports only what it uses: ``lipsync-pipeline validate`` must not pay for
trio, httpx or the studio because ``usecases/__init__`` names ``run_pipeline``.
Each package ``__init__`` therefore lists where its names live and lets
:func:`lazy_exports` import a private module the first time one of its names is
asked for (``from lipsync_pipeline.usecases import validate`` loads
``usecases/_validate.py`` and what it needs, nothing else). Type checkers read the
same names from the ``if TYPE_CHECKING:`` imports beside the table;
``tests/unit/test_exports.py`` checks that the table, ``__all__`` and the private
modules agree, and ``tests/acceptance/test_import_sets.py`` which modules each
command loads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, public: Iterable[str], homes: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, serving each name of ``homes``
    (private module -> the names it defines) from that module, imported on first use.

    ``public`` is the package's ``__all__``: every name in it must have a home, and
    every home's names must be in it (raises ValueError at import otherwise, so a
    mistake shows in the first test that imports the package)."""
    where = {name: module for module, names in homes.items() for name in names}
    if set(where) != set(public):
        raise ValueError(
            f"{package}: __all__ and the lazy homes differ: {sorted(set(where) ^ set(public))}"
        )

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__, not importlib.import_module: the C import path is the one
        # `python -X importtime` reports, so lazily loaded modules show there too.
        full = f"{package}.{module}"
        __import__(full)
        value = getattr(sys.modules[full], name)
        # Cached as a plain attribute: the next look-up does not come here again.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
