"""The conversation: messages, the fork points a reply records, and the branches forked from them."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        one_of("role", enums.MESSAGE_ROLES, "role"),
        one_of("status", enums.MESSAGE_STATUSES, "status"),
        UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    branch_id: Mapped[str | None] = mapped_column(Id, index=True)  # None until the session branches
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="sent")
    raw_content: Mapped[str] = mapped_column(Text, nullable=False, default="")
    display_content: Mapped[str] = mapped_column(Text, nullable=False, default="")
    lane_item_id: Mapped[str | None] = mapped_column(Id)
    author_id: Mapped[str | None] = mapped_column(Id, ForeignKey("engineers.id"))
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_read_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_write_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()

class ForkPoint(Base):
    """A ``[FORK]`` the model emitted: competing hypotheses worth separate threads.

    Recorded here by the chat engine; branches grow out of it (SPEC §10).
    """

    __tablename__ = "fork_points"

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    message_id: Mapped[str | None] = mapped_column(Id, ForeignKey("messages.id", ondelete="SET NULL"))
    # The branch that was forked (None for a [FORK] recorded before the engineer acted on it).
    parent_branch_id: Mapped[str | None] = mapped_column(Id)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # [{"label": str, "description": str, "branch_id": str | None}], 2-4 entries
    options: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, nullable=False, default=list)
    created_at: Mapped[datetime] = _created()

class SessionBranch(Base):
    """One hypothesis of a session (SPEC §10). The root is created on the first fork; children start from
    their parent's history up to the fork (``fork_seq``) and add their own messages."""

    __tablename__ = "session_branches"
    __table_args__ = (
        one_of("status", enums.BRANCH_STATUSES, "status"),
        UniqueConstraint("session_id", "seq", name="uq_session_branches_session_seq"),
        Index("ix_session_branches_session_status", "session_id", "status"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    parent_branch_id: Mapped[str | None] = mapped_column(Id, ForeignKey("session_branches.id", ondelete="CASCADE"))
    fork_point_id: Mapped[str | None] = mapped_column(Id, ForeignKey("fork_points.id", ondelete="SET NULL"))
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # creation order within the session (0 = root)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # 1..N within its fork
    fork_seq: Mapped[int | None] = mapped_column(Integer)  # the parent's last message seq at the fork
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="untried")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_changed_by: Mapped[str | None] = mapped_column(Id, ForeignKey("engineers.id", ondelete="SET NULL"))
    # {"tried": [str], "concluded": str, "by": "llm"|"offline"} once the branch is marked
    context_summary: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    evidence_from_branch_id: Mapped[str | None] = mapped_column(Id, ForeignKey("session_branches.id", ondelete="SET NULL"))
    evidence_description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
