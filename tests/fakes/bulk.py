"""Big sessions, fast: messages and facts inserted in bulk (one executemany each), not through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


async def fill(ctx, session, *, messages: int = 0, facts: int = 0) -> None:
    """``messages`` alternating user/assistant ("message N"), ``facts`` notes ("fact N"), oldest first."""
    from sqlalchemy import insert

    from rfpilot.db.models import Fact, Message, new_id

    start = datetime.now(UTC) - timedelta(days=1)
    async with ctx.tx():
        if messages:
            await ctx.db.execute(insert(Message), [
                {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "seq": i,
                 "role": "user" if i % 2 == 0 else "assistant", "status": "complete",
                 "raw_content": f"message {i}", "display_content": f"message {i}",
                 "created_at": start + timedelta(seconds=i)}
                for i in range(messages)
            ])
        if facts:
            await ctx.db.execute(insert(Fact), [
                {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "text": f"fact {i}",
                 "source_type": "user_note", "created_by": ctx.engineer.id,
                 "created_at": start + timedelta(seconds=i), "updated_at": start + timedelta(seconds=i)}
                for i in range(facts)
            ])


async def sessions(ctx, total: int, *, title, client, end: datetime | None = None) -> None:
    """``total`` sessions of the account, one a minute back from ``end`` (default now): a third of them open
    (every third one active), the rest resolved or abandoned; ``title(i)`` and ``client(i)`` name them and their
    ticket is T1000000+i. Batches of 5,000 rows; the caller commits."""
    import uuid

    from sqlalchemy import insert

    from rfpilot.db.models import SessionRow

    end = end or datetime.now(UTC)
    batch: list[dict] = []
    for i in range(total):
        when = end - timedelta(minutes=i)
        status = "active" if i % 3 == 0 else ("resolved", "abandoned")[i % 2]
        batch.append(dict(id=str(uuid.uuid4()), account_id=ctx.account.id, owner_id=ctx.engineer.id, title=title(i),
                          status=status, intake_type="empty", client_name=client(i), ticket_ref=f"T{1_000_000 + i}",
                          status_changed_at=when, created_at=when, updated_at=when))
        if len(batch) == 5_000 or i == total - 1:
            await ctx.db.execute(insert(SessionRow), batch)
            batch = []
