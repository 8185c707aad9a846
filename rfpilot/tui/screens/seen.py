"""A "Seen before" match opened from the task lane: the earlier session, read-only, in the right half of the
screen beside the session being worked on (core.views.session_details of the earlier session; nothing here
writes). Esc closes it; x dismisses the match for the current session (the lane's own key, here too).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from rfpilot.core.view_types import SeenBeforeView, SessionDetails
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import Dialog


def earlier_text(match: SeenBeforeView, details: SessionDetails) -> Text:
    """The earlier session as the panel shows it: what it was, what fixed it (or why it went up), its facts, its
    dead ends, and its note. Every stored text inert."""
    from rfpilot.core.text import duration

    s = details["session"]
    body = Text()

    def section(title: str) -> None:
        body.append("\n" if body.plain.endswith("\n") else "\n\n")
        body.append(title, style="bold underline")
        body.append("\n")

    body.append(inert(s["title"] or "(untitled)"), style="bold")
    where = [s["status"], *([inert(s["client"])] if s["client"] else []),
             f"active {duration(s['active_seconds'])}", match["ref"]]
    body.append("\n" + " · ".join(where), style="dim")
    if s["intake_text"]:
        section("Problem")
        body.append(inert(s["intake_text"]))
    if match["fixed_by"]:
        section("Fixed by")
        body.append(inert(match["fixed_by"]), style="green")
        if match["fix_template_slug"]:
            body.append(f"\nscript template {inert(match['fix_template_slug'])}", style="dim")
    if match["escalation_reason"]:
        section("Escalated")
        body.append(inert(match["escalation_reason"]), style="yellow")
    section(f"What we knew · {details['fact_count']}")
    for fact in details["facts"]:
        body.append(f"✓ {inert(fact['text'])}\n")
    if match["dead_ends"]:
        section("Dead ends")
        for dead in match["dead_ends"]:
            body.append(f"✗ {inert(dead)}\n", style="dim")
    note = details["resolution_note"] or details["escalation_package"]
    if note:
        section("Resolution note" if details["resolution_note"] else "Escalation package")
        body.append(inert(note))
    return body


class SeenSessionScreen(Dialog[str | None]):
    """The earlier session, read-only. Dismissed with "dismiss" when the engineer dismisses the match here."""

    CSS_PATH = Path(__file__).with_name("seen.tcss")
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="seen.close"),
        Binding("x", "dismiss_match", "Dismiss match", id="seen.dismiss"),
    ]

    def __init__(self, match: SeenBeforeView, details: SessionDetails) -> None:
        super().__init__()
        self.match, self.details = match, details

    def compose(self) -> ComposeResult:
        with Vertical(id="seen-panel"):
            yield Static(text(f"Seen before {self.match['ref']} — read-only", "bold magenta"))
            with VerticalScroll(id="seen-body"):
                yield Static(earlier_text(self.match, self.details), id="seen-text")
            yield Static(text("esc closes · x dismisses this match for the current session", "dim"))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_dismiss_match(self) -> None:
        self.dismiss("dismiss")
