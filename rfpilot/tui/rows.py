"""The plain rows the TUI's lists show: built by ``rfpilot.tui.data`` from the core's services, drawn by the
widgets. No Textual and no store here, so both sides import it and neither imports the other for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SessionRowView:
    """A session as the session list shows it (rfpilot.tui.data.session_rows builds it)."""

    id: str
    title: str
    status: str
    client: str | None
    ticket_ref: str | None
    age: str  # as read; ``updated_at`` (when given) keeps it up to date
    updated_at: datetime | None = None
