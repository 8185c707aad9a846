"""The counts kept on the session row (migration 0009): `sessions.fact_count` (live facts) and
`sessions.message_count` (every message) always equal a COUNT(*) of the rows, on SQLite and on Postgres, whatever
wrote the rows: the services (notes, promotions from the lane and from a reply, edits, deletes, chat turns, a
fork), bulk inserts, and statements no service makes (a hard delete, a restore, a fact moved between sessions, a
lane item deleted under its facts, a session deleted with its rows). And the readers take them from the row: a
count of a long session reads no fact and no message.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import delete, event, func, select, text, update

from rfpilot.core.session import branches, facts, lane
from rfpilot.core.engine import chat
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.session.sessions import create_session
from rfpilot.db.models import Fact, LaneItem, Message, SessionRow
from tests.fakes.bulk import fill


async def stored_and_counted(ctx, session_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((fact_count, message_count) on the row, (live facts, messages) counted), read in a fresh transaction."""
    row = (await ctx.db.execute(select(SessionRow.fact_count, SessionRow.message_count)
                                .where(SessionRow.id == session_id))).one()
    live = (await ctx.db.execute(select(func.count()).select_from(Fact)
                                 .where(Fact.session_id == session_id, Fact.deleted_at.is_(None)))).scalar_one()
    messages = (await ctx.db.execute(select(func.count()).select_from(Message)
                                     .where(Message.session_id == session_id))).scalar_one()
    await ctx.db.commit()
    return (int(row[0]), int(row[1])), (int(live), int(messages))


async def assert_counts(ws, *sessions) -> None:
    async with ws.ctx() as check:
        for session in sessions:
            stored, counted = await stored_and_counted(check, session.id)
            assert stored == counted, (session.title, stored, counted)


def block(name: str, payload) -> str:
    return f"[{name}]\n{json.dumps(payload)}\n[/{name}]"


async def test_the_counts_follow_every_write(ws, ctx) -> None:
    session = await create_session(ctx, "Printer offline on floor 3")
    other = await create_session(ctx, "VPN drops every hour")
    await assert_counts(ws, session, other)

    # Facts through the services: a note, promotions of a question and a check, an edit, a delete.
    note = await facts.add_note(ctx, session, "The spooler was running")
    question = await lane.add_item(ctx, session, "question", "Which driver version?")
    check = await lane.add_item(ctx, session, "check", "Spooler state", command="Get-Service Spooler")
    await facts.promote(ctx, session, source_type="question", source_ref=question.id, text="Driver 4.2")
    await facts.promote(ctx, session, source_type="diagnostic_check", source_ref=check.id, text="The spooler stopped")
    await facts.update_fact(ctx, session, note, text="The spooler was running before the update")
    await facts.delete_fact(ctx, session, note)
    await facts.add_note(ctx, other, "Only on Wi-Fi")
    await assert_counts(ws, session, other)

    # Chat turns: the engineer's message, the reply, and the facts a reply promotes.
    provider = ScriptedProvider([
        ScriptedReply(reply="The driver update broke it.\n\n"
                            + block("PROMOTE", {"source_type": "ai_synthesis", "text": "The new driver is the cause"})),
        ScriptedReply(reply="Roll the driver back."),
    ])
    await chat.send(ctx, session, "It started after the driver update", provider)
    await chat.send(ctx, session, "What now?", provider)
    await assert_counts(ws, session, other)
    assert await chat.count_messages(ctx, session) == 4 and await facts.count_facts(ctx, session) == 3

    # Bulk inserts (one executemany each), then a fork and messages on a branch.
    await fill(ctx, session, messages=300, facts=250, first_seq=100)
    await fill(ctx, other, facts=40)
    await assert_counts(ws, session, other)
    _, (first, _second) = await branches.fork(ctx, session, "Two causes fit",
                                              [("Driver", "The new driver"), ("Spooler", "A stuck queue")])
    await branches.switch(ctx, session, first)
    await chat.send(ctx, session, "On the driver branch", ScriptedProvider([ScriptedReply(reply="Noted.", match="driver branch")]))
    await assert_counts(ws, session, other)

    # What no service does: a hard delete, a restore, a move to another session, a lane item deleted under its
    # fact (ON DELETE SET NULL), a message deleted, and a session deleted with all its rows.
    async with ctx.tx():
        victim = (await ctx.db.execute(select(Fact.id).where(Fact.session_id == session.id, Fact.deleted_at.is_(None))
                                       .order_by(Fact.created_at, Fact.id).limit(1))).scalar_one()
        await ctx.db.execute(delete(Fact).where(Fact.id == victim))
        await ctx.db.execute(update(Fact).where(Fact.id == note.id).values(deleted_at=None))  # restored
        moved = (await ctx.db.execute(select(Fact.id).where(Fact.session_id == session.id, Fact.deleted_at.is_(None))
                                      .order_by(Fact.created_at.desc(), Fact.id).limit(2))).scalars().all()
        await ctx.db.execute(update(Fact).where(Fact.id.in_(moved)).values(session_id=other.id))
        await ctx.db.execute(delete(LaneItem).where(LaneItem.id == question.id))
        await ctx.db.execute(delete(Message).where(Message.session_id == session.id, Message.seq < 110))
        await ctx.db.execute(update(Fact).where(Fact.session_id == other.id).values(deleted_at=ctx.now()))
    await assert_counts(ws, session, other)
    doomed = await create_session(ctx, "A duplicate ticket")
    await fill(ctx, doomed, messages=5, facts=5)
    await assert_counts(ws, session, other, doomed)
    async with ctx.tx():
        await ctx.db.execute(delete(SessionRow).where(SessionRow.id == doomed.id))
    await assert_counts(ws, session, other)
    async with ws.ctx() as check:
        (stored, counted) = await stored_and_counted(check, session.id)
    assert stored == counted and stored[0] > 200 and stored[1] > 200


