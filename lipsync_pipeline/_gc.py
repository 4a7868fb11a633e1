"""Keeping the cyclic garbage collector off large trees of long-lived objects.

Parsing a 50,000-entry lockfile creates ~150,000 dicts and values, none of them
garbage; with the manifest's jobs already alive, the collector traverses them all
again and again while they grow (measured: up to 2x the parse). And once built, a
command's manifest, lock and plan live until it ends: each later collection of the
oldest generation would walk them all once more (three full passes over ~2 million
objects in a 50,000-job ``plan``, seen in a profile; no bench isolates the figure).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["freeze_for_this_command", "paused_gc", "settled"]

# Off unless a command-line process asks: freezing is for a process that ends with
# the command (see ``settled``), never for a library user's long-lived one.
_freezing = False


def freeze_for_this_command() -> None:
    """Let ``settled`` freeze what it builds: called by the CLI, whose process ends
    with the command, so the objects kept out of the collector's reach go with it."""
    global _freezing
    _freezing = True


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting still frees)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def settled() -> Iterator[None]:
    """``paused_gc``, then, in a command-line process (``freeze_for_this_command``),
    everything alive at the end of the block is moved out of the collector's reach
    (``gc.freeze``): for what a command builds once and keeps until it exits.

    Never in a library user's process: ``gc.freeze`` takes every object alive, the
    caller's too, and nothing unfreezes them, so a service calling ``check()`` per
    request would never collect the cycles it drops afterwards. Frozen objects are
    still freed when their last reference goes (reference counting does not look at
    generations); only reference cycles are never collected. So the garbage already
    waiting is collected first (cheap: what an earlier block built is frozen, not
    traversed), and what may leak is the cycles the block itself leaves unreachable
    (with the collector paused, a block that makes them in bulk does not belong
    here). A manifest, a lock and a plan hold none: values all the way down."""
    if not _freezing:
        with paused_gc():
            yield
        return
    gc.collect()
    with paused_gc():
        yield
        gc.freeze()
