"""SQLAlchemy 2 models. Every domain table carries ``account_id`` (tenancy).

Schema changes go through Alembic (``rfpilot/db/migrations``); a test checks
that the migrations produce exactly these tables.
"""

# No `from __future__ import annotations` here: SQLAlchemy would evaluate each of the ~270 `Mapped[...]` strings
# again (eval + a ForwardRef each), ~20 % of this module's import; the annotations are plain 3.11 expressions.

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rfpilot.db import enums
from rfpilot.db.types import Id, JsonDoc, UTCDateTime, new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A script template's slug, wherever one is stored (the library and a fix that names it): Postgres refuses a longer
# one mid-transaction, so the services check it first (core.library.templates, core.session.fixes).
SLUG_MAX = 200


# Postgres only, and only where the pg_trgm extension could be created (migration 0007): substring filters of
# the session list (ILIKE '%…%') are served by these. Not in the models: SQLite has no such index, and a store
# whose role may not create the extension works without them.
TRIGRAM_INDEXES = {
    "ix_sessions_title_trgm": ("sessions", "title"),
    "ix_sessions_client_name_trgm": ("sessions", "client_name"),
    "ix_sessions_ticket_ref_trgm": ("sessions", "ticket_ref"),
}


# SQLite only (migration 0010): the list filter's FTS5 table (with the shadow tables FTS5 keeps beside it,
# named after it) and the triggers that fill it. Not in the models: a virtual table is no model's table.
LIST_FILTER_TABLE = "session_list_filter"
LIST_FILTER_TABLES = (LIST_FILTER_TABLE,
                      *(f"{LIST_FILTER_TABLE}_{shadow}" for shadow in ("config", "content", "data", "docsize", "idx")))


# Both stores (migration 0011, ``rfpilot.db.memory_index``): the team memory's search index, an FTS5 table on
# SQLite (with its shadow tables) and a plain table with a tsvector on Postgres. Not in the models either: it is
# written by triggers only, and read with SQL of each store's own.
MEMORY_INDEX_TABLES = ("memory_index",
                       *(f"memory_index_{shadow}" for shadow in ("config", "content", "data", "docsize", "idx")))


def include_in_autogenerate(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's comparison of the models with a store leaves the optional trigram indexes, SQLite's list
    filter table and the search index alone."""
    if type_ == "table" and (name in LIST_FILTER_TABLES or name in MEMORY_INDEX_TABLES):
        return False
    if type_ == "index" and name and name.startswith("ix_memory_index_"):
        return False
    return not (type_ == "index" and name in TRIGRAM_INDEXES)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def one_of(column: str, values: tuple[str, ...], name: str, nullable: bool = False) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    expr = f"{column} IN ({listed})"
    if nullable:
        expr = f"{column} IS NULL OR {expr}"
    return CheckConstraint(expr, name=name)


def _id_pk() -> Mapped[str]:
    return mapped_column(Id, primary_key=True, default=new_id)


def _account_fk() -> Mapped[str]:
    return mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True)


def _session_fk() -> Mapped[str]:
    return mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow)


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


class SuggestedFix(Base):
    __tablename__ = "suggested_fixes"
    __table_args__ = (
        one_of("status", enums.FIX_STATUSES, "status"),
        one_of("user_decision", enums.FIX_DECISIONS, "user_decision", nullable=True),
        one_of("origin", enums.FIX_ORIGINS, "origin"),
        CheckConstraint("confidence_pct BETWEEN 0 AND 100", name="confidence_range"),
        Index("ix_suggested_fixes_session_created", "session_id", "created_at", "id"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default="ai")
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    confidence_pct: Mapped[int] = mapped_column(Integer, nullable=False)
    script_template_slug: Mapped[str | None] = mapped_column(String(SLUG_MAX))
    script_template_id: Mapped[str | None] = mapped_column(Id)
    ai_drafted_script: Mapped[str | None] = mapped_column(Text)
    ai_drafted_parameters: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    user_decision: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="proposed")
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partial_notes: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    pending_reason: Mapped[str | None] = mapped_column(Text)
    ai_outcome_proposal: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


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


class SessionHandoff(Base):
    """A park or an escalation: the session waits in the team queue until someone claims it."""

    __tablename__ = "session_handoffs"
    __table_args__ = (
        one_of("intent", enums.HANDOFF_INTENTS, "intent"),
        one_of("priority", enums.HANDOFF_PRIORITIES, "priority"),
        Index("ix_session_handoffs_account_open", "account_id", "claimed_at", "withdrawn_at"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    handed_off_by: Mapped[str] = mapped_column(Id, ForeignKey("engineers.id"), nullable=False)
    intent: Mapped[str] = mapped_column(String(20), nullable=False)
    priority: Mapped[str] = mapped_column(String(20), nullable=False, default="normal")
    source_branch_id: Mapped[str | None] = mapped_column(Id, ForeignKey("session_branches.id", ondelete="SET NULL"))
    # problem, status, branch map, next step, waiting on, watch out
    snapshot: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, default=dict)
    # escalations: {"likely_cause": str, "suggested_steps": [str], "confidence": "low"|"medium"|"high", "by": …}
    ai_assessment: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    engineer_notes: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(Id, ForeignKey("engineers.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its owner resumed it: out of the queue
    briefing: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class ResolutionOutput(Base):
    """One of the three documents a resolve produces (one per type per session; regenerating replaces it)."""

    __tablename__ = "session_resolution_outputs"
    __table_args__ = (
        one_of("output_type", enums.OUTPUT_TYPES, "output_type"),
        one_of("status", enums.OUTPUT_STATUSES, "status"),
        UniqueConstraint("session_id", "output_type", name="uq_session_resolution_outputs_type"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    output_type: Mapped[str] = mapped_column(String(30), nullable=False)
    generated_content: Mapped[str] = mapped_column(Text, nullable=False)
    edited_content: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    drafter: Mapped[str] = mapped_column(String(20), nullable=False, default="offline")
    model: Mapped[str | None] = mapped_column(String(100))
    pushed_to: Mapped[str | None] = mapped_column(String(50))
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_reference: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ContextSummary(Base):
    """The rolling summary of a conversation's oldest turns (docs/llm.md, "The context budget"): once the history
    outgrows the turn's budget, the turns up to ``through_seq`` are sent as this text instead. One per branch
    (``scope`` is the branch id, '' before the session branches); facts, the lane and the fix are never in it
    alone: they go whole with every turn."""

    __tablename__ = "context_summaries"
    __table_args__ = (
        one_of("drafter", enums.DRAFTERS, "drafter"),
        UniqueConstraint("session_id", "scope", name="uq_context_summaries_session_scope"),
    )

    id: Mapped[str] = _id_pk()
    account_id: Mapped[str] = _account_fk()
    session_id: Mapped[str] = _session_fk()
    scope: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False)
    # The last message folded in: every message of the branch's history up to this seq is in the summary.
    through_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    through_message_id: Mapped[str | None] = mapped_column(Id)
    through_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    folded_messages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    folds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    drafter: Mapped[str] = mapped_column(String(20), nullable=False, default="offline")
    model: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
