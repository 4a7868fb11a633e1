"""``python -m bench``: issue 16's targets, before the work and now, side by side.

    python -m bench                 # bench/targets.py --before 37df8de --poll (~15 min)
    python -m bench --quick         # smaller sizes: a smoke test of the bench itself
    python -m bench.run_all         # the wider set: runner vs baseline at scale, lock
                                    # durability, validation, render speed
    python -m bench.bench_polling   # both polling cases (0.5-2 s and 20-40 s renders)

Other arguments go to bench/targets.py (``--before COMMIT``, ``--tmp DIR``).
"""

from __future__ import annotations

import sys

from bench.targets import DEFAULT_BEFORE, main

args = sys.argv[1:]
if not any(a == "--before" or a.startswith("--before=") for a in args):
    args = ["--before", DEFAULT_BEFORE, *args]
if "--poll" not in args:
    args.append("--poll")
main(args)
