"""Help: the keys for what has focus, then every other key, with the ids the keymap uses."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import Dialog


class HelpScreen(Dialog[None]):
    """The keys for what has focus, then every other binding, with ids (for `keymap.<id>` in config.toml)."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(text("Keys — remap any of them with keymap.<id> = \"key\" in config.toml", "bold"))
            with VerticalScroll():
                for title, rows in self.sections:
                    yield Static(text(title, "bold underline"), classes="help-title")
                    body = "\n".join(f"{key:<16} {desc:<34} {bid}".rstrip() for key, desc, bid in rows)
                    yield Static(text(body))
            yield Static(text("esc closes", "dim"))

    def action_close(self) -> None:
        self.dismiss(None)
