"""The hot queries keep using their indexes (issue 15), on both stores.

Each test runs the product's own function, records the SQL it sends (a cursor event, so nothing here is
hand-written SQL that could drift from the product's), and asks the store how it would run that SQL: SQLite's
`EXPLAIN QUERY PLAN`, Postgres's `EXPLAIN`. A query that stops using its index, or sorts what its index should
return in order, fails here. SQLite plans without statistics, as in a user's store (rfpilot never runs ANALYZE
there). On Postgres the store is analysed and sequential scans, bitmap scans and sorts are priced out, so a plan
shows whether an index can return the rows in order; the filter's test leaves bitmap scans on.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

SESSIONS = 600


@asynccontextmanager
async def recorded(ctx):
    """The SELECT statements (sql, parameters) the block sends through ``ctx``'s connection."""
    engine = ctx.db.bind.sync_engine if hasattr(ctx.db.bind, "sync_engine") else ctx.db.bind
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "(SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


TABLES = ("sessions", "facts", "suggested_fixes", "task_lane_items")


async def plan(ctx, statement: str, parameters, *, off: tuple[str, ...] = ("seqscan", "bitmapscan", "sort")) -> dict:
    """How the store runs ``statement``, as a tree: {"detail": str, "children": [...]}. SQLite's detail is its
    `EXPLAIN QUERY PLAN` line; Postgres's is the node type with its relation and index."""
    conn = await ctx.db.connection()
    if ctx.db.bind.dialect.name == "sqlite":
        rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters))).all()
        nodes = {0: {"detail": "QUERY", "children": []}}
        for node, parent, _, detail in rows:
            nodes[node] = {"detail": detail, "children": []}
            nodes[parent]["children"].append(nodes[node])
        return nodes[0]
    for kind in ("seqscan", "bitmapscan", "sort", "indexscan"):  # off: used only where nothing else can do
        await conn.exec_driver_sql(f"SET LOCAL enable_{kind} = {'off' if kind in off else 'on'}")
    doc = (await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, tuple(parameters))).scalar_one()
    if isinstance(doc, str):
        import json

        doc = json.loads(doc)

    def tree(node: dict) -> dict:
        detail = " ".join(str(node[k]) for k in ("Node Type", "Scan Direction", "Relation Name", "Index Name")
                          if node.get(k))
        return {"detail": detail, "children": [tree(child) for child in node.get("Plans", [])]}

    return tree(doc[0]["Plan"])


def show(node: dict, depth: int = 0) -> str:
    return "\n".join(["  " * depth + node["detail"]] + [show(c, depth + 1) for c in node["children"]])


def walk(node: dict):
    yield node
    for child in node["children"]:
        yield from walk(child)


def assert_served(root: dict, dialect: str, index: str) -> None:
    """Every read of a table goes through ``index``, and whatever is sorted is a few rows already limited
    (the merge of a union's branches), never a table's rows: nothing reads more than the page needs."""
    text = show(root)
    reads = [n["detail"] for n in walk(root)
             if any(re.search(rf"\b{t}\b", n["detail"]) for t in TABLES) and not n["detail"].startswith("CO-ROUTINE")]
    assert reads, text
    if dialect == "sqlite":
        assert all(re.match(rf"SEARCH \w+ USING (COVERING )?INDEX {index} \(", r) for r in reads), text
        for node in walk(root):  # SQLite sorts in a temp B-tree next to what it reads
            kids = [c["detail"] for c in node["children"]]
            if any("TEMP B-TREE" in k for k in kids):
                assert not any(k.startswith(("SEARCH", "SCAN")) and re.search(rf"\b({'|'.join(TABLES)})\b", k)
                               for k in kids), text
    else:
        assert all(re.match(rf"Index (Only )?Scan \w+ \w+ {index}$", r) for r in reads), text
        assert not any(n["detail"].startswith(("Sort", "Incremental Sort")) for n in walk(root)), text


