"""The session list: Active first, then Recent; status dot, title, ticket, client, age."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from rfpilot.tui.safe import inert

STATUS_DOT = {"active": ("●", "green"), "paused": ("◐", "yellow"), "escalated": ("▲", "magenta"),
              "resolved": ("✓", "blue"), "abandoned": ("✗", "grey50")}


@dataclass(frozen=True)
class SessionRowView:
    id: str
    title: str
    status: str
    client: str | None
    ticket_ref: str | None
    age: str


class SessionList(OptionList):
    """Enter opens the highlighted session."""

    HELP_TITLE = "the session list"
    HELP_KEYS = [("enter", "Open the highlighted session", ""), ("up, down", "Move", "")]

    class Opened(Message):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    BINDINGS = [Binding("slash", "filter", "Filter", id="sessions.filter")]

    class FilterRequested(Message):
        pass

    def __init__(self, **kwargs) -> None:
        # Until the store has answered, say so: an empty list would read as "no sessions".
        super().__init__(self._placeholder("Loading sessions…"), **kwargs)
        self.rows: list[SessionRowView] = []
        self.filter_text = ""

    @staticmethod
    def _placeholder(message: str) -> Option:
        return Option(Text(message, style="dim"), disabled=True)

    def set_unavailable(self) -> None:
        """The store could not be opened (the notification says why): never "no sessions yet"."""
        self.clear_options()
        self.add_option(self._placeholder("Sessions unavailable: the store did not open"))

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested())

    def matching(self) -> list[SessionRowView]:
        needle = self.filter_text.strip().casefold()
        if not needle:
            return self.rows
        return [r for r in self.rows
                if any(needle in (value or "").casefold() for value in (r.title, r.client, r.ticket_ref, r.status))]

    def set_filter(self, value: str) -> None:
        self.filter_text = value
        self.set_sessions(self.rows)

    def set_sessions(self, rows: list[SessionRowView], current: str | None = None) -> None:
        self.rows = rows
        rows = self.matching()
        before = self.highlighted_option.id if self.highlighted_option is not None else None
        self.clear_options()
        active = [r for r in rows if r.status in ("active", "paused", "escalated")]
        recent = [r for r in rows if r not in active]
        options: list[Option | None] = []
        for heading, group in (("Active", active), ("Recent", recent)):
            if not group:
                continue
            options.append(Option(Text(heading, style="bold"), disabled=True))
            options.extend(Option(self._render_row(r), id=r.id) for r in group)
        empty = "No session matches the filter" if self.filter_text.strip() else "No sessions yet — ctrl+n starts one"
        self.add_options(options or [self._placeholder(empty)])
        # Highlight the open session; else keep the highlight where it was; else the first session, so
        # enter opens a session straight away.
        for wanted in (current, before):
            if wanted and self.select_session(wanted):
                return
        for index in range(self.option_count):
            if not self.get_option_at_index(index).disabled:
                self.highlighted = index
                return

    def select_session(self, session_id: str) -> bool:
        for index in range(self.option_count):
            if self.get_option_at_index(index).id == session_id:
                self.highlighted = index
                return True
        return False

    @staticmethod
    def _render_row(row: SessionRowView) -> Text:
        dot, colour = STATUS_DOT.get(row.status, ("?", "white"))
        text = Text()
        text.append(f"{dot} ", style=colour)
        text.append(inert(row.title))
        meta = " · ".join(inert(x) for x in (row.ticket_ref, row.client, row.age) if x)
        if meta:
            text.append(f"\n  {meta}", style="dim")
        return text

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Opened(event.option.id))
