"""The session list: Active first, then Recent; status dot, title, then age, ticket, client.

The store pages and filters it (core.session.sessions.session_page): the first chunk on load, the next ones as the
user scrolls or pages down, and every filter keystroke is a query over the whole store.

Each row is two lines whatever the width: the title is cut with an ellipsis rather than wrapped (app.tcss), and
the age comes first on the second line, so it is never the part that is cut. Ages tick (``tick``) from each
row's ``updated_at`` without reading the store again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from rfpilot.db.enums import split_open
from rfpilot.errors import RfpilotError
from rfpilot.grammar import count
from rfpilot.tui.rows import SessionRowView
from rfpilot.tui.safe import inert
from rfpilot.tui.workers import start_worker

HEADINGS = {"active": "Active", "recent": "Recent"}
HEADING_ID = "\x00heading:"  # option ids of the headings (no session id starts with a NUL)
STATUS_DOT = {"active": ("●", "green"), "paused": ("◐", "yellow"), "escalated": ("▲", "magenta"),
              "resolved": ("✓", "blue"), "abandoned": ("✗", "grey50")}


# Widget's virtual_size asks for a layout of the whole screen whenever it changes, which repaints every widget,
# and Input sets its virtual width to its text's on every key. The filter box has a size of its own (app.tcss),
# whatever its text: a key needs a repaint of the box, not a layout of the screen while the filter's query runs.


class FilterInput(Input):
    """The session list's filter box: a key repaints the box, not the screen."""

    virtual_size = Reactive(Size(0, 0), layout=False)


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

    # Sessions per query: two screenfuls at 50 lines, so a filter key lays out no more rows than it needs.
    PAGE = 50
    PREFETCH = 20  # load the next chunk when the highlight comes this close to the end (or the view a screen)

    def __init__(self, **kwargs) -> None:
        # Set before OptionList's own __init__, which highlights the placeholder (and so asks for more rows).
        self.rows: list[SessionRowView] = []  # what is loaded, in list order (open first)
        self.filter_text = ""
        self.cursor = None  # where the next chunk starts (rfpilot.tui.prefetch.cursor_token); None: all loaded
        self._generation = 0  # bumped by every new query: an older query's answer is dropped
        self._filter_running = False
        self._more_running = False
        self._has_recent_heading = False
        self.now: datetime | None = None  # the clock's last tick: ages are shown as of then
        # Until the store has answered, say so: an empty list would read as "no sessions".
        super().__init__(self._placeholder("Loading sessions…"), **kwargs)

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
        """The sessions listed now (the store already applied the filter)."""
        return self.rows

    # --- loading: the store pages and filters, the list only shows ---------------------------

    async def _fetch(self, match: str, after=None, limit: int | None = None) -> tuple[list[SessionRowView], Any] | None:
        """(rows, cursor) of one chunk; None while the store is still opening (its first load comes after)."""
        from rfpilot.tui.data import session_rows

        if getattr(self.app, "workspace", None) is None:
            return None

        async def query():
            async with self.app.ctx() as ctx:  # type: ignore[attr-defined]
                return await session_rows(ctx, match=match, after=after, limit=limit or self.PAGE)

        try:
            # No shield needed: the store's sessions finish an operation before a cancel lands (db.cancelsafe).
            return await query()
        except RfpilotError as err:
            self.notify(inert(err.message + (f"\n{err.hint}" if err.hint else "")), severity="error", markup=False)
            return None

    async def reload(self, current: str | None = None) -> None:
        """What is listed again, under the current filter (after a change to the sessions): as many sessions as
        were loaded, so the highlight stays where the user had scrolled to."""
        self._generation += 1
        generation, match = self._generation, self.filter_text
        chunk = await self._fetch(match, limit=max(self.PAGE, len(self.rows)))
        if chunk is not None and generation == self._generation:
            self.set_sessions(*chunk, current=current)

    def set_filter(self, value: str) -> None:
        """Query the store for ``value``: at once when no filter query runs (no debounce: a key's result is
        never held back by a timer). One query at a time: keys typed while it runs are coalesced into the
        next one, for the latest text, and an answer for text that has changed since is never shown."""
        self.filter_text = value
        self._generation += 1  # a chunk or reload still in flight is now stale
        if not self._filter_running:
            self._filter_running = True
            start_worker(self, self._run_filter(), group="session-filter")

    async def _run_filter(self) -> None:
        try:
            while True:
                generation, match = self._generation, self.filter_text
                chunk = await self._fetch(match)
                if chunk is None or generation == self._generation:
                    if chunk is not None:
                        self.set_sessions(*chunk)
                    return
                # The filter changed while the query ran: run the newest text (once, however many keys).
        finally:
            self._filter_running = False

    def _maybe_more(self) -> None:
        if self.cursor is None or self._more_running or self._filter_running:
            return
        if getattr(self.app, "workspace", None) is None:  # the first page came before the store: it reloads once open
            return
        near_end = self.highlighted is not None and self.highlighted >= self.option_count - self.PREFETCH
        shown = self.display and self.scrollable_content_region.height > 0 and self.virtual_size.height > 0
        near_bottom = shown and self.max_scroll_y - self.scroll_y <= self.scrollable_content_region.height
        if near_end or near_bottom:
            self._more_running = True
            start_worker(self, self._load_more(), group="session-more")

    async def _load_more(self) -> None:
        try:
            generation = self._generation
            chunk = await self._fetch(self.filter_text, self.cursor)
            if chunk is not None and generation == self._generation:
                self._append(*chunk)
        finally:
            self._more_running = False
        self.call_after_refresh(self._maybe_more)  # still near the end (a tall window, a held key)

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        self._maybe_more()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._maybe_more()

    # --- showing ----------------------------------------------------------------------------

    def _options_for(self, rows: list[SessionRowView], *, first: bool) -> list[Option]:
        """Options for ``rows`` (which continue the list), with the section headings they start."""
        active, recent = split_open(rows, lambda r: r.status)
        options: list[Option] = []
        if active and first:
            options.append(Option(self._heading("active"), id=HEADING_ID + "active", disabled=True))
        options.extend(Option(self._render_row(r, self.now), id=r.id) for r in active)
        if recent and not self._has_recent_heading:
            options.append(Option(self._heading("recent"), id=HEADING_ID + "recent", disabled=True))
            self._has_recent_heading = True
        options.extend(Option(self._render_row(r, self.now), id=r.id) for r in recent)
        return options

    def _heading(self, section: str) -> Text:
        """"Active · 12 sessions": exact once the section is loaded to its end, else a lower bound ("50+")
        that grows as chunks load. Open sessions come first, so Active is complete once a closed one is."""
        active, recent = split_open(self.rows, lambda r: r.status)
        n, complete = (len(active), self.cursor is None or bool(recent)) if section == "active" \
            else (len(recent), self.cursor is None)
        heading = Text(HEADINGS[section], style="bold")
        heading.append(f" · {count(n, 'session', at_least=not complete)}", style="dim")
        return heading

    def _update_headings(self) -> None:
        for section in HEADINGS:
            try:
                self.replace_option_prompt(HEADING_ID + section, self._heading(section))
            except OptionDoesNotExist:
                continue

    def set_sessions(self, rows: list[SessionRowView], cursor=None, current: str | None = None) -> None:
        """Show ``rows`` (the first chunk, open sessions first) in place of what is listed."""
        before = self.highlighted_option.id if self.highlighted_option is not None else None
        self.rows, self.cursor, self._has_recent_heading = list(rows), cursor, False
        options = self._options_for(rows, first=True)
        # Two short lines: rows are cut, not wrapped (app.tcss), and the list is 24 cells wide.
        empty = "No session matches\nthe filter" if self.filter_text.strip() else "No sessions yet:\nctrl+n starts one"
        # In one step, not cleared then filled: the list's height goes from old to new without passing through
        # empty, so a result as tall as the last one (a full chunk) repaints the list without a new layout.
        self.set_options(options or [self._placeholder(empty)])
        # Highlight the open session; else keep the highlight where it was; else the first session, so
        # enter opens a session straight away.
        for wanted in (current, before):
            if wanted and self.select_session(wanted):
                return
        for index in range(self.option_count):
            if not self.get_option_at_index(index).disabled:
                self.highlighted = index
                return

    def _append(self, rows: list[SessionRowView], cursor) -> None:
        """The next chunk, below what is listed (the highlight and the scroll stay where they are)."""
        self.cursor = cursor
        # A session listed as open and closed since comes again in the closed part: it stays where it is listed.
        fresh = [r for r in rows if r.id not in self._id_to_option]
        self.rows.extend(fresh)
        self.add_options(self._options_for(fresh, first=False))
        self._update_headings()

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
        if event.option.id and not event.option.id.startswith(HEADING_ID):
            self.post_message(self.Opened(event.option.id))
