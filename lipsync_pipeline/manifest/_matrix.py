"""A job entry's ``matrix:`` read into combinations: axes, CSV rows, exclude, include.

``matrix: {lang: [de, fr], ep: ["01", "02"]}`` is the product of its axes, in the
order written. An axis value is a word or a whole number, or a mapping with a
``key`` (the word that names it in ids, ``include`` and ``exclude``) and more
fields for templates to read (``{lang.voice}``). ``rows: lines.csv`` makes the rows
of a CSV file one more factor of the product (each row sets every column at once),
so rows combine with axes. Then exclude and include apply (:mod:`._selectors`).

Every finding is a located Problem; a matrix with any problem makes no job (the
rest of the manifest is still checked). How many jobs a matrix would make is known
before any is made, and bounded by :data:`MAX_JOBS`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Final

from lipsync_pipeline.manifest._combos import (
    Axis,
    Combination,
    Context,
    Matrix,
    Path,
    Value,
    key_of,
    name_problem,
    read_value,
)
from lipsync_pipeline.manifest._nodes import Located, node_at
from lipsync_pipeline.manifest._problems import describe_value
from lipsync_pipeline.manifest._rows import read_rows
from lipsync_pipeline.manifest._selectors import apply_exclude, apply_include

__all__ = ["MAX_JOBS", "read_matrix"]

MAX_JOBS: Final = 100_000
"""Jobs a manifest may hold once its matrices are expanded (10,000 validate in about
a second; a written-out manifest is bounded by its size, about 200,000 jobs)."""

_SHAPE: Final = (
    "matrix: takes axes (a name and a list of values, e.g. lang: [de, fr]), and "
    "optionally rows: (a CSV file), include: and exclude: (lists of mappings)"
)


def read_matrix(
    raw: Any, node: Located, path: Path, context: Context, budget: int
) -> Matrix | None:
    """The combinations of one ``matrix:`` (``raw``, written at ``node``, data path
    ``path``). ``budget``: how many jobs it may make without taking the manifest over
    :data:`MAX_JOBS`. After reporting a problem: None when not even its axes are known,
    else an incomplete Matrix (its axes, for checking the templates that name them)."""
    start = len(context.problems)
    if not isinstance(raw, dict):
        context.problem(node, path, _SHAPE + f", not {describe_value(raw, node)}")
        return None
    if not raw.keys() - {"include", "exclude"}:
        context.problem(node, path, "no axis: " + _SHAPE)
        return None
    axes: dict[str, Axis] = {}
    factors: list[list[Combination]] = []
    has_rows = False
    for name, value in raw.items():
        key_node, value_node = key_of(node, name), node_at(node, [name])
        if name in ("include", "exclude"):
            continue
        if name == "rows":
            has_rows = True
            found = _rows(value, value_node, (*path, name), context, budget)
            if found is not None:
                columns, rows = found
                factors.append(rows)
                for column in columns:
                    _add_axis(axes, Axis(column, value_node, [], True), context, path)
            continue
        wrong = name_problem(name, context.fields)
        if wrong is not None:
            context.problem(key_node, (*path, name), wrong)
            continue
        values = _axis(name, value, value_node, (*path, name), context) or []
        if _add_axis(axes, Axis(name, key_node, values, False), context, path):
            factors.append([Combination({name: v}) for v in values])
    # Columns of a rows file that could not be read are unknown: any name may be one.
    names_known = not has_rows or any(axis.column for axis in axes.values())
    incomplete = Matrix(axes, [], complete=False, names_known=names_known)
    if len(context.problems) > start:
        return incomplete
    total = math.prod(len(f) for f in factors)
    if total > budget:
        message = f"{total:,} combinations; a manifest may make at most {MAX_JOBS:,} jobs"
        context.problem(node, path, message)
        return incomplete
    combinations = _product(factors)
    combinations = apply_exclude(raw.get("exclude"), node, path, axes, combinations, context)
    combinations = apply_include(raw.get("include"), node, path, axes, combinations, context)
    if len(context.problems) > start:
        return incomplete
    if not combinations:
        context.problem(node, path, "exclude drops every combination: the matrix makes no job")
        return incomplete
    if len(combinations) > budget:
        context.problem(node, path, f"include takes the manifest over {MAX_JOBS:,} jobs")
        return incomplete
    return Matrix(axes, combinations)


def _add_axis(axes: dict[str, Axis], axis: Axis, context: Context, path: Path) -> bool:
    other = axes.get(axis.name)
    if other is None:
        axes[axis.name] = axis
        return True
    column = axis if axis.column else other
    message = f"{axis.name!r} names both an axis and a column of the rows file: rename one"
    context.problem(column.node, (*path, "rows"), message)
    return False


def _axis(name: str, raw: Any, node: Located, path: Path, context: Context) -> list[Value] | None:
    if not isinstance(raw, list):
        shown = describe_value(raw, node)
        context.problem(node, path, f"expected a list of values, e.g. {name}: [a, b], not {shown}")
        return None
    if not raw:
        context.problem(node, path, f"the axis {name} is empty: it would make no job")
        return None
    values: list[Value] = []
    first: dict[str, Value] = {}
    for index, item in enumerate(raw):
        item_node = node_at(node, [index])
        value = read_value(item, item_node, (*path, index), context)
        if value is None:
            continue
        earlier = first.setdefault(value.key, value)
        if earlier is not value:
            message = (
                f"the value {value.key!r} again (first at {earlier.place}): each value names "
                "its own jobs"
            )
            context.problem(item_node, (*path, index), message)
            continue
        values.append(value)
    return values


def _rows(
    raw: Any, node: Located, path: Path, context: Context, budget: int
) -> tuple[tuple[str, ...], list[Combination]] | None:
    """The columns of a CSV file, and its combinations: one per row, with every column."""
    if not isinstance(raw, str):
        shown = describe_value(raw, node)
        context.problem(
            node, path, f"expected a CSV file's path, e.g. rows: lines.csv, not {shown}"
        )
        return None
    found = read_rows(
        raw,
        manifest_display=context.display_name,
        base=context.base,
        real_base=context.real_base,
        max_rows=budget,
        name_problem=lambda name: name_problem(name, context.fields),
    )
    if isinstance(found, str):
        context.problem(node, path, found)
        return None
    if isinstance(found, list):
        context.problems.extend(found)
        return None
    combinations = []
    columns = found.columns
    for line, cells in found.rows:
        place = f"{found.name}:{line}"
        values = {c: Value(t, {}, None, place, path) for c, t in zip(columns, cells, strict=True)}
        combinations.append(Combination(values, {}, place))
    return columns, combinations


def _product(factors: list[list[Combination]]) -> list[Combination]:
    if len(factors) == 1:
        return factors[0]
    out = []
    for parts in itertools.product(*factors):
        values: dict[str, Value] = {}
        row = None
        for part in parts:
            values.update(part.values)
            row = row or part.row
        out.append(Combination(values, {}, row))
    return out
