"""Reading a session's conversation: the active branch's messages, counted and paged without reading what is not
shown. Kept apart from the chat engine (core.engine.chat, which re-exports these) so that a view of a session
(`sessions show`, the TUI's first paint) pays for neither the engine nor the model's prompts."""

from __future__ import annotations

from sqlalchemy import func, select

from rfpilot.core.context import Ctx
from rfpilot.db.models import Message, SessionRow


async def list_messages(ctx: Ctx, session: SessionRow) -> list[Message]:
    """The conversation as the engineer works it: the active branch's history once the session branches."""
    from rfpilot.core.session import branches

    return await branches.history(ctx, session, await branches.active_branch(ctx, session))


async def conversation(ctx: Ctx, session: SessionRow):
    """The SELECT of ``list_messages`` (the active branch's history), unordered."""
    from rfpilot.core.session import branches

    branch = await branches.active_branch(ctx, session) if session.active_branch_id else None
    return await branches.history_statement(ctx, session, branch)


async def count_messages(ctx: Ctx, session: SessionRow) -> int:
    """How many messages ``list_messages`` would return. Before the session branches that is every message of
    the session, which the store keeps on its row (migration 0009): one primary-key read at any length. A
    branched session's conversation (its branch and the ancestors' messages up to each fork) is counted."""
    if not session.active_branch_id:
        stmt = select(SessionRow.message_count).where(SessionRow.id == session.id)
        return int((await ctx.db.execute(stmt)).scalar_one())
    stmt = select(func.count()).select_from((await conversation(ctx, session)).subquery())
    return int((await ctx.db.execute(stmt)).scalar_one())


async def message_page(ctx: Ctx, session: SessionRow, limit: int, *, before_seq: int | None = None,
                       from_seq: int | None = None) -> list[Message]:
    """At most ``limit`` messages of the conversation just before ``before_seq`` (the latest without it),
    oldest first: a keyset page on seq, so paging back through a long session never reads what it skips.
    ``from_seq``: instead, the first ``limit`` messages from that seq on (what a turn added after it)."""
    stmt = await conversation(ctx, session)
    if from_seq is not None:
        rows = (await ctx.db.execute(stmt.where(Message.seq >= from_seq).order_by(Message.seq).limit(limit))).scalars()
        return list(rows)
    if before_seq is not None:
        stmt = stmt.where(Message.seq < before_seq)
    rows = (await ctx.db.execute(stmt.order_by(Message.seq.desc()).limit(limit))).scalars()
    return list(reversed(list(rows)))


async def recent_messages(ctx: Ctx, session: SessionRow, last: int) -> tuple[int, list[Message]]:
    """How many messages the conversation has, and its latest ``last`` (oldest first)."""
    return await count_messages(ctx, session), (await message_page(ctx, session, last) if last else [])


async def pending_retry(ctx: Ctx, session: SessionRow) -> Message | None:
    """The engineer's last message when it never got a reply (failed or interrupted), on the current branch."""
    stmt = (await conversation(ctx, session)).where(Message.role != "notice")
    last = (await ctx.db.execute(stmt.order_by(Message.seq.desc()).limit(1))).scalars().first()
    if last is not None and last.role == "user" and last.status in ("failed", "interrupted", "sent"):
        return last
    return None
