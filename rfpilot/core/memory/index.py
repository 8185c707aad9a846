"""The search index's reads and its rebuild (the table and its triggers: ``rfpilot.db.memory_index``).

``item_hits`` is the one query over the index both the search and "seen before" use: the items of one account
that match some words, best first, joined to their sessions for the filters. ``reindex`` empties and refills it
in the caller's transaction (``rfpilot db reindex``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
# Matching items read to choose each session's best ones for snippets (SQLite).
SNIPPET_ITEMS = 2_000


@dataclass(frozen=True)
class Hit:
    session_id: str
    kind: str
    score: float  # higher = better, comparable within one query


@dataclass(frozen=True)
class Filters:
    statuses: tuple[str, ...] = ()
    client: str | None = None
    since: datetime | None = None
    owner_id: str | None = None
    exclude: tuple[str, ...] = ()


async def require_index(ctx: Ctx) -> None:
    """StoreError when this store has no search index (an SQLite without FTS5: migration 0011 said so)."""
    bind = ctx.db.get_bind()
    if bind.dialect.name == "postgresql":
        found = (await ctx.db.execute(text(f"SELECT to_regclass('{TABLE}') IS NOT NULL"))).scalar()
    else:
        found = (await ctx.db.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"),
                                      {"n": TABLE})).first() is not None
    if not found:
        raise StoreError("this store has no search index: its SQLite was built without FTS5",
                         hint="use an SQLite with FTS5 (any current Python has one), or Postgres")


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


async def item_hits(ctx: Ctx, terms: Sequence[str], *, operator: str = "AND", filters: Filters = Filters(),
                    limit: int = 400) -> list[Hit]:
    """The best ``limit`` items of ``ctx.account`` matching ``terms`` (all of them in one item, or any), whose
    session passes ``filters``."""
    if not terms:
        return []
    params: dict[str, Any] = {"account": ctx.account.id, "limit": limit}
    where = _filters_sql(filters, params)
    _bind_since(ctx, params)
    if ctx.db.get_bind().dialect.name == "postgresql":
        query = _pg_query(terms, operator, params)
        sql = (f"SELECT m.session_id, m.kind, ts_rank(m.tsv, q.q) AS score FROM {TABLE} m "
               f"CROSS JOIN (SELECT {query} AS q) q JOIN sessions s ON s.id = m.session_id "
               f"WHERE m.tsv @@ q.q AND m.account_id = :account{where} ORDER BY score DESC, m.session_id LIMIT :limit")
    else:
        params["match"] = fts5_query(terms, operator)
        sql = (f"SELECT m.session_id, m.kind, -bm25({TABLE}) AS score FROM {TABLE} m "
               f"JOIN sessions s ON s.id = m.session_id "
               f"WHERE {TABLE} MATCH :match AND m.account_id = :account{where} "
               f"ORDER BY score DESC, m.session_id LIMIT :limit")
    rows = (await ctx.db.execute(text(sql), params)).all()
    return [Hit(r[0], r[1], float(r[2])) for r in rows]


async def snippets(ctx: Ctx, terms: Sequence[str], session_ids: Sequence[str], *, per_session: int = 2
                   ) -> dict[str, list[tuple[str, str]]]:
    """For each session, its best matching items' snippets as (kind, text with HIT_START/HIT_END around hits)."""
    if not terms or not session_ids:
        return {}
    params: dict[str, Any] = {"account": ctx.account.id}
    ids = []
    for i, session_id in enumerate(session_ids):
        params[f"s{i}"] = session_id
        ids.append(f":s{i}")
    if ctx.db.get_bind().dialect.name == "postgresql":
        query = _pg_query(terms, "OR", params)
        options = (f"StartSel={HIT_START}, StopSel={HIT_END}, MaxWords={SNIPPET_WORDS + 6}, MinWords=6, "
                   f"MaxFragments=1, FragmentDelimiter=' … '")
        params["options"] = options
        sql = (f"SELECT session_id, kind, ts_headline('{memory_index.PG_CONFIG}', body, q.q, :options) FROM ("
               f"SELECT m.session_id, m.kind, m.body, row_number() OVER (PARTITION BY m.session_id "
               f"ORDER BY ts_rank(m.tsv, q.q) DESC, m.kind, m.source_id) AS n FROM {TABLE} m "
               f"CROSS JOIN (SELECT {query} AS q) q WHERE m.tsv @@ q.q AND m.account_id = :account "
               f"AND m.session_id IN ({', '.join(ids)})) AS best CROSS JOIN (SELECT {query} AS q) q "
               f"WHERE n <= {int(per_session)} ORDER BY session_id, n")
    else:
        # FTS5's snippet() is refused inside a window function: pick each session's best items first (by rowid),
        # then cut snippets of those only.
        params["match"] = fts5_query(terms, "OR")
        ranked = (await ctx.db.execute(text(
            f"SELECT m.rowid, m.session_id FROM {TABLE} m WHERE {TABLE} MATCH :match AND m.account_id = :account "
            f"AND m.session_id IN ({', '.join(ids)}) ORDER BY bm25({TABLE}), m.rowid LIMIT {SNIPPET_ITEMS}"),
            params)).all()
        taken: dict[str, list[int]] = {}
        for rowid, session_id in ranked:
            if len(taken.setdefault(session_id, [])) < per_session:
                taken[session_id].append(int(rowid))
        order = {rowid: i for i, rowid in enumerate(r for rows in taken.values() for r in rows)}
        if not order:
            return {}
        sql = (f"SELECT session_id, kind, snippet({TABLE}, 0, '{HIT_START}', '{HIT_END}', ' … ', {SNIPPET_WORDS}), "
               f"rowid FROM {TABLE} WHERE {TABLE} MATCH :match AND rowid IN ({', '.join(map(str, order))})")
        rows = sorted((await ctx.db.execute(text(sql), params)).all(), key=lambda r: (r[0], order[r[3]]))
        found_: dict[str, list[tuple[str, str]]] = {}
        for session_id, kind, snip, _ in rows:
            found_.setdefault(session_id, []).append((kind, snip or ""))
        return found_
    found: dict[str, list[tuple[str, str]]] = {}
    for session_id, kind, snip in (await ctx.db.execute(text(sql), params)).all():
        found.setdefault(session_id, []).append((kind, snip or ""))
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
