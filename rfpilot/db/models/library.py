"""The script library: templates and their runs."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db.models._base import Base, _id_pk, _account_fk, _created, SLUG_MAX
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