async def seed(ws, sessions: int = SESSIONS) -> None:
    """``sessions`` sessions of every status and two owners, in one bulk insert, and statistics."""
    from sqlalchemy import insert, text

    from rfpilot.db.models import TRIGRAM_INDEXES, Engineer, SessionRow
    from rfpilot.db.types import new_id

    statuses = ("active", "paused", "escalated", "resolved", "abandoned")
    async with ws.ctx() as ctx:
        now = ctx.now()
        other = dict(id=new_id(), account_id=ctx.account.id, email="other@example.com", display_name="Other",
                     psa_member_ids={}, created_at=now)
        rows = []
        for i in range(sessions):
            when = now - timedelta(minutes=i + 1)
            rows.append(dict(id=new_id(), account_id=ctx.account.id,
                             owner_id=ctx.engineer.id if i % 2 else other["id"], title=f"Printer {i} offline",
                             status=statuses[i % 5], intake_type="empty", status_changed_at=when,
                             created_at=when, updated_at=when, client_name="Northwind", ticket_ref=f"T{i:05d}"))
        async with ctx.tx():
            await ctx.db.execute(insert(Engineer), [other])
            await ctx.db.execute(insert(SessionRow), rows)
        if ctx.db.bind.dialect.name == "postgresql":  # SQLite stores are never analysed: plan as they do
            async with ctx.tx():
                await ctx.db.execute(text("ANALYZE"))
                for name in TRIGRAM_INDEXES:  # what autovacuum does to a bulk insert's pending GIN entries
                    await ctx.db.execute(text(f"SELECT gin_clean_pending_list('{name}')"))


@pytest.fixture
async def big(ws):
    await seed(ws)
    return ws


@pytest.fixture
async def bigger(ws):
    """Enough sessions that Postgres prices a walk of 1,000 sessions a status above the trigram indexes."""
    await seed(ws, 5_000 if ws.store.dialect == "postgresql" else SESSIONS)
    return ws


@pytest.mark.parametrize("mine", [False, True], ids=["all", "mine"])
async def test_session_list_reads_each_status_from_its_index(big, mine: bool) -> None:
    from rfpilot.core.session.sessions import session_page

    index = "ix_sessions_account_owner_status_updated" if mine else "ix_sessions_account_status_updated"
    async with big.ctx() as ctx:
        dialect = ctx.db.bind.dialect.name
        async with recorded(ctx) as seen:
            first = await session_page(ctx, mine=mine, limit=50)
        assert len(seen) == 1 and first.cursor and first.cursor.open  # the open part alone fills the page
        async with recorded(ctx) as seen:
            page = await session_page(ctx, mine=mine, limit=SESSIONS)  # the open part, then the closed part
        assert len(seen) == 2 and page.cursor is None
        async with recorded(ctx) as seen:
            await session_page(ctx, mine=mine, after=first.cursor, limit=50)  # a later page: the cursor's range
        async with recorded(ctx) as later:
            await session_page(ctx, mine=mine, statuses=("resolved",), limit=50)  # one status: no merge
        for statement, parameters in seen:
            assert_served(await plan(ctx, statement, parameters), dialect, index)
        (statement, parameters), = later
        assert_served(await plan(ctx, statement, parameters), dialect, index)


