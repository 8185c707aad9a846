"""The import graph of rfpilot/ (issue 16): no import circles, and no import runs up across the floors.

The graph is read from the source (AST), so it sees every import statement wherever it stands: at module level,
inside a function (a lazy import is still a dependency) and under ``if TYPE_CHECKING:`` (nothing is excluded: a
type the checker needs is an arrow too). The arrows:

- ``import a.b.c`` and ``from a.b.c import name``: to the deepest rfpilot module named (``a.b.c``), and to each
  package above it (Python runs ``a/__init__`` and ``a/b/__init__`` first);
- ``from pkg import name``: to ``pkg.name`` when that is a module of rfpilot, else to ``pkg``;
- relative imports are read from the importer's own package;
- a module importing one of its own parent packages is no arrow (Python has already run the parent when the
  child runs); a package's ``__init__`` importing its submodules is an arrow like any other.

Imports built at run time (``importlib.import_module``: the CLI's command tree, the PSA clients) are not
statements and are not seen.

Nothing here lists rfpilot's modules: any package layout under rfpilot/ is read as it is found. Only the floors
are named, by top-level package prefix.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import rfpilot

PACKAGE = Path(rfpilot.__file__).parent


# -- reading the graph ----------------------------------------------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(root: Path) -> dict[str, Path]:
    """Every Python module under the package directory ``root``, by dotted name."""
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(tree: ast.Module, module: str, is_package: bool, *, everywhere: bool = True
               ) -> Iterator[tuple[str, str | None]]:
    """(base, member) for every import statement anywhere in ``tree`` (``everywhere=False``: only the statements
    of the module's body itself): ``import a.b`` gives ("a.b", None), ``from a import b`` gives ("a", "b"); a
    relative import is made absolute from ``module``."""
    for node in ast.walk(tree) if everywhere else tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                # Counted from the module's own package (a package's __init__ counts from the package itself),
                # one package up per extra dot.
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                yield base, alias.name


def _deepest(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of ``modules`` that ``name`` is or lies in (None: not one of them)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path = PACKAGE, *, everywhere: bool = True) -> dict[str, set[str]]:
    """Module -> the modules of the package ``root`` that it imports (see the module docstring).
    ``everywhere=False`` reads only the statements at the top of each module (to show what the rest adds)."""
    modules = _sources(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for base, member in imports_of(tree, module, path.name == "__init__.py", everywhere=everywhere):
            whole = f"{base}.{member}" if member not in (None, "*") else base
            target = whole if whole in modules else _deepest(base, modules)
            if target is None:
                continue  # outside the package
            parts = target.split(".")
            for end in range(len(parts), 0, -1):  # the target and every package above it
                reached = ".".join(parts[:end])
                if reached in modules and reached != module and not module.startswith(reached + "."):
                    graph[module].add(reached)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: every strongly connected set of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        # Iterative depth-first walk: a path through the whole package is deeper than the recursion limit allows.
        work = [(node, iter(sorted(graph.get(node, ()))))]
        while work:
            current, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[current] = min(low[current], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[current])
                if low[current] == index[current]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == current:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def a_path_round(graph: dict[str, set[str]], circle: list[str]) -> list[str]:
    """One shortest way round ``circle`` from its first module, for the failure message: [a, b, …, a]."""
    members = set(circle)
    start = circle[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{circle} is not a circle")


def described(graph: dict[str, set[str]], found: list[list[str]]) -> str:
    return "\n".join(f"  {' -> '.join(a_path_round(graph, c))}   (all of: {', '.join(c)})" for c in found)


# -- no circles -----------------------------------------------------------------------------------------------------

def test_no_import_circles() -> None:
    """No module of rfpilot/ reaches itself through imports of either level."""
    graph = import_graph()
    found = circles(graph)
    assert not found, "import circles in rfpilot/:\n" + described(graph, found)


# -- floors ---------------------------------------------------------------------------------------------------------

# From the top down. A module imports its own floor and the floors below it, never one above. A floor is a set of
# prefixes (a prefix covers the module of that name and everything under it; the longest matching prefix decides);
# the package rfpilot itself (its __init__) is on the bottom floor. Every module is on a floor
# (test_every_module_is_on_a_floor), so a new top-level module or package is placed here on purpose.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("entry (python -m rfpilot)", ("rfpilot.__main__",)),
    ("cli", ("rfpilot.cli",)),
    ("tui", ("rfpilot.tui",)),
    ("core", ("rfpilot.core",)),
    ("config, psa, db", ("rfpilot.config", "rfpilot.psa", "rfpilot.db")),
    ("standard-library helpers", ("rfpilot.private", "rfpilot.startup", "rfpilot.textsafe", "rfpilot.textcheck",
                                  "rfpilot.grammar", "rfpilot.progress", "rfpilot.transport")),
    ("errors", ("rfpilot.errors",)),
]
ROOT = rfpilot.__name__


def floor_of(module: str) -> int | None:
    """The index in FLOORS (0 is the top) of ``module``, or None when no floor names it."""
    if module == ROOT:
        return len(FLOORS) - 1
    best: tuple[int, int] | None = None
    for level, (_name, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), level)
    return None if best is None else best[1]


def test_every_module_is_on_a_floor() -> None:
    assert [m for m in sorted(import_graph()) if floor_of(m) is None] == []


def test_no_import_runs_up_a_floor() -> None:
    """cli -> tui -> core -> (config, psa, db) -> helpers -> errors: nothing imports a floor above its own
    (the core never the TUI or the CLI, config never the core, …)."""
    graph = import_graph()
    upward = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            below, above = floor_of(module), floor_of(target)
            if below is not None and above is not None and above < below:
                upward.append(f"  {module} ({FLOORS[below][0]}) imports {target} ({FLOORS[above][0]})")
    assert not upward, "imports up a floor:\n" + "\n".join(upward)


# -- the reader, on a package made for it ---------------------------------------------------------------------------


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Module level, in a function, under TYPE_CHECKING, ``from pkg import module``, ``from module import name``,
    relative imports of one and two dots, packages above the target; not a module's own parent package, not
    anything outside the package."""
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "import json\nVALUE = 1\n",
        "pkg/sub/__init__.py": "from . import inner\n",
        "pkg/sub/inner.py": "import pkg.sub\nfrom pkg import sub\nfrom .. import low\n",
        "pkg/sub/other.py": "from .inner import name\n",
        "pkg/a.py": "from pkg.low import VALUE\n",
        "pkg/b.py": "def f():\n    from pkg import a\n",
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import f\n",
        "pkg/d.py": "import pkg.sub.inner\n",
        "pkg/e.py": "from pkg.sub import *\n",
    })
    assert import_graph(root) == {
        "pkg": set(),
        "pkg.low": set(),
        "pkg.sub": {"pkg.sub.inner"},
        "pkg.sub.inner": {"pkg.low"},  # its own parent packages are no arrows
        "pkg.sub.other": {"pkg.sub.inner"},
        "pkg.a": {"pkg.low"},
        "pkg.b": {"pkg.a"},  # in a function
        "pkg.c": {"pkg.b"},  # under TYPE_CHECKING
        "pkg.d": {"pkg.sub.inner", "pkg.sub"},  # the package above the module runs first
        "pkg.e": {"pkg.sub"},
    }


