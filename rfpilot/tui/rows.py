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

    @classmethod
    def from_fields(cls, fields: tuple, now: datetime) -> SessionRowView:
        """A row from its plain values (``rfpilot.tui.prefetch.row_fields``), its age as of ``now``."""
        from rfpilot.core.text import age, short_id

        session_id, title, status, client, ticket_ref, updated_at = fields
        return cls(id=session_id, title=title or f"(untitled {short_id(session_id)})", status=status, client=client,
                   ticket_ref=ticket_ref, age=age(updated_at, now), updated_at=updated_at)
