"""The task lane (questions, diagnostic checks) and the facts (What we know)."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created
from rfpilot.db.types import Id, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class LaneItem(Base):
    """A question or a diagnostic check on the task lane, with a stable id."""

    __tablename__ = "task_lane_items"
    __table_args__ = (
        one_of("kind", enums.LANE_KINDS, "kind"),
        one_of("state", enums.LANE_STATES, "state"),
        one_of("origin", enums.LANE_ORIGINS, "origin"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default="engineer")
    # The question text, or the check's label.
    text: Mapped[str] = mapped_column(Text, nullable=False)
    # Why the question matters (question) or what the output reveals (check).
    detail: Mapped[str | None] = mapped_column(Text)
    command: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    # The answer (question) or the pasted output (check).
    response: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Set when a later model turn no longer lists the item; facts keep pointing at it.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


# core.session.lane.list_items' order within a session: kind DESC, position, created_at, id (defined after the class, as
# it names a column in descending order).
Index("ix_task_lane_items_session_order", LaneItem.session_id, LaneItem.kind.desc(), LaneItem.position,
      LaneItem.created_at, LaneItem.id)

class Fact(Base):
    """A "What we know" item."""

    __tablename__ = "facts"
    __table_args__ = (
        one_of("source_type", enums.FACT_SOURCE_TYPES, "source_type"),
        CheckConstraint(
            "source_ref IS NULL OR source_type IN ('question', 'diagnostic_check')",
            name="source_ref_only_for_lane",
        ),
        Index("ix_facts_session_created", "session_id", "created_at", "id"),
        Index("ix_facts_source_ref", "source_ref"),  # the checks a note names (core.drafting.notes._promoted_checks)
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    text: Mapped[str] = mapped_column(Text, nullable=False)
    source_type: Mapped[str] = mapped_column(String(32), nullable=False)
    source_ref: Mapped[str | None] = mapped_column(
        Id, ForeignKey("task_lane_items.id", ondelete="SET NULL")
    )
    source_summary: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
