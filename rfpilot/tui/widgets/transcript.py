"""The chat transcript: the engineer's messages as text, the model's as Markdown, a live reply while streaming.

Sessions of any size stay fast: the transcript holds only the latest page of messages (``tui.data``); the
rest sit behind an "earlier messages" line, and ctrl+up brings them in a page at a time, read from the store
(a keyset on seq), mounted above what is shown. At most ``MOST`` messages are mounted: paging further back
unmounts the latest ones (a "later messages" line; ctrl+down comes back to the latest page). A new message or
a streaming reply is appended at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.widgets import Markdown

from rfpilot.core.view_types import BranchView, ForkView, MessageView
from rfpilot.tui.safe import inert, text

MOST = 200


class Bubble(Static):
    """One message. Assistant replies render Markdown (text only, never Rich markup)."""


class Transcript(VerticalScroll):
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.messages: list[MessageView] = []  # what is shown, oldest first
        self.earlier = 0  # messages before the first one shown, still in the store
        self.later = 0  # messages after the last one shown (unmounted after paging far back)
        self.forks: list[ForkView] = []
        self.branches: list[BranchView] = []
        self.live: Markdown | None = None
        self.live_text = ""

    async def set_messages(self, messages: list[MessageView], *, total: int | None = None,
                           forks: list[ForkView] | None = None, branches: list[BranchView] | None = None) -> None:
        """The latest messages of a conversation of ``total``, with a card where the conversation forked."""
        self.messages = list(messages)
        self.forks, self.branches = forks or [], branches or []
        self.earlier = max(0, (len(messages) if total is None else total) - len(messages))
        self.later = 0
        await self.remove_children()
        widgets = []
        if self.earlier:
            widgets.append(Static(self._earlier_line(), classes="earlier"))
        if not messages:
            widgets.append(Static(text("No messages yet. Describe what you see; the task lane fills as you go.", "dim"),
                                  classes="empty"))
        widgets += self._widgets(self.messages, before=None)
        await self.mount_all(widgets)
        self.scroll_end(animate=False)

    @property
    def first_seq(self) -> int | None:
        return self.messages[0]["seq"] if self.messages else None

    async def prepend(self, page: list[MessageView]) -> None:
        """A page of earlier messages (oldest first), mounted above the first one shown."""
        if not page:
            self.earlier = 0
        before = self.first_seq
        self.messages[:0] = page
        self.earlier = max(0, self.earlier - len(page)) if page else 0
        line = self.query(".earlier").first(Static) if self.query(".earlier") else None
        widgets = self._widgets(page, before=before)
        if widgets:
            if line is not None:
                await self.mount_all(widgets, after=line)
            elif self.children:
                await self.mount_all(widgets, before=0)
            else:
                await self.mount_all(widgets)
        if line is not None:
            if self.earlier:
                line.update(self._earlier_line())
            else:
                await line.remove()
        await self._unmount_latest(len(self.messages) - MOST)
        self.scroll_home(animate=False)

    async def _unmount_latest(self, excess: int) -> None:
        """Keep at most MOST messages mounted: the latest ``excess`` go (never while a reply streams in)."""
        if excess <= 0 or self.live is not None:
            return
        cutoff = self.messages[-excess]["seq"]
        del self.messages[-excess:]
        self.later += excess
        await self.remove_children([w for w in self.children
                                    if getattr(w, "message_seq", getattr(w, "fork_after", -1)) >= cutoff])
        shown = self.query(".later")
        later = text(f"… {self.later} later messages (ctrl+down shows the latest)", "dim")
        if shown:
            shown.first(Static).update(later)
        else:
            await self.mount(Static(later, classes="later"))

    def _earlier_line(self):
        return text(f"… {self.earlier} earlier messages (ctrl+up shows the previous page)", "dim")

    def _widgets(self, messages: list[MessageView], before: int | None) -> list:
        """Bubbles with each fork card after the message it follows: forks up to ``before`` (the seq of the
        first message already shown, if any), and forks before the first of ``messages`` only once nothing
        earlier is left to show."""
        pending = sorted((f for f in self.forks
                          if (before is None or f["after_seq"] < before)
                          and (not self.earlier or not messages or f["after_seq"] >= messages[0]["seq"])),
                         key=lambda f: f["after_seq"])
        widgets = []
        for message in messages:
            bubble = self._bubble(message)
            bubble.message_seq = message["seq"]
            widgets.append(bubble)
            while pending and pending[0]["after_seq"] <= message["seq"]:
                widgets.append(self._fork_card(pending.pop(0)))
        widgets.extend(self._fork_card(f) for f in pending)
        return widgets

    def _fork_card(self, fork: ForkView):
        from rfpilot.tui.widgets.forks import fork_card

        card = fork_card(fork, {b["id"]: b for b in self.branches})
        card.fork_after = fork["after_seq"]
        return card

    async def add_notice(self, widget) -> None:
        await self.mount(widget)
        self.scroll_end(animate=False)

    def _bubble(self, message: MessageView):
        from textual.widgets import Markdown  # markdown-it costs ~40 ms: not before the first frame

        if message["role"] == "assistant":
            body = inert(message["text"]) or "_(task-lane items only)_"
            return Markdown(body, classes="bubble assistant")
        if message["role"] == "user":
            label = "you"
            if message["status"] in ("failed", "interrupted"):
                label += f" · {message['status']}: {message.get('error') or 'no reply'} — ctrl+r retries"
            widget = Bubble(text(message["text"]), classes=f"bubble user {message['status']}")
            widget.border_title = label
            return widget
        return Bubble(text(message["text"], "italic dim"), classes="bubble notice")

    async def add_user_message(self, message: MessageView) -> None:
        await self.query(".empty").remove()  # "No messages yet" goes with the first message
        self.messages.append(message)
        bubble = self._bubble(message)
        bubble.message_seq = message["seq"]
        await self.mount(bubble)
        self.scroll_end(animate=False)

    async def replace_tail(self, messages: list[MessageView], from_seq: int, *, forks: list[ForkView] | None = None,
                           branches: list[BranchView] | None = None) -> None:
        """After a chat turn: the messages from ``from_seq`` on as stored (your message with its final status,
        the reply, any notice) in place of what showed from there. Nothing above is touched, so the earlier
        pages loaded with ctrl+up stay; past MOST mounted, the earliest go (an "earlier messages" line)."""
        self.forks, self.branches = forks or [], branches or []
        children = list(self.children)
        cut = next((i for i, w in enumerate(children)
                    if getattr(w, "message_seq", getattr(w, "fork_after", -1)) >= from_seq), None)
        if cut is not None:
            await self.remove_children(children[cut:])
        self.messages = [m for m in self.messages if m["seq"] < from_seq] + list(messages)
        if messages:
            await self.query(".empty").remove()
        shown_forks = self.forks
        self.forks = [f for f in shown_forks if f["after_seq"] >= from_seq]  # the ones not already shown
        widgets = self._widgets(messages, before=None) if messages else []
        self.forks = shown_forks
        if widgets:
            await self.mount_all(widgets)
        await self._unmount_earliest(len(self.messages) - MOST)
        self.scroll_end(animate=False)

    async def _unmount_earliest(self, excess: int) -> None:
        """Keep at most MOST messages mounted when new ones come at the end: the earliest ``excess`` go back
        behind the "earlier messages" line (ctrl+up brings them again)."""
        if excess <= 0:
            return
        cutoff = self.messages[excess]["seq"]
        del self.messages[:excess]
        self.earlier += excess
        await self.remove_children([w for w in self.children
                                    if -1 < getattr(w, "message_seq", getattr(w, "fork_after", -1)) < cutoff])
        line = self.query(".earlier")
        if line:
            line.first(Static).update(self._earlier_line())
        else:
            await self.mount(Static(self._earlier_line(), classes="earlier"), before=0)

    async def start_reply(self) -> None:
        from textual.widgets import Markdown

        self.live_text = ""
        await self.query(".empty").remove()
        self.live = Markdown("_thinking…_", classes="bubble assistant live")
        await self.mount(self.live)
        self.scroll_end(animate=False)

    async def append_reply(self, chunk: str) -> None:
        if self.live is None:
            return
        self.live_text += chunk
        await self.live.update(inert(self.live_text))
        self.scroll_end(animate=False)

    def ends_interrupted(self) -> bool:
        """The last thing shown is the marker of a reply stopped here (``mark_interrupted``)."""
        return bool(self.children) and self.children[-1].has_class("interrupted-marker")

    def mark_interrupted(self) -> None:
        """The reply was stopped (ctrl+c): what arrived stays, under a marker that does not fade, and your
        message says it had no full reply (as it will after a reload, from its stored status)."""
        live, self.live, self.live_text = self.live, None, ""
        users = list(self.query(".bubble.user"))
        if users and not users[-1].has_class("interrupted"):
            users[-1].add_class("interrupted")
            users[-1].border_title = "you · interrupted — ctrl+r retries"
        marker = Static(text("⏹ interrupted: the reply stopped here (ctrl+r asks again)", "bold"),
                        classes="interrupted-marker")
        if live is not None:
            live.remove_class("live")
            live.add_class("interrupted")
            self.mount(marker, after=live)
        else:
            self.mount(marker)
        self.scroll_end(animate=False)

    async def end_reply(self) -> None:
        if self.live is not None:
            await self.live.remove()
        self.live = None
        self.live_text = ""
