"""PSA connections and the outbox of writes to them."""

# No `from __future__ import annotations` (rfpilot.db.models._base says why).

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.models._base import Base, one_of, _id_pk, _account_fk, _session_fk, _created
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, utcnow
from rfpilot.db.models import identity, sessions  # noqa: F401 - the tables its foreign keys name


class PSAConnection(Base):
    """A PSA the account posts to. Secrets are not here: they live in the keyring (or the environment)."""

    __tablename__ = "psa_connections"
    __table_args__ = (
        one_of("provider", enums.PSA_PROVIDERS, "provider"),
        UniqueConstraint("account_id", "name", name="uq_psa_connections_account_name"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    # Non-secret settings (site, company id, discovered codebase or zone, member, boards…).
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    # Target statuses by name: {"resolve": {"": "Resolved", "<board>": "…"}, "escalate": {…}}; "" = any board.
    targets: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

class OutboxItem(Base):
    """One write to a PSA ticket, stored before it is attempted and kept after (SPEC §9).

    Exactly once: a delivery first takes the lease (``lease_owner``/``lease_expires_at``, one conditional
    UPDATE), ``post_started_at`` is committed before the note is posted and ``external_id`` the moment the post
    succeeds, so a later attempt either skips the post or first looks for the note (by its tag) on the ticket.
    """

    __tablename__ = "psa_outbox"
    __table_args__ = (
        one_of("kind", enums.OUTBOX_KINDS, "kind"),
        one_of("state", enums.OUTBOX_STATES, "state"),
        one_of("note_kind", enums.NOTE_KINDS, "note_kind", nullable=True),
        UniqueConstraint("account_id", "seq", name="uq_psa_outbox_account_seq"),
        Index("ix_psa_outbox_account_state", "account_id", "state"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # delivery order within the account
    session_id: Mapped[str] = _session_fk()
    connection_id: Mapped[str] = mapped_column(Id, ForeignKey("psa_connections.id"), nullable=False, index=True)
    ticket_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ticket_ref: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    note_kind: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    summary: Mapped[str | None] = mapped_column(String(500))  # resolve/escalate: the session's summary line
    target_status: Mapped[str | None] = mapped_column(String(100))  # by name; None = leave the status alone
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)  # time entry: hours, start
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    post_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(128))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_status: Mapped[str | None] = mapped_column(String(100))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The delivery lease: the process attempting the item now, and until when (claimed by one conditional UPDATE).
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
