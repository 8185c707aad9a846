"""Token usage per model call."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _created
from rfpilot.db.types import Id
from rfpilot.db.models import conversation, identity, sessions  # noqa: F401 - the tables its foreign keys name


class LLMUsage(Base):
    __tablename__ = "llm_usage"
    __table_args__ = (one_of("action", enums.LLM_ACTIONS, "action"),)

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str | None] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(Id, ForeignKey("messages.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created()
