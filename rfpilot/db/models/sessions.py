"""A troubleshooting session: its row carries the session's own text, status, counts and outcome."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _created
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, utcnow
from rfpilot.db.models import identity  # noqa: F401 - the tables its foreign keys name


class SessionRow(Base):
    """One troubleshooting session (seed ``ai_sessions``)."""

    __tablename__ = "sessions"
    __table_args__ = (
        one_of("status", enums.SESSION_STATUSES, "status"),
        one_of("intake_type", enums.INTAKE_TYPES, "intake_type"),
        CheckConstraint("state_version >= 0", name="state_version_nonneg"),
        # The session list (core.session.sessions.session_page) reads one status at a time, newest first, from these;
        # they also serve every other account_id lookup, so account_id has no index of its own.
        Index("ix_sessions_account_status_updated", "account_id", "status", "updated_at", "id"),
        Index("ix_sessions_account_owner_status_updated", "account_id", "owner_id", "status", "updated_at", "id"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    owner_id: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    intake_type: Mapped[str] = mapped_column(String(20), nullable=False, default="free_text")
    intake_text: Mapped[str | None] = mapped_column(Text)
    problem_summary: Mapped[str | None] = mapped_column(Text)
    problem_domain: Mapped[str | None] = mapped_column(String(100))
    client_name: Mapped[str | None] = mapped_column(String(200))
    # PSA link (connections arrive with the PSA issue; no FK yet on purpose).
    psa_connection_id: Mapped[str | None] = mapped_column(Id)
    psa_ticket_id: Mapped[str | None] = mapped_column(String(64))
    ticket_ref: Mapped[str | None] = mapped_column(String(64))
    ticket_context: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    # Branching (SPEC §10): the branch being worked on (a soft pointer: no FK, branches point back here).
    active_branch_id: Mapped[str | None] = mapped_column(Id)
    handoff_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Kept by the store itself (migration 0009's triggers, in the transaction of every write to facts and
    # messages): the session's live facts and all its messages. Read with a query (core.session.facts.count_facts,
    # core.engine.chat.count_messages), never from a row loaded before a write; no code sets them.
    fact_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=sql_text("0"))
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=sql_text("0"))

    state_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    parked_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status_changed_at: Mapped[datetime] = _created()

    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_summary: Mapped[str | None] = mapped_column(String(500))
    resolution_note_markdown: Mapped[str | None] = mapped_column(Text)
    resolution_note_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_note_external_id: Mapped[str | None] = mapped_column(String(128))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_reason: Mapped[str | None] = mapped_column(String(500))
    escalation_package_markdown: Mapped[str | None] = mapped_column(Text)
    escalation_package_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_package_external_id: Mapped[str | None] = mapped_column(String(128))
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    abandon_reason: Mapped[str | None] = mapped_column(String(500))

    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
