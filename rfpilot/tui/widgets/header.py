"""The header: the session's ticket chip, PSA delivery, title, branch, client, status, timers, model and tokens.

It always fits its one line: when the width runs short the least useful parts go first (tokens, the model, the
client, the branch, the parked timer), then the title is shortened with an ellipsis; the status and the active
timer stay. Its timers tick every second from what was last read (``core.session.sessions.timers_after``), without
reading the store again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from rfpilot.core.view_types import BranchView, SessionDetails, UsageTotals
from rfpilot.grammar import count
from rfpilot.tui.safe import inert

MIN_TITLE = 12  # cells the title keeps before the whole line is cut
# What goes first when the line is too long (lowest priority first).
DROP_ORDER = ("tokens", "provider", "client", "branch", "parked")
# Kept while the title can shrink to MIN_TITLE instead.
SHRINK_FIRST = ("client", "branch", "parked")


@dataclass
class HeaderState:
    details: SessionDetails
    branches: list[BranchView] = field(default_factory=list)
    usage: UsageTotals = field(default_factory=lambda: UsageTotals(
        calls=0, input_tokens=0, output_tokens=0, cache_read_tokens=0, cache_write_tokens=0))
    provider: str = ""
    elapsed: int = 0  # seconds since the details were read


def _chips(details: SessionDetails) -> Text:
    """The ticket chip and the PSA delivery or write-back chip (never dropped: they say where a note went)."""
    s = details["session"]
    line = Text()
    if s.get("ticket_ref"):
        line.append(f" {inert(s['ticket_ref'])} ", style="reverse")
        line.append(" ")
    delivery = details.get("psa_delivery")
    if delivery:
        what = {"resolve": "resolution note", "escalate": "escalation package", "update": "update",
                "time_entry": "time entry"}[delivery["kind"]]
        if delivery["state"] == "queued":
            line.append(f" ⧗ {what} queued ", style="black on yellow")
        else:
            line.append(f" ✗ {what} not delivered ", style="white on red")
        line.append(" ")
    writeback = details.get("psa_writeback")
    if not delivery and writeback and writeback["state"] in ("posted", "verified"):
        # The close went through: the note's id, and the ticket status read back (SPEC §9).
        from rfpilot.core.closeout.writeback import CLOSE_WORDS

        what = CLOSE_WORDS.get(writeback["kind"], "note")
        shown = f" ✓ {what} posted as note {writeback['note_id']}"
        if writeback["status_verified"]:
            shown += f" · status {writeback['verified_status']} verified"
        line.append(inert(shown) + " ", style="black on green")
        line.append(" ")
    return line


def _parts(state: HeaderState) -> list[tuple[str, str, str]]:
    """(name, text, style) after the title, in the order shown."""
    from rfpilot.core.session.sessions import Timers, timers_after
    from rfpilot.core.text import duration

    s = state.details["session"]
    timers = timers_after(Timers(s["active_seconds"], s["parked_seconds"]), s["status"], state.elapsed)
    parts: list[tuple[str, str, str]] = []
    active = next((b for b in state.branches if b["active"]), None)
    if active is not None:
        parts.append(("branch", f" · ⋔ {inert(active['label'])}", "magenta"))
    if s.get("client"):
        parts.append(("client", f" · {inert(s['client'])}", "dim"))
    parts.append(("status", f" · {inert(s.get('status_word') or s['status'])}", "dim"))
    parts.append(("active", f" · active {duration(timers.active_seconds)}", "dim"))
    if timers.parked_seconds:
        parts.append(("parked", f" · parked {duration(timers.parked_seconds)}", "dim"))
    parts.append(("provider", f" · {inert(state.provider)}", "dim"))
    if state.usage.get("calls"):
        tokens = state.usage["input_tokens"] + state.usage["output_tokens"]
        parts.append(("tokens", f" · {count(tokens, 'token')}", "dim"))
    return parts


def header_line(state: HeaderState, width: int) -> Text:
    """The header in ``width`` cells: parts dropped by priority, then the title and the line cut with an ellipsis."""
    chips = _chips(state.details)
    title = inert(state.details["session"]["title"] or "(untitled)")
    parts = _parts(state)
    room = width - chips.cell_len

    def rest_len() -> int:
        return sum(cell_len(t) for _, t, _ in parts)

    for name in DROP_ORDER:
        if cell_len(title) + rest_len() <= room:
            break  # everything fits
        if name in SHRINK_FIRST and room - rest_len() >= MIN_TITLE:
            break  # the title gives way (with an ellipsis) before these do
        parts = [p for p in parts if p[0] != name]
    line = chips
    title_room = max(MIN_TITLE, room - rest_len())
    shown = Text(title, style="bold")
    shown.truncate(title_room, overflow="ellipsis")
    line.append_text(shown)
    for _, part, style in parts:
        line.append(part, style=style)
    line.truncate(width, overflow="ellipsis")
    return line


class SessionHeader(Static):
    """One line; re-fitted on resize and re-drawn by ``tick`` (no store access)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(Text("rfpilot", style="bold"), **kwargs)
        self.state: HeaderState | None = None

    def show(self, state: HeaderState) -> None:
        self.state = state
        self._paint()

    def tick(self, elapsed: int) -> None:
        if self.state is not None and elapsed != self.state.elapsed:
            self.state.elapsed = elapsed
            self._paint()

    def on_resize(self) -> None:
        self._paint()

    def _paint(self) -> None:
        if self.state is not None and self.content_size.width:
            self.update(header_line(self.state, self.content_size.width))
