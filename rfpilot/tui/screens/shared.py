"""What the screens and dialogs here share: the ``Dialog`` base (a modal with a footer of its own) and a few
small helpers. Each screen or dialog has a module of its own beside this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.screen import ModalScreen, Screen, ScreenResultType

from rfpilot.tui.safe import inert

if TYPE_CHECKING:
    from rfpilot.errors import RfpilotError

# The rules the three script dialogs (parameter_form, three_choice, draft_review) share; each lists it first in
# its CSS_PATH, before its own file. Parsed when the first of them opens, not before the first frame.
SCRIPT_DIALOG_STYLES = Path(__file__).with_name("script_dialog.tcss")


class Dialog(ModalScreen[ScreenResultType]):
    """A modal with a footer of its own: while it is open, the footer shows the dialog's keys (the ones that
    act), not those of the screen behind it, plus quit and help, which act everywhere (app priority bindings)."""

    ALWAYS = ("quit", "help")  # the app's actions a dialog's footer shows, as the main footer does

    @property
    def active_bindings(self):
        # Textual stops a modal's binding chain at the modal, so the footer would drop the app's keys, yet
        # ctrl+q and f1 (priority bindings) still act here: show them, with the keys the keymap gave them, and
        # not a key the focused text field takes for itself (`?` in a TextArea).
        from textual.binding import ActiveBinding

        bindings = super().active_bindings
        for namespace, keys in self._binding_chain:
            if namespace is not self.app:
                continue
            for key, binding in keys:
                if binding.action in self.ALWAYS and key not in bindings:
                    bindings[key] = ActiveBinding(namespace, binding, True, binding.tooltip)
        return bindings

    def on_mount(self) -> None:
        from rfpilot.tui.widgets.footer import KeysFooter

        if not self.query(KeysFooter):
            self.mount(KeysFooter())


def no_blink(screen: Screen) -> None:
    """A steady cursor under test, so snapshots are stable; a blinking one for people."""
    for widget in screen.query("Input, TextArea"):
        widget.cursor_blink = not screen.app.is_headless  # type: ignore[attr-defined]


def error_line(err: RfpilotError) -> str:
    return err.message + (f" ({err.hint})" if err.hint else "")


def unless_edited(original: str, shown: str) -> str:
    """What an editor holding ``inert(original)`` gives back: the original itself, byte for byte (its CRLFs and
    controls included), unless the engineer changed the text."""
    return original if shown == inert(original) else shown
