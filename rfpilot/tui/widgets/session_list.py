"""The session list: Active first, then Recent; status dot, title, then age, ticket, client.

Each row is two lines whatever the width: the title is cut with an ellipsis rather than wrapped (app.tcss), and
the age comes first on the second line, so it is never the part that is cut. Ages tick (``tick``) from each
row's ``updated_at`` without reading the store again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

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
    age: str  # as read; ``updated_at`` (when given) keeps it up to date
    updated_at: datetime | None = None


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
        super().__init__(**kwargs)
        self.rows: list[SessionRowView] = []
        self.filter_text = ""
        self.now: datetime | None = None  # the clock's last tick: ages are shown as of then

    def tick(self, now: datetime) -> None:
        """Ages as of ``now``: only the rows whose age reads differently are redrawn."""
        before, self.now = self.now, now
        for row in self.matching():
            if row.updated_at is None or (before is not None and self._age(row, before) == self._age(row, now)):
                continue
            try:
                self.replace_option_prompt(row.id, self._render_row(row, now))
            except OptionDoesNotExist:  # not in the list (filtered out meanwhile)
                continue

    @staticmethod
    def _age(row: SessionRowView, now: datetime | None) -> str:
        if row.updated_at is None or now is None:
            return row.age
        from rfpilot.core.text import age

        return age(row.updated_at, now)

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
            options.extend(Option(self._render_row(r, self.now), id=r.id) for r in group)
        # Two short lines: rows are cut, not wrapped (app.tcss), and the list is 24 cells wide.
        empty = "No session matches\nthe filter" if self.filter_text.strip() else "No sessions yet:\nctrl+n starts one"
        self.add_options(options or [Option(Text(empty, style="dim"), disabled=True)])
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

    @classmethod
    def _render_row(cls, row: SessionRowView, now: datetime | None = None) -> Text:
        """Two lines (app.tcss cuts each with an ellipsis): the status dot and title; the age, ticket, client."""
        dot, colour = STATUS_DOT.get(row.status, ("?", "white"))
        text = Text()
        text.append(f"{dot} ", style=colour)
        text.append(" ".join(inert(row.title).split()))  # one line: a title's own line breaks would push the age off
        meta = " · ".join(" ".join(inert(x).split()) for x in (cls._age(row, now), row.ticket_ref, row.client) if x)
        if meta:
            text.append(f"\n  {meta}", style="dim")
        return text

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Opened(event.option.id))
