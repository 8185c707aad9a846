"""The session list over more sessions than one chunk: every open session is reachable before any closed one,
the rest pages in as the user moves down, and the filter searches the whole store (both stores)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

TOTAL, ACTIVE = 1_200, 600


async def seed(ws, total: int = TOTAL, extra: list[dict] | None = None) -> list[dict]:
    """``total`` sessions in one bulk insert, newest first: every other one open (active, paused or escalated),
    so open sessions are spread over the whole history, the oldest far beyond the first chunk."""
    from sqlalchemy import insert

    from rfpilot.db.models import SessionRow
    from rfpilot.db.types import new_id

    async with ws.ctx() as ctx:
        now = ctx.now()
        rows = []
        for i in range(total):
            when = now - timedelta(minutes=i + 1)
            status = ("active", "paused", "escalated")[i % 3] if i % 2 == 0 else ("resolved", "abandoned")[i % 4 // 2]
            rows.append(dict(id=new_id(), account_id=ctx.account.id, owner_id=ctx.engineer.id, title=f"Session {i}",
                             status=status, intake_type="empty", status_changed_at=when, created_at=when,
                             updated_at=when, client_name="Northwind" if i % 100 == 0 else None, ticket_ref=None))
        base = dict(rows[0], client_name=None, updated_at=now, created_at=now, status_changed_at=now)
        rows += [dict(base, **row) for row in extra or []]
        async with ctx.tx():
            await ctx.db.execute(insert(SessionRow), rows)
    return rows


OPEN = ("active", "paused", "escalated")


def expected_order(rows: list[dict]) -> list[str]:
    ordered = sorted(rows, key=lambda r: (r["status"] not in OPEN, -r["updated_at"].timestamp(), ""))
    # ties never happen in the seed (one minute apart)
    return [r["id"] for r in ordered]


# --- core ---------------------------------------------------------------------------------------


async def test_pages_walk_open_then_closed_without_gaps(ws) -> None:
    from rfpilot.core.session.sessions import session_page

    rows = await seed(ws)
    seen: list[str] = []
    cursor = None
    async with ws.ctx() as ctx:
        for _ in range(20):
            page = await session_page(ctx, after=cursor, limit=250)
            seen += [s.id for s in page.sessions]
            cursor = page.cursor
            if cursor is None:
                break
    assert seen == expected_order(rows)
    assert len(set(seen)) == TOTAL


async def test_match_searches_the_whole_store_in_any_case(ws) -> None:
    from rfpilot.core.session.sessions import session_page

    rows = await seed(ws, extra=[dict(id="abcd1234-0000-4000-8000-000000000000", title="Printer 50% off_line",
                                      status="resolved", intake_type="empty", ticket_ref="CW#48307")])
    async with ws.ctx() as ctx:
        async def titles(match: str, limit: int = 100) -> list[str]:
            return [s.title for s in (await session_page(ctx, match=match, limit=limit)).sessions]

        # Far beyond any first chunk, and the case does not matter.
        assert await titles("SESSION 1199") == ["Session 1199"]
        assert await titles("session 1198") == ["Session 1198"]
        ten = {f"Session {i}" for i in [119, *range(1190, 1200)]}
        found = await titles("Session 119")
        assert set(found) == ten
        open_first = [t for t in found if rows[int(t.split()[1])]["status"] in OPEN]
        assert found[: len(open_first)] == open_first  # open ones first, newest first
        # Client, ticket reference, id prefix; LIKE's wildcards are plain characters.
        assert len(await titles("northWIND", limit=1000)) == TOTAL // 100
        assert await titles("cw#48307") == ["Printer 50% off_line"]
        assert await titles("ABCD1234") == ["Printer 50% off_line"]
        assert await titles("abcd123") == []  # shorter than a printed id: not an id prefix
        assert len(await titles("ABANDON", limit=1000)) == len([r for r in rows if r["status"] == "abandoned"])
        assert await titles("50%") == ["Printer 50% off_line"]
        assert await titles("f_l") == ["Printer 50% off_line"]
        assert await titles("0%x") == []


async def test_quotes_and_backslashes_in_a_filter_are_text(ws) -> None:
    """The Postgres filter is written into the SQL as a literal (so its plan can use the trigram indexes): a quote,
    a backslash or SQL in the text is matched as text, never run."""
    from rfpilot.core.session.sessions import session_page

    title = "O'Brien's scanner \\ share; 'x' -- done"
    await seed(ws, extra=[dict(id="abcd1234-0000-4000-8000-000000000001", title=title, status="active",
                               intake_type="empty")])
    async with ws.ctx() as ctx:
        async def titles(match: str) -> list[str]:
            return [s.title for s in (await session_page(ctx, match=match, limit=100)).sessions]

        for match in ("o'brien", "\\ share", "share; 'x' --", "'x'"):
            assert await titles(match) == [title], match
        for match in ("'; DROP TABLE sessions; --", "\\'", "o''brien", "\\\\"):
            assert await titles(match) == [], match
        assert len(await titles("Session 1")) > 0  # the table is still there


async def test_every_way_of_filtering_finds_exactly_what_the_plain_query_finds(ws, monkeypatch) -> None:
    """Every way a filter reads finds what the plain query found before them (SQLite: the one pass over every
    session; Postgres: the walk of the list's index). SQLite's filter index (0010) only narrows where the LIKE
    looks, after inserts, renames, a client or ticket set, and deletes (its triggers)."""
    from sqlalchemy import delete, select, text, update

    from rfpilot.core.session import sessions
    from rfpilot.db.models import LIST_FILTER_TABLE, SessionRow

    sqlite = ws.store.dialect == "sqlite"
    odd = ["Été à Zürich", "ÉTÉ chez Müller", "straße Strasse STRASSE", "O'Brien \\ \"quoted\" share",
           "50% off_line", "Scan to folder", "scan TO Folder again", "Ünïcode ÀÉÎ", "日本語のプリンター", "a  b"]
    prefix = uuid.uuid4().hex[:8]  # ids of their own: the Postgres test database is shared by concurrent runs
    rows = await seed(ws, total=300, extra=[dict(id=f"{prefix}-0000-4000-8000-{i:012d}", title=t, status="active",
                                                 intake_type="empty", ticket_ref=f"CW#{48300 + i}")
                                            for i, t in enumerate(odd)])
    async with ws.ctx() as ctx:
        async with ctx.tx():  # renames, a client and a ticket set, deletes: the triggers keep the index
            await ctx.db.execute(update(SessionRow).where(SessionRow.id == rows[5]["id"])
                                 .values(title="Renamed VPN drops", client_name="Contoso"))
            await ctx.db.execute(update(SessionRow).where(SessionRow.id == rows[6]["id"]).values(ticket_ref="T-777"))
            await ctx.db.execute(update(SessionRow).where(SessionRow.id == rows[7]["id"]).values(title=None))
            await ctx.db.execute(delete(SessionRow).where(SessionRow.id.in_([rows[8]["id"], rows[-1]["id"]])))
        if sqlite:
            indexed = (await ctx.db.execute(text(f"SELECT rowid, title, client_name, ticket_ref FROM "
                                                 f"{LIST_FILTER_TABLE} ORDER BY rowid"))).all()
            stored = (await ctx.db.execute(select(text("rowid"), SessionRow.title, SessionRow.client_name,
                                                  SessionRow.ticket_ref).order_by(text("rowid")))).all()
            assert indexed == stored

        async def ids(match: str) -> list[str]:
            found, cursor = [], None
            while True:  # every page, so the cursor's range is compared too
                page = await sessions.session_page(ctx, match=match, after=cursor, limit=40)
                found += [s.id for s in page.sessions]
                if (cursor := page.cursor) is None:
                    return found

        needles = ["été", "ÉTÉ", "zür", "ZÜR", "müller", "strasse", "straße", "o'brien", '"quoted"', "\\ ",
                   "50%", "f_l", "0%o", "scan to", "SCAN TO FOLDER", "ünï", "àéî", "プリンター", "a  b", "a b",
                   "session 1", "Session 29", "northwind", "renamed", "contoso", "t-777", "cw#4830", "session 7",
                   "session 8", prefix, f"{prefix}-0000", "active", "tive", "aband", "ses", "n 1", "xyz",
                   "1", "29", "s", "é", "zq", "_", "%"]
        chooser = "sqlite_filter_plan" if sqlite else "postgres_filter_plan"
        real_plan = getattr(sessions, chooser)
        with monkeypatch.context() as patch:  # as before: SQLite's one pass over every session, Postgres's walk
            patch.setattr(sessions, chooser, lambda *_args: _const(sessions.SCAN if sqlite else sessions.WALK))
            expected = {needle: await ids(needle) for needle in needles}
        # Each way of reading. SQLite: the index's few matches, the list's index walked against the index's
        # matches, a window of the newest sessions (all of them; 150, which holds a page of a common text; 7, then
        # one pass), and without the index. Postgres: the few matches read whole, or all walked.
        ways = [(2_000, 2_000, True), (0, 2_000, True), (10**9, 2_000, True), (2_000, 7, True), (2_000, 7, False),
                (2_000, 150, False), (2_000, 2_000, False)] if sqlite else [(1_000, 0, True), (10**9, 0, True),
                                                                            (0, 0, True)]
        for few, window, index in ways:
            with monkeypatch.context() as patch:
                patch.setattr(sessions, "FEW_MATCHES" if sqlite else "PG_FEW_MATCHES", few)
                patch.setattr(sessions, "WINDOW", window or sessions.WINDOW)
                patch.setattr(sessions, "has_list_filter_index", lambda _ctx, index=index: _const(index))
                plans = set()

                async def spy(*args):
                    plans.add(plan := await real_plan(*args))
                    return plan

                patch.setattr(sessions, chooser, spy)
                for needle in needles:
                    assert await ids(needle) == expected[needle], (needle, few, window, index)
                if sqlite:
                    assert plans == ({sessions.WINDOWED, sessions.WALK, sessions.ROWIDS} if index
                                     else {sessions.WINDOWED})
                else:
                    assert plans == {sessions.WALK, sessions.FEW}, plans
        assert expected["renamed"] == [rows[5]["id"]] and expected["t-777"] == [rows[6]["id"]]
        assert rows[7]["id"] not in expected["session 7"] and rows[8]["id"] not in expected["session 8"]
        assert rows[80]["id"] in expected["session 8"]  # untitled, deleted, renamed-to


async def _const(value):
    return value


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_filter_index_is_written_only_when_a_filtered_column_changes(ws) -> None:
    """SQLite's filter table (migration 0010) is rewritten by a change of the title, client or ticket, and by
    nothing else: not by the fact and message counts (0009's triggers update the session row on every fact and
    message written), a state_version bump, a status change or a bulk insert. FTS5 writes a new segment for
    every row it is handed, so the table's shadow data stays byte for byte the same unless its row is rewritten.
    (Postgres has no trigger here: its trigram indexes cover the three columns, and an update of others alone
    touches them only when the row moves to another page, as it does for any index.)"""
    from sqlalchemy import text, update

    from rfpilot.core.session import facts
    from rfpilot.core.session.sessions import create_session, has_list_filter_index, pause_session, \
        rename_session, resume_session
    from rfpilot.db.models import LIST_FILTER_TABLE, Message, SessionRow
    from tests.fakes.bulk import fill

    async def shadow(ctx) -> list[tuple]:
        rows = (await ctx.db.execute(text(f"SELECT id, block FROM {LIST_FILTER_TABLE}_data ORDER BY id"))).all()
        await ctx.db.commit()
        return [tuple(r) for r in rows]

    async def found(ctx, needle: str) -> list[int]:
        rows = (await ctx.db.execute(text(f"SELECT rowid FROM {LIST_FILTER_TABLE} WHERE {LIST_FILTER_TABLE} "
                                          "MATCH :q ORDER BY rowid"), {"q": f'"{needle}"'})).scalars().all()
        await ctx.db.commit()
        return list(rows)

    async with ws.ctx() as ctx:
        assert await has_list_filter_index(ctx)
        session = await create_session(ctx, "Scanner jams on the second floor", client="Northwind")
        rowid = (await ctx.db.execute(text("SELECT rowid FROM sessions WHERE id = :id"), {"id": session.id})).scalar()
        await ctx.db.commit()
        before = await shadow(ctx)
        assert before and await found(ctx, "Scanner jams") == [rowid] and await found(ctx, "northwind") == [rowid]

        note = await facts.add_note(ctx, session, "The feed roller is worn")  # fact_count and state_version
        await facts.update_fact(ctx, session, note, text="The feed roller is badly worn")
        async with ctx.tx():
            ctx.db.add(Message(account_id=ctx.account.id, session_id=session.id, seq=0, role="user",
                               status="complete", display_content="still jams", created_at=ctx.now()))
        await fill(ctx, session, messages=50, facts=50, first_seq=1)
        await facts.delete_fact(ctx, session, note)
        await pause_session(ctx, session)
        await resume_session(ctx, session)
        counts = (await ctx.db.execute(text("SELECT fact_count, message_count FROM sessions WHERE id = :id"),
                                       {"id": session.id})).one()
        await ctx.db.commit()
        assert tuple(counts) == (50, 51)  # the count triggers did update the row meanwhile
        assert await shadow(ctx) == before

        for change in ("title", "client", "ticket"):
            if change == "title":
                await rename_session(ctx, session, "Scanner feeds two sheets at once")
            else:
                column = SessionRow.client_name if change == "client" else SessionRow.ticket_ref
                async with ctx.tx():
                    await ctx.db.execute(update(SessionRow).where(SessionRow.id == session.id)
                                         .values({column: "Contoso" if change == "client" else "T-4242"}))
            after = await shadow(ctx)
            assert after != before, change
            before = after
        assert await found(ctx, "Scanner jams") == [] and await found(ctx, "two sheets") == [rowid]
        assert await found(ctx, "northwind") == [] and await found(ctx, "contoso") == [rowid]
        assert await found(ctx, "T-4242") == [rowid]


async def test_split_open_is_one_pass_and_keeps_order() -> None:
    from rfpilot.core.session.sessions import split_open

    items = [("a", "active"), ("b", "resolved"), ("c", "paused"), ("d", "abandoned"), ("e", "escalated")]
    assert split_open(items, lambda i: i[1]) == ([items[0], items[2], items[4]], [items[1], items[3]])


# --- the TUI --------------------------------------------------------------------------------------


async def settle(pilot) -> None:
    for _ in range(3):
        await asyncio.wait_for(pilot.app.workers.wait_for_complete(), 30)
        await pilot.pause()


def listed(listing) -> list[str]:
    return [o.id for o in listing.options if o.id and not o.disabled]


def headings(listing) -> list[str]:
    return [str(o.prompt) for o in listing.options if o.disabled]


@pytest.fixture
async def big_store(settings):
    from rfpilot.core.context import Workspace

    ws = await Workspace.open(settings)
    try:
        rows = await seed(ws)
    finally:
        await ws.close()
    return rows


async def test_every_open_session_is_listed_and_older_ones_page_in(settings, big_store) -> None:
    from rfpilot.grammar import count
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.widgets.session_list import SessionList

    app = RfpilotApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        listing = app.screen.query_one(SessionList)
        first = listed(listing)
        assert len(first) == SessionList.PAGE and listing.cursor is not None
        assert first == expected_order(big_store)[: SessionList.PAGE]
        assert headings(listing) == [f"Active · {SessionList.PAGE}+ sessions"]  # more open ones wait in the store
        # Paging down through the list loads the next chunks, open sessions first.
        listing.focus()
        for _ in range(8):
            await pilot.press("pagedown")
        await settle(pilot)
        assert len(listed(listing)) > SessionList.PAGE
        # To the end: every session, all 600 open ones above every closed one, each heading once.
        for _ in range(40):
            if listing.cursor is None:
                break
            await pilot.press("end")
            await settle(pilot)
        assert listing.cursor is None
        assert listed(listing) == expected_order(big_store)
        open_ids = {r["id"] for r in big_store if r["status"] in OPEN}
        assert len(open_ids) == ACTIVE and set(listed(listing)[:ACTIVE]) == open_ids
        assert headings(listing) == [f"Active · {count(ACTIVE, 'session')}",
                                     f"Recent · {count(len(big_store) - ACTIVE, 'session')}"]
        # A refresh (after a change to the sessions) keeps what was loaded and the highlight.
        deep = listing.highlighted_option.id
        await app.screen.refresh_sessions()
        assert listed(listing) == expected_order(big_store) and listing.highlighted_option.id == deep


async def test_filter_finds_sessions_beyond_the_first_chunk(settings, big_store) -> None:
    from textual.widgets import Input

    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.widgets.session_list import SessionList

    oldest_open = next(r for r in reversed(big_store) if r["status"] in OPEN)
    app = RfpilotApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        listing = app.screen.query_one(SessionList)
        assert oldest_open["id"] not in listed(listing)
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#session-filter", Input)
        for key in oldest_open["title"].upper():
            await pilot.press("space" if key == " " else key)
        await settle(pilot)
        assert listed(listing) == [oldest_open["id"]]
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert app.screen.session_id == oldest_open["id"]
        # A filter with more matches than a chunk pages too.
        app.screen.query_one("#session-filter", Input).value = "session 1"
        await settle(pilot)
        assert listing.cursor is not None and len(listed(listing)) == SessionList.PAGE
        wanted = [i for i in expected_order(big_store)
                  if next(r for r in big_store if r["id"] == i)["title"].startswith("Session 1")]
        listing.focus()
        for _ in range(20):
            if listing.cursor is None:
                break
            await pilot.press("end")
            await settle(pilot)
        assert listed(listing) == wanted
        app.screen.query_one("#session-filter", Input).value = "no such session"
        await settle(pilot)
        assert listed(listing) == [] and "No session matches" in str(listing.options[0].prompt)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_slow_earlier_query_never_overwrites_a_newer_one(settings, big_store, monkeypatch) -> None:
    """Typing while a filter query is slow: the keys coalesce into one more query, and the slow answer (for text
    that has changed since) is never shown; a slow reload is dropped the same way."""
    from textual.widgets import Input

    from rfpilot.tui import data
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.widgets.session_list import SessionList

    app = RfpilotApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        listing = app.screen.query_one(SessionList)
        real = data.session_rows
        gate = asyncio.Event()
        queries: list[str | None] = []
        shown: list[list[str]] = []

        async def slow_first(ctx, *, match=None, after=None, limit=100):
            queries.append(match)
            if len(queries) == 1:
                await gate.wait()
            return await real(ctx, match=match, after=after, limit=limit)

        monkeypatch.setattr(data, "session_rows", slow_first)
        original_set = listing.set_sessions

        def record(rows, *args, **kwargs):
            shown.append([r.title for r in rows])
            return original_set(rows, *args, **kwargs)

        monkeypatch.setattr(listing, "set_sessions", record)
        await pilot.press("slash")
        await pilot.press("s")
        for _ in range(100):  # the first query is under way (and stuck)
            if queries:
                break
            await asyncio.sleep(0.01)
        for key in "ession 1199":
            await pilot.press("space" if key == " " else key)
        gate.set()
        await settle(pilot)
        assert queries == ["s", "session 1199"]  # eleven keys, one more query
        assert shown == [["Session 1199"]]  # the answer for "s" was dropped

        # A reload that is slow (after a change to the sessions) loses to a filter typed meanwhile.
        queries.clear()
        shown.clear()
        gate.clear()
        reload = asyncio.ensure_future(listing.reload())
        for _ in range(100):
            if queries:
                break
            await asyncio.sleep(0.01)
        app.screen.query_one("#session-filter", Input).value = "session 1198"
        await settle(pilot)
        assert shown == [["Session 1198"]]
        gate.set()
        await reload
        await settle(pilot)
        assert shown == [["Session 1198"]]
        assert listed(listing) == [next(r["id"] for r in big_store if r["title"] == "Session 1198")]


# --- the CLI ------------------------------------------------------------------------------------


def test_sessions_list_uses_the_same_query(cli, settings) -> None:
    """`sessions list`: open sessions first whatever their age, and --match searches the whole store."""
    import json

    from rfpilot.core.context import Workspace

    async def go():
        ws = await Workspace.open(settings)
        try:
            return await seed(ws)
        finally:
            await ws.close()

    rows = asyncio.run(go())
    code, out, err = cli("sessions", "list", "--limit", "700", "--json")
    assert code == 0, err
    assert [v["id"] for v in json.loads(out)] == expected_order(rows)[:700]
    code, out, err = cli("sessions", "list", "--limit", "700")
    active, recent = out.split("\n\nRecent\n")
    assert active.startswith("Active\n") and len(active.splitlines()) == 2 + ACTIVE and len(recent.splitlines()) == 101
    code, out, err = cli("sessions", "list", "--match", "SESSION 1199", "--json")
    assert [v["title"] for v in json.loads(out)] == ["Session 1199"]
    code, out, err = cli("sessions", "list", "--match", "no such thing")
    assert code == 0 and out == "" and "no session matches" in err
