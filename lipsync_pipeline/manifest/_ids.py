"""Job ids must be unique, also ignoring case (an id names an output file, and two
names that differ only in case are one file on macOS and Windows). A clash names
both places: the entry and combination of each, and where the first is written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lipsync_pipeline.errors import Problem, format_where
from lipsync_pipeline.manifest._expansion import Origin
from lipsync_pipeline.manifest._nodes import Located, mark_of, node_at, problem_at

__all__ = ["id_problems"]


def id_problems(
    jobs: Sequence[Any], root: Located, origin: Callable[[int], Origin], display_name: str
) -> list[Problem]:
    """One problem per job whose id an earlier job has (``origin(i)``: where job ``i``
    was written), at the later one's id."""
    problems = []
    seen: dict[str, int] = {}
    for index, job in enumerate(jobs):
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str):
            continue
        first = seen.setdefault(job_id.casefold(), index)
        if first == index:
            continue
        path = ("jobs", index, "id")
        first_id = jobs[first]["id"]
        line, column = mark_of(node_at(root, ("jobs", first, "id")))
        earlier = origin(first)
        if earlier.template is None and origin(index).template is None:
            same, other = f"first at line {line}", f"line {line}"
        else:
            same = other = f"also made by {earlier.where} at line {line}, column {column}"
        message = (
            f"duplicate id {job_id!r} ({same})"
            if first_id == job_id
            else f"id {job_id!r} differs from {first_id!r} ({other}) only in case: their "
            "outputs would collide on case-insensitive file systems"
        )
        problems.append(problem_at(display_name, node_at(root, path), format_where(path), message))
    return problems
