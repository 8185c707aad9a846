"""The search index (migration 0011, rfpilot.db.memory_index) and `rfpilot search`, on both stores: the index follows
every write through the services (in the write's transaction), `db reindex` rebuilds exactly what the triggers
keep, ranking and filters, hostile queries, sanitised snippets."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text, update

from rfpilot.core.closeout import closing
from rfpilot.core.memory import index
from rfpilot.core.memory.search import marked_spans, search
from rfpilot.core.session import branches, facts, fixes
from rfpilot.core.session.sessions import create_session
from rfpilot.core.team import outputs
from rfpilot.db import memory_index
from rfpilot.db.models import SessionRow
from rfpilot.errors import UsageError

NOTE = ("## Problem\nThe copier could not save scans.\n\n## What we confirmed\n- A stale SMB password.\n\n"
        "## Root cause\nThe scan account's password was rotated.\n\n## Resolution\nUpdated the copier's address book.")


async def indexed(ctx) -> list[tuple[str, str]]:
    """(kind, body) of the account's index rows, sorted."""
    rows = await ctx.db.execute(text("SELECT kind, body FROM memory_index WHERE account_id = :a"),
                                {"a": ctx.account.id})
    return sorted((k, b) for k, b in rows.all())


async def test_the_index_follows_every_write(ctx) -> None:
    session = await create_session(ctx, "Copier scan to folder fails after the password rotation", client="Acme")
    assert await indexed(ctx) == [("session", session.title + "\n" + session.intake_text)]
    async with ctx.tx():
        fact = await facts.add_note(ctx, session, "The copier logs NT_STATUS_LOGON_FAILURE")
    assert ("fact", "The copier logs NT_STATUS_LOGON_FAILURE") in await indexed(ctx)
    async with ctx.tx():
        await facts.update_fact(ctx, session, fact, text="The copier logs LOGON_FAILURE for scanuser")
    kinds = await indexed(ctx)
    assert ("fact", "The copier logs LOGON_FAILURE for scanuser") in kinds
    assert not any("NT_STATUS" in body for _, body in kinds)
    async with ctx.tx():
        await facts.delete_fact(ctx, session, fact)  # a soft delete
    assert [k for k, _ in await indexed(ctx)] == ["session"]
    async with ctx.tx():
        await fixes.suggest_fix(ctx, session, "Update the SMB password in the address book",
                                description="Edit the entry", confidence=80)
    assert ("fix", "Update the SMB password in the address book\nEdit the entry") in await indexed(ctx)
    _, (first, second) = await branches.fork(ctx, session, "Two causes fit",
                                             [("Firewall blocks SMB", "Port 445"), ("Stale password", "Rotated")])
    assert "dead_end" not in [k for k, _ in await indexed(ctx)]
    await branches.mark(ctx, session, first, "dead_end", "Port 445 is open from the copier VLAN")
    [(_, dead)] = [(k, b) for k, b in await indexed(ctx) if k == "dead_end"]
    assert dead.startswith("Firewall blocks SMB") and "Port 445 is open from the copier VLAN" in dead
    await branches.switch(ctx, session, second)
    await closing.resolve_session(ctx, session, NOTE)
    [(_, resolution)] = [(k, b) for k, b in await indexed(ctx) if k == "resolution"]
    assert "Updated the copier's address book" in resolution
    made = await outputs.generate_all(ctx, session, None, offline=True)
    assert "output" not in [k for k, _ in await indexed(ctx)]  # drafts are not memory
    kb = next(o for o in made if o.output_type == "knowledge_base")
    await outputs.approve(ctx, kb)
    assert [k for k, _ in await indexed(ctx)].count("output") == 1
    before = await indexed(ctx)
    async with ctx.tx():
        counts = await index.reindex(ctx)
    assert await indexed(ctx) == before  # the rebuild equals what the triggers kept
    assert counts["session"] >= 1 and counts["output"] >= 1 and counts["dead_end"] >= 1
    async with ctx.tx():
        await ctx.db.execute(SessionRow.__table__.delete().where(SessionRow.id == session.id))
    assert await indexed(ctx) == []  # a deleted session leaves nothing behind (its items cascade)


