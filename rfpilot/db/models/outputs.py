"""What a closed session produced: KB articles, client summaries and the like."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _created
from rfpilot.db.types import Id, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class ResolutionOutput(Base):
    """One of the three documents a resolve produces (one per type per session; regenerating replaces it)."""

    __tablename__ = "session_resolution_outputs"
    __table_args__ = (
        one_of("output_type", enums.OUTPUT_TYPES, "output_type"),
        one_of("status", enums.OUTPUT_STATUSES, "status"),
        UniqueConstraint("session_id", "output_type", name="uq_session_resolution_outputs_type"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    output_type: Mapped[str] = mapped_column(String(30), nullable=False)
    generated_content: Mapped[str] = mapped_column(Text, nullable=False)
    edited_content: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    drafter: Mapped[str] = mapped_column(String(20), nullable=False, default="offline")
    model: Mapped[str | None] = mapped_column(String(100))
    pushed_to: Mapped[str | None] = mapped_column(String(50))
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_reference: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