async def test_the_list_filter_walks_the_list_index_or_the_trigram_indexes(bigger, monkeypatch) -> None:
    """Postgres: a common text walks each status's index newest first until the page is full; a rare one is
    found through the trigram indexes (then its few matches sorted), whatever the planner's statistics.
    SQLite (core.session.sessions.sqlite_filter_plan): the filter index (0010's FTS5 trigram table) counts a text's
    matches; a few are read by rowid and sorted, many are checked against each status's index walked newest
    first. A text shorter than a trigram walks the part's
    newest sessions (a window found from the list's index alone), and reads the table once only when the window
    held fewer matches than the page."""
    from rfpilot.core.session import sessions
    from rfpilot.core.session.sessions import has_list_filter_index, session_page

    async with bigger.ctx() as ctx:
        dialect = ctx.db.bind.dialect.name
        assert await has_list_filter_index(ctx) is (dialect == "sqlite")  # read once, before the recording
        if dialect == "sqlite":  # the seed's 600 sessions stand for a big store
            monkeypatch.setattr(sessions, "FEW_MATCHES", 100)
            monkeypatch.setattr(sessions, "WINDOW", 100)
        async with recorded(ctx) as common:
            await session_page(ctx, match="northwind", limit=50)
        async with recorded(ctx) as rare:
            page = await session_page(ctx, match="t00417", limit=50)
        assert [s.ticket_ref for s in page.sessions] == ["T00417"]
        if dialect != "sqlite":
            # Counted first (core.session.sessions.postgres_filter_plan): a common text then walks the list's index; a
            # rare one (count, open part, closed part) is read through the trigram indexes alone.
            assert len(common) == 2 and len(rare) == 3
            assert_served(await plan(ctx, *common[1]), dialect, "ix_sessions_account_status_updated")
            for statement, parameters in rare:
                root = await plan(ctx, statement, parameters, off=("seqscan",))
                details = [node["detail"] for node in walk(root)]
                assert "Bitmap Index Scan ix_sessions_title_trgm" in details, show(root)
                assert not any(d.startswith("Seq Scan") or "account_status" in d for d in details), show(root)
            return
        async with recorded(ctx) as mine:
            await session_page(ctx, match="t00417", mine=True, limit=50)
        async with recorded(ctx) as short:
            assert len((await session_page(ctx, match="t0", limit=50)).sessions) == 50
        async with recorded(ctx) as short_rare:
            assert (await session_page(ctx, match="zq", limit=50)).sessions == []
        index_read = ["SCAN session_list_filter VIRTUAL TABLE INDEX 0:M3"]

        async def details(statement, parameters) -> tuple[dict, list[str]]:
            root = await plan(ctx, statement, parameters)
            return root, [n["detail"] for n in walk(root)]

        # The count: the index alone, at most FEW_MATCHES + 1 of its rows.
        for statement, parameters in (common[0], rare[0], mine[0]):
            root, found = await details(statement, parameters)
            assert found == ["QUERY", "CO-ROUTINE anon_1", *index_read, "SCAN anon_1"], show(root)
        # Many matches: the open part fills the page from each status's index, rowids checked against the index.
        assert len(common) == 2
        root, found = await details(*common[1])
        assert_served(root, dialect, "ix_sessions_account_status_updated")
        lists = [n for n in walk(root) if n["detail"].startswith("LIST SUBQUERY")]
        assert len(lists) == 3 and all([c["detail"] for c in n["children"]] == index_read for n in lists), show(root)
        # Few: read by rowid (open part, closed part), whoever owns them.
        assert len(rare) == 3 and len(mine) == 3
        for statement, parameters in rare[1:] + mine[1:]:
            root, found = await details(statement, parameters)
            assert found == ["QUERY", "SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)", "LIST SUBQUERY 1",
                             *index_read, "USE TEMP B-TREE FOR ORDER BY"], show(root)
        # Shorter than a trigram: the window's start from the index alone, then the window walked in index order;
        # a rare text, whose window held less than a page, then reads the part in one pass.
        assert len(short) == 2 and len(short_rare) == 6  # (start, window) for the open part; and the closed part
        for (statement, parameters), covering in zip(short + short_rare[:2] + short_rare[3:5], [True, False] * 3):
            root, found = await details(statement, parameters)
            assert_served(root, dialect, "ix_sessions_account_status_updated")
            reads = [d for d in found if d.startswith("SEARCH sessions")]
            assert all(("COVERING INDEX" in d) is covering and ("(updated_at,id)>" in d) is not covering
                       for d in reads), show(root)
        for statement, parameters in (short_rare[2], short_rare[5]):
            root, found = await details(statement, parameters)
            assert found == ["QUERY", "SCAN sessions", "USE TEMP B-TREE FOR ORDER BY"], show(root)


