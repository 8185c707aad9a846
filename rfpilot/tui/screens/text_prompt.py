"""A text prompt: ask for one text (notes, an answer, a reason)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, TextArea

from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import Dialog


class TextPrompt(Dialog[str | None]):
    """Ask for one text (notes, an answer, a reason). ctrl+s saves, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="prompt.save"),
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, title: str, hint: str = "", initial: str = "", required: bool = True) -> None:
        super().__init__()
        self.title_text, self.hint, self.initial, self.required = title, hint, initial, required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(text(self.title_text, "bold"))
            if self.hint:
                yield Static(text(self.hint, "dim"))
            yield TextArea(self.initial, id="prompt-text", soft_wrap=True, tab_behavior="focus")
            yield Static("", id="prompt-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        area = self.query_one("#prompt-text", TextArea)
        area.cursor_blink = not self.app.is_headless
        area.focus()

    def action_save(self) -> None:
        value = self.query_one("#prompt-text", TextArea).text.strip()
        if self.required and not value:
            self.query_one("#prompt-error", Static).update(text("This cannot be empty.", "red"))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()
