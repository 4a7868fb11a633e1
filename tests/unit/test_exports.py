"""The public surface: every public name has exactly one home.

Each folder's ``__init__`` re-exports what its private modules define; a name a
user can import must come from one package only (as trio's test_exports checks),
and every public module lists in ``__all__`` only what it defines or re-exports
from its own private modules.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from types import ModuleType

import lipsync_pipeline


def _modules() -> list[ModuleType]:
    found = [lipsync_pipeline]
    for info in pkgutil.walk_packages(lipsync_pipeline.__path__, "lipsync_pipeline."):
        if info.name.endswith("__main__"):
            continue
        found.append(importlib.import_module(info.name))
    return found


def _is_public(module: ModuleType) -> bool:
    return not any(part.startswith("_") for part in module.__name__.split(".")[1:])


def test_every_public_name_has_exactly_one_public_home() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for module in filter(_is_public, _modules()):
        for name in getattr(module, "__all__", ()):
            homes[name].append(module.__name__)
    # Names that are the same object in two public places (a re-export across folders).
    shared = {name: places for name, places in homes.items() if len(places) > 1}
    assert shared == {}


def test_every_name_in_all_exists() -> None:
    missing = [
        f"{module.__name__}.{name}"
        for module in _modules()
        for name in getattr(module, "__all__", ())
        if not hasattr(module, name)
    ]
    assert missing == []


def test_a_folder_exports_only_what_its_own_modules_define() -> None:
    """A package's public names come from its own private modules, so a reader finds
    the definition one level down (lipsync_pipeline.run.Outcome -> run/_report.py).
    Each must be listed by exactly one of them (constants included), and be that
    module's very object."""
    strays = []
    modules = _modules()
    for package in filter(_is_public, modules):
        if not hasattr(package, "__path__"):
            continue  # a plain module defines what it lists
        own = [
            m
            for m in modules
            if m.__name__.rpartition(".")[0] == package.__name__
            and m.__name__.rpartition(".")[2].startswith("_")
        ]
        for name in getattr(package, "__all__", ()):
            if name == "__version__":
                continue  # the package's own, set in lipsync_pipeline/__init__.py
            homes = [m for m in own if name in getattr(m, "__all__", ())]
            if len(homes) != 1 or getattr(homes[0], name) is not getattr(package, name):
                where = [m.__name__ for m in homes] or "none of its private modules"
                strays.append(f"{package.__name__}.{name}: listed by {where}")
    assert strays == []


def test_every_folder_says_what_lives_there() -> None:
    undocumented = [
        module.__name__
        for module in _modules()
        if hasattr(module, "__path__") and len((module.__doc__ or "").strip()) < 40
    ]
    assert undocumented == []


def test_the_cli_holds_no_use_case() -> None:
    """The CLI parses, calls a use case and shows the result: it never loads a
    manifest or a lock, nor starts the studio, by itself."""
    import ast
    from pathlib import Path

    cli = Path(lipsync_pipeline.__file__).parent / "cli"
    loaders = {"load_manifest", "parse_manifest", "load_lock", "read_lock", "LockJournal"}
    found = []
    for source in sorted(cli.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            names = {alias.name for alias in node.names}
            if (node.module or "").startswith("lipsync_pipeline.studio") or names & loaders:
                found.append(f"{source.name}: from {node.module} import {sorted(names)}")
    assert found == []


def test_a_package_loads_its_modules_when_a_name_is_first_used() -> None:
    """``import lipsync_pipeline.usecases`` must not load trio or the studio through
    ``run_pipeline``: the packages that re-export heavy modules serve their names on
    first use (``lipsync_pipeline/_lazy.py``), and still name them in ``__all__``."""
    import json
    import subprocess
    import sys

    lazy = ["api", "lockfile", "manifest", "run", "store", "usecases"]
    code = (
        "import sys, json\n"
        f"for name in {lazy!r}: __import__('lipsync_pipeline.' + name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('lipsync_pipeline'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    private = {
        m for m in loaded if m.rpartition(".")[2].startswith("_") and m != "lipsync_pipeline._lazy"
    }
    assert private == set()
    # ... and a name, once asked for, is the defining module's own object.
    from lipsync_pipeline.usecases import validate
    from lipsync_pipeline.usecases._validate import validate as defined

    assert validate is defined


def test_type_checkers_read_the_same_homes_as_the_lazy_table() -> None:
    """A lazy package names each export twice: in the ``if TYPE_CHECKING:`` imports
    (what mypy and editors read) and in the table given to ``lazy_exports`` (what
    runs). A name moved in one and not the other type-checks against one module
    while the program imports another; this keeps the two equal."""
    import ast
    from pathlib import Path

    root = Path(lipsync_pipeline.__file__).parent
    differ, seen = {}, []
    for init in sorted(root.glob("*/__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        typed: dict[str, set[str]] = defaultdict(set)
        table: dict[str, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                for imp in node.body:
                    if isinstance(imp, ast.ImportFrom) and imp.module:
                        home = imp.module.rpartition(".")[2]
                        typed[home] |= {alias.name for alias in imp.names}
            call = node
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "lazy_exports":
                table = {
                    home: set(names)
                    for home, names in ast.literal_eval(ast.unparse(call.args[2])).items()
                }
        if table:
            seen.append(init.parent.name)
            if dict(typed) != table:
                differ[init.parent.name] = (dict(typed), table)
    assert differ == {}
    assert {"api", "lockfile", "manifest", "run", "store", "usecases"} <= set(seen)
