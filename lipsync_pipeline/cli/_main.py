"""``main()``: parse, configure logging, pick the reporter, run the command, and
turn every error a user can meet into a message and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from lipsync_pipeline.cli._console import configure_logging
from lipsync_pipeline.cli._parser import build_parser
from lipsync_pipeline.errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    LipsyncError,
    StorageError,
)

__all__ = ["command", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``lipsync-pipeline`` command; returns the exit code (see ``--help``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors and --help
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    # Only now: --help and --version need nothing but the parser.
    from lipsync_pipeline.cli._commands import COMMANDS, logs
    from lipsync_pipeline.cli._reporters import reporter_for

    if logs(args):
        configure_logging(args.log_format, args.verbosity)
    out = reporter_for(getattr(args, "format", "text"), str(getattr(args, "manifest", "")))
    try:
        if args.command in COMMANDS:
            return COMMANDS[args.command](args, out)
        code: int = args.func(args)  # serve: a foreground server, nothing to report
        return code
    except LipsyncError as exc:
        out.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `lipsync-pipeline schema | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # The last line of defence: a file-system error we did not foresee is still
        # a message, not a traceback.
        error = StorageError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        out.error(error)
        return error.exit_code


def command() -> int:
    """The installed ``lipsync-pipeline`` script (and ``python -m lipsync_pipeline``):
    ``main()`` in a process that ends with the command, which may therefore keep what
    it builds out of the garbage collector's passes (``_gc.settled``). A program that
    calls ``main()`` itself keeps its collector as it was."""
    from lipsync_pipeline._gc import freeze_for_this_command

    freeze_for_this_command()
    return main()
