"""The TUI's shape: no import circles inside rfpilot/tui, one screen or dialog per module under tui/screens, every
stylesheet there belongs to a screen, and the app is what the screens take it for (rfpilot.tui.host.Host)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

pytest.importorskip("textual")

TUI = Path(__file__).resolve().parent.parent / "rfpilot" / "tui"
SCREENS = TUI / "screens"
HELPERS = {"shared"}  # tui/screens/shared.py: the Dialog base and small helpers, no screen of its own


def _module_name(path: Path) -> str:
    parts = path.relative_to(TUI.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the rfpilot.tui modules it imports, wherever the import is: module level, in a function, or under
    TYPE_CHECKING (an import back up from inside a function is a circle all the same)."""
    modules = {_module_name(p): p for p in TUI.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                module = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
                found = [resolve(f"{module}.{a.name}") for a in node.names]
            else:
                continue
            targets.update(t for t in found if t and t != name)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_inside_the_tui() -> None:
    graph = _import_graph()
    assert "rfpilot.tui.screens.main" in graph["rfpilot.tui.app"]  # the graph sees function-level imports
    assert _cycles(graph) == []


def test_the_circle_check_sees_a_function_level_import_back_up() -> None:
    """The check itself: a function-level import closing a loop is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _screen_modules() -> list[str]:
    return sorted(p.stem for p in SCREENS.glob("*.py") if p.stem not in HELPERS and p.stem != "__init__")


def test_one_screen_or_dialog_per_module() -> None:
    from textual.screen import Screen

    for stem in _screen_modules():
        module = importlib.import_module(f"rfpilot.tui.screens.{stem}")
        own = [name for name, cls in inspect.getmembers(module, inspect.isclass)
               if issubclass(cls, Screen) and cls.__module__ == module.__name__]
        assert len(own) == 1, (stem, own)
    shared = importlib.import_module("rfpilot.tui.screens.shared")
    assert [name for name, cls in inspect.getmembers(shared, inspect.isclass)
            if issubclass(cls, Screen) and cls.__module__ == shared.__name__] == ["Dialog"]


def test_every_screen_stylesheet_exists_and_belongs_to_a_screen() -> None:
    from textual.screen import Screen

    used: set[Path] = set()
    for stem in _screen_modules():
        module = importlib.import_module(f"rfpilot.tui.screens.{stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Screen) and cls.__module__ == module.__name__ and cls.CSS_PATH:
                paths = cls.CSS_PATH if isinstance(cls.CSS_PATH, list) else [cls.CSS_PATH]
                for path in paths:
                    assert Path(path).is_absolute() and Path(path).is_file(), (stem, path)
                    used.add(Path(path).resolve())
    assert set(p.resolve() for p in SCREENS.glob("*.tcss")) == used


def test_the_app_is_what_the_screens_take_it_for(settings) -> None:
    """Every member of rfpilot.tui.host.Host is on RfpilotApp (the main screen reaches the app only through it)."""
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.host import Host

    app = RfpilotApp(settings)
    members = set(Host.__annotations__) | {n for n in vars(Host) if not n.startswith("_")}
    assert {"ctx", "now", "has_psa", "copy_text", "make_provider", "release_provider"} <= members
    missing = [name for name in sorted(members) if not hasattr(app, name)]
    assert missing == []
    for name in members - set(Host.__annotations__):
        assert inspect.iscoroutinefunction(getattr(Host, name)) == inspect.iscoroutinefunction(getattr(app, name)), name
