"""The script library: templates, their runs, and the drafts a resolved session's scripts queue for it."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created, SLUG_MAX
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, utcnow
from rfpilot.db.models import fixes, identity, sessions  # noqa: F401 - the tables its foreign keys name


class ScriptTemplate(Base):
    """A team's reusable, parameterised script (SPEC §11). Password parameters never carry a value here."""

    __tablename__ = "script_templates"
    __table_args__ = (UniqueConstraint("account_id", "slug", name="uq_script_templates_account_slug"),)

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    language: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    usage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Provenance: where the script first fixed something (kept as text too, so it survives an import).
    source_session_id: Mapped[str | None] = mapped_column(Id, ForeignKey("sessions.id", ondelete="SET NULL"))
    source_engineer_id: Mapped[str | None] = mapped_column(Id, ForeignKey("engineers.id", ondelete="SET NULL"))
    source_engineer_name: Mapped[str | None] = mapped_column(String(200))
    source_ticket_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

class ScriptRun(Base):
    """A script the engineer ran in a session: parameters and script stored with passwords redacted."""

    __tablename__ = "script_runs"

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str | None] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    fix_id: Mapped[str | None] = mapped_column(Id, ForeignKey("suggested_fixes.id", ondelete="SET NULL"))
    template_id: Mapped[str | None] = mapped_column(Id, ForeignKey("script_templates.id", ondelete="SET NULL"))
    engineer_id: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    script: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = _created()


class DraftTemplate(Base):
    """A script run in a session, queued to become a team template after resolve."""

    __tablename__ = "draft_templates"
    __table_args__ = (
        one_of("status", enums.DRAFT_STATUSES, "status"),
        Index("ix_draft_templates_account_status", "account_id", "status"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    source_session_id: Mapped[str] = _session_fk()
    source_fix_id: Mapped[str | None] = mapped_column(Id, ForeignKey("suggested_fixes.id", ondelete="SET NULL"))
    source_engineer_id: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    script_body: Mapped[str] = mapped_column(Text, nullable=False)
    proposed_parameters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    proposed_name: Mapped[str | None] = mapped_column(String(200))
    # The extraction's result: the body with {{ key }} placeholders, and how it was made
    # ({"source": "llm"|"fallback", "reason": …, "model": …}); the session's facts it had as context.
    templated_body: Mapped[str | None] = mapped_column(Text)
    extraction: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    context: Mapped[list[Any]] = mapped_column(JsonDoc, nullable=False, default=list)
    language: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promoted_template_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = _created()
