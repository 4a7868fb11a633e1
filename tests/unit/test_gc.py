"""The garbage collector of a program that uses lipsync_pipeline as a library."""

from __future__ import annotations

import gc
import shutil
import weakref
from pathlib import Path

from lipsync_pipeline.usecases import check

DEMO = Path(__file__).resolve().parents[2] / "manifests"


class _Node:
    me: object


def test_a_library_call_leaves_the_callers_cycles_collectable(tmp_path: Path) -> None:
    """check() (as plan and run use it) keeps its manifest, lock and plan out of the
    collector's passes only in the command-line process; in a service that calls it per
    request, a cycle the caller held during the call is still collected once dropped."""
    shutil.copytree(DEMO, tmp_path / "m")
    node = _Node()
    node.me = node
    dropped = weakref.ref(node)
    frozen = gc.get_freeze_count()

    checked = check(tmp_path / "m" / "demo.yaml", local=True)

    assert checked.plan.steps  # the call did its work
    del node
    gc.collect()
    assert dropped() is None
    assert gc.get_freeze_count() == frozen
