"""``lock``: merge (git's merge driver), fold (shard locks) and install-merge-driver;
their flags, help and output. The work is the use cases'."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lipsync_pipeline.errors import EXIT_JOBS_FAILED, EXIT_OK

if TYPE_CHECKING:
    from lipsync_pipeline.lockfile import MergeResult

__all__ = ["add_lock_parser", "lock_command"]


def _merge_epilog() -> str:
    from lipsync_pipeline.lockfile import PRECEDENCE
    from lipsync_pipeline.usecases import DRIVER_COMMAND, DRIVER_NAME

    return f"""\
precedence when both sides changed a job (same request fingerprint):
  {" > ".join(PRECEDENCE)}
equal states under different request ids keep the one whose render exists; any
request id the result no longer holds is listed, never silently dropped.

exit codes: 0 merged; 1 a human must decide (the lock is written with "conflicts"
and "superseded" keys, which every other command refuses until removed); 2 not a lock.

as a git merge driver (see `lock install-merge-driver`):
  git config merge.{DRIVER_NAME}.driver '{DRIVER_COMMAND}'
"""


def _install_description() -> str:
    from lipsync_pipeline.usecases import DRIVER_NAME

    return (
        "Register the merge driver in the repository's .git/config and add "
        f"'*.lock merge={DRIVER_NAME}' to its top-level .gitattributes. Idempotent; "
        "every clone runs it once (git never runs a command a repository commits)."
    )


def _texts_when_shown(
    parser: argparse.ArgumentParser,
    kind: type[argparse.HelpFormatter],
    **texts: Callable[[], str],
) -> None:
    """Set ``parser``'s description or epilog when its help or usage is formatted.

    They quote the merge rules and the git driver's command, whose modules every
    other command (``--version`` included) would otherwise import just to build the
    parser. argparse makes a formatter each time it formats; that is the hook (so it
    is set after the parser's arguments: ``add_argument`` formats too)."""

    def formatter(*, prog: str) -> argparse.HelpFormatter:
        for attribute, text in texts.items():
            setattr(parser, attribute, text())
        return kind(prog)

    parser.formatter_class = formatter


def add_lock_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    top = sub.add_parser(
        "lock",
        parents=parents,
        help="merge lockfiles (git's merge driver), fold shard locks",
        description="Work on lockfiles as files: merge three versions, fold shard locks, "
        "register the merge driver with git.",
    )
    lock = top.add_subparsers(dest="lock_command", required=True, metavar="ACTION")
    p = lock.add_parser(
        "merge",
        parents=parents,
        help="three-way merge of lockfiles, per job",
        description="Merge OURS and THEIRS given their common ancestor BASE, job by job; "
        "the result goes to OURS (git's calling convention: %%O %%A %%B) or -o.",
    )
    merge = p
    p.add_argument("base", type=Path, metavar="BASE")
    p.add_argument("ours", type=Path, metavar="OURS")
    p.add_argument("theirs", type=Path, metavar="THEIRS")
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="write here, not to OURS")
    p.add_argument(
        "--path",
        type=Path,
        metavar="LOCK",
        help="where the lock really lives (git's %%P), to look for renders beside it",
    )
    p.add_argument(
        "--text-fallback",
        action="store_true",
        help="merge files that are not lipsync locks as text (git merge-file), as git "
        "would without the driver: a *.lock pattern also matches other tools' locks",
    )
    p = lock.add_parser(
        "fold",
        parents=parents,
        help="fold shard locks into the main lock",
        description="Fold the locks of `run --shard K/N` into MAIN (rewritten in place, "
        "under its run lock). Exit 1 if a job needs a human (see `lock merge --help`).",
    )
    p.add_argument("main", type=Path, metavar="MAIN")
    p.add_argument("shards", nargs="+", type=Path, metavar="SHARD")
    p = lock.add_parser(
        "install-merge-driver",
        parents=parents,
        help="register `lock merge` with git in this clone",
    )
    install = p
    p.add_argument(
        "repository",
        nargs="?",
        type=Path,
        default=Path("."),
        metavar="PATH",
        help="a path inside the repository (default: the working directory)",
    )
    # Last: add_argument formats each argument's metavar with the parser's formatter.
    _texts_when_shown(merge, argparse.RawDescriptionHelpFormatter, epilog=_merge_epilog)
    _texts_when_shown(install, argparse.HelpFormatter, description=_install_description)


def _merge_json(result: MergeResult) -> dict[str, Any]:
    return {
        "clean": result.clean,
        "jobs": len(result.entries),
        "conflicts": [
            {
                "job": c.job_id,
                "reason": c.reason,
                "request_ids": [e.request_id for e in c.candidates],
            }
            for c in result.conflicts
        ],
        "superseded": [
            {"job": s.job_id, "request_id": s.request_id, "kept": s.kept, "reason": s.reason}
            for s in result.superseded
        ],
    }


def _show(result: MergeResult, target: Path, fmt: str) -> int:
    from lipsync_pipeline.cli._console import emit_json

    if fmt == "json":
        emit_json({"file": str(target), **_merge_json(result)})
    else:
        # stderr: git shows a driver's output on the merging terminal; nothing here is
        # data for a pipe.
        for s in result.superseded:
            kept = f"; kept {s.kept}" if s.kept else ""
            print(
                f"{target}: jobs.{s.job_id}: set aside request {s.request_id} ({s.reason}{kept})",
                file=sys.stderr,
            )
        for c in result.conflicts:
            ids = ", ".join(str(e.request_id) for e in c.candidates)
            print(f"{target}: jobs.{c.job_id}: needs a human: {c.reason} ({ids})", file=sys.stderr)
        state = "merged" if result.clean else f"{len(result.conflicts)} job(s) need a human"
        print(f"{target}: {state} ({len(result.entries)} jobs)", file=sys.stderr)
    return EXIT_OK if result.clean else EXIT_JOBS_FAILED


def lock_command(args: argparse.Namespace) -> int:
    from lipsync_pipeline.usecases import fold_files, install_merge_driver, merge_files

    fmt = getattr(args, "format", "text")
    if args.lock_command == "merge":
        merged = merge_files(
            args.base,
            args.ours,
            args.theirs,
            out=args.output,
            lock_path=args.path,
            text_fallback=args.text_fallback,
        )
        target = args.output or args.ours
        if merged.result is None:
            state = "merged as text" if merged.clean else "text conflicts (not a lipsync lock)"
            print(f"{target}: {state}", file=sys.stderr)
            return EXIT_OK if merged.clean else EXIT_JOBS_FAILED
        return _show(merged.result, target, fmt)
    if args.lock_command == "fold":
        return _show(fold_files(args.main, args.shards), args.main, fmt)
    setup = install_merge_driver(args.repository)
    if fmt == "json":
        from lipsync_pipeline.cli._console import emit_json

        emit_json({"repository": str(setup.repository), "done": list(setup.done)})
    else:
        for line in setup.done or ("already installed: nothing to do",):
            print(f"{setup.repository}: {line}")
    return EXIT_OK
