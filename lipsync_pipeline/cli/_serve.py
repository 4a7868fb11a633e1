"""``lipsync-pipeline serve``: the reference studio as a foreground server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from lipsync_pipeline._render_delay import RenderDelay
from lipsync_pipeline.cli._argtypes import bounded, render_delay
from lipsync_pipeline.errors import EXIT_INTERRUPTED, EXIT_OK

__all__ = ["add_serve_parser"]

_MAX_PORT: Final = 65535


_rate = bounded(float, 0.0, 1.0)
_seconds = bounded(float, 0.0)


def add_serve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="run the reference studio (the API, locally, rendering real MP4s)",
        description="Serve the lipsync.studio API contract on loopback and render real "
        "MP4 previews. Point `run --base-url http://HOST:PORT/api/v1` at it, or use "
        "`run --local`, which starts one for you.",
        epilog="example:\n  lipsync-pipeline serve --assets manifests/assets --port 8765\n"
        "  curl -H 'Authorization: Bearer sk_test_secret' -d '{\"formState\": {...}}' \\\n"
        "       http://127.0.0.1:8765/api/v1/lipsync-image",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    p.add_argument(
        "--port",
        type=bounded(int, 0, _MAX_PORT),
        default=0,
        help="port; 0 picks a free one (default)",
    )
    p.add_argument("--assets", type=Path, metavar="DIR", help="serve DIR read-only at /assets/")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept only these keys (repeatable; visible in `ps`: prefer "
        "$LIPSYNC_STUDIO_API_KEYS or --api-key-file; default: any sk_<id>_<secret>)",
    )
    p.add_argument(
        "--api-key-file",
        type=Path,
        metavar="PATH",
        help="accept the keys in PATH (one per line, # comments), with those of "
        "$LIPSYNC_STUDIO_API_KEYS (comma-separated) and --api-key",
    )
    p.add_argument(
        "--allow-private-networks",
        action="store_true",
        help="let inputs and webhooks be on private networks and loopback (default: "
        "public addresses only, plus plain loopback URLs while listening on loopback; "
        "link-local and cloud metadata addresses are always refused)",
    )
    p.add_argument(
        "--workers", type=bounded(int, 1), default=2, help="parallel renders (default 2)"
    )
    p.add_argument(
        "--render-delay",
        type=render_delay,
        default=RenderDelay(),
        metavar="SPEC",
        help="minimum processing time per job (simulates a GPU queue): SECONDS, a "
        "uniform range LOW-HIGH (e.g. 0.5-2), or lognormal:MEDIAN[:SIGMA] (sigma "
        "default 0.5); each job's draw is fixed by its model and inputs (default 0)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="skip real encoding (load tests): outputs are tiny placeholders",
    )
    chaos = p.add_argument_group("fault injection (rates between 0 and 1)")
    chaos.add_argument("--fail-rate", type=_rate, default=0.0, help="HTTP 500 answers")
    chaos.add_argument(
        "--rate-limit-rate", type=_rate, default=0.0, help="HTTP 429 answers with Retry-After"
    )
    chaos.add_argument(
        "--retry-after",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="the Retry-After of injected 429s (default 1)",
    )
    chaos.add_argument(
        "--drop-rate", type=_rate, default=0.0, help="connections closed without an answer"
    )
    chaos.add_argument("--slow-rate", type=_rate, default=0.0, help="slow answers")
    chaos.add_argument(
        "--slow-seconds",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how slow a slow answer is (default 2)",
    )
    chaos.add_argument("--job-failure-rate", type=_rate, default=0.0, help="jobs that end 'failed'")
    chaos.add_argument("--fault-seed", type=int, help="make injected faults reproducible")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from lipsync_pipeline.usecases import ServeRequest, serve

    request = ServeRequest(
        host=args.host,
        port=args.port,
        assets=args.assets,
        api_keys=tuple(args.api_key),
        api_key_file=args.api_key_file,
        allow_private_networks=args.allow_private_networks,
        render_delay=args.render_delay,
        workers=args.workers,
        fast=args.fast,
        faults={
            "error_rate": args.fail_rate,
            "rate_limit_rate": args.rate_limit_rate,
            "retry_after": args.retry_after,
            "drop_rate": args.drop_rate,
            "slow_rate": args.slow_rate,
            "slow_seconds": args.slow_seconds,
            "job_failure_rate": args.job_failure_rate,
            "seed": args.fault_seed,
        },
    )

    def announce(root: str) -> None:
        print(f"lipsync studio on {root}  (API: {root}/api/v1, stats: {root}/_studio/stats)")
        sys.stdout.flush()

    try:
        serve(request, announce)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    print("studio stopped", file=sys.stderr)
    return EXIT_OK
