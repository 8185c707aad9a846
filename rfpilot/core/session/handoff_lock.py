"""The two steps of the team queue (core.team.handoffs) that every resume, close and abandon takes: the session row
read under a lock, and the withdrawal of the session's waiting handoffs. Kept apart so those commands do not
import the queue itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select, update

from rfpilot.core.context import Ctx
from rfpilot.core.session.permissions import require_can_modify
from rfpilot.core.text import short_id
from rfpilot.db.models import SessionHandoff, SessionRow
from rfpilot.errors import NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import CursorResult  # an UPDATE's result: its rowcount


async def lock_session(ctx: Ctx, session_id: str) -> SessionRow:
    """The session row re-read under a row lock (Postgres; SQLite serialises writers anyway).

    ``populate_existing`` refreshes the object the caller holds, so checks made after this see the committed
    state, not what was loaded before the transaction began.
    """
    stmt = (select(SessionRow)
            .where(SessionRow.id == session_id, SessionRow.account_id == ctx.account.id)
            .with_for_update()
            .execution_options(populate_existing=True))
    row = (await ctx.db.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"session {short_id(session_id)} no longer exists")
    return row


async def withdraw_open_handoffs(ctx: Ctx, session: SessionRow) -> int:
    """Take the session's waiting handoffs out of the queue, in the caller's transaction (its owner resumed,
    escalated, resolved or abandoned it).

    Call it before changing the session: it takes the handoff rows first and the session row second, the
    order a claim takes them in, so the two cannot deadlock. A colleague who claimed the session meanwhile
    wins: the owner gets a ConflictError and the caller's transaction rolls back.

    A session never handed off (``handoff_count`` 0, counted in the transaction that makes each handoff, under
    this same row lock) has nothing in the queue: then the row lock alone is taken, and the handoffs are not
    written to. Only when a handoff was made between the caller's read and this lock are they withdrawn after
    the lock (the reverse of a claim's order: Postgres would stop one of the two, never both wait).
    """
    if not session.handoff_count:
        locked = await lock_session(ctx, session.id)  # refreshes ``session`` itself (populate_existing)
        if not locked.handoff_count:
            await require_can_modify(ctx, locked)
            return 0
    result = await ctx.db.execute(
        update(SessionHandoff)
        .where(SessionHandoff.session_id == session.id, SessionHandoff.account_id == ctx.account.id,
               SessionHandoff.claimed_by.is_(None), SessionHandoff.withdrawn_at.is_(None))
        .values(withdrawn_at=ctx.now())
        .execution_options(synchronize_session=False)
    )
    await require_can_modify(ctx, await lock_session(ctx, session.id))
    return int(cast("CursorResult[Any]", result).rowcount or 0)
