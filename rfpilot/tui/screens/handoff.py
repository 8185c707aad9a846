"""The handoff dialog (SPEC §13): park the session (it waits on something) or escalate it to the team queue.

It knows nothing of the store: an async ``submit`` takes the ``HandoffResult``; the main screen turns that
into core calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, RadioButton, RadioSet, Static, TextArea

from rfpilot.errors import RfpilotError
from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import Dialog, error_line, no_blink
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("handoff.tcss")  # parsed when the dialog first opens


@dataclass
class HandoffResult:
    intent: str  # "park" | "escalate"
    text: str = ""  # park: what the session waits on (required) · escalate: notes for the next engineer ("" = none)
    elevated: bool = False  # escalate only; a park is never elevated


_INTENTS = ("park", "escalate")


class IntentToggle(RadioSet):
    """Park | Escalate. With two choices there is nothing to browse: an arrow chooses at once."""

    def on_mount(self) -> None:
        self.call_after_refresh(self._highlight_pressed)  # after the set's own mount, which highlights the first

    def _highlight_pressed(self) -> None:
        if self.pressed_index >= 0:
            self._selected = self.pressed_index

    def _press_highlighted(self) -> None:
        if self.has_focus and self._selected is not None:
            button = self._nodes[self._selected]
            if isinstance(button, RadioButton):
                button.value = True

    def action_next_button(self) -> None:
        super().action_next_button()
        self._press_highlighted()

    def action_previous_button(self) -> None:
        super().action_previous_button()
        self._press_highlighted()


class HandoffDialog(Dialog[HandoffResult | None]):
    """Park the session (waiting on something) or escalate it to the team queue.

    ``submit``, when given, is awaited with the result before the dialog closes; an RfpilotError it raises is
    shown in the dialog, which stays open.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("ctrl+s", "confirm", "Hand off", id="handoff.confirm"),
        Binding("escape", "cancel", "Cancel", id="handoff.cancel"),
    ]

    def __init__(self, intent: str = "park", submit: Callable[[HandoffResult], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self.intent = intent if intent in _INTENTS else "park"
        self.submit = submit
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="handoff"):
            yield Static(text("Hand off this session", "bold"))
            yield Static(text("Park: it waits on something. Escalate: someone else should take it. Both go to "
                              "the team queue; whoever claims it gets a briefing.", "dim"))
            with IntentToggle(id="handoff-intent", compact=True):
                yield RadioButton("Park", value=self.intent == "park", id="intent-park")
                yield RadioButton("Escalate", value=self.intent == "escalate",
                                  id="intent-escalate")
            yield Static("", id="handoff-label")
            yield TextArea("", id="handoff-text", soft_wrap=True, tab_behavior="focus")
            yield Checkbox(text("Elevated priority: first in the queue"), False, id="handoff-elevated", compact=True)
            yield Static("", id="handoff-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Park session (ctrl+s)", id="confirm", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            yield Static(text("←→ park / escalate · tab moves · ctrl+s confirms · esc cancels", "dim"))

    def on_mount(self) -> None:
        no_blink(self)
        self._apply_intent()
        self.query_one("#handoff-text", TextArea).focus()

    def _apply_intent(self) -> None:
        park = self.intent == "park"
        label = Text()
        if park:
            label.append("What are you waiting on?", "bold")
            label.append(" *", "red")
        else:
            label.append("Notes for the next engineer", "bold")
            label.append(" (optional: an assessment is added)", "dim")
        self.query_one("#handoff-label", Static).update(label)
        self.query_one("#handoff-text", TextArea).placeholder = (
            "the customer's callback, a vendor case, a part, a maintenance window…" if park
            else "why it needs someone else, what you suspect, what to try next")
        elevated = self.query_one("#handoff-elevated", Checkbox)
        if park:
            elevated.value = False  # never carried over into a park
        elevated.display = not park
        elevated.disabled = park
        button = self.query_one("#confirm", Button)
        button.label = "Park session (ctrl+s)" if park else "Escalate (ctrl+s)"
        button.variant = "primary" if park else "error"
        self._error("")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.intent = "escalate" if event.pressed.id == "intent-escalate" else "park"
        self._apply_intent()

    def _error(self, message: str, style: str = "red") -> None:
        error = self.query_one("#handoff-error", Static)
        error.update(text(message, style))
        error.display = bool(message)

    def result(self) -> HandoffResult:
        value = self.query_one("#handoff-text", TextArea).text.strip()
        elevated = self.intent == "escalate" and self.query_one("#handoff-elevated", Checkbox).value
        return HandoffResult(self.intent, value, elevated)

    def action_confirm(self) -> None:
        if self.busy:
            return
        result = self.result()
        if result.intent == "park" and not result.text:
            self._error("Say what the session is waiting on: whoever picks it up needs to know.")
            self.query_one("#handoff-text", TextArea).focus()
            return
        if self.submit is None:
            self.dismiss(result)
        else:
            start_worker(self, self._submit(result), exclusive=True, group="handoff-submit")

    async def _submit(self, result: HandoffResult) -> None:
        self.busy = True
        button = self.query_one("#confirm", Button)
        button.disabled = True
        self._error("parking…" if result.intent == "park" else "escalating… (the assessment can take a moment)",
                    "dim")
        try:
            await self.submit(result)  # type: ignore[misc]
        except RfpilotError as err:
            self._error(error_line(err))
            return
        finally:
            self.busy = False
            button.disabled = False
        self.dismiss(result)

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm() if event.button.id == "confirm" else self.action_cancel()
