"""The store's change feed (rfpilot.db.changes) and the account's live updates (rfpilot.core.session.live), on both
stores: a write by another connection arrives naming its session, a read sends nothing, another account's write
is not reported, a dropped Postgres listener reconnects, and closing leaves no task behind.

Waits are generous (a loaded machine) and never part of what is asserted; the latency is measured in
bench/live.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text as sql

from rfpilot.config import load_settings
from rfpilot.db.changes import ANYTHING, Change, SqliteFeed, parse_payload

WAIT = 15.0  # seconds: for correctness only


def test_payload_parsing() -> None:
    assert parse_payload("acc sess paused") == Change("acc", "sess", "paused")
    assert parse_payload("acc sess *") == Change("acc", "sess", None)
    assert parse_payload("acc * *") == Change("acc", None, None)
    for odd in ("", "acc", "acc sess", "a b c d", "* * *", "acc  paused"):
        assert parse_payload(odd) == ANYTHING, odd


# A test of one store's own mechanism runs on that store only: never collected for the other, so never skipped.
ONLY_POSTGRES = pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                        indirect=True)
ONLY_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
async def teammate(settings):
    """A second workspace on the same store and account (its own engine: another connection, like another
    process), acting as another engineer."""
    from rfpilot.core.context import Workspace

    env = dict(settings.env, RFPILOT_USER_EMAIL="mate@example.com", RFPILOT_USER_NAME="Mate")
    other = await Workspace.open(load_settings(env=env))
    try:
        yield other
    finally:
        await other.close()


async def _new_session(ws, text: str) -> str:
    from rfpilot.core.session.sessions import create_session

    async with ws.ctx() as ctx:
        return (await create_session(ctx, text)).id


async def _add_fact(ws, session_id: str, text: str) -> None:
    from rfpilot.core.session.facts import add_note
    from rfpilot.core.session.sessions import get_session

    async with ws.ctx() as ctx:
        await add_note(ctx, await get_session(ctx, session_id), text)


async def _next_touching(live, session_id: str):
    """Updates until one names ``session_id`` (the ones before it are returned too)."""
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        update = await live.next(timeout=deadline - loop.time())
        if update is None:
            break
        seen.append(update)
        if update.touches(session_id):
            return seen
    raise AssertionError(f"no update named {session_id} within {WAIT}s: {seen}")


async def test_a_teammates_writes_arrive_naming_the_session(ws, teammate) -> None:
    from rfpilot.core.session.live import LiveViews

    live = await LiveViews.open(ws)
    try:
        sid = await _new_session(teammate, "Scanner cannot reach the share after the password rotation")
        await _next_touching(live, sid)
        await _add_fact(teammate, sid, "The scan account's password was rotated on Monday")
        await _next_touching(live, sid)
        from rfpilot.core.session.sessions import pause_session, get_session

        async with teammate.ctx() as ctx:
            await pause_session(ctx, await get_session(ctx, sid))
        await _next_touching(live, sid)
    finally:
        await live.close()


@ONLY_POSTGRES
async def test_postgres_notification_carries_account_session_and_status(ws, teammate) -> None:
    from rfpilot.db.changes import open_feed

    feed = open_feed(ws.store)
    try:
        await asyncio.wait_for(feed.listening.wait(), WAIT)  # type: ignore[attr-defined]
        sid = await _new_session(teammate, "Outlook keeps asking for the password")
        changes = await feed.next(timeout=WAIT)
        assert Change(ws.account.id, sid, "active") in changes
    finally:
        await feed.close()


async def test_reads_send_nothing_and_other_accounts_are_not_reported(ws, teammate, settings) -> None:
    """Reads by another connection, then a write in another account, then a write here: the first update this
    account gets names only the session written here."""
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.live import LiveViews
    from rfpilot.core.session.sessions import get_session, session_page
    from rfpilot.core.team.handoffs import queue

    quiet = await _new_session(teammate, "Mapped drive disconnects overnight")
    live = await LiveViews.open(ws)
    stranger = await Workspace.open(load_settings(env=dict(settings.env, RFPILOT_ACCOUNT=f"other-{uuid.uuid4().hex[:8]}")))
    try:
        for _ in range(3):
            async with teammate.ctx() as ctx:
                await session_page(ctx, limit=20)
                await get_session(ctx, quiet)
                await queue(ctx)
        await _new_session(stranger, "Another team's printer")
        marker = await _new_session(teammate, "VPN split tunnel drops the file server")
        first = await live.next(timeout=WAIT)
        assert first is not None and first.sessions == frozenset({marker}) and not first.everything, first
    finally:
        await stranger.close()
        await live.close()


@ONLY_SQLITE
async def test_sqlite_data_version_sees_commits_not_reads(ws, teammate) -> None:
    from rfpilot.db.engine import sqlite_file

    path = sqlite_file(ws.store.url)
    feed = SqliteFeed(str(path))
    try:
        assert feed.changed() is False  # the first call only starts
        sid = await _new_session(teammate, "Print spooler stops every morning")
        assert feed.changed() is True
        assert feed.changed() is False
        async with teammate.ctx() as ctx:
            await ctx.db.execute(sql("SELECT count(*) FROM sessions"))
            await ctx.db.execute(sql("SELECT * FROM facts"))
        assert feed.changed() is False
        await _add_fact(teammate, sid, "The spooler crashes at 08:00")
        assert feed.changed() is True
        # The app's own connections count too (another connection than the feed's): harmless refreshes.
        await _new_session(ws, "A driver update came the night before")
        assert feed.changed() is True
    finally:
        await feed.close()


@ONLY_POSTGRES
async def test_postgres_listener_reconnects_after_its_connection_drops(ws, teammate) -> None:
    from rfpilot.core.session.live import LiveViews
    from rfpilot.db import changes

    live = await LiveViews.open(ws)
    feed = live.feed
    assert isinstance(feed, changes.PostgresFeed)
    try:
        await asyncio.wait_for(feed.listening.wait(), WAIT)
        first_pid = feed.backend_pid
        async with teammate.ctx() as ctx:
            assert (await ctx.db.execute(sql("SELECT pg_terminate_backend(:p)"), {"p": first_pid})).scalar()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not (feed.connects >= 2 and feed.listening.is_set()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert feed.connects >= 2 and feed.backend_pid != first_pid
        seen = await _next_touching(live, sid := await _new_session(teammate, "DNS after the DC change"))
        assert any(u.everything for u in seen) or seen[-1].touches(sid)
    finally:
        await live.close()


@ONLY_POSTGRES
async def test_a_bulk_statement_is_one_notification_per_account(ws, teammate) -> None:
    from rfpilot.core.session.live import LiveViews
    from rfpilot.db.models import SessionRow

    live = await LiveViews.open(ws)
    try:
        await asyncio.wait_for(live.feed.listening.wait(), WAIT)  # type: ignore[attr-defined]
        async with teammate.ctx() as ctx:
            async with ctx.tx():
                ctx.db.add_all([SessionRow(account_id=ctx.account.id, owner_id=ctx.engineer.id, title=f"bulk {i}")
                                for i in range(80)])
        changes = await live.feed.next(timeout=WAIT)
        assert changes == [Change(ws.account.id, None, None)], changes
    finally:
        await live.close()


async def test_closing_leaves_no_task_and_no_connection(ws) -> None:
    from rfpilot.core.session.live import LiveViews

    live = await LiveViews.open(ws)
    if ws.store.dialect == "postgresql":
        await asyncio.wait_for(live.feed.listening.wait(), WAIT)  # type: ignore[attr-defined]
    await live.close()
    await live.close()  # twice is fine
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not names & {"PostgresFeed", "SqliteFeed"}, names
    if ws.store.dialect == "postgresql":
        async with ws.ctx() as ctx:
            listening = (await ctx.db.execute(sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            ))).scalar()
        assert listening == 0
    else:
        assert live.feed._conn is None  # type: ignore[attr-defined]


@ONLY_SQLITE
async def test_sqlite_asks_which_sessions_changed_through_the_list_index(ws, teammate) -> None:
    """SQLite's "which sessions changed" reads the list's index (account, status, updated_at), never the table:
    the same cost at any store size (tests/test_query_plans.py's helpers: the store's own plan)."""
    from rfpilot.core.session.live import LiveViews
    from tests.test_query_plans import assert_served, plan, recorded, seed

    await seed(ws)
    async with ws.ctx() as ctx:
        async with recorded(ctx) as seen:
            live = await LiveViews.open(ws)
            try:
                sid = await _new_session(teammate, "Certificate expired on the RD gateway")
                update = await live.next(timeout=WAIT)
            finally:
                await live.close()
        assert update is not None and update.sessions == frozenset({sid})
        ours = [(s, p) for s, p in seen if "sessions.state_version" in s or "max(sessions.updated_at)" in s]
        assert len(ours) >= 7, seen  # five newest-per-status lookups, the baseline, the change
        for statement, parameters in ours:
            assert_served(await plan(ctx, statement, parameters), "sqlite", "ix_sessions_account_status_updated")


async def test_changes_nobody_takes_do_not_pile_up() -> None:
    """A consumer that never takes: the feed keeps at most MAX_PENDING changes, and what it kept still says that
    anything may have changed."""
    from rfpilot.db.changes import MAX_PENDING, ChangeFeed

    feed = ChangeFeed()
    for i in range(MAX_PENDING * 3):
        feed._push(Change("acc", f"s{i}", "active"))
    taken = feed.take()
    assert len(taken) <= MAX_PENDING and ANYTHING in taken and Change("acc", f"s{MAX_PENDING * 3 - 1}", "active") in taken
    assert feed.take() == [] and not feed.pending()
