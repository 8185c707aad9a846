"""The team queue (SPEC §13): parked and escalated sessions nobody has claimed; enter claims one.

It knows nothing of the store: it takes plain dicts shaped like core's queue items and async ``load`` and
``claim`` callables. Everything that came from a person, the model or a PSA is shown through
``safe.text``/``safe.inert``, never as markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from rfpilot.core.view_types import ClaimedSession, QueueItemView
from rfpilot.core.text import age
from rfpilot.errors import RfpilotError
from rfpilot.grammar import count as plural_count
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import error_line
from rfpilot.tui.widgets.footer import KeysFooter
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("queue.tcss")  # parsed when the queue first opens

# The mark and colour of each intent; the word is core's (core.team.handoffs.status_word), the same in the header.
INTENT_MARK = {"escalate": ("↗", "bold red"), "park": ("‖", "bold yellow")}


def _intent_mark(item: Mapping[str, Any]) -> tuple[str, str]:
    from rfpilot.core.team.handoffs import WAITING_WORD

    intent = str(item.get("intent")) if item.get("intent") in INTENT_MARK else "park"
    mark, style = INTENT_MARK[intent]
    return f"{mark} {inert(str(item.get('status_word') or WAITING_WORD[intent]))}", style


def _when(value: Any) -> str:
    """A datetime or ISO time as "2026-03-02 14:05 UTC" (as given when it does not parse)."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return inert(str(value))
    if moment.tzinfo is not None:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _waiting(item: Mapping[str, Any]) -> str:
    return inert(str(item.get("waiting_on") or item.get("notes") or ""))


def _title(item: Mapping[str, Any]) -> str:
    return inert(str(item.get("title") or item.get("session_title") or "Untitled session"))


def _by(item: Mapping[str, Any]) -> str:
    return inert(str(item.get("handed_off_by_name") or item.get("handed_off_by") or ""))


def _age(item: Mapping[str, Any]) -> str:
    """The item's "age" as given, else worked out from created_at (a datetime or ISO text)."""
    if item.get("age"):
        return inert(str(item["age"]))
    created = item.get("created_at")
    try:
        moment = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return age(moment, datetime.now(timezone.utc))


def queue_option(item: Mapping[str, Any]) -> Text:
    """A queue row: intent, elevated, title; then ticket, who, how long ago, branches; then the wait or notes."""
    word, style = _intent_mark(item)
    out = Text()
    out.append(word, style)
    if item.get("priority") == "elevated":
        out.append("  ")
        out.append(" ELEVATED ", "bold white on red")
    out.append("  " + _title(item), "bold")
    meta = [inert(str(item["ticket_ref"])) if item.get("ticket_ref") else "no ticket"]
    if _by(item):
        meta.append("by " + _by(item))
    if _age(item):
        meta.append(_age(item) + " ago")
    count = item.get("branch_count") or 0
    if count:
        meta.append(plural_count(count, "branch"))
    out.append("\n  " + " · ".join(meta), "dim")
    waiting = " ".join(_waiting(item).split())
    if waiting:
        out.append("\n  " + ("waiting on: " if item.get("intent") == "park" else "notes: ") + waiting, "italic")
    return out


def queue_detail(item: Mapping[str, Any]) -> Text:
    word, style = _intent_mark(item)
    out = Text()
    out.append(_title(item), "bold")
    out.append("\n" + word, style)
    if item.get("priority") == "elevated":
        out.append(" · elevated priority", "bold red")
    if item.get("ticket_ref"):
        out.append(" · " + inert(str(item["ticket_ref"])))
    out.append(f"\nhanded off by {_by(item) or 'someone'}", "dim")
    if item.get("created_at"):
        out.append(f" on {_when(item['created_at'])}", "dim")
    if _age(item):
        out.append(f" ({_age(item)} ago)", "dim")
    count = item.get("branch_count") or 0
    if count:
        out.append(f"\n{plural_count(count, 'branch')} explored", "dim")
    if _waiting(item):
        out.append("\n\n" + ("Waiting on" if item.get("intent") == "park" else "Notes"), "bold")
        out.append("\n" + _waiting(item))
    out.append("\n\nenter claims it: the session becomes yours, and you get a briefing.", "dim")
    return out


