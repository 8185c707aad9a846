"""Big sessions, fast: messages and facts inserted in bulk (one executemany each), not through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


async def fill(ctx, session, *, messages: int = 0, facts: int = 0, body=None, first_seq: int = 0) -> None:
    """``messages`` alternating user/assistant ("message N", or ``body(N)``), ``facts`` notes ("fact N"), oldest
    first; seqs from ``first_seq``."""
    from sqlalchemy import insert

    from rfpilot.db.models import Fact, Message, new_id

    start = datetime.now(UTC) - timedelta(days=1)
    async with ctx.tx():
        if messages:
            await ctx.db.execute(insert(Message), [
                {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "seq": i,
                 "role": "user" if i % 2 == 0 else "assistant", "status": "complete",
                 "raw_content": body(i) if body else f"message {i}", "display_content": body(i) if body else f"message {i}",
                 "created_at": start + timedelta(seconds=i)}
                for i in range(first_seq, first_seq + messages)
            ])
        if facts:
            await ctx.db.execute(insert(Fact), [
                {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "text": f"fact {i}",
                 "source_type": "user_note", "created_by": ctx.engineer.id,
                 "created_at": start + timedelta(seconds=i), "updated_at": start + timedelta(seconds=i)}
                for i in range(facts)
            ])
