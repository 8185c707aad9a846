"""`rfpilot search`: the account's sessions ranked by how well their text matches a query (docs/memory.md, "Search").

Items of the index that hold every word of the query are ranked first (bm25 on SQLite, ts_rank on Postgres), and
a session's items are summed up into one score (its best item, plus a little for each further match). When those
are fewer than asked for, sessions whose items hold only some of the words follow. Each result carries the
session's client, status, dates and outcome (what fixed it, why it was escalated or abandoned) and up to two
snippets with the matched words marked as character spans of the already sanitised text.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from rfpilot.core.context import Ctx
from rfpilot.core.memory.index import (COUNT_CAP, HIT_END, HIT_START, Filters, Hit, item_hits, rare_terms,
                                       require_index, snippets, term_counts)
from rfpilot.core.memory import outcome
from rfpilot.core.memory.outcome import Written
from rfpilot.core.memory.terms import query_terms
from rfpilot.core.text import iso, one_line, since_start
from rfpilot.core.view_types import SearchResultView, SearchSnippetView
from rfpilot.db.enums import SESSION_STATUSES
from rfpilot.db.models import SessionRow, SuggestedFix
from rfpilot.errors import UsageError
from rfpilot.textsafe import inert

LIMIT_MAX = 200
# A session's further matching items add this share of their score each (its best counts whole), at most EXTRA.
EXTRA_SHARE, EXTRA = 0.25, 3
SNIPPETS = 2  # per session: its best matching items
_SPACE = re.compile(r"\s+")
# A note's Markdown in a snippet: heading marks ("## Problem") and bold marks; the words stay.
_MARKUP = re.compile(r"(?:(?<=\s)|^)#{1,6}(?=\s|$)|\*\*")


def _ranked(hits: list[Hit]) -> dict[str, list[Hit]]:
    """Each session's hits, best first (``hits`` come best first)."""
    per: dict[str, list[Hit]] = {}
    for hit in hits:
        per.setdefault(hit.session_id, []).append(hit)
    return per


def _score(hits: list[Hit]) -> float:
    return hits[0].score + EXTRA_SHARE * sum(h.score for h in hits[1:1 + EXTRA])


def marked_spans(snippet: str) -> SearchSnippetView:
    """A store's snippet (hits between HIT_START and HIT_END) as sanitised one-line text and the hits' spans
    (``[start, end)`` character offsets into that text)."""
    pieces = snippet.replace(HIT_END, HIT_START).split(HIT_START)
    text, marks = "", []
    for i, piece in enumerate(pieces):
        clean = inert(_SPACE.sub(" ", piece if i % 2 else _MARKUP.sub("", piece)))
        if i == 0:
            clean = clean.lstrip()
        if i == len(pieces) - 1:
            clean = clean.rstrip()
        if i % 2 == 1 and clean.strip():
            marks.append([len(text), len(text) + len(clean)])
        text += clean
    return {"kind": "", "text": text, "marks": marks}


def _outcome(row, fixed_by: str | None, written: Written) -> str | None:
    if row.status == "resolved":
        if fixed_by:
            return f"fixed by: {one_line(fixed_by)}"
        return f"resolved: {one_line(written.resolution)}" if written.resolution else "resolved"
    if row.status == "escalated":
        return f"escalated: {one_line(written.escalation)}" if written.escalation else "escalated"
    if row.status == "abandoned":
        return f"abandoned: {one_line(row.abandon_reason)}" if row.abandon_reason else "abandoned"
    return None


async def search(ctx: Ctx, query: str, *, client: str | None = None, statuses: tuple[str, ...] = (),
                 since: str | None = None, mine: bool = False, limit: int = 20) -> list[SearchResultView]:
    """The sessions of ``ctx.account`` that best match ``query``, best first, at most ``limit``."""
    terms = query_terms(query)
    if not terms:
        raise UsageError("the query has no words to search for",
                         hint='search for words, e.g. rfpilot search "scan to folder password"')
    unknown = [s for s in statuses if s not in SESSION_STATUSES]
    if unknown:
        raise UsageError(f"unknown status {unknown[0]!r}", hint=f"one of: {', '.join(SESSION_STATUSES)}")
    if not 1 <= limit <= LIMIT_MAX:
        raise UsageError(f"--limit must be between 1 and {LIMIT_MAX}")
    await require_index(ctx)
    filters = Filters(statuses=tuple(dict.fromkeys(statuses)), client=one_line(client) if client else None,
                      since=since_start(since, ctx.now()) if since else None,
                      owner_id=ctx.engineer.id if mine else None)
    per = _ranked(await item_hits(ctx, terms, operator="AND", filters=filters, limit=limit * 10))
    scores = {sid: _score(hits) for sid, hits in per.items()}
    order = sorted(scores, key=lambda s: (-scores[s], s))[:limit]
    if len(order) < limit and len(terms) > 1:
        counts = await term_counts(ctx, terms)
        rare = rare_terms(counts, terms, most=len(terms))
        if order and any(counts[t] >= COUNT_CAP for t in rare):
            rare = []  # no word is rare: the matches of every word already found are enough
        some = _ranked(await item_hits(ctx, rare, operator="OR", filters=filters, limit=limit * 10, counts=counts))
        extra = {sid: _score(hits) for sid, hits in some.items() if sid not in scores}
        order += sorted(extra, key=lambda s: (-extra[s], s))[:limit - len(order)]
        scores.update(extra)
        per = {**some, **per}
    if not order:
        return []
    rows = {r.id: r for r in (await ctx.db.execute(
        select(SessionRow.id, SessionRow.title, SessionRow.client_name, SessionRow.status, SessionRow.updated_at,
               SessionRow.created_at, SessionRow.abandon_reason, SessionRow.active_seconds, *outcome.columns())
        .where(SessionRow.id.in_(order)))).all()}
    fixed: dict[str, str] = {}
    for session_id, title in (await ctx.db.execute(
            select(SuggestedFix.session_id, SuggestedFix.title)
            .where(SuggestedFix.session_id.in_(order), SuggestedFix.status == "applied_success")
            .order_by(SuggestedFix.created_at, SuggestedFix.id))).all():
        fixed[session_id] = title  # the last fix that worked
    found = await snippets(ctx, terms, [hit for sid in order for hit in per[sid][:SNIPPETS]])
    results: list[SearchResultView] = []
    for sid in order:
        row = rows[sid]
        shown = []
        for kind, snip in found.get(sid, []):
            view = marked_spans(snip)
            view["kind"] = kind
            shown.append(view)
        results.append({
            "session_id": sid, "title": row.title, "client": row.client_name, "status": row.status,
            "outcome": _outcome(row, fixed.get(sid), outcome.of_row(row)), "score": round(scores[sid], 6),
            "active_seconds": int(row.active_seconds or 0), "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at), "snippets": shown})
    return results
