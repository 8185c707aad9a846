"""The chat transcript: the engineer's messages as text, the model's as Markdown, a live reply while streaming.

Long sessions stay fast: only the latest ``PAGE`` messages are mounted; the
rest sit behind a "show earlier" line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.widgets import Markdown

from rfpilot.tui.safe import inert, text

PAGE = 60


class Bubble(Static):
    """One message. Assistant replies render Markdown (text only, never Rich markup)."""


class Transcript(VerticalScroll):
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.messages: list[dict] = []
        self.shown_from = 0
        self.live: Markdown | None = None
        self.live_text = ""

    async def set_messages(self, messages: list[dict], *, show_all: bool = False, forks: list[dict] | None = None,
                           branches: list[dict] | None = None) -> None:
        """The messages (the latest PAGE), with a card where the conversation forked."""
        self.messages = messages
        self.forks, self.branches = forks or [], branches or []
        self.shown_from = 0 if show_all else max(0, len(messages) - PAGE)
        await self.remove_children()
        widgets = []
        if self.shown_from:
            widgets.append(Static(text(f"… {self.shown_from} earlier messages (ctrl+up shows them)", "dim"),
                                  classes="earlier"))
        if not messages:
            widgets.append(Static(text("No messages yet. Describe what you see; the task lane fills as you go.", "dim"),
                                  classes="empty"))
        shown = messages[self.shown_from :]
        pending = sorted(self.forks, key=lambda f: f["after_seq"])
        for message in shown:
            widgets.append(self._bubble(message))
            while pending and pending[0]["after_seq"] <= message["seq"]:
                widgets.append(self._fork_card(pending.pop(0)))
        widgets.extend(self._fork_card(f) for f in pending if not shown or f["after_seq"] > shown[-1]["seq"])
        await self.mount_all(widgets)
        self.scroll_end(animate=False)

    def _fork_card(self, fork: dict):
        from rfpilot.tui.screens.branches import fork_card

        return fork_card(fork, {b["id"]: b for b in self.branches})

    async def add_notice(self, widget) -> None:
        await self.mount(widget)
        self.scroll_end(animate=False)

    def _bubble(self, message: dict):
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

    async def add_user_message(self, message: dict) -> None:
        await self.query(".empty").remove()  # "No messages yet" goes with the first message
        await self.mount(self._bubble(message))
        self.scroll_end(animate=False)

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