def test_a_circle_is_found_and_named(tmp_path: Path) -> None:
    """A circle closed by a function-level import is found, with a way round it, and nothing else is."""
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/closing.py": "from pkg import writeback\n",
        "pkg/writeback.py": "from pkg.psa import client\n\ndef finish():\n    from pkg.closing import apply\n",
        "pkg/psa.py": "client = None\n",
        "pkg/lone.py": "import pkg.psa\n",
    })
    graph = import_graph(root)
    assert circles(graph) == [["pkg.closing", "pkg.writeback"]]
    assert described(graph, circles(graph)) == (
        "  pkg.closing -> pkg.writeback -> pkg.closing   (all of: pkg.closing, pkg.writeback)")


def test_circles_and_the_way_round_on_a_plain_graph() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"f"}, "g": set()}
    assert circles(graph) == [["a", "b", "c"], ["d", "e"]]  # a module naming itself is no circle (Python allows it)
    assert a_path_round(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_the_graph_of_rfpilot_is_read_whole() -> None:
    """Not vacuous: every module of rfpilot/ is in it, and the imports inside functions (the lazy ones: the CLI's
    commands, the callers of the SDKs) add arrows that the statements at the top of the modules do not."""
    graph = import_graph()
    top = import_graph(everywhere=False)
    assert set(graph) == set(_sources(PACKAGE)) and len(graph) > 50
    assert all(top[m] <= graph[m] for m in graph)
    assert sum(map(len, top.values())) > 150
    assert sum(len(graph[m] - top[m]) for m in graph) > 50


# -- the core's capabilities ----------------------------------------------------------------------------------------

# Inside rfpilot.core the capability packages are floors too, from the top down: what the front ends are handed
# and the whole-session features on top, then each capability on the ones below it, and the shared foundations at
# the bottom (with rfpilot.core itself). A new module of the core is placed here on purpose
# (test_every_core_module_is_on_a_core_floor).
CORE_FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("views and whole-session features", ("rfpilot.core.views", "rfpilot.core.export", "rfpilot.core.doctor",
                                         "rfpilot.core.demo")),
    ("team", ("rfpilot.core.team",)),
    ("closeout", ("rfpilot.core.closeout",)),
    ("drafting", ("rfpilot.core.drafting",)),
    ("engine", ("rfpilot.core.engine",)),
    ("library", ("rfpilot.core.library",)),
    ("memory", ("rfpilot.core.memory",)),
    ("session", ("rfpilot.core.session",)),
    ("llm", ("rfpilot.core.llm",)),
    ("foundations", ("rfpilot.core.context", "rfpilot.core.text", "rfpilot.core.inputs", "rfpilot.core.lookup",
                     "rfpilot.core.secrets", "rfpilot.core.view_types")),
]
CORE = "rfpilot.core"


def core_floor_of(module: str) -> int | None:
    if module == CORE:
        return len(CORE_FLOORS) - 1
    for level, (_name, prefixes) in enumerate(CORE_FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def test_every_core_module_is_on_a_core_floor() -> None:
    core = [m for m in sorted(import_graph()) if m == CORE or m.startswith(CORE + ".")]
    assert len(core) > 30
    assert [m for m in core if core_floor_of(m) is None] == []


def test_no_core_capability_imports_one_above_it() -> None:
    """llm < session < memory < library < engine < drafting < closeout < team < views: the folder tree is the map, so a
    capability reads only those below it (a package-level circle would hide inside the module graph's order)."""
    graph = import_graph()
    upward = []
    for module, targets in sorted(graph.items()):
        below = core_floor_of(module)
        if below is None:
            continue
        for target in sorted(targets):
            above = core_floor_of(target)
            if above is not None and above < below:
                upward.append(f"  {module} ({CORE_FLOORS[below][0]}) imports {target} ({CORE_FLOORS[above][0]})")
    assert not upward, "imports up the core's floors:\n" + "\n".join(upward)
