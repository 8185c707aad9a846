"""Search and "seen before" rank a bounded number of index items whatever the store's size (issue 17), on both
stores: a count of the items each ranking statement ranks, never a timing. The index's limits are made small here
so a store of a few dozen sessions holds more matches than they allow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text

from rfpilot.core.memory import index, similar
from rfpilot.core.memory.search import search
from rfpilot.core.memory.similar import find_similar
from rfpilot.db.models import Fact, SessionRow

WINDOW, MOST, CAP = 4, 16, 6


@contextmanager
def ranking_statements(ctx) -> Iterator[list[tuple[str, dict]]]:
    """The index's ranking statements (sql, parameters) sent through ``ctx`` in the block."""
    engine = ctx.db.bind.sync_engine
    seen: list[tuple[str, dict]] = []

    def record(_conn, clause, multiparams, params, _options) -> None:
        sql = str(clause)
        if "ORDER BY rank" in sql or "ts_rank(m.tsv, q.q) AS score" in sql:
            given = params or (multiparams[0] if multiparams else {})
            seen.append((sql, dict(given)))

    event.listen(engine, "before_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_execute", record)


async def items_ranked(ctx, sql: str, params: dict) -> int:
    """How many index items that statement ranks: its matches above its window's floor."""
    if ctx.db.bind.dialect.name == "postgresql":
        query = re.search(r"CROSS JOIN \(SELECT (.+?) AS q\) q", sql)
        assert query, sql
        count = (f"SELECT count(*) FROM memory_index m CROSS JOIN (SELECT {query.group(1)} AS q) q "
                 f"WHERE m.tsv @@ q.q AND m.account_id = :account AND m.seq > :floor")
    else:
        count = "SELECT count(*) FROM memory_index WHERE memory_index MATCH :match AND rowid > :floor"
    return int((await ctx.db.execute(text(count), params)).scalar_one())


async def store(ctx) -> SessionRow:
    """40 closed sessions about an offline printer (the oldest one a Kyocera at Zeta's), then 10 open ones."""
    rows = []
    for i in range(50):
        row = SessionRow(account_id=ctx.account.id, owner_id=ctx.engineer.id, status="resolved" if i < 40 else "active",
                         title=("Kyocera printer offline at reception" if i == 0 else f"Printer offline on floor {i}"),
                         client_name="Zeta" if i == 0 else "Acme", resolved_at=ctx.now() if i < 40 else None)
        ctx.db.add(row)
        await ctx.db.flush()
        ctx.db.add(Fact(account_id=ctx.account.id, session_id=row.id, source_type="user_note",
                        created_by=ctx.engineer.id, text="printer shows offline; spooler restarted"))
        rows.append(row)
    await ctx.db.commit()
    return rows[0]


def test_rare_terms_prefers_rare_weighty_words_within_the_budget() -> None:
    counts = {"printer": 1000, "offline": 1000, "kyocera": 3, "reception": 40, "absent": 0, "spooler": 900}
    terms = ["printer", "offline", "kyocera", "reception", "absent", "spooler"]
    assert index.rare_terms(counts, terms, most=8, budget=100) == ["kyocera", "reception"]
    assert index.rare_terms(counts, terms, most=1, budget=100) == ["kyocera"]
    # nothing rare enough: the best word alone (its newest matches get ranked), never a word no item holds
    assert index.rare_terms({"printer": 1000, "absent": 0}, ["printer", "absent"], most=8, budget=100) == ["printer"]
    assert index.rare_terms({"absent": 0}, ["absent"], most=8) == []


async def test_each_query_ranks_a_bounded_number_of_items(ctx, monkeypatch) -> None:
    monkeypatch.setattr(index, "RANK_WINDOW", WINDOW)
    monkeypatch.setattr(index, "RANK_MAX", MOST)
    monkeypatch.setattr(index, "COUNT_CAP", CAP)
    monkeypatch.setattr(index, "RARE_BUDGET", WINDOW)
    kyocera = await store(ctx)
    counts = await index.term_counts(ctx, ["printer", "kyocera", "nowhere"])
    # counted up to the cap, no further (every account's items count: rarity only picks the words)
    assert counts["printer"] == CAP and counts["kyocera"] >= 1 and counts["nowhere"] == 0

    with ranking_statements(ctx) as seen:
        found = await find_similar(ctx, title="Kyocera printer offline", facts=["printer offline again"])
    assert found and found[0].session_id == kyocera.id
    # its OR query: the rare word only (the common ones would fill the window); then the title's AND query
    or_words = " ".join(str(v) for k, v in seen[0][1].items() if k == "match" or re.fullmatch(r"t\d+", k))
    assert "kyocera" in or_words and "printer" not in or_words
    for sql, params in seen:
        assert await items_ranked(ctx, sql, params) <= MOST

    # a filter wanting the oldest match of common words: the window grows to RANK_MAX, no further
    with ranking_statements(ctx) as seen:
        await search(ctx, "printer offline", client="zeta")
    assert seen
    ranked = [await items_ranked(ctx, sql, params) for sql, params in seen]
    assert max(ranked) == MOST and len(ranked) <= 8
    # a rare word reaches back to it
    assert [r["session_id"] for r in await search(ctx, "kyocera")] == [kyocera.id]
    assert similar.OR_TERMS <= similar.QUERY_TERMS


async def test_a_search_with_few_matches_does_not_count_its_window(ctx) -> None:
    """When no window was needed and the terms' counts say no more items match than were ranked, every match was
    ranked: the window is not counted again (one statement fewer per call)."""
    rows = []
    for i in range(3):
        row = SessionRow(account_id=ctx.account.id, owner_id=ctx.engineer.id, status="resolved",
                         title=f"Plotter jams on roll paper {i}", client_name="Acme", resolved_at=ctx.now())
        ctx.db.add(row)
        rows.append(row)
    await ctx.db.commit()
    engine = ctx.db.bind.sync_engine
    counted: list[str] = []

    def record(_conn, clause, *_args) -> None:
        sql = " ".join(str(clause).split())
        if sql.startswith("SELECT count(*) FROM (SELECT 1"):
            counted.append(sql)

    event.listen(engine, "before_execute", record)
    try:
        found = await find_similar(ctx, title="Plotter jams on roll paper", facts=["the roll paper jams"])
    finally:
        event.remove(engine, "before_execute", record)
    assert {s.session_id for s in found} <= {r.id for r in rows} and found
    assert counted == []
