"""``moved:``: jobs renamed without a re-render (after Terraform's ``moved`` blocks).

```yaml
moved:
  - {from: intro-v1, to: intro}
```

Each entry says that the job once called ``from`` is now called ``to``. The plan
carries ``from``'s lock entry (request id, artifact, seed, idempotency key) to ``to``
when the request is otherwise unchanged, and a run renames the output file instead of
rendering (``plan.py`` has the rules; this module only reads and checks the list).

The schema checks the shape (a list of ``{from, to}`` job ids). The checks here need
the manifest's final job ids (after matrices expand); they run with the manifest's
other checks, so every problem is reported at once, each located at the value that
causes it:

- ``to`` must be a job of the manifest (the new name), and ``from`` must not be (the
  old name is gone: a job cannot be both renamed and kept);
- ``from`` equal to ``to`` moves nothing;
- the same ``from`` twice (one job cannot become two) or the same ``to`` twice (two
  renders cannot become one);
- chains (``a -> b`` and ``b -> c``) and cycles are refused, not composed: a lock
  holds one of the old names at most (a run applies a move and the old id is gone),
  so composing would only hide which entry wins. Once a run has applied ``a -> b``,
  replace the entry with ``b -> c`` (or write ``a -> c`` if no run applied it yet).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from lipsync_pipeline.errors import Problem, format_where
from lipsync_pipeline.manifest._nodes import mark_of, node_at, problem_at
from lipsync_pipeline.manifest._problems import did_you_mean

__all__ = ["Moved", "read_moved"]


@dataclass(frozen=True, slots=True)
class Moved:
    """One ``moved:`` entry: the job once called ``from_id`` is now ``to_id``."""

    from_id: str
    to_id: str
    index: int  # its position in the list: ``where`` is ``moved[index]``
    line: int  # 1-based, of the entry's mapping
    column: int

    @property
    def where(self) -> str:
        return format_where(("moved", self.index))


def read_moved(
    value: Any, root: Any, display_name: str, jobs: Any, ids_known: bool
) -> tuple[tuple[Moved, ...], list[Problem]]:
    """The entries of the ``moved:`` list ``value`` (already schema-valid), and the
    problems with them, each at its line and column. ``jobs``: the manifest's (matrices
    expanded); when not ``ids_known`` (a matrix made no job), an id missing from them is
    no finding."""
    entries = [
        Moved(item["from"], item["to"], index, *mark_of(node_at(root, ["moved", index])))
        for index, item in enumerate(value)
    ]
    listed = jobs if isinstance(jobs, list) else ()
    job_ids = [job["id"] for job in listed if isinstance(job, dict) and "id" in job]
    problems = _Checker(display_name, root, job_ids, ids_known)
    for entry in entries:
        problems.check(entry, entries)
    return tuple(entries), problems.found


class _Checker:
    def __init__(self, file: str, root: Any, job_ids: Collection[str], ids_known: bool) -> None:
        self.file = file
        self.root = root
        self.jobs = set(job_ids)
        self.job_list = list(job_ids)
        self.ids_known = ids_known
        self.found: list[Problem] = []
        self.from_seen: dict[str, Moved] = {}
        self.to_seen: dict[str, Moved] = {}

    def say(self, entry: Moved, key: str, message: str) -> None:
        path = ("moved", entry.index, key)
        node = node_at(self.root, path)
        self.found.append(problem_at(self.file, node, format_where(path), message))

    def check(self, entry: Moved, entries: list[Moved]) -> None:
        old, new = entry.from_id, entry.to_id
        if old == new:
            self.say(entry, "to", f"moves {old!r} to itself: remove this entry")
            return
        earlier = self.from_seen.setdefault(old, entry)
        if earlier is not entry:
            self.say(
                entry,
                "from",
                f"{old!r} is already moved to {earlier.to_id!r} (line {earlier.line}): "
                "one job cannot become two",
            )
        earlier = self.to_seen.setdefault(new, entry)
        if earlier is not entry:
            self.say(
                entry,
                "to",
                f"{new!r} already takes the place of {earlier.from_id!r} (line "
                f"{earlier.line}): two renders cannot become one",
            )
        if old in self.jobs:
            self.say(
                entry,
                "from",
                f"{old!r} is still a job of this manifest: a moved job's old id must be "
                "gone (rename the job to the new id, or remove this entry)",
            )
        onward = next((e for e in entries if e.from_id == new and e is not entry), None)
        if onward is not None and onward.to_id == old:
            self.say(
                entry,
                "to",
                f"{new!r} is moved back to {old!r} (line {onward.line}): a cycle renames "
                "nothing; remove both entries",
            )
        elif onward is not None:
            self.say(
                entry,
                "to",
                f"{new!r} is moved on to {onward.to_id!r} (line {onward.line}): a chain, which "
                f"moved: does not compose; keep one entry for {onward.to_id!r}: {{from: {new}, "
                f"to: {onward.to_id}}} if a run has applied this one, else {{from: {old}, to: "
                f"{onward.to_id}}}",
            )
        elif new not in self.jobs and self.ids_known:
            hint = did_you_mean(new, self.job_list, last=True)
            self.say(entry, "to", f"no job {new!r} in this manifest: `to` is the new id{hint}")
