"""Handoffs between engineers."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _created
from rfpilot.db.types import Id, JsonDoc, UTCDateTime
from rfpilot.db.models import conversation, identity, sessions  # noqa: F401 - the tables its foreign keys name


class SessionHandoff(Base):
    """A park or an escalation: the session waits in the team queue until someone claims it."""

    __tablename__ = "session_handoffs"
    __table_args__ = (
        one_of("intent", enums.HANDOFF_INTENTS, "intent"),
        one_of("priority", enums.HANDOFF_PRIORITIES, "priority"),
        Index("ix_session_handoffs_account_open", "account_id", "claimed_at", "withdrawn_at"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    handed_off_by: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    intent: Mapped[str] = mapped_column(String(20), nullable=False)
    priority: Mapped[str] = mapped_column(String(20), nullable=False, default="normal")
    source_branch_id: Mapped[str | None] = mapped_column(Id, ForeignKey("session_branches.id", ondelete="SET NULL"))
    # problem, status, branch map, next step, waiting on, watch out
    snapshot: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    # escalations: {"likely_cause": str, "suggested_steps": [str], "confidence": "low"|"medium"|"high", "by": …}
    ai_assessment: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    engineer_notes: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(Id, ForeignKey("engineers.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its owner resumed it: out of the queue
    briefing: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
