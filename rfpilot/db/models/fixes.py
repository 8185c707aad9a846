"""Suggested fixes (the script drafts a resolved session queues for the library are in `library`)."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created, SLUG_MAX
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class SuggestedFix(Base):
    __tablename__ = "suggested_fixes"
    __table_args__ = (
        one_of("status", enums.FIX_STATUSES, "status"),
        one_of("user_decision", enums.FIX_DECISIONS, "user_decision", nullable=True),
        one_of("origin", enums.FIX_ORIGINS, "origin"),
        CheckConstraint("confidence_pct BETWEEN 0 AND 100", name="confidence_range"),
        Index("ix_suggested_fixes_session_created", "session_id", "created_at", "id"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default="ai")
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    confidence_pct: Mapped[int] = mapped_column(Integer, nullable=False)
    script_template_slug: Mapped[str | None] = mapped_column(String(SLUG_MAX))
    script_template_id: Mapped[str | None] = mapped_column(Id)
    ai_drafted_script: Mapped[str | None] = mapped_column(Text)
    ai_drafted_parameters: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    user_decision: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="proposed")
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partial_notes: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    pending_reason: Mapped[str | None] = mapped_column(Text)
    ai_outcome_proposal: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Provenance (issue 17, migration 0012): the earlier session ("seen before") whose fix this one repeats. A soft
    # pointer like active_branch_id: the earlier session may be gone one day, the fix keeps its words.
    source_session_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
