"""The ticket picker: your open PSA tickets; enter starts (or reopens) the session for one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rfpilot.grammar import count
from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import Dialog
from rfpilot.tui.workers import start_worker


class TicketPicker(Dialog[str | None]):
    """Your open PSA tickets; enter starts (or reopens) the session for one. Loads after it opens."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="tickets.cancel"),
        Binding("ctrl+r", "reload", "Reload", id="tickets.reload"),
    ]

    def __init__(self, load) -> None:
        super().__init__()
        self.load = load  # async () -> list[(ticket id, label, session id or None)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(text("Start from a ticket — your open tickets", "bold"))
            yield Static(text("loading…", "dim"), id="tickets-info")
            yield OptionList(id="tickets")
            yield Static(text("enter starts a session (or opens the one already working it) · ctrl+r reloads · "
                              "esc cancels", "dim"))

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        start_worker(self, self._load(), exclusive=True, group="tickets")

    async def _load(self) -> None:
        from rfpilot.errors import RfpilotError

        info = self.query_one("#tickets-info", Static)
        listing = self.query_one("#tickets", OptionList)
        info.update(text("loading…", "dim"))
        try:
            rows = await self.load()
        except RfpilotError as err:
            info.update(text(err.message + (f"\n{err.hint}" if err.hint else ""), "red"))
            return
        listing.clear_options()
        listing.add_options([Option(text(label), id=ticket_id) for ticket_id, label, _ in rows])
        info.update(text(count(len(rows), "open ticket") if rows else "no open tickets", "dim"))
        if rows:
            listing.highlighted = 0
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
