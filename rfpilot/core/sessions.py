"""Sessions: creation, listing, and the status machine of SPEC §3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one
from rfpilot.core.permissions import owner_action, require_can_modify
from rfpilot.core.text import clip, one_line, short_id, title_from_text, truncate
from rfpilot.db.enums import SESSION_STATUSES
from rfpilot.db.models import Engineer, SessionRow
from rfpilot.errors import ConflictError, UsageError

INTAKE_MAX = 20_000
REASON_MAX = 500

OPEN_STATUSES = ("active", "paused", "escalated")
# Time in these statuses is parked time: waiting on the customer or on the next engineer.
PARKED_STATUSES = ("paused", "escalated")
# from-status -> statuses it may move to (SPEC §3). Anything else is refused.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "active": ("paused", "resolved", "escalated", "abandoned"),
    "paused": ("active", "resolved", "escalated", "abandoned"),
    "escalated": ("resolved", "abandoned"),
    "resolved": ("escalated", "active"),
    "abandoned": ("active",),
}
# Lifecycle verbs that move a session to a status, and where resume / reopen start from.
VERB_TARGETS = {"pause": "paused", "resolve": "resolved", "escalate": "escalated", "abandon": "abandoned"}
RESUMABLE = ("paused",)
REOPENABLE = ("resolved", "abandoned")


def valid_actions(status: str) -> set[str]:
    """The lifecycle verbs a session in ``status`` may take (what the TUI's palette offers), from TRANSITIONS."""
    targets = TRANSITIONS.get(status, ())
    verbs = {verb for verb, target in VERB_TARGETS.items() if target in targets}
    if status in RESUMABLE and "active" in targets:
        verbs.add("resume")
    if status in REOPENABLE and "active" in targets:
        verbs.add("reopen")
    return verbs


_VERB = {
    "active": "reactivate",
    "paused": "pause",
    "resolved": "resolve",
    "escalated": "escalate",
    "abandoned": "abandon",
}


def intake_from_ticket(summary: str | None, description: str | None) -> str | None:
    """A ticket session's intake: the summary, a blank line, then the description with its own paragraphs.
    Never folded into one line: the summary is a headline and must not run into the description's first words."""
    head = one_line(summary or "")
    body = clip(description or "", INTAKE_MAX)
    return clip("\n\n".join(part for part in (head, body) if part), INTAKE_MAX) or None


def intake_of(session: SessionRow) -> str | None:
    """The problem as reported. A ticket session's is rebuilt from its stored ticket (summary and description
    kept apart), so a session stored while the two were still run together reads right too."""
    doc = session.ticket_context or {}
    if session.intake_type == "psa_ticket" and isinstance(doc, dict) and doc.get("summary"):
        return intake_from_ticket(str(doc["summary"]), str(doc.get("description") or ""))
    return session.intake_text


async def create_session(
    ctx: Ctx,
    text: str | None = None,
    *,
    title: str | None = None,
    client: str | None = None,
) -> SessionRow:
    """A new active session from a free-text description (or an empty one)."""
    intake = (text or "").strip()
    if text is not None and not intake:
        raise UsageError("the problem description is empty", hint="describe the problem, or omit it for an empty session")
    if len(intake) > INTAKE_MAX:
        raise UsageError(f"the problem description is too long ({len(intake)} characters; the limit is {INTAKE_MAX})")
    chosen_title = one_line(title) if title is not None else (title_from_text(intake) if intake else None)
    if title is not None and not chosen_title:
        raise UsageError("the title is empty")
    now = ctx.now()
    row = SessionRow(
        account_id=ctx.account.id,
        owner_id=ctx.engineer.id,
        title=truncate(chosen_title, 200) if chosen_title else None,
        status="active",
        intake_type="free_text" if intake else "empty",
        intake_text=intake or None,
        client_name=one_line(client) or None if client else None,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    async with ctx.tx():
        ctx.db.add(row)
    return row


async def get_session(ctx: Ctx, ref: str) -> SessionRow:
    return await find_one(ctx, SessionRow, ref, "session")


async def list_sessions(
    ctx: Ctx, *, statuses: tuple[str, ...] | None = None, limit: int | None = 200, mine: bool = False
) -> list[SessionRow]:
    for status in statuses or ():
        if status not in SESSION_STATUSES:
            raise UsageError(f"unknown status {status!r}", hint="one of: " + ", ".join(SESSION_STATUSES))
    stmt = select(SessionRow).where(SessionRow.account_id == ctx.account.id)
    if statuses:
        stmt = stmt.where(SessionRow.status.in_(statuses))
    if mine:
        stmt = stmt.where(SessionRow.owner_id == ctx.engineer.id)
    stmt = stmt.order_by(SessionRow.updated_at.desc(), SessionRow.id)
    if limit:
        stmt = stmt.limit(limit)
    return list((await ctx.db.execute(stmt)).scalars())


async def count_sessions(ctx: Ctx) -> int:
    stmt = select(func.count()).select_from(SessionRow).where(SessionRow.account_id == ctx.account.id)
    return int((await ctx.db.execute(stmt)).scalar_one())


async def owner_name(ctx: Ctx, session: SessionRow) -> str:
    if session.owner_id == ctx.engineer.id:
        return ctx.engineer.display_name
    eng = await ctx.db.get(Engineer, session.owner_id)
    return eng.display_name if eng else "another engineer"


async def require_editable(ctx: Ctx, session: SessionRow) -> None:
    """Only the owner (the engineer who claimed it, after a claim) changes a session: core.permissions."""
    await require_can_modify(ctx, session)


def check_transition(session: SessionRow, target: str) -> None:
    """Raise ConflictError (changing nothing) unless ``session`` may move to ``target``."""
    current = session.status
    if target in TRANSITIONS.get(current, ()):
        return
    if current == target:
        raise ConflictError(f"session is already {current}")
    hint = None
    if current in ("resolved", "abandoned") and target != "active":
        hint = f"reopen it first: rfpilot sessions reopen {short_id(session.id)}"
    raise ConflictError(f"cannot {_VERB[target]} a session that is {current}", hint=hint)


def accrue_timers(session: SessionRow, now: datetime) -> None:
    """Add the time spent in the current status to the active or parked counter."""
    elapsed = max(0, int((now - session.status_changed_at).total_seconds()))
    if session.status == "active":
        session.active_seconds += elapsed
    elif session.status in PARKED_STATUSES:
        session.parked_seconds += elapsed
    session.status_changed_at = now


@dataclass(frozen=True)
class Timers:
    active_seconds: int
    parked_seconds: int


def live_timers(session: SessionRow, now: datetime) -> Timers:
    elapsed = max(0, int((now - session.status_changed_at).total_seconds()))
    return timers_after(Timers(session.active_seconds, session.parked_seconds), session.status, elapsed)


def timers_after(timers: Timers, status: str, seconds: int) -> Timers:
    """The timers ``seconds`` after they were read while the session stayed in ``status`` (the TUI ticks its
    header with this rather than reading the store again)."""
    seconds = max(0, int(seconds))
    return Timers(timers.active_seconds + (seconds if status == "active" else 0),
                  timers.parked_seconds + (seconds if status in PARKED_STATUSES else 0))


def set_status(ctx: Ctx, session: SessionRow, target: str) -> None:
    """Move to ``target`` in the caller's transaction (transition already checked)."""
    now = ctx.now()
    accrue_timers(session, now)
    session.status = target
    session.updated_at = now


def _clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = one_line(reason)
    if len(reason) > REASON_MAX:
        raise UsageError(f"the reason is too long ({len(reason)} characters; the limit is {REASON_MAX})")
    return reason or None


@owner_action("pause")
async def pause_session(ctx: Ctx, session: SessionRow) -> SessionRow:
    check_transition(session, "paused")
    async with ctx.tx():
        set_status(ctx, session, "paused")
    return session


@owner_action("resume")
async def resume_session(ctx: Ctx, session: SessionRow) -> SessionRow:
    """paused → active (sending a message does the same)."""
    if session.status not in RESUMABLE:
        raise ConflictError(f"only a paused session can be resumed; this one is {session.status}")
    from rfpilot.core.handoffs import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # resuming it yourself takes it out of the queue
        set_status(ctx, session, "active")
    return session


@owner_action("abandon")
async def abandon_session(ctx: Ctx, session: SessionRow, reason: str | None = None) -> SessionRow:
    check_transition(session, "abandoned")
    cleaned = _clean_reason(reason)
    from rfpilot.core.handoffs import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # an abandoned session no longer waits in the queue
        set_status(ctx, session, "abandoned")
        session.abandoned_at = ctx.now()
        session.abandon_reason = cleaned
    return session


@owner_action("reopen")
async def reopen_session(ctx: Ctx, session: SessionRow) -> SessionRow:
    """resolved/abandoned → active, on explicit request only."""
    if session.status not in REOPENABLE:
        raise ConflictError(f"only a resolved or abandoned session can be reopened; this one is {session.status}")
    async with ctx.tx():
        set_status(ctx, session, "active")
    return session


@owner_action("rename")
async def rename_session(ctx: Ctx, session: SessionRow, title: str) -> SessionRow:
    cleaned = one_line(title or "")
    if not cleaned:
        raise UsageError("the title is empty")
    if len(cleaned) > 200:
        raise UsageError(f"the title is too long ({len(cleaned)} characters; the limit is 200)")
    async with ctx.tx():
        session.title = cleaned
        session.updated_at = ctx.now()
    return session
