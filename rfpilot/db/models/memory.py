"""Team memory: the seen-before matches kept per session (core.memory.seen_before)."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db.models._base import Base, _id_pk, _account_fk, _session_fk, _created
from rfpilot.db.types import Id, JsonDoc, UTCDateTime
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class SeenBeforeRun(Base):
    """When a session's "seen before" matches were last found (core.memory.seen_before): at which state_version,
    and from which query (``basis``, a digest of its title, problem and live facts). One per session; a session
    with no match has a run too, so an unchanged session is never searched again."""

    __tablename__ = "seen_before_runs"

    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    state_version: Mapped[int] = mapped_column(Integer, nullable=False)
    basis: Mapped[str] = mapped_column(String(64), nullable=False)
    computed_at: Mapped[datetime] = _created()

class SeenBeforeMatch(Base):
    """One earlier session found like this one, with what the lane and the model show of it (``detail``: what
    fixed it or why it was escalated, its dead ends, its time to resolve). A dismissed match keeps its row
    (``dismissed_at``) so that it never comes back for this session."""

    __tablename__ = "seen_before_matches"
    __table_args__ = (
        UniqueConstraint("session_id", "match_session_id", name="uq_seen_before_matches_session_match"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    match_session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False,
                                                  index=True)
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    state_version: Mapped[int] = mapped_column(Integer, nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    computed_at: Mapped[datetime] = _created()
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_by: Mapped[str | None] = mapped_column(Id, ForeignKey("engineers.id"))
