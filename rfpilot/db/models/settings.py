"""An account's shared settings and the cache of drafted previews."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class AccountSettings(Base):
    __tablename__ = "account_settings"

    account_id: Mapped[str] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    preferences: Mapped[dict[str, Any]] = mapped_column(JsonDoc(), nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

class PreviewCache(Base):
    """Drafted notes keyed by (kind, session, state_version, drafter)."""

    __tablename__ = "preview_cache"
    __table_args__ = (
        one_of("kind", enums.PREVIEW_KINDS, "kind"),
        one_of("drafter", enums.DRAFTERS, "drafter"),
        UniqueConstraint("kind", "session_id", "state_version", "drafter", name="uq_preview_cache_key"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    state_version: Mapped[int] = mapped_column(Integer, nullable=False)
    drafter: Mapped[str] = mapped_column(String(20), nullable=False)
    markdown: Mapped[str] = mapped_column(Text, nullable=False)
    target_ticket_ref: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()
