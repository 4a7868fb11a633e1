"""A matrix's ``exclude:`` and ``include:``: entries that match combinations by some of
their values.

- ``exclude: [{host: ben, ep: "01"}]`` drops every combination with all of those
  values (it matches partially: ``{host: ben}`` drops all of ben's). An entry that
  drops nothing is an error (a typo would otherwise go unnoticed).
- ``include: [{host: anna, ep: "04", prompt: finale}]``: an entry naming every axis
  adds its combination when it is missing (even one exclude dropped) and sets its
  fields; an entry naming some axes sets fields on every combination it matches. A
  matrix with ``rows:`` adds no combination this way (its CSV file does): its
  includes only set fields. Two entries setting one field of one combination is an
  error, not a silent "last one wins".

Exclude runs before include. A mapping value is named by its key (``{lang: fr}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lipsync_pipeline.manifest._combos import (
    Axis,
    Combination,
    Context,
    Path,
    Value,
    key_of,
    place_of,
    read_value,
)
from lipsync_pipeline.manifest._nodes import Located, node_at, start_of
from lipsync_pipeline.manifest._problems import describe_value, did_you_mean

__all__ = ["apply_exclude", "apply_include"]


def apply_exclude(
    raw: Any,
    node: Located,
    path: Path,
    axes: Mapping[str, Axis],
    combos: list[Combination],
    context: Context,
) -> list[Combination]:
    """``combos`` without those the ``exclude:`` entries match (``node``: the matrix)."""
    for entry, entry_node, entry_path in _entries(raw, node, (*path, "exclude"), context):
        found = _match(entry, entry_node, entry_path, axes, combos, context, include=False)
        if found is None:
            continue
        kept = [c for c in combos if not _matches(c, found[0])]
        if len(kept) == len(combos):
            context.problem(
                entry_node, entry_path, "excludes nothing: no combination has all of these"
            )
        combos = kept
    return combos


def apply_include(
    raw: Any,
    node: Located,
    path: Path,
    axes: Mapping[str, Axis],
    combos: list[Combination],
    context: Context,
) -> list[Combination]:
    """``combos`` with the ``include:`` entries applied: combinations added (and their new
    values appended to their axes), fields set."""
    adds = not any(axis.column for axis in axes.values())
    index: dict[tuple[str, ...], Combination] | None = None
    for entry, entry_node, entry_path in _entries(raw, node, (*path, "include"), context):
        found = _match(entry, entry_node, entry_path, axes, combos, context, include=True)
        if found is None:
            continue
        wanted, sets = found
        if not wanted:
            message = f"names no axis: an include names some of {', '.join(axes)}"
            context.problem(entry_node, entry_path, message)
            continue
        if adds and len(wanted) == len(axes):
            if index is None:
                index = {tuple(v.key for v in c.values.values()): c for c in combos}
            key = tuple(wanted[name].key for name in axes)
            if key in index and not sets:
                message = "sets no field, and its combination is there already: nothing to do"
                context.problem(entry_node, entry_path, message)
                continue
            if key not in index:
                for name, value in wanted.items():
                    if value not in axes[name].values:
                        axes[name].values.append(value)
                index[key] = Combination({name: wanted[name] for name in axes})
                combos.append(index[key])
            _set_fields(entry_node, entry_path, sets, [index[key]], context)
            continue
        matched = [c for c in combos if _matches(c, wanted)]
        if not matched:
            context.problem(entry_node, entry_path, _matches_nothing(axes, wanted, adds))
        elif not sets:
            context.problem(entry_node, entry_path, "sets no field on the combinations it matches")
        else:
            _set_fields(entry_node, entry_path, sets, matched, context)
    return combos


def _entries(
    raw: Any, matrix_node: Located, path: Path, context: Context
) -> list[tuple[dict[str, Any], Located, Path]]:
    which = str(path[-1])
    node = node_at(matrix_node, [which])
    if node is matrix_node:
        return []  # not written
    if not isinstance(raw, list):
        hint = f'a list of mappings, e.g. {which}: [{{host: ben, ep: "01"}}]'
        context.problem(node, path, f"expected {hint}, not {describe_value(raw, node)}")
        return []
    out = []
    for index, entry in enumerate(raw):
        entry_node, entry_path = node_at(node, [index]), (*path, index)
        if not isinstance(entry, dict) or not entry:
            shown = "an empty mapping" if entry == {} else describe_value(entry, entry_node)
            context.problem(
                entry_node, entry_path, f"each {which} entry maps axes to values, not {shown}"
            )
            continue
        out.append((entry, entry_node, entry_path))
    return out


def _match(
    entry: Mapping[str, Any],
    entry_node: Located,
    path: Path,
    axes: Mapping[str, Axis],
    combos: list[Combination],
    context: Context,
    *,
    include: bool,
) -> tuple[dict[str, Value], dict[str, Any]] | None:
    """The axis values an entry names (known ones, or new ones for include to add) and
    the fields it sets; None after reporting a problem."""
    wanted: dict[str, Value] = {}
    sets: dict[str, Any] = {}
    ok = True
    for name, raw in entry.items():
        node = node_at(entry_node, [name])
        axis = axes.get(name)
        if axis is None:
            if include and name in context.fields and name != "id":
                sets[name] = raw
                continue
            ok = False
            message = _unknown_name(name, axes, context.fields, include=include)
            context.problem(key_of(entry_node, name), (*path, name), message)
            continue
        value = read_value(raw, node, (*path, name), context)
        if value is None:
            ok = False
            continue
        known = _value_with_key(axis, value.key, combos)
        if value.fields and known is not None:
            ok = False
            message = (
                f"{name} already has a value {value.key!r} ({known.place}): name it by its "
                f"key ({name}: {value.key})"
            )
            context.problem(node, (*path, name), message)
        elif known is None and not (include and not axis.column):
            ok = False
            context.problem(node, (*path, name), _no_such_value(axis, value.key, include=include))
        else:
            wanted[name] = known or value
    return (wanted, sets) if ok else None


def _set_fields(
    node: Located, path: Path, sets: Mapping[str, Any], targets: list[Combination], context: Context
) -> None:
    for name, raw in sets.items():
        key_node, value_node = key_of(node, name), node_at(node, [name])
        for combination in targets:
            earlier = combination.sets.get(name)
            # An alias repeats a value at one place: the same include again, not another.
            if earlier is not None and start_of(earlier[2].loc) != start_of(value_node.loc):
                message = (
                    f"sets {name} again on a combination that the include at "
                    f"{place_of(earlier[1])} sets it on"
                )
                context.problem(key_node, (*path, name), message)
                break
            combination.sets[name] = (raw, key_node, value_node, (*path, name))


def _matches(combination: Combination, wanted: Mapping[str, Value]) -> bool:
    values = combination.values
    return all(values[name].key == value.key for name, value in wanted.items())


def _matches_nothing(axes: Mapping[str, Axis], wanted: Mapping[str, Value], adds: bool) -> str:
    if not adds:
        return "matches no combination (a matrix with rows: adds rows in its CSV file)"
    missing = ", ".join(name for name in axes if name not in wanted)
    return f"matches no combination; to add one, name every axis (also {missing})"


def _value_with_key(axis: Axis, key: str, combos: list[Combination]) -> Value | None:
    if not axis.column:
        return next((v for v in axis.values if v.key == key), None)
    return next((c.values[axis.name] for c in combos if c.values[axis.name].key == key), None)


def _no_such_value(axis: Axis, key: str, *, include: bool) -> str:
    if axis.column:
        verb = "include matches rows, it adds none" if include else "nothing to exclude"
        return f"no row has {axis.name} {key!r}: {verb}"
    options = [v.key for v in axis.values]
    return (
        f"{axis.name} has no value {key!r}{did_you_mean(key, options)} (it has "
        f"{', '.join(options)}): nothing to exclude"
    )


def _unknown_name(
    name: str, axes: Mapping[str, Axis], fields: frozenset[str], *, include: bool
) -> str:
    if include and name == "id":
        return "include cannot set the id: it comes from the id template"
    options = [*axes, *(sorted(fields - {"id"}) if include else [])]
    which = (
        "include takes the matrix's axes and columns, and job fields to set"
        if include
        else ("exclude takes the matrix's axes and columns")
    )
    return f"unknown key {name!r}{did_you_mean(name, options)}; {which}: {', '.join(axes)}"
