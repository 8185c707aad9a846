"""A choice: one of several answers (the escalate intercept, confirmations)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import Dialog


class ChoiceScreen(Dialog[str | None]):
    """Pick one of several answers (the escalate intercept, confirmations). The first is the default."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self.title_text, self.choices, self.hint = title, choices, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(text(self.title_text, "bold"))
            if self.hint:
                yield Static(text(self.hint, "dim"))
            yield OptionList(*[Option(text(label), id=key) for key, label in self.choices], id="choices")
            yield Static(text("enter chooses · esc cancels (nothing changes)", "dim"))

    def on_mount(self) -> None:
        options = self.query_one("#choices", OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
