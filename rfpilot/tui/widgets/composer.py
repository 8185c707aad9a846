"""The multi-line composer: Enter sends, ctrl+j (or alt+enter) inserts a line break, pastes keep theirs."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea


NEW_LINE_KEYS = ("ctrl+j", "alt+enter", "shift+enter")


class LineBreakArea(TextArea):
    """A multi-line field where ctrl+j (or alt+enter) adds a line, as in the composer: many terminals send enter
    for shift+enter, and ctrl+j is the one key every terminal sends distinctly."""

    async def _on_key(self, event: events.Key) -> None:
        if event.key in NEW_LINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)


class Composer(LineBreakArea):
    HELP_TITLE = "the message composer"
    HELP_KEYS = [("enter", "Send the message", ""), ("ctrl+j, alt+enter", "New line", "")]

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.border_title = "Message · enter sends · ctrl+j new line"

    def on_mount(self) -> None:
        self.cursor_blink = not self.app.is_headless  # stable screenshots in tests

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            value = self.text.strip()
            if value:
                self.post_message(self.Submitted(value))
            return
        await super()._on_key(event)
