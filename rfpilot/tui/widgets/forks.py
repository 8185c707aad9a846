"""The transcript's branch pieces: the fork card (where the session forked, each hypothesis with its status now)
and the switch notice; and the branch glyphs and words the branch map shares with them (SPEC §10).

Everything that came from a person or the model is shown through ``safe.inert``, never as markup.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from rfpilot.core.view_types import BranchSummary, BranchView, ForkView
from rfpilot.tui.safe import inert

# The same glyphs as `rfpilot branches list`; an unknown status reads as untried.
GLYPH = {"active": "●", "untried": "○", "dead_end": "✗", "solved": "✓", "revived": "↺"}
STATUS_STYLE = {"active": "cyan", "untried": "dim", "dead_end": "red", "solved": "green", "revived": "yellow"}
STATUS_WORD = {"active": "active", "untried": "untried", "dead_end": "dead end", "solved": "solved",
               "revived": "revived"}
CURRENT = "▶"  # the branch being worked on (the session's pointer, not the "active" status)
FORK = "⋔"


def branch_status(branch: BranchView | None) -> str:
    """The branch's status; one this version does not know reads as untried."""
    status = branch.get("status") if branch else None
    return status if status in GLYPH else "untried"


def branch_label(branch: BranchView | None) -> str:
    """The branch's label, inert (``(unnamed)`` when it has none)."""
    return inert(str((branch.get("label") if branch else None) or "(unnamed)"))


def fork_card_text(fork: ForkView, branches_by_id: dict[str, BranchView]) -> Text:
    """"⋔ Forked: reason", then one line per hypothesis: its status now, label, description."""
    out = Text()
    out.append(f"{FORK} Forked: ", "bold")
    out.append(inert(fork.get("reason") or "no reason given"))
    for option in fork.get("options") or []:
        branch = branches_by_id.get(str(option.get("branch_id") or ""))
        status = branch_status(branch) if branch else "untried"
        current = bool(branch and branch.get("active"))
        out.append("\n")
        out.append(f"{CURRENT} " if current else "  ", "bold")
        out.append(GLYPH[status], STATUS_STYLE[status])
        out.append(" " + inert(str((branch.get("label") if branch else None) or option.get("label") or "")),
                   "bold" if current else "")
        description = (branch.get("description") if branch else None) or option.get("description")
        if description:
            out.append(" — " + inert(description), "dim")
        out.append(f"  {STATUS_WORD[status]}" + (", current" if current else ""), "dim italic")
    return out


class ForkCard(Static):
    """Where the transcript forked. ``refresh_statuses`` redraws it after a branch changes."""

    DEFAULT_CLASSES = "fork-card"
    fork_after = -1  # the seq of the message the card follows in the transcript (set there)

    def __init__(self, fork: ForkView, branches_by_id: dict[str, BranchView], **kwargs: Any) -> None:
        super().__init__(fork_card_text(fork, branches_by_id), **kwargs)
        self.fork = fork

    def refresh_statuses(self, branches_by_id: dict[str, BranchView]) -> None:
        self.update(fork_card_text(self.fork, branches_by_id))


def fork_card(fork: ForkView, branches_by_id: dict[str, BranchView]) -> ForkCard:
    return ForkCard(fork, branches_by_id)


def transition_text(from_label: str | None, to_label: str, summary: BranchSummary | None) -> Text:
    """"Switched from A to B · A: tried x; y; concluded z" (the summary part only when A has one)."""
    out = Text(style="dim")
    out.append("⇄ ")
    if from_label:
        out.append("Switched from ")
        out.append(inert(from_label), "bold")
        out.append(" to ")
    else:
        out.append("Switched to ")
    out.append(inert(to_label), "bold")
    if from_label and summary:
        tried = "; ".join(inert(str(t)) for t in summary.get("tried") or []) or "nothing recorded"
        out.append(f" · {inert(from_label)}: tried {tried}")
        if summary.get("concluded"):
            out.append(f"; concluded {inert(str(summary['concluded']))}")
    return out


def transition_notice(from_label: str | None, to_label: str, summary: BranchSummary | None) -> Static:
    return Static(transition_text(from_label, to_label, summary), classes="branch-notice")
