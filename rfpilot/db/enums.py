"""Enumerated values stored in the database (each one is a CHECK constraint).

Plain Python on purpose: the CLI imports these for its help text and choices
without paying for SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SESSION_STATUSES = ("active", "paused", "escalated", "resolved", "abandoned")
OPEN_STATUSES = ("active", "paused", "escalated")
CLOSED_STATUSES = ("resolved", "abandoned")
INTAKE_TYPES = ("free_text", "psa_ticket", "empty")

MESSAGE_ROLES = ("user", "assistant", "notice")
# sent: stored, waiting for (or without) a reply; complete: a finished reply;
# failed / interrupted: the call did not finish and the user message can be retried.
MESSAGE_STATUSES = ("sent", "complete", "failed", "interrupted")

LANE_KINDS = ("question", "check")
LANE_STATES = ("open", "answered", "skipped", "run")
LANE_ORIGINS = ("ai", "engineer")

FACT_SOURCE_TYPES = ("question", "diagnostic_check", "user_note", "ai_synthesis")
AI_FACT_SOURCE_TYPES = ("question", "diagnostic_check", "ai_synthesis")
FACT_EDITABLE_SOURCES = ("user_note", "ai_synthesis")

FIX_STATUSES = (
    "proposed",
    "applied_success",
    "applied_failed",
    "applied_partial",
    "applied_pending",
    "dismissed",
)
FIX_TERMINAL = ("applied_success", "applied_failed", "dismissed")
FIX_PARKED = ("applied_partial", "applied_pending")
FIX_OUTCOMES = tuple(s for s in FIX_STATUSES if s != "proposed")
FIX_DECISIONS = ("one_off", "draft_template", "build_template", "dismissed")
FIX_ORIGINS = ("ai", "engineer")

DRAFT_STATUSES = ("pending", "accepted", "rejected")

PREVIEW_KINDS = ("resolution_note", "escalation_package")
DRAFTERS = ("offline", "llm")

LLM_ACTIONS = ("chat", "note", "fact_synthesis", "title", "extraction", "summary")

PSA_PROVIDERS = ("connectwise", "autotask", "halo")
# What an outbox item delivers: the note that resolves or escalates a session (then the status change),
# an interim update note, or a time entry.
OUTBOX_KINDS = ("resolve", "escalate", "update", "time_entry")
# pending: waiting to be delivered (or retried); delivered: done and verified; failed: a final error, kept
# and retryable; superseded: replaced before anything reached the PSA.
OUTBOX_STATES = ("pending", "delivered", "failed", "superseded")
NOTE_KINDS = ("resolution", "internal", "discussion")

BRANCH_STATUSES = ("active", "untried", "dead_end", "solved", "revived")
HANDOFF_INTENTS = ("park", "escalate")
HANDOFF_PRIORITIES = ("normal", "elevated")
OUTPUT_TYPES = ("psa_ticket_notes", "knowledge_base", "client_summary")
OUTPUT_STATUSES = ("draft", "approved", "pushed", "rejected")


def split_open(items: list[T], status: Callable[[T], str]) -> tuple[list[T], list[T]]:
    """(open, closed) sessions, each in the given order: one pass, whatever the number of items. Here, with the
    statuses, so the TUI's list can sort rows it has before SQLAlchemy is imported."""
    open_items: list[T] = []
    closed_items: list[T] = []
    for item in items:
        (open_items if status(item) in OPEN_STATUSES else closed_items).append(item)
    return open_items, closed_items