async def test_writes_the_index_does_not_hold_fire_nothing(ctx) -> None:
    session = await create_session(ctx, "Mapped drive letters vanish after sleep")
    rowid = """SELECT {r} FROM memory_index WHERE account_id = :a AND kind = 'session'"""
    column = "rowid" if ctx.db.get_bind().dialect.name == "sqlite" else "xmin::text"
    before = (await ctx.db.execute(text(rowid.format(r=column)), {"a": ctx.account.id})).scalar()
    async with ctx.tx():
        await ctx.db.execute(update(SessionRow).where(SessionRow.id == session.id)
                             .values(state_version=SessionRow.state_version + 1, updated_at=ctx.now()))
        await facts.add_note(ctx, session, "It happens on every laptop")  # moves fact_count (0009) too
    after = (await ctx.db.execute(text(rowid.format(r=column)), {"a": ctx.account.id})).scalar()
    assert before == after  # the session's row in the index was not rewritten


async def resolved(ctx, intake: str, *, client: str | None = None, fact: str | None = None):
    session = await create_session(ctx, intake, client=client)
    if fact:
        async with ctx.tx():
            await facts.add_note(ctx, session, fact)
    async with ctx.tx():
        fix = await fixes.suggest_fix(ctx, session, "Clear the cached credential", description="Credential Manager",
                                    confidence=80)
        await fixes.apply_fix(ctx, session, fix)
        await fixes.record_outcome(ctx, session, fix, "applied_success")
    await closing.resolve_session(ctx, session, NOTE)
    await ctx.db.refresh(session)
    return session


async def test_ranking_filters_and_outcome(ctx) -> None:
    best = await resolved(ctx, "Outlook prompts for a password after every restart", client="Acme",
                          fact="Outlook password prompt returns after the restart")
    weaker = await resolved(ctx, "Printer offline on the second floor", client="Beta",
                            fact="Outlook still opens, the printer password page was reset")
    live = await create_session(ctx, "Outlook password prompt on the new laptop", client="Acme")
    found = await search(ctx, "outlook password")
    assert [r["session_id"] for r in found][:1] in ([best.id], [live.id])
    assert {r["session_id"] for r in found} == {best.id, weaker.id, live.id}
    assert [r["session_id"] for r in found].index(best.id) < [r["session_id"] for r in found].index(weaker.id)
    top = next(r for r in found if r["session_id"] == best.id)
    assert top["outcome"] == "fixed by: Clear the cached credential" and top["client"] == "Acme"
    assert [r["session_id"] for r in await search(ctx, "outlook password", statuses=("resolved",))][:1] == [best.id]
    assert {r["session_id"] for r in await search(ctx, "password", client="acme")} == {best.id, live.id}
    assert {r["session_id"] for r in await search(ctx, "password", statuses=("active",))} == {live.id}
    assert len(await search(ctx, "password", limit=1)) == 1
    assert await search(ctx, "password", since="1d") and await search(ctx, "nothingmatchesthis") == []
    async with ctx.tx():
        await ctx.db.execute(update(SessionRow).where(SessionRow.id == weaker.id)
                             .values(updated_at=ctx.now().replace(year=2020)))
    assert weaker.id not in {r["session_id"] for r in await search(ctx, "password", since="30d")}
    assert {r["session_id"] for r in await search(ctx, "password", mine=True)} == {best.id, weaker.id, live.id}
    with pytest.raises(UsageError):
        await search(ctx, "password", statuses=("bogus",))
    with pytest.raises(UsageError):
        await search(ctx, "password", since="last tuesday")


HOSTILE = ['"', '"unbalanced', "NEAR(a b", "a AND OR NOT b", "((((", ")", "*", "col:value", "^start", "a - b",
           "title:copier", "'; DROP TABLE sessions; --", "\x00\x1b]52;c;aGk=\x07", "\\", "{a b}", "a + b", "NEAR",
           "x" * 1_000_000, "copier " * 100_000, "é ü 日本 🙂", "!!&&||<->:*"]


async def test_hostile_queries_never_reach_the_index_as_syntax(ctx) -> None:
    await resolved(ctx, "Copier near the door cannot scan", fact="NEAR the AND OR NOT words are plain text here")
    for query in HOSTILE:
        try:
            results = await search(ctx, query)
        except UsageError as exc:  # only "the query has no words"
            assert "no words" in str(exc)
            continue
        assert isinstance(results, list)
    assert await search(ctx, 'NEAR( "copier')  # the words still match


async def test_snippets_are_sanitised_and_marked(ctx) -> None:
    await resolved(ctx, "Copier \x1b]52;c;aGk=\x07 scan fails with \x9b31m colour", fact="copier \x1b[2J cleared")
    [result] = await search(ctx, "copier")
    for snippet in result["snippets"]:
        assert "\x1b" not in snippet["text"] and "\x9b" not in snippet["text"] and "\x07" not in snippet["text"]
        assert snippet["marks"] and all(snippet["text"][a:b].lower() == "copier" for a, b in snippet["marks"])


