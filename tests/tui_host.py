"""A tiny Textual app that hosts one screen for standalone screen tests (no store, no core)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App


class Host(App):
    """Pushes one screen on mount, records what it dismissed with, and stubs the clipboard."""

    CSS_PATH = Path(__import__("rfpilot.tui.app", fromlist=["x"]).__file__).with_name("app.tcss")

    def __init__(self, make: Callable[[], object]) -> None:
        super().__init__()
        self.make = make
        self.results: list[object] = []
        self.copied: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)

    def copy_text(self, value: str, what: str = "text") -> None:
        self.copied.append((what, value))


def shown(widget) -> str:
    """The text a widget renders (Static content, or what any widget draws)."""
    return str(widget.render())
