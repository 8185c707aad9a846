"""Big sessions, fast: messages and facts inserted in bulk (multi-row INSERT statements), not through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


async def fill(ctx, session, *, messages: int = 0, facts: int = 0, questions: int = 0, checks: int = 0,
               body=None, first_seq: int = 0) -> None:
    """``messages`` alternating user/assistant ("message N", or ``body(N)``; seqs from ``first_seq``), ``facts``
    notes ("fact N"), open ``questions`` ("question N") and ``checks`` ("check N"), oldest first."""
    from sqlalchemy import insert

    from rfpilot.db.models import Fact, LaneItem, Message
    from rfpilot.db.types import new_id

    start = datetime.now(UTC) - timedelta(days=1)

    async def rows(model, values: list[dict]) -> None:
        # One executemany with RETURNING, which SQLAlchemy sends as multi-row INSERT statements of up to 1,000
        # rows ("insertmanyvalues", on SQLite and on Postgres): Postgres's count triggers (migration 0009) then
        # fire once per statement, where asyncpg's plain executemany would run one statement per row, each
        # updating the session row again (a cost that grows with the square of the rows). Not
        # ``insert(model).values(rows)``: SQLAlchemy compiles such a statement afresh, bind by bind, for every
        # batch (20,000 messages and facts: ~20 s of Python against ~3 s here).
        table = model.__table__
        conn = await ctx.db.connection()
        await conn.execute(insert(table).returning(table.c.id), values)

    async with ctx.tx():
        if messages:
            await rows(Message, [
                {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "seq": i,
                 "role": "user" if i % 2 == 0 else "assistant", "status": "complete",
                 "raw_content": body(i) if body else f"message {i}", "display_content": body(i) if body else f"message {i}",
                 "created_at": start + timedelta(seconds=i)}
                for i in range(first_seq, first_seq + messages)
            ])
        if facts:
            await rows(Fact, [
                {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "text": f"fact {i}",
                 "source_type": "user_note", "created_by": ctx.engineer.id,
                 "created_at": start + timedelta(seconds=i), "updated_at": start + timedelta(seconds=i)}
                for i in range(facts)
            ])
        for kind, n in (("question", questions), ("check", checks)):
            if n:
                await rows(LaneItem, [
                    {"id": new_id(), "account_id": ctx.account.id, "session_id": session.id, "kind": kind,
                     "origin": "engineer", "text": f"{kind} {i}", "state": "open", "position": i,
                     "command": f"echo {i}" if kind == "check" else None, "created_at": start + timedelta(seconds=i)}
                    for i in range(n)
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