async def test_a_notes_markdown_marks_do_not_reach_its_snippet(ctx) -> None:
    """"resolution: The copier … ## Root cause The scan account's …" read as noise: the heading and bold marks go,
    the words and the hits' spans stay (a C# or a #123 in the text is not a mark)."""
    await resolved(ctx, "Copier scans fail since the password rotation")
    [result] = await search(ctx, "rotated address")
    texts = [snippet["text"] for snippet in result["snippets"]]
    assert any("Root cause" in text or "Resolution" in text for text in texts)
    for snippet in result["snippets"]:
        assert "#" not in snippet["text"] and "**" not in snippet["text"]
        assert snippet["marks"] and all(snippet["text"][a:b].lower() in ("rotated", "address")
                                        for a, b in snippet["marks"])
    view = marked_spans(f"## Fix **C#** ticket #123 {index.HIT_START}rotated{index.HIT_END} ### Done")
    assert view["text"] == "Fix C# ticket #123 rotated Done"
    assert [view["text"][a:b] for a, b in view["marks"]] == ["rotated"]


async def test_an_sqlite_store_without_the_index_says_so(tmp_path) -> None:
    """An SQLite built without FTS5 has no index (migration 0011 skips it): search names that on every call,
    not only the first time. (On Postgres the migration always makes it: not looked for there.)"""
    from rfpilot.config import load_settings
    from rfpilot.core.context import open_context
    from rfpilot.errors import StoreError

    env = {"RFPILOT_HOME": str(tmp_path / "home"), "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
           "RFPILOT_ACCOUNT": "no-fts", "RFPILOT_USER_EMAIL": "t@example.com", "RFPILOT_LLM_PROVIDER": "offline"}
    async with open_context(load_settings(env=env)) as ctx:
        for statement in memory_index.drop_statements("sqlite"):
            await ctx.db.execute(text(statement))
        await ctx.db.commit()
        for _ in range(2):
            with pytest.raises(StoreError, match="no search index"):
                await search(ctx, "copier")


def test_marked_spans() -> None:
    view = marked_spans(f"  the {index.HIT_START}copier{index.HIT_END} saw\x1b[1m {index.HIT_START}SMB{index.HIT_END} ")
    assert view["text"] == "the copier saw\ufffd[1m SMB"
    assert [view["text"][a:b] for a, b in view["marks"]] == ["copier", "SMB"]


