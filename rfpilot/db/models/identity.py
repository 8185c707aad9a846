"""Who works in the store: accounts (tenancy) and engineers."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db.models._base import Base, _id_pk, _account_fk, _created
from rfpilot.db.types import JsonDoc


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = _id_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    created_at: Mapped[datetime] = _created()

class Engineer(Base):
    __tablename__ = "engineers"
    __table_args__ = (UniqueConstraint("account_id", "email", name="uq_engineers_account_email"),)

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # PSA member identifiers by provider, e.g. {"connectwise": "mdavis"}.
    psa_member_ids: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()