class QueueScreen(Screen[str | None]):
    """Unclaimed handoffs of the team, as the core orders them (elevated first, then oldest first).

    enter claims the highlighted one: ``claim(handoff_id)`` returns {"session_id", "briefing"} or raises an
    RfpilotError (someone else was faster, say: shown, then the queue reloads). A claim shows the briefing;
    enter then dismisses with the session id for the caller to open.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("enter", "claim", "Claim", id="queue.claim"),
        Binding("r", "reload", "Reload", id="queue.reload"),
        Binding("escape", "back", "Back", id="queue.back"),
    ]

    def __init__(self, load: Callable[[], Awaitable[list[QueueItemView]]],
                 claim: Callable[[str], Awaitable[ClaimedSession]]) -> None:
        super().__init__()
        self.load, self.claim = load, claim
        self.items: list[QueueItemView] = []
        self.claimed: ClaimedSession | None = None
        self.claiming = False

    def compose(self) -> ComposeResult:
        yield Static(text("Team queue · parked and escalated sessions nobody has claimed", "bold"), id="queue-header")
        yield Static(text("loading…", "dim"), id="queue-info")
        yield Static("", id="queue-error")
        with Horizontal(id="queue-body"):
            yield OptionList(id="queue-list")
            with VerticalScroll(id="queue-detail"):
                yield Static("", id="queue-detail-text")
                yield Button("Open the session (enter)", id="queue-open", variant="success", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#queue-error").display = False
        self.query_one("#queue-open").display = False
        self.query_one("#queue-list", OptionList).focus()
        start_worker(self, self._load(), exclusive=True, group="queue-load")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload":
            return self.claimed is None
        return True

    def _error(self, message: str) -> None:
        error = self.query_one("#queue-error", Static)
        error.update(text(message, "red"))
        error.display = bool(message)

    async def _load(self) -> None:
        info = self.query_one("#queue-info", Static)
        try:
            items = await self.load()
        except RfpilotError as err:
            info.update(text(error_line(err), "red"))
            return
        if self.claimed is not None:
            return
        listing = self.query_one("#queue-list", OptionList)
        before = self._highlighted_id()
        self.items = [QueueItemView(**i) for i in items]
        listing.clear_options()
        options: list[Option | None] = []
        for item in self.items:
            options += [Option(queue_option(item), id=str(item.get("handoff_id"))), None]
        listing.add_options(options[:-1])
        if self.items:
            elevated = sum(1 for i in self.items if i.get("priority") == "elevated")
            count = f"{len(self.items)} waiting" + (f" · {elevated} elevated" if elevated else "")
            info.update(text(count + " · enter claims the highlighted one · r reloads", "dim"))
            ids = [str(i.get("handoff_id")) for i in self.items]
            listing.highlighted = ids.index(before) if before in ids else 0
        else:
            info.update(text("No sessions waiting: nothing is parked or escalated for the team.", "dim"))
            self.query_one("#queue-detail-text", Static).update("")

    def _highlighted_id(self) -> str | None:
        listing = self.query_one("#queue-list", OptionList)
        if listing.highlighted is None or listing.highlighted >= listing.option_count:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    def _item(self, handoff_id: str | None) -> QueueItemView | None:
        return next((i for i in self.items if str(i.get("handoff_id")) == handoff_id), None)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        item = self._item(event.option.id)
        if item is not None and self.claimed is None:
            self.query_one("#queue-detail-text", Static).update(queue_detail(item))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._claim(event.option.id)

    def action_claim(self) -> None:
        if self.claimed is not None:
            self.dismiss(str(self.claimed.get("session_id")))
        else:
            self._claim(self._highlighted_id())

    def _claim(self, handoff_id: str | None) -> None:
        if handoff_id is None or self.claiming or self.claimed is not None:
            return
        start_worker(self, self._do_claim(handoff_id), exclusive=True, group="queue-claim")

    async def _do_claim(self, handoff_id: str) -> None:
        self.claiming = True
        item = self._item(handoff_id)
        self._error("")
        self.query_one("#queue-info", Static).update(text("claiming…", "dim"))
        try:
            claimed = await self.claim(handoff_id)
        except RfpilotError as err:
            self._error("Not claimed: " + error_line(err))
            start_worker(self, self._load(), exclusive=True, group="queue-load")
            return
        finally:
            self.claiming = False
        self.claimed = ClaimedSession(**claimed)
        self.refresh_bindings()
        listing = self.query_one("#queue-list", OptionList)
        listing.disabled = True
        shown = Text()
        shown.append("Claimed: ", "bold green")
        shown.append(_title(item) if item else "the session", "bold")
        if item and item.get("ticket_ref"):
            shown.append(" · " + inert(str(item["ticket_ref"])), "dim")
        shown.append("\nIt is yours now. The briefing:\n\n", "dim")
        shown.append(inert(str(self.claimed.get("briefing") or "(no briefing)")))
        shown.append("\n")
        self.query_one("#queue-detail-text", Static).update(shown)
        self.query_one("#queue-info", Static).update(text("claimed · enter opens the session", "green"))
        button = self.query_one("#queue-open", Button)
        button.display = True
        button.focus()
        self.query_one("#queue-detail").scroll_home(animate=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "queue-open" and self.claimed is not None:
            self.dismiss(str(self.claimed.get("session_id")))

    def action_reload(self) -> None:
        if self.claimed is None:
            self._error("")
            self.query_one("#queue-info", Static).update(text("loading…", "dim"))
            start_worker(self, self._load(), exclusive=True, group="queue-load")

    async def live_update(self, update: Any, *, list_too: bool = True) -> bool:
        """A teammate parked, escalated, claimed or resumed something (rfpilot.core.session.live): read the queue
        again, in place (the highlight stays on the same handoff). Not while a claim runs or after one."""
        if list_too and self.claimed is None and not self.claiming and self.is_attached:
            start_worker(self, self._load(), exclusive=True, group="queue-load")
        return True

    def action_back(self) -> None:
        if self.claiming:
            return
        # After a claim the session is the engineer's: going back opens it rather than losing it.
        self.dismiss(str(self.claimed.get("session_id")) if self.claimed is not None else None)