def test_cli_search(cli) -> None:
    code, out, _ = cli("new", "Scan to folder fails after password rotation", "--client", "Acme \x1b[31m")
    assert code == 0
    code, out, err = cli("search", "scan password", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert row["client"] == "Acme \x1b[31m" and row["snippets"][0]["marks"]
    assert "\x1b" not in out  # the escape is written as \u001b
    code, out, err = cli("search", "rotation")
    assert code == 0 and "Scan to folder" in out and "\x1b" not in out  # not a terminal: no bold, no escape
    code, out, err = cli("search", "nomatchatall")
    assert (code, out) == (0, "") and "no session matches" in err
    code, out, err = cli("search", "nomatchatall", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, err = cli("search", "  ;;  ")
    assert code == 1 and "no words" in err
    code, out, err = cli("search", "x", "--status", "nope")
    assert code == 1 and "unknown status" in err
    code, out, err = cli("db", "reindex", "--json")
    assert code == 0 and json.loads(out)["by_kind"]["session"] >= 1


async def test_a_store_is_indexed_when_it_migrates(db_url: str) -> None:
    """The backfill: a store at 0010 with sessions, facts (one deleted) and a dead end gets them in the index at
    0011."""
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
            await conn.run_sync(lambda c: _run_alembic_upgrade(c, "0010"))
        now = datetime.now(UTC)
        account, engineer, sid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (:a, 'mig', :t)"),
                               {"a": account, "t": now})
            await conn.execute(text(
                "INSERT INTO engineers (id, account_id, email, display_name, psa_member_ids, created_at) "
                "VALUES (:e, :a, 'm@example.com', 'M', '{}', :t)"), {"e": engineer, "a": account, "t": now})
            await conn.execute(text(
                "INSERT INTO sessions (id, account_id, owner_id, title, status, intake_type, state_version, "
                "active_seconds, parked_seconds, handoff_count, status_changed_at, created_at, updated_at, "
                "resolution_summary) VALUES (:s, :a, :e, 'Copier scan fails', 'resolved', 'empty', 0, 0, 0, 0, "
                ":t, :t, :t, 'Updated the SMB password')"), {"s": sid, "a": account, "e": engineer, "t": now})
            for i, fact in enumerate(("SMB logon failure", "removed fact")):
                await conn.execute(text(
                    "INSERT INTO facts (id, account_id, session_id, text, source_type, created_by, created_at, "
                    "updated_at, deleted_at) VALUES (:f, :a, :s, :x, 'user_note', :e, :t, :t, :d)"),
                    {"f": str(uuid.uuid4()), "a": account, "s": sid, "x": fact, "e": engineer, "t": now,
                     "d": now if i else None})
            await conn.execute(text(
                "INSERT INTO session_branches (id, account_id, session_id, seq, position, label, description, "
                "status, status_reason, context_summary, created_at, updated_at) VALUES (:b, :a, :s, 1, 1, "
                "'Firewall', '', 'dead_end', 'port open', :c, :t, :t)"),
                {"b": str(uuid.uuid4()), "a": account, "s": sid, "t": now,
                 "c": json.dumps({"tried": ["telnet 445"], "concluded": "not the firewall"})})
        await migrate(engine, backup_dir=None)
        assert await db_engine.current_revision(engine) == db_engine.SCHEMA_HEAD
        async with engine.connect() as conn:
            rows = sorted((await conn.execute(text("SELECT kind, body FROM memory_index"))).all())
        assert rows == [("dead_end", "Firewall\n\nport open\nnot the firewall\ntelnet 445"),
                        ("fact", "SMB logon failure"), ("resolution", "Updated the SMB password"),
                        ("session", "Copier scan fails")]
    finally:
        await engine.dispose()
        if scratch:
            await _admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


BULK = int(__import__("os").environ.get("RFPILOT_TEST_BULK_FACTS", "2000"))


async def test_a_bulk_insert_of_facts_writes_one_small_row_each(ctx) -> None:
    """A bulk insert of BULK facts into one session adds BULK index rows and rewrites nothing else of the
    session's (its own row in the index keeps its identity)."""
    from sqlalchemy import insert

    from rfpilot.db.models import Fact
    from rfpilot.db.types import new_id

    session = await create_session(ctx, "A long session with many facts")
    column = "rowid" if ctx.db.get_bind().dialect.name == "sqlite" else "xmin::text"
    own = f"SELECT {column} FROM memory_index WHERE account_id = :a AND kind = 'session'"
    before = (await ctx.db.execute(text(own), {"a": ctx.account.id})).scalar()
    now = ctx.now()
    async with ctx.tx():
        await ctx.db.execute(insert(Fact), [dict(id=new_id(), account_id=ctx.account.id, session_id=session.id,
                                                 text=f"observation {i} on host pc{i:05d}", source_type="user_note",
                                                 created_by=ctx.engineer.id, created_at=now, updated_at=now)
                                            for i in range(BULK)])
    count = (await ctx.db.execute(text("SELECT count(*) FROM memory_index WHERE account_id = :a AND kind = 'fact'"),
                                  {"a": ctx.account.id})).scalar()
    assert count == BULK
    assert (await ctx.db.execute(text(own), {"a": ctx.account.id})).scalar() == before
    [hit] = await search(ctx, f"pc{BULK - 1:05d}")
    assert hit["session_id"] == session.id


async def test_a_query_matching_more_than_the_rank_window_still_finds_what_the_filters_want(ctx, monkeypatch) -> None:
    """With more matches than RANK_WINDOW, the newest are ranked first; a filter that wants an older one widens the
    window until it is found, and a rarer word is found wherever it is."""
    monkeypatch.setattr(index, "RANK_WINDOW", 2)
    oldest = await resolved(ctx, "Printer offline in the warehouse", client="Zeta")
    newer = [await create_session(ctx, f"Printer offline on floor {i}", client="Acme") for i in range(6)]
    found = await search(ctx, "printer offline", limit=3)
    assert len(found) == 3 and {r["session_id"] for r in found} <= {s.id for s in newer} | {oldest.id}
    assert [r["session_id"] for r in await search(ctx, "printer offline", statuses=("resolved",))] == [oldest.id]
    assert [r["session_id"] for r in await search(ctx, "printer", client="zeta")] == [oldest.id]
    assert [r["session_id"] for r in await search(ctx, "warehouse")] == [oldest.id]
    assert len(await search(ctx, "printer offline", limit=50)) == 7
