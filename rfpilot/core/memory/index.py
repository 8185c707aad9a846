"""The search index's reads and its rebuild (the table and its triggers: ``rfpilot.db.memory_index``).

``item_hits`` is the one query over the index both the search and "seen before" use: the items of one account
that match some words, best first, joined to their sessions for the filters. ``reindex`` empties and refills it
in the caller's transaction (``rfpilot db reindex``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import text

from rfpilot.core.context import Ctx
from rfpilot.core.memory.terms import fts5_query
from rfpilot.db import memory_index
from rfpilot.errors import StoreError

TABLE = memory_index.TABLE
# Snippet markers as they come out of the store: private-use characters no sanitised text carries (``split_marked``
# drops any a source text holds), turned into bold (terminal) or nothing (JSON) by the caller.
HIT_START, HIT_END = "\ue000", "\ue001"
SNIPPET_WORDS = 14
# Postgres cuts its headlines from this much of an item (ts_headline parses all it is given).
HEADLINE_CHARS = 4_000
# At most this many matching items are ranked at first: the newest (item_hits).
RANK_WINDOW = 2_000
# The window grows (when the filters leave too few) to at most this: no query ranks more items than that.
RANK_MAX = 4 * RANK_WINDOW
# A term's items are counted up to this many (term_counts): each count stops there, whatever the store's size.
COUNT_CAP = 200
COMMON_MARGIN = 4
# The rare words of an OR query hold at most this many items together (rare_terms): all of them are ranked.
RARE_BUDGET = 500


@dataclass(frozen=True)
class Hit:
    session_id: str
    kind: str
    score: float  # higher = better, comparable within one query
    item: str  # the index row: its rowid (SQLite) or its source id (Postgres)


@dataclass(frozen=True)
class Filters:
    statuses: tuple[str, ...] = ()
    client: str | None = None
    since: datetime | None = None
    owner_id: str | None = None
    exclude: tuple[str, ...] = ()


_index_seen: WeakKeyDictionary = WeakKeyDictionary()  # engine -> True once its index was found


async def require_index(ctx: Ctx) -> None:
    """StoreError when this store has no search index (an SQLite without FTS5: migration 0011 said so). Looked
    for once per engine, on SQLite only: on Postgres the migration always makes it, and the store is at head."""
    bind = ctx.db.get_bind()
    key = getattr(bind, "sync_engine", bind)
    if _index_seen.get(key) or bind.dialect.name == "postgresql":
        return
    found = (await ctx.db.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"),
                                  {"n": TABLE})).first() is not None
    if not found:
        raise StoreError("this store has no search index: its SQLite was built without FTS5",
                         hint="use an SQLite with FTS5 (any current Python has one), or Postgres")
    _index_seen[key] = True


def _filters_sql(filters: Filters, params: dict[str, Any]) -> str:
    where = []
    if filters.statuses:
        names = []
        for i, status in enumerate(filters.statuses):
            params[f"st{i}"] = status
            names.append(f":st{i}")
        where.append(f"s.status IN ({', '.join(names)})")
    if filters.client is not None:
        params["client"] = filters.client.casefold()
        where.append("lower(s.client_name) = :client")
    if filters.since is not None:
        params["since"] = filters.since
        where.append("s.updated_at >= :since")
    if filters.owner_id is not None:
        params["owner"] = filters.owner_id
        where.append("s.owner_id = :owner")
    for i, session_id in enumerate(filters.exclude):
        params[f"ex{i}"] = session_id
        where.append(f"s.id <> :ex{i}")
    return "".join(f" AND {w}" for w in where)


def _pg_query(terms: Sequence[str], operator: str, params: dict[str, Any]) -> str:
    """A tsquery of bound words: each ``plainto_tsquery`` of one word, joined with && or ||."""
    join = " && " if operator == "AND" else " || "
    parts = []
    for i, term in enumerate(terms):
        params[f"t{i}"] = term
        parts.append(f"plainto_tsquery('{memory_index.PG_CONFIG}', :t{i})")
    return "(" + join.join(parts) + ")"


def _bind_since(ctx: Ctx, params: dict[str, Any]) -> None:
    # The sessions table keeps naive UTC on SQLite (db.types.UTCDateTime), timestamptz on Postgres.
    if "since" in params and ctx.db.get_bind().dialect.name == "sqlite":
        params["since"] = params["since"].replace(tzinfo=None).isoformat(sep=" ")


def _most_matches(counts: dict[str, int] | None, terms: Sequence[str], operator: str) -> int | None:
    """The most items ``terms`` can match together, from their term_counts (None when unknown: a count stopped at
    the cap)."""
    if counts is None or any(t not in counts for t in terms):
        return None
    exact = [counts[t] for t in terms if counts[t] < COUNT_CAP]
    if operator == "AND":
        return min(exact) if exact else None
    return sum(exact) if len(exact) == len(terms) else None


async def item_hits(ctx: Ctx, terms: Sequence[str], *, operator: str = "AND", filters: Filters = Filters(),
                    limit: int = 400, counts: dict[str, int] | None = None) -> list[Hit]:
    """The best ``limit`` items of ``ctx.account`` matching ``terms`` (all of them in one item, or any), whose
    session passes ``filters``, best first.

    Ranking costs the store a little for every match it ranks, so a query matching more than RANK_WINDOW items
    ranks the newest RANK_WINDOW of them (found by the index alone, without ranking). The index ranks and hands
    over its best ``limit`` (ids and scores only); those are joined to their sessions and filtered. When the
    filters leave fewer than ``limit``, the index is asked for four times as many, and once the window is
    exhausted the window grows four times, up to RANK_MAX (so a filter that wants older matches of a common word
    than the newest RANK_MAX does not find them; a rarer word does). With the terms' ``counts`` (term_counts)
    saying they match no more than the window, the newest are not looked for: every match is ranked."""
    if not terms:
        return []
    postgres = ctx.db.get_bind().dialect.name == "postgresql"
    params: dict[str, Any] = {"account": ctx.account.id, "limit": limit}
    where = _filters_sql(filters, params)
    _bind_since(ctx, params)
    if postgres:
        query = _pg_query(terms, operator, params)
        matches = (f"FROM {TABLE} m CROSS JOIN (SELECT {query} AS q) q "
                   f"WHERE m.tsv @@ q.q AND m.account_id = :account")
        floor = f"SELECT m.seq {matches} ORDER BY m.seq DESC LIMIT 1 OFFSET :window"
        best = (f"SELECT m.kind, m.source_id, ts_rank(m.tsv, q.q) AS score {matches} AND m.seq > :floor "
                f"ORDER BY score DESC, m.seq DESC LIMIT :k")
        ranked = (f"SELECT m.session_id, m.kind, b.score, m.source_id FROM ({best}) b JOIN {TABLE} m "
                  f"ON m.kind = b.kind AND m.source_id = b.source_id JOIN sessions s ON s.id = m.session_id "
                  f"WHERE 1 = 1{where} ORDER BY b.score DESC, m.session_id, m.kind LIMIT :limit")
        window_rows = f"SELECT count(*) FROM (SELECT 1 {matches} AND m.seq > :floor LIMIT :k) AS w"
    else:
        params["match"] = fts5_query(terms, operator)
        matches = f"FROM {TABLE} WHERE {TABLE} MATCH :match"
        floor = f"SELECT rowid {matches} ORDER BY rowid DESC LIMIT 1 OFFSET :window"
        best = f"SELECT rowid AS id, -rank AS score {matches} AND rowid > :floor ORDER BY rank LIMIT :k"
        ranked = (f"SELECT m.session_id, m.kind, b.score, m.rowid FROM ({best}) b JOIN {TABLE} m ON m.rowid = b.id "
                  f"JOIN sessions s ON s.id = m.session_id WHERE m.account_id = :account{where} "
                  f"ORDER BY b.score DESC, m.session_id, m.kind LIMIT :limit")
        window_rows = f"SELECT count(*) FROM (SELECT 1 {matches} AND rowid > :floor LIMIT :k)"
    window, params["k"] = RANK_WINDOW, limit
    params["window"] = window
    most = _most_matches(counts, terms, operator)
    found = None if most is not None and most <= window else (await ctx.db.execute(text(floor), params)).scalar()
    while True:
        params["floor"] = -1 if found is None else int(found)
        rows = (await ctx.db.execute(text(ranked), params)).all()
        if len(rows) >= limit:
            break
        if postgres and not where and found is None:
            break  # nothing filtered out and no window: every match was ranked
        if found is None and most is not None and most <= params["k"]:
            break  # no window, and the counts say no more items match than were ranked: all were ranked
        if params["k"] < window and (await ctx.db.execute(text(window_rows), params)).scalar_one() >= params["k"]:
            params["k"] = min(params["k"] * 4, window)  # the window holds more: rank more of it
        elif found is None:
            break  # every match was ranked
        elif window >= RANK_MAX:
            break  # the most any query ranks: the filters want older matches than that
        else:
            window = min(window * 4, RANK_MAX)
            params["window"] = window
            found = (await ctx.db.execute(text(floor), params)).scalar()
    return [Hit(r[0], r[1], float(r[2]), str(r[3])) for r in rows]


async def term_counts(ctx: Ctx, terms: Sequence[str]) -> dict[str, int]:
    """How many items of the index hold each term (stemmed as the index stems), each counted up to COUNT_CAP: one
    statement, whose cost is bounded by the cap and not by the store (every account's items count: rarity only
    chooses which words to query with).

    Postgres: a word its statistics of the index's words (``pg_stats.most_common_elems``, from ANALYZE) put at
    COMMON_MARGIN times COUNT_CAP items or more is not counted again (its GIN entry is the longest to read): far
    enough above the cap that statistics a little stale or sampled give the same answer as a count, so the words
    chosen do not depend on when ANALYZE last ran."""
    if not terms:
        return {}
    params: dict[str, Any] = {"cap": COUNT_CAP, "common": COMMON_MARGIN * COUNT_CAP}
    columns = []
    postgres = ctx.db.get_bind().dialect.name == "postgresql"
    config = memory_index.PG_CONFIG
    for i, term in enumerate(terms):
        params[f"t{i}"] = term if postgres else fts5_query([term])
        match = f"tsv @@ plainto_tsquery('{config}', :t{i})" if postgres else f"{TABLE} MATCH :t{i}"
        count = f"(SELECT count(*) FROM (SELECT 1 FROM {TABLE} WHERE {match} LIMIT :cap) AS c{i})"
        if postgres:
            lexeme = f"(tsvector_to_array(to_tsvector('{config}', :t{i})))[1]"
            count = (f"CASE WHEN coalesce((SELECT max(items) FROM common WHERE lexeme = {lexeme}), 0) >= :common "
                     f"THEN :cap ELSE {count} END")
        columns.append(count)
    sql = f"SELECT {', '.join(columns)}"
    if postgres:
        sql = (f"WITH common AS MATERIALIZED (SELECT u.lexeme, u.share * c.reltuples AS items FROM pg_stats s "
               f"JOIN pg_class c ON c.oid = to_regclass('{TABLE}') CROSS JOIN LATERAL unnest("
               f"s.most_common_elems::text::text[], s.most_common_elem_freqs) AS u(lexeme, share) "
               f"WHERE s.schemaname = current_schema() AND s.tablename = '{TABLE}' AND s.attname = 'tsv') {sql}")
    row = (await ctx.db.execute(text(sql), params)).one()
    return {term: int(n) for term, n in zip(terms, row, strict=True)}


def rare_terms(counts: dict[str, int], terms: Sequence[str], weights: Sequence[float] | None = None, *, most: int,
               budget: int | None = None) -> list[str]:
    """The words of ``terms`` worth an OR query: those some item holds, best by weight times rarity first (rarity
    from term_counts), at most ``most``, and only as many as hold no more than ``budget`` (RARE_BUDGET) items
    together, so the index ranks every match of them (item_hits' window is not needed). When no word is that
    rare, the best one alone (its newest matches are ranked). The order of ``terms`` breaks ties."""
    budget = RARE_BUDGET if budget is None else budget
    weight = dict(zip(terms, weights or [1.0] * len(terms), strict=True))
    held = [t for t in dict.fromkeys(terms) if counts[t] > 0]
    order = {t: i for i, t in enumerate(held)}
    ranked = sorted(held, key=lambda t: (-weight[t] * math.log((COUNT_CAP + 1) / (counts[t] + 0.5)), order[t]))
    chosen, total = [], 0
    for term in ranked:
        if total + counts[term] <= budget:
            chosen.append(term)
            total += counts[term]
            if len(chosen) == most:
                break
    return chosen or ranked[:1]


async def snippets(ctx: Ctx, terms: Sequence[str], hits: Sequence[Hit]) -> dict[str, list[tuple[str, str]]]:
    """The snippets of these items, by session in the order given: (kind, text with HIT_START/HIT_END around the
    matched words)."""
    if not terms or not hits:
        return {}
    params: dict[str, Any] = {"account": ctx.account.id}
    names = []
    for i, hit in enumerate(hits):
        if ctx.db.get_bind().dialect.name == "postgresql":
            params[f"i{i}"], params[f"k{i}"] = hit.item, hit.kind
            names.append(f"(:k{i}, :i{i})")  # the primary key (kind, source_id): a lookup each
        else:
            params[f"i{i}"] = int(hit.item)
            names.append(f":i{i}")
    if ctx.db.get_bind().dialect.name == "postgresql":
        query = _pg_query(terms, "OR", params)
        params["options"] = (f"StartSel={HIT_START}, StopSel={HIT_END}, MaxWords={SNIPPET_WORDS + 6}, MinWords=6, "
                             f"MaxFragments=1, FragmentDelimiter=' … '")
        headline = f"ts_headline('{memory_index.PG_CONFIG}', left(m.body, {HEADLINE_CHARS}), q.q, :options)"
        sql = (f"SELECT m.source_id, {headline} FROM {TABLE} m "
               f"CROSS JOIN (SELECT {query} AS q) q WHERE m.account_id = :account "
               f"AND (m.kind, m.source_id) IN ({', '.join(names)})")
    else:
        params["match"] = fts5_query(terms, "OR")
        sql = (f"SELECT rowid, snippet({TABLE}, 0, '{HIT_START}', '{HIT_END}', ' … ', {SNIPPET_WORDS}) "
               f"FROM {TABLE} WHERE {TABLE} MATCH :match AND rowid IN ({', '.join(names)})")
    made = {str(item): snip or "" for item, snip in (await ctx.db.execute(text(sql), params)).all()}
    found: dict[str, list[tuple[str, str]]] = {}
    for hit in hits:
        if hit.item in made:
            found.setdefault(hit.session_id, []).append((hit.kind, made[hit.item]))
    return found


async def reindex(ctx: Ctx) -> dict[str, int]:
    """Empty the index and fill it again from the store, in the caller's transaction; the rows per kind."""
    await require_index(ctx)
    dialect = ctx.db.get_bind().dialect.name
    for statement in memory_index.fill_statements(dialect):
        await ctx.db.execute(text(statement))
    rows = (await ctx.db.execute(text(f"SELECT kind, count(*) FROM {TABLE} GROUP BY kind"))).all()
    counts = {kind: 0 for kind in memory_index.KIND_NAMES}
    counts.update({kind: int(n) for kind, n in rows})
    return counts
