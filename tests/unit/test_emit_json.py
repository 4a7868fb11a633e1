"""``emit_json`` on a pipe writes a big document a few list items at a time: the same
bytes as ``json.dumps`` of the whole, whatever the document."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipsync_pipeline.cli._console import _BATCH, Rows, emit_json

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)
_DOCS = st.dictionaries(st.text(max_size=6), _VALUES | st.lists(_VALUES, max_size=5), max_size=6)


@given(doc=_DOCS | _VALUES)
def test_a_piped_document_is_exactly_json_dumps(doc: Any) -> None:
    out = io.StringIO()
    emit_json(doc, out)
    assert out.getvalue() == json.dumps(doc, sort_keys=True, default=str) + "\n"


@pytest.mark.parametrize("n", [0, 1, _BATCH - 1, _BATCH, _BATCH + 1, 3 * _BATCH + 7])
def test_a_long_array_is_exactly_json_dumps_across_batches(n: int) -> None:
    """Items are encoded a batch at a time: no item lost, doubled or misplaced at a
    batch's edge, whether the array is a list or made as it is written."""
    items = [
        {"job": f"j{i}", "n": i, "form": {"z": i % 3, "a": "\u00e9" * (i % 2)}} for i in range(n)
    ]
    doc = {"steps": items, "made": Rows(range(n), lambda i: items[i]), "count": n}
    out = io.StringIO()
    emit_json(doc, out)
    expected = {**doc, "made": items}
    assert out.getvalue() == json.dumps(expected, sort_keys=True, default=str) + "\n"


def test_values_json_cannot_encode_are_written_as_text() -> None:
    out = io.StringIO()
    emit_json({"path": Path("a/b"), "steps": [{"p": Path("c")}], "n": {1: "x"}}, out)
    assert json.loads(out.getvalue()) == {"n": {"1": "x"}, "path": "a/b", "steps": [{"p": "c"}]}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rows_are_made_as_written_on_a_pipe_and_listed_on_a_terminal() -> None:
    made: list[int] = []

    def make(n: int) -> dict[str, int]:
        made.append(n)
        return {"n": n}

    doc = {"steps": Rows([1, 2, 3], make), "count": 3}
    for stream in (io.StringIO(), _Tty()):
        made.clear()
        emit_json(doc, stream)
        assert json.loads(stream.getvalue()) == {
            "count": 3,
            "steps": [{"n": 1}, {"n": 2}, {"n": 3}],
        }
        assert made == [1, 2, 3]
