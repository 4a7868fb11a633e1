"""Matrix job entries expanded into plain jobs, before the schema and every later check.

An entry with ``matrix:`` becomes one job per combination (:mod:`._matrix`): every
text field of the entry is a template (:mod:`._template`) rendered with the
combination's values, ``include`` adds its fields, and ``matrix:`` itself goes.
Everything after this step (schema, inputs, ids, fingerprints, plan, run, lock)
sees plain jobs.

Rules a user may notice:

- The ``id`` is a template naming every axis (``{lang}`` or ``{lang.key}``; never
  another field of a mapping value, so changing a voice file does not rename the
  job), and with ``rows:`` at least one column: a job's id comes from its values,
  never from its position, so adding a value adds one job and reordering renames
  none. Two combinations (or a combination and a written-out job) with one id are
  an error naming both places.
- Only text is a template: numbers (``seed: 7``) stay as written. A literal brace
  in a matrix job's text is written ``{{`` or ``}}``.
- Messages about an expanded job point at the entry's line and column and name the
  combination: ``jobs[2] (lang=fr).audio``; one that every combination shares is
  said once, without a combination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from lipsync_pipeline.errors import format_where
from lipsync_pipeline.manifest._combos import Combination, Context, Matrix, Path, Value
from lipsync_pipeline.manifest._expansion import Expansion, Origin, without_matrix
from lipsync_pipeline.manifest._matrix import MAX_JOBS, read_matrix
from lipsync_pipeline.manifest._nodes import Loc, Located, MapLoc, SeqLoc, Via, node_at, start_of
from lipsync_pipeline.manifest._problems import describe_value, did_you_mean
from lipsync_pipeline.manifest._template import Ref, Template, TemplateSyntaxError, parse_template

__all__ = ["expand_jobs"]

_NUMBER_FIELDS: Final = frozenset({"seed"})  # the one job field that is not text


def expand_jobs(value: dict[str, Any], root: Located, context: Context) -> Expansion:
    """Expand every ``matrix:`` entry of ``value["jobs"]``; problems go to ``context``."""
    unexpanded = without_matrix(value, root)
    if unexpanded is not None:
        return unexpanded
    jobs = value["jobs"]
    jobs_node = node_at(root, ["jobs"])
    jobs_loc, root_loc = jobs_node.loc, root.loc
    assert type(jobs_loc) is SeqLoc and type(root_loc) is MapLoc
    plain = [type(j) is not dict or "matrix" not in j for j in jobs]
    budget = MAX_JOBS - sum(plain)
    out: list[Any] = []
    made: Sequence[tuple[Any, Loc, Origin]]
    # The expanded list's locations: a plain job keeps its own, a made one its entry's.
    sequence = SeqLoc(jobs_loc.start)
    vias: dict[int, Via] = {}
    origins: list[Origin] = []
    sizes: dict[int, int] = {}
    for index, job in enumerate(jobs):
        via = jobs_loc.via.get(index) if jobs_loc.via else None
        if plain[index]:
            made = [(job, jobs_loc.items[index], Origin(index, "", None))]
        else:
            found = _Entry(index, job, node_at(jobs_node, [index]), context).expand(budget)
            if found is None:
                continue
            made = found
            budget -= len(made)
            sizes[index] = len(made)
        for job_value, job_loc, origin in made:
            if via is not None:
                vias[len(out)] = via
            out.append(job_value)
            sequence.items.append(job_loc)
            origins.append(origin)
    sequence.via = vias or None
    new_root_loc = MapLoc(root_loc.start)
    new_root_loc.keys, new_root_loc.via = root_loc.keys, root_loc.via
    new_root_loc.values = {**root_loc.values, "jobs": sequence}
    new_root = Located(new_root_loc, root.plain, root.vias)
    emptied = not out
    return Expansion({**value, "jobs": out}, new_root, tuple(origins), sizes, emptied)


class _Entry:
    """One matrix entry: its templates checked once, then rendered per combination."""

    def __init__(self, index: int, job: dict[str, Any], node: Located, context: Context) -> None:
        self.index = index
        self.job = job
        self.node = node
        self.context = context
        self.path: Path = ("jobs", index)
        self.checked: set[tuple[int, str]] = set()  # (value, field) pairs already reported

    def expand(self, budget: int) -> list[tuple[dict[str, Any], MapLoc, Origin]] | None:
        context, job = self.context, self.job
        start = len(context.problems)
        template_id = self.id_text()
        matrix = read_matrix(
            job["matrix"], node_at(self.node, ["matrix"]), (*self.path, "matrix"), context, budget
        )
        if matrix is None:
            return None
        templates: dict[str, Template] = {}
        literal: dict[str, Any] = {}
        for key, raw in job.items():
            if key == "matrix":
                continue
            parsed = self.parse(raw, node_at(self.node, [key]), (*self.path, key), matrix)
            if isinstance(parsed, Template):
                templates[key] = parsed
            else:
                literal[key] = parsed
        if template_id is not None:
            self.check_id(templates.get("id"), matrix)
        included: dict[int, Any] = {}
        for combination in matrix.combinations:
            for raw, _, value_node, path in combination.sets.values():
                if id(value_node) not in included:
                    included[id(value_node)] = self.parse(raw, value_node, path, matrix)
        if len(context.problems) > start or template_id is None or not matrix.complete:
            return None
        return self.render(matrix, template_id, templates, literal, included)

    def id_text(self) -> str | None:
        raw = self.job.get("id")
        if isinstance(raw, str):
            return raw
        if "id" not in self.job:
            message = 'a matrix job needs an id template naming its axes, e.g. id: "ad.{lang}"'
            self.context.problem(self.node, (*self.path, "id"), message)
            return None
        node = node_at(self.node, ["id"])
        message = f'expected a template like "ad.{{lang}}", not {describe_value(raw, node)}'
        if isinstance(raw, dict):
            message += "; quote a template that starts with { (YAML reads {...} as a mapping)"
        self.context.problem(node, (*self.path, "id"), message)
        return None

    def parse(self, raw: Any, node: Located, path: Path, matrix: Matrix) -> Any:
        """A text field as a Template (its placeholders checked) or as literal text;
        anything else as written."""
        if type(raw) is not str:
            return raw
        try:
            parsed = parse_template(raw)
        except TemplateSyntaxError as exc:
            self.context.problem(node, path, str(exc), (raw, exc.offset))
            return raw
        if isinstance(parsed, Template):
            if path[-1] in _NUMBER_FIELDS:
                message = (
                    f"{path[-1]} is a number and a template makes text: set it per "
                    f"combination with include (e.g. {{lang: fr, {path[-1]}: 7}}), or leave it out"
                )
                self.context.problem(node, path, message)
            for ref, offset in zip(parsed.refs, parsed.offsets, strict=True):
                self.check_ref(ref, node, path, (raw, offset), matrix)
        return parsed

    def check_ref(
        self, ref: Ref, node: Located, path: Path, offset: tuple[str, int], matrix: Matrix
    ) -> None:
        axis = matrix.axes.get(ref.name)
        if axis is None and not matrix.names_known:
            return
        if axis is None:
            names = ", ".join(matrix.axes)
            message = (
                f"unknown {ref}{did_you_mean(ref.name, matrix.axes)}: the matrix has {names} "
                "(write {{ for a literal brace)"
            )
            self.context.problem(node, path, message, offset)
            return
        if ref.field in (None, "key") or path == (*self.path, "id"):
            return  # a field in the id is check_id's finding
        if axis.column:
            message = f"{ref}: a CSV column holds text, it has no fields; write {{{ref.name}}}"
            self.context.problem(node, path, message, offset)
            return
        for value in axis.values:
            if ref.field in value.fields or (id(value), ref.field) in self.checked:
                continue
            self.checked.add((id(value), ref.field))
            what = "is a word, not a mapping with" if not value.fields else "has no field"
            reader = f"{format_where(path)} reads {ref}"
            message = f"{ref.name}={value.key} {what} {ref.field}: ({reader})"
            assert value.node is not None  # only CSV cells have no node, and they are columns
            self.context.problem(value.node, value.path, message)

    def check_id(self, template: Template | None, matrix: Matrix) -> None:
        node, path = node_at(self.node, ["id"]), (*self.path, "id")
        named = set() if template is None else {ref.name for ref in template.refs}
        if template is not None:
            for ref, offset in zip(template.refs, template.offsets, strict=True):
                if ref.field not in (None, "key"):
                    message = (
                        f"the id names a value by its key: write {{{ref.name}}}, not {ref} (an "
                        "id must not change when another field of a value does)"
                    )
                    self.context.problem(node, path, message, (self.job["id"], offset))
        columns = [axis for axis in matrix.axes.values() if axis.column]
        for axis in matrix.axes.values():
            if not axis.column and axis.name not in named:
                message = (
                    f"the id template {self.job['id']!r} does not name the axis {axis.name}: "
                    f"each combination needs its own id, e.g. add .{{{axis.name}}} (line "
                    f"{start_of(node.loc)[0]})"
                )
                self.context.problem(axis.node, (*self.path, "matrix", axis.name), message)
        if columns and not named.intersection(axis.name for axis in columns):
            message = (
                f"the id template {self.job['id']!r} names no column of the rows file: name "
                f"the ones that tell rows apart (one of {', '.join(a.name for a in columns)})"
            )
            self.context.problem(columns[0].node, (*self.path, "matrix", "rows"), message)

    def render(
        self,
        matrix: Matrix,
        template_id: str,
        templates: Mapping[str, Template],
        literal: Mapping[str, Any],
        included: Mapping[int, Any],
    ) -> list[tuple[dict[str, Any], MapLoc, Origin]]:
        entry = self.node.loc
        assert type(entry) is MapLoc
        # The entry's own locations (matrix: left out), so they are where the user wrote them.
        base = MapLoc(entry.start)
        base.keys = {k: at for k, at in entry.keys.items() if k != "matrix"}
        base.values = {k: loc for k, loc in entry.values.items() if k != "matrix"}
        base.via = {k: v for k, v in entry.via.items() if k != "matrix"} if entry.via else None
        refs = list(dict.fromkeys(ref for t in templates.values() for ref in t.refs))
        axes = [axis.name for axis in matrix.axes.values() if not axis.column]
        out: list[tuple[dict[str, Any], MapLoc, Origin]] = []
        for combination in matrix.combinations:
            values = combination.values
            texts = {ref: _text(values[ref.name], ref) for ref in refs}
            job = dict(literal)
            for key, template in templates.items():
                job[key] = template.render(texts)
            job_loc = (
                self.apply_sets(combination, job, base, included) if combination.sets else base
            )
            label = ", ".join(
                ([combination.row] if combination.row else [])
                + [f"{name}={values[name].key}" for name in axes]
            )
            out.append((job, job_loc, Origin(self.index, label, template_id)))
        return out

    def apply_sets(
        self,
        combination: Combination,
        job: dict[str, Any],
        base: MapLoc,
        included: Mapping[int, Any],
    ) -> MapLoc:
        """Sets include's fields on ``job``; returns its locations: the entry's, with each
        field include sets where that include writes it (after the entry's)."""
        sets = combination.sets
        texts = {}
        loc = MapLoc(base.start)
        loc.keys = {k: at for k, at in base.keys.items() if k not in sets}
        loc.values = {k: at for k, at in base.values.items() if k not in sets}
        vias = {k: via for k, via in (base.via or {}).items() if k not in sets}
        for name, (_, key_node, value_node, _) in sets.items():
            value = included[id(value_node)]
            if isinstance(value, Template):
                texts.update({r: _text(combination.values[r.name], r) for r in value.refs})
                value = value.render(texts)
            job[name] = value
            loc.keys[name], loc.values[name] = start_of(key_node.loc), value_node.loc
            if len(value_node.vias) > len(self.node.vias):  # an alias or merge inside matrix:
                vias[name] = value_node.vias[-1]
        loc.via = vias or None
        return loc


def _text(value: Value, ref: Ref) -> str:
    return value.key if ref.field in (None, "key") else value.fields[ref.field]
