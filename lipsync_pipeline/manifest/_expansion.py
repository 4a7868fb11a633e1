"""A manifest's document with its matrices expanded, and where each job was written.

Only these values reach the reader when no job entry has a ``matrix:``: the matrix
modules (:mod:`._expand` and what it uses) are imported only for a manifest that
has one, as ``validate`` runs on every commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from lipsync_pipeline.errors import Problem
from lipsync_pipeline.manifest._nodes import Located

__all__ = ["Expansion", "Origin", "expand_matrices", "without_matrix"]

_JOB_WHERE: Final = re.compile(r"jobs\[(\d+)\]")
_SHOWN_ALIKE: Final = 3  # more combinations with the same problem are counted, not listed


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an expanded job was written: the entry of ``jobs:``, the combination."""

    index: int  # the entry, as written
    label: str  # the combination ("lang=fr"; "lines.csv:7"); "" for a plain job
    template: str | None  # the id template, for a job a matrix made

    @property
    def where(self) -> str:
        return f"jobs[{self.index}] ({self.label})" if self.label else f"jobs[{self.index}]"


@dataclass(frozen=True, slots=True)
class Expansion:
    """The document with its matrices expanded, and a location tree to match (the
    entries' own locations, so every location is where the user wrote it)."""

    value: dict[str, Any]
    root: Located
    origins: tuple[Origin, ...] | None  # per job of ``value``; None: no matrix at all
    sizes: Mapping[int, int]  # jobs each matrix entry made
    emptied: bool  # every entry was a matrix and none expanded

    def origin(self, index: int) -> Origin:
        return Origin(index, "", None) if self.origins is None else self.origins[index]

    def relabel(self, problems: Iterable[Problem]) -> list[Problem]:
        """Problems found in the expanded document (``jobs[7].audio``) named as written
        (``jobs[2] (lang=fr).audio``); one every combination of an entry shares is said
        once, without a combination."""
        if self.origins is None:
            return list(problems)
        out: list[Problem] = []
        alike: dict[tuple[Any, ...], dict[Origin, None]] = {}
        for problem in problems:
            match = _JOB_WHERE.match(problem.where)
            if match is None:
                if not (self.emptied and problem.where == "jobs"):  # "the list is empty"
                    out.append(problem)
                continue
            origin, rest = self.origins[int(match[1])], problem.where[match.end() :]
            if not origin.label:
                out.append(replace(problem, where=origin.where + rest))
                continue
            key = (problem.file, problem.line, problem.column, origin.index, rest, problem.message)
            alike.setdefault(key, {})[origin] = None  # a finding reached twice counts once
        for (file, line, column, index, rest, message), found in alike.items():
            origins, count = list(found), len(found)
            if count > 1 and count == self.sizes[index]:
                wheres = [f"jobs[{index}]"]
            elif count > _SHOWN_ALIKE:
                wheres = [f"jobs[{index}] ({origins[0].label}, and {count - 1} more)"]
            else:
                wheres = [origin.where for origin in origins]
            out.extend(Problem(file, line, column, where + rest, message) for where in wheres)
        return out


def without_matrix(value: dict[str, Any], root: Located) -> Expansion | None:
    """``value`` as it is, when no job entry has a ``matrix:``; else None."""
    jobs = value.get("jobs")
    if not isinstance(jobs, list) or not any(type(j) is dict and "matrix" in j for j in jobs):
        return Expansion(value, root, None, {}, False)
    return None


def expand_matrices(
    value: dict[str, Any],
    root: Located,
    display_name: str,
    base: str,
    real_base: str,
    problems: list[Problem],
    text: str,
) -> Expansion:
    """``value`` with every ``matrix:`` entry expanded (:func:`._expand.expand_jobs`);
    problems go to ``problems``. ``base``: the manifest's directory (``real_base``, its
    symbolic links resolved), where a matrix's rows file is; ``text``: the manifest's."""
    unexpanded = without_matrix(value, root)
    if unexpanded is not None:
        return unexpanded
    from lipsync_pipeline.manifest._combos import Context
    from lipsync_pipeline.manifest._expand import expand_jobs
    from lipsync_pipeline.manifest._schema import kind_fields

    fields = frozenset({"id", "kind", "webhook"}.union(*kind_fields().values()))
    context = Context(display_name, base, real_base, fields, problems, text)
    return expand_jobs(value, root, context)
