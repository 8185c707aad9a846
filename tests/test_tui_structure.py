"""The TUI's shape: one screen or dialog per module under tui/screens, every stylesheet there belongs to a screen,
and the app is what the screens take it for (rfpilot.tui.host.Host). Import circles, the TUI's included, are
tests/test_import_graph.py's."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

pytest.importorskip("textual")

TUI = Path(__file__).resolve().parent.parent / "rfpilot" / "tui"
SCREENS = TUI / "screens"
HELPERS = {"shared"}  # tui/screens/shared.py: the Dialog base and small helpers, no screen of its own


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