async def test_id_prefix_lookup_is_a_range_on_the_primary_key(big) -> None:
    from sqlalchemy import select

    from rfpilot.core.session.sessions import get_session
    from rfpilot.db.models import SessionRow

    async with big.ctx() as ctx:
        dialect = ctx.db.bind.dialect.name
        ids = list((await ctx.db.execute(select(SessionRow.id).where(SessionRow.account_id == ctx.account.id)))
                   .scalars())
        some = ids[0]
        # The shortest prefix (from 4 characters) that names it alone: among thousands of random ids a 4-character
        # one is shared now and then, and the lookup rightly refuses it.
        short = next(some[:n] for n in range(4, len(some)) if sum(i.startswith(some[:n]) for i in ids) == 1)
        for ref in (some[:8], short.upper(), some):
            async with recorded(ctx) as seen:
                assert (await get_session(ctx, ref)).id == some
            (statement, parameters), = seen
            root = await plan(ctx, statement, parameters)
            reads = [node["detail"] for node in walk(root) if "sessions" in node["detail"]]
            if dialect == "sqlite":  # the range (or the equality) on the key, not a walk of the account
                key = r"\(id=\?\)" if ref == some else r"\(id>\? AND id<\?\)"
                assert reads and all(re.fullmatch(rf"SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 {key}", r)
                                     for r in reads), show(root)
            else:
                assert reads == ["Index Scan Forward sessions pk_sessions"], show(root)


async def test_facts_lane_and_fixes_come_in_index_order(big) -> None:
    from rfpilot.core.session import facts, fixes, lane
    from rfpilot.core.session.sessions import create_session

    async with big.ctx() as ctx:
        dialect = ctx.db.bind.dialect.name
        session = await create_session(ctx, "Printer offline")
        await facts.add_note(ctx, session, "the spooler is running")
        first = await lane.add_question(ctx, session, "Which printer?")
        for call, index in (
            (lambda: facts.list_facts(ctx, session), "ix_facts_session_created"),
            (lambda: facts.list_facts(ctx, session, limit=50), "ix_facts_session_created"),
            (lambda: lane.list_items(ctx, session), "ix_task_lane_items_session_order"),
            (lambda: lane.list_items(ctx, session, kind="question", limit=50), "ix_task_lane_items_session_order"),
            (lambda: lane.list_items(ctx, session, kind="question", limit=50, after=first),
             "ix_task_lane_items_session_order"),
            (lambda: fixes.list_fixes(ctx, session), "ix_suggested_fixes_session_created"),
            (lambda: fixes.active_fix(ctx, session), "ix_suggested_fixes_session_created"),
        ):
            async with recorded(ctx) as seen:
                await call()
            (statement, parameters), = seen
            assert_served(await plan(ctx, statement, parameters), dialect, index)


async def test_an_id_prefix_range_matches_exactly_the_ids_that_start_with_it(ctx) -> None:
    """The range (`id >= p AND id < p_next`) finds what `startswith` finds, at the edges too: prefixes ending in
    f, all f, ending at a hyphen, hyphens where no id has one."""
    from sqlalchemy import insert, select

    from rfpilot.core.lookup import id_prefix
    from rfpilot.db.models import SessionRow

    ids = ["3f2fffff-ffff-4fff-8fff-ffffffffffff", "3f300000-0000-4000-8000-000000000000",
           "3f2f0000-0000-4000-8000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff",
           "3f2ab1c9-12ab-4def-8abc-0123456789ab", "3f2ab1ca-0000-4000-8000-000000000000",
           "3f2ab1c9-1fff-4000-8000-000000000000", "3f2ab1c9-2000-4000-8000-000000000000"]
    now = ctx.now()
    async with ctx.tx():
        await ctx.db.execute(insert(SessionRow), [
            dict(id=i, account_id=ctx.account.id, owner_id=ctx.engineer.id, status="active", intake_type="empty",
                 status_changed_at=now, created_at=now, updated_at=now) for i in ids])
    prefixes = ["3f2f", "3f2fffff", "3f2fffff-", "3f2fffff-ffff-4fff-8fff-fffffffffff", "3f3", "ffff", "ffffffff-ffff",
                "3f2ab1c9", "3f2ab1c9-", "3f2ab1c9-1", "3f2ab1c9-1f", "3f2ab1c9-12ab-4def-8abc-0123456789ab",
                "3f2a-1", "3f2ab1c91", "3f2ab1c9--", "3f2g"]
    for prefix in prefixes:
        stmt = select(SessionRow.id).where(SessionRow.account_id == ctx.account.id, id_prefix(SessionRow.id, prefix))
        found = set((await ctx.db.execute(stmt)).scalars())
        assert found == {i for i in ids if i.startswith(prefix)}, prefix


