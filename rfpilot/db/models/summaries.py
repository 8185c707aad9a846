"""The rolling summary the context budget folds old turns into (core.engine.context_budget)."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created
from rfpilot.db.types import Id, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class ContextSummary(Base):
    """The rolling summary of a conversation's oldest turns (docs/llm.md, "The context budget"): once the history
    outgrows the turn's budget, the turns up to ``through_seq`` are sent as this text instead. One per branch
    (``scope`` is the branch id, '' before the session branches); facts, the lane and the fix are never in it
    alone: they go whole with every turn."""

    __tablename__ = "context_summaries"
    __table_args__ = (
        one_of("drafter", enums.DRAFTERS, "drafter"),
        UniqueConstraint("session_id", "scope", name="uq_context_summaries_session_scope"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    scope: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False)
    # The last message folded in: every message of the branch's history up to this seq is in the summary.
    through_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    through_message_id: Mapped[str | None] = mapped_column(Id)
    through_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    folded_messages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    folds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    drafter: Mapped[str] = mapped_column(String(20), nullable=False, default="offline")
    model: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