async def test_a_store_is_counted_when_it_migrates(db_url: str) -> None:
    """The backfill: sessions with facts (one deleted) and messages at 0008 get their counts at 0009."""
    import uuid
    from datetime import UTC, datetime

    from rfpilot.db import engine as db_engine
    from rfpilot.db.engine import _run_alembic_upgrade, create_engine, migrate
    from tests.conftest import _admin

    scratch = None
    if db_url.startswith("postgresql"):
        scratch = f"rfpilot_mig_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{scratch}"')
        db_url = f"{db_url.rpartition('/')[0]}/{scratch}"
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: _run_alembic_upgrade(c, "0008"))
        now = datetime.now(UTC)
        account, engineer = str(uuid.uuid4()), str(uuid.uuid4())
        sessions = [str(uuid.uuid4()) for _ in range(3)]
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (:a, 'mig', :t)"),
                               {"a": account, "t": now})
            await conn.execute(text(
                "INSERT INTO engineers (id, account_id, email, display_name, psa_member_ids, created_at) "
                "VALUES (:e, :a, 'm@example.com', 'M', '{}', :t)"), {"e": engineer, "a": account, "t": now})
            for sid in sessions:
                await conn.execute(text(
                    "INSERT INTO sessions (id, account_id, owner_id, status, intake_type, state_version, active_seconds, "
                    "parked_seconds, handoff_count, status_changed_at, created_at, updated_at) "
                    "VALUES (:s, :a, :e, 'active', 'empty', 0, 0, 0, 0, :t, :t, :t)"),
                    {"s": sid, "a": account, "e": engineer, "t": now})
            for n, sid in enumerate(sessions[:2]):
                for i in range(3 + n):
                    await conn.execute(text(
                        "INSERT INTO facts (id, account_id, session_id, text, source_type, created_by, created_at, "
                        "updated_at, deleted_at) VALUES (:f, :a, :s, 'fact', 'user_note', :e, :t, :t, :d)"),
                        {"f": str(uuid.uuid4()), "a": account, "s": sid, "e": engineer, "t": now,
                         "d": now if i == 0 else None})
                for seq in range(5 + n):
                    await conn.execute(text(
                        "INSERT INTO messages (id, account_id, session_id, seq, role, status, raw_content, "
                        "display_content, created_at) VALUES (:m, :a, :s, :q, 'user', 'complete', 'x', 'x', :t)"),
                        {"m": str(uuid.uuid4()), "a": account, "s": sid, "q": seq, "t": now})
        await migrate(engine, backup_dir=None)
        assert await db_engine.current_revision(engine) == db_engine.SCHEMA_HEAD
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, fact_count, message_count FROM sessions"))).all()
        got = {sid: (facts_, messages) for sid, facts_, messages in rows}
        assert got == {sessions[0]: (2, 5), sessions[1]: (3, 6), sessions[2]: (0, 0)}
    finally:
        await engine.dispose()
        if scratch:
            await _admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


async def test_the_counts_of_a_long_session_read_no_rows_of_it(ws, ctx, session) -> None:
    """`sessions show`, a note and a handoff count facts and messages from the session row: no statement the
    count readers send reads `facts` or `messages` (a count of a 20,000-row session read every row before)."""
    from rfpilot.core.team import handoffs

    await fill(ctx, session, messages=600, facts=600)
    seen: list[str] = []
    engine = ctx.db.bind.sync_engine

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await facts.count_facts(ctx, session) == 600
        assert await chat.count_messages(ctx, session) == 600
        shown, total = await facts.facts_window(ctx, session, 50)
        assert len(shown) == 50 and total == 600
        assert await handoffs._facts_count(ctx, session) == 600
    finally:
        event.remove(engine, "before_cursor_execute", record)
    counts = [s for s in seen if re.search(r"\bcount\(", s, re.I)]
    assert not counts, counts
    reads = [s for s in seen if re.search(r"\bFROM (facts|messages)\b", s)]
    assert len(reads) == 1 and "LIMIT" in reads[0], reads  # the window's page of facts, nothing else
    assert all(re.search(r"FROM sessions WHERE sessions\.id = ", s) for s in seen if s not in reads), seen