async def test_a_long_sessions_counts_and_promoted_checks_read_no_walk_of_it(big) -> None:
    """The counts a view or a note shows come from the session row by its key (migration 0009 keeps them there),
    and the checks whose findings became facts are found from the session's checks through ix_facts_source_ref:
    neither reads the session's facts or messages, however many it has."""
    from rfpilot.core.engine import chat
    from rfpilot.core.session import facts, lane
    from rfpilot.core.drafting import notes
    from rfpilot.core.session.sessions import create_session
    from tests.fakes.bulk import fill

    async with big.ctx() as ctx:
        dialect = ctx.db.bind.dialect.name
        session = await create_session(ctx, "Printer offline")
        await fill(ctx, session, messages=400, facts=400)
        check = await lane.add_item(ctx, session, "check", "Spooler state", command="Get-Service Spooler")
        await facts.promote(ctx, session, source_type="diagnostic_check", source_ref=check.id, text="Stopped")
        if dialect == "postgresql":
            async with ctx.tx():
                await ctx.db.execute(__import__("sqlalchemy").text("ANALYZE"))
        async with recorded(ctx) as counts:
            assert await facts.count_facts(ctx, session) == 401
            assert await chat.count_messages(ctx, session) == 400
        assert len(counts) == 2
        for statement, parameters in counts:
            root = await plan(ctx, statement, parameters)
            reads = [n["detail"] for n in walk(root) if re.search(r"\b(sessions|facts|messages)\b", n["detail"])]
            if dialect == "sqlite":
                assert reads == ["SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)"], show(root)
            else:
                assert reads == ["Index Scan Forward sessions pk_sessions"], show(root)
        async with recorded(ctx) as promoted:
            assert await notes._promoted_checks(ctx, session) == [check.id]
        (statement, parameters), = promoted
        root = await plan(ctx, statement, parameters)
        facts_reads = [n["detail"] for n in walk(root) if re.search(r"\bfacts\b", n["detail"])]
        if dialect == "sqlite":
            assert facts_reads and all(r.startswith("SEARCH facts USING INDEX ix_facts_source_ref (source_ref=?)")
                                       for r in facts_reads), show(root)
        else:
            assert facts_reads and all(re.match(r"(Index|Bitmap Index) Scan.* ix_facts_source_ref$", r)
                                       for r in facts_reads), show(root)


async def test_search_and_seen_before_read_the_memory_index(big) -> None:
    """`rfpilot search` and "seen before" find their items through the search index (FTS5 on SQLite, the GIN
    index of the tsvector on Postgres) and each item's session by its primary key: no walk of the sessions."""
    from rfpilot.core.memory.search import search
    from rfpilot.core.memory.similar import find_similar

    async with big.ctx() as ctx:
        dialect = ctx.db.bind.dialect.name
        if dialect == "postgresql":
            async with ctx.tx():
                from sqlalchemy import text

                await ctx.db.execute(text("ANALYZE memory_index"))
        async with recorded(ctx) as seen:
            assert await search(ctx, "printer 417 offline", statuses=("resolved", "escalated"))
            await find_similar(ctx, title="Printer 417 offline again")
        reads = [(s, p) for s, p in seen if "memory_index" in s and ("MATCH" in s or "@@" in s)]
        assert len(reads) >= 3  # the search's hits and snippets, the candidates of "seen before"
        ranked = 0
        for statement, parameters in reads:
            root = await plan(ctx, statement, parameters, off=("seqscan",))
            details = [n["detail"] for n in walk(root)]
            if dialect == "sqlite":
                assert any(re.match(r"SCAN (m|memory_index) VIRTUAL TABLE INDEX \d+:=?M", d) for d in details), show(root)
                assert not any(re.match(r"SCAN (s|sessions)\b", d) for d in details), show(root)
                ranked += 1
            else:  # the newest matches of the window may come along (account_id, seq); the ranking from the GIN index
                assert not any(d.startswith("Seq Scan") for d in details), show(root)
                reads_index = [d for d in details if "memory_index" in d and "Scan" in d]
                assert all(re.search(r"ix_memory_index_(tsv|account_seq)|pk_memory_index", d) or d.startswith(
                    "Bitmap Heap Scan") for d in reads_index), show(root)
                ranked += "ts_rank" in statement and "Bitmap Index Scan ix_memory_index_tsv" in details
        assert ranked >= 2
