""""Seen before": the few closed sessions of the account most like a live one (issue 17, docs/memory.md).

Two steps, both offline and deterministic:

1. Candidates from the search index: an OR query of the salient words of the new session (title, problem, facts;
   no stopwords, no words every ticket says) that are rarest for their weight, and an AND query of the title's
   strongest words; their best CANDIDATES resolved or escalated sessions of this account. The words are chosen
   from capped counts so each query ranks a bounded number of items: the cost does not grow with the store.
2. A rerank in Python over each candidate's own text (title, problem and intake, live facts, fixes, resolution or
   escalation, dead ends), a BM25-style score with field weights (title and facts count most) and the candidates'
   word rarity, so both stores give the same order. Among close scores the same client comes first.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from rfpilot.core.context import Ctx
from rfpilot.core.memory.outcome import written
from rfpilot.core.memory.index import (COUNT_CAP, Filters, Hit, item_hits, rare_terms, require_index,
                                       term_counts)
from rfpilot.core.memory.terms import bag, salient
from rfpilot.db.models import Fact, SessionBranch, SessionRow, SuggestedFix

CLOSED = ("resolved", "escalated")
CANDIDATES = 50
# Of those, up to this many from an AND query of the title's TITLE_TERMS strongest words.
TITLE_CANDIDATES, TITLE_TERMS = 15, 3
QUERY_TERMS = 24
# Of those, at most this many (the rarest for their weight) go to the index's OR query.
OR_TERMS = 12
# Words of a candidate read per field (an intake can be a whole ticket thread) and facts read per candidate.
FIELD_CHARS = 4_000
FACTS_READ = 80
# The candidate's fields and their weights; the query's.
FIELD_WEIGHTS = {"title": 3.0, "problem": 1.2, "facts": 2.0, "fixes": 1.2, "outcome": 1.0, "dead_ends": 0.6}
QUERY_WEIGHTS = {"title": 2.0, "problem": 1.0, "facts": 1.5}
K1, B = 1.2, 0.5
# A candidate of the same client is moved up by this share of the score (so it wins among close matches only).
SAME_CLIENT_BOOST = 0.10
# The weighted term frequency of a word a candidate has about once in its title and once in its facts: a score
# of 1 means every word of the query matched that well.
FULL_MATCH = (FIELD_WEIGHTS["title"] + FIELD_WEIGHTS["facts"]) / (1 + K1)
# A match below this share of the best possible score is not "seen before" (a word or two in common by chance).
MIN_SHARE = 0.12


@dataclass(frozen=True)
class Similar:
    session_id: str
    title: str
    client_name: str | None
    status: str                     # "resolved" | "escalated"
    score: float                    # higher = closer; comparable within one call
    same_client: bool
    fixed_by: str | None            # title of the fix that worked (resolved sessions)
    fix_template_slug: str | None   # that fix's script template, if any
    escalation_reason: str | None   # escalated sessions
    dead_ends: tuple[str, ...]      # dead-end branch summaries and fixes that did not work
    active_seconds: int             # time to resolve (active time)
    closed_at: datetime | None


def _query_bag(title: str, problem: str | None, facts: Sequence[str]) -> dict[str, float]:
    weighted: dict[str, float] = {}
    for field, texts in (("title", [title]), ("problem", [problem]), ("facts", list(facts))):
        for word, n in bag(texts, FIELD_CHARS).items():
            weighted[word] = weighted.get(word, 0.0) + QUERY_WEIGHTS[field] * min(n, 3)
    return weighted


def _index_terms(title: str, problem: str | None, facts: Sequence[str]) -> list[tuple[str, float]]:
    """The words that may be sent to the index, with their weights: the query's salient words, the most weighted
    first (unstemmed: the index stems them its own way)."""
    score: dict[str, float] = {}
    first: dict[str, int] = {}
    for field, texts in (("title", [title]), ("problem", [problem]), ("facts", list(facts))):
        for text in texts:
            for word in salient(text, FIELD_CHARS):
                score[word] = score.get(word, 0.0) + QUERY_WEIGHTS[field]
                first.setdefault(word, len(first))
    ranked = sorted(score, key=lambda w: (-score[w], first[w]))
    return [(w, score[w]) for w in ranked[:QUERY_TERMS]]


def _sessions_by_score(hits: list[Hit], exclude: set[str], most: int) -> list[str]:
    best: dict[str, float] = {}
    for hit in hits:
        if hit.session_id not in exclude:
            best[hit.session_id] = best.get(hit.session_id, 0.0) + hit.score
    return sorted(best, key=lambda s: (-best[s], s))[:most]


async def _candidate_ids(ctx: Ctx, weighted: list[tuple[str, float]], title: str, exclude: Collection[str]
                         ) -> list[str]:
    """The closed sessions worth a rerank: the best of an OR query of the salient words that are rarest for their
    weight (as many as hold at most RARE_BUDGET items together, so the index ranks all their matches and no more,
    whatever the store's size), and the best of an AND query of the title's strongest words the index holds, which
    matches few items and so reaches back through the whole store. When no word is rare (each in COUNT_CAP items
    or more), the AND query alone, or when it finds nothing, the OR query of the best word (its newest matches)."""
    terms = [t for t, _ in weighted]
    counts = await term_counts(ctx, terms)
    rare = rare_terms(counts, terms, [w for _, w in weighted], most=OR_TERMS)
    selective = all(counts[t] < COUNT_CAP for t in rare)
    in_title = set(salient(title, FIELD_CHARS))
    title_terms = [t for t in terms if t in in_title and counts[t] > 0][:TITLE_TERMS]
    filters = Filters(statuses=CLOSED, exclude=tuple(exclude))

    async def any_word(ids: list[str], most: int) -> list[str]:
        hits = await item_hits(ctx, rare, operator="OR", filters=filters, limit=CANDIDATES * 4, counts=counts)
        return _sessions_by_score(hits, set(ids), most)

    async def title_words(ids: list[str], most: int) -> list[str]:
        if len(title_terms) < 2:
            return []
        hits = await item_hits(ctx, title_terms, operator="AND", filters=filters, limit=most * 4, counts=counts)
        return _sessions_by_score(hits, set(ids), most)

    if selective:
        ids = await any_word([], CANDIDATES - TITLE_CANDIDATES)
        return ids + await title_words(ids, TITLE_CANDIDATES)
    ids = await title_words([], CANDIDATES)
    return ids or await any_word([], CANDIDATES)


@dataclass
class _Candidate:
    row: Any
    fields: dict[str, list[str]]
    fixed_by: str | None = None
    fix_slug: str | None = None
    dead_ends: list[str] | None = None


async def _load(ctx: Ctx, ids: list[str]) -> dict[str, _Candidate]:
    if not ids:
        return {}
    rows = (await ctx.db.execute(
        select(SessionRow.id, SessionRow.title, SessionRow.client_name, SessionRow.status,
               SessionRow.problem_summary, func.substr(SessionRow.intake_text, 1, FIELD_CHARS).label("intake"),
               SessionRow.active_seconds, SessionRow.resolved_at, SessionRow.escalated_at,
               SessionRow.resolution_summary, SessionRow.escalation_reason)
        .where(SessionRow.id.in_(ids), SessionRow.account_id == ctx.account.id))).all()
    found = {r.id: _Candidate(r, {
        "title": [r.title or ""], "problem": [r.problem_summary or "", r.intake or ""], "facts": [], "fixes": [],
        "outcome": [r.resolution_summary or "", r.escalation_reason or ""], "dead_ends": []}, dead_ends=[])
        for r in rows}
    numbered = (select(Fact.session_id, Fact.text, func.row_number().over(
        partition_by=Fact.session_id, order_by=(Fact.created_at, Fact.id)).label("n"))
        .where(Fact.session_id.in_(ids), Fact.deleted_at.is_(None)).subquery())
    for session_id, fact_text, _ in (await ctx.db.execute(
            select(numbered).where(numbered.c.n <= FACTS_READ))).all():
        found[session_id].fields["facts"].append(fact_text)
    fixes = (await ctx.db.execute(
        select(SuggestedFix.session_id, SuggestedFix.title, SuggestedFix.description, SuggestedFix.status,
               SuggestedFix.script_template_slug)
        .where(SuggestedFix.session_id.in_(ids))
        .order_by(SuggestedFix.session_id, SuggestedFix.created_at, SuggestedFix.id))).all()
    for fix in fixes:
        candidate = found[fix.session_id]
        candidate.fields["fixes"].append(f"{fix.title}\n{(fix.description or '')[:FIELD_CHARS]}")
        if fix.status == "applied_success":
            candidate.fixed_by, candidate.fix_slug = fix.title, fix.script_template_slug  # the last that worked
        elif fix.status == "applied_failed":
            assert candidate.dead_ends is not None
            candidate.dead_ends.append(f"fix did not work: {fix.title}")
    branches = (await ctx.db.execute(
        select(SessionBranch.session_id, SessionBranch.label, SessionBranch.status_reason,
               SessionBranch.context_summary)
        .where(SessionBranch.session_id.in_(ids), SessionBranch.status == "dead_end")
        .order_by(SessionBranch.session_id, SessionBranch.seq))).all()
    for branch in branches:
        summary = branch.context_summary if isinstance(branch.context_summary, dict) else {}
        concluded = summary.get("concluded") if isinstance(summary.get("concluded"), str) else None
        line = branch.label + (f": {concluded or branch.status_reason}" if (concluded or branch.status_reason) else "")
        candidate = found[branch.session_id]
        candidate.fields["dead_ends"].append(line)
        assert candidate.dead_ends is not None
        candidate.dead_ends.insert(sum(1 for d in candidate.dead_ends if not d.startswith("fix did not work")), line)
    return found


def _scores(query: dict[str, float], candidates: dict[str, _Candidate]) -> dict[str, float]:
    """A BM25-style score of each candidate for the weighted query words, normalised by the best possible."""
    bags = {sid: {field: bag(texts, FIELD_CHARS) for field, texts in c.fields.items()}
            for sid, c in candidates.items()}
    lengths = {sid: {f: sum(b.values()) for f, b in fields.items()} for sid, fields in bags.items()}
    n = len(bags)
    average = {f: max(1.0, sum(lengths[s][f] for s in bags) / max(n, 1)) for f in FIELD_WEIGHTS}
    df: Counter[str] = Counter()
    for fields in bags.values():
        df.update({w for b in fields.values() for w in b if w in query})
    # Rarity among the candidates, with a floor: the candidates were picked for these words, so even a word all
    # of them share still counts for something.
    total = max(n, 10)
    idf = {w: math.log(1 + (total - df[w] + 0.5) / (df[w] + 0.5)) for w in query}
    best_possible = sum(q * idf[w] for w, q in query.items()) * FULL_MATCH or 1.0
    scores = {}
    for sid, fields in bags.items():
        score = 0.0
        for word, q in query.items():
            weighted_tf = 0.0
            for field, counts in fields.items():
                tf = counts.get(word, 0)
                if tf:
                    norm = 1 - B + B * lengths[sid][field] / average[field]
                    weighted_tf += FIELD_WEIGHTS[field] * tf / (tf + K1 * norm)
            score += q * idf[word] * weighted_tf
        scores[sid] = score / best_possible
    return scores


async def find_similar(ctx: Ctx, *, title: str, problem: str | None = None, facts: Sequence[str] = (),
                       client_name: str | None = None, exclude: Collection[str] = (), limit: int = 3,
                       ) -> list[Similar]:
    """Up to ``limit`` resolved or escalated sessions of ``ctx.account`` most like the one described, closest first
    (the same client first among close matches). Offline and deterministic."""
    if limit <= 0:
        return []
    await require_index(ctx)
    terms = _index_terms(title, problem, facts)
    if not terms:
        return []
    candidates = await _load(ctx, await _candidate_ids(ctx, terms, title, exclude))
    if not candidates:
        return []
    scores = _scores(_query_bag(title, problem, facts), candidates)
    client = (client_name or "").strip().casefold()

    def same(c: _Candidate) -> bool:
        return bool(client) and (c.row.client_name or "").strip().casefold() == client

    def newest(c: _Candidate) -> float:
        closed = _closed_at(c.row)
        return -closed.timestamp() if closed else 0.0

    ranked = sorted(candidates, key=lambda sid: (
        -(scores[sid] * (1 + SAME_CLIENT_BOOST if same(candidates[sid]) else 1)), newest(candidates[sid]), sid))
    top = max(scores.values())
    out = []
    for sid in ranked:
        if scores[sid] < MIN_SHARE or scores[sid] <= 0 or top <= 0:
            continue
        c = candidates[sid]
        row = c.row
        out.append(Similar(
            session_id=sid, title=row.title or "(untitled)", client_name=row.client_name, status=row.status,
            score=round(scores[sid] * (1 + SAME_CLIENT_BOOST if same(c) else 1), 6), same_client=same(c),
            fixed_by=c.fixed_by,
            fix_template_slug=c.fix_slug,
            escalation_reason=None,
            dead_ends=tuple(c.dead_ends or ()), active_seconds=int(row.active_seconds or 0),
            closed_at=_closed_at(row)))
        if len(out) == limit:
            break
    # What fixed it or why it was escalated, as the engineer wrote it (core.memory.outcome): only where no fix worked.
    notes = await written(ctx, [s.session_id for s in out if s.status == "escalated" or not s.fixed_by])
    for n, similar in enumerate(out):
        note = notes.get(similar.session_id)
        if note is None:
            continue
        if similar.status == "resolved":
            out[n] = dataclasses.replace(similar, fixed_by=similar.fixed_by or note.resolution)
        else:
            out[n] = dataclasses.replace(similar, escalation_reason=note.escalation)
    return out


def _closed_at(row: Any) -> datetime | None:
    return row.resolved_at if row.status == "resolved" else row.escalated_at


async def similar_to_row(ctx: Ctx, session: SessionRow, *, limit: int = 3) -> list[Similar]:
    """``find_similar`` for a session row in hand (read and checked to be this account's): its title, problem (or
    intake) and live facts; itself left out."""
    facts = (await ctx.db.execute(
        select(Fact.text).where(Fact.session_id == session.id, Fact.deleted_at.is_(None))
        .order_by(Fact.created_at, Fact.id).limit(FACTS_READ))).scalars().all()
    problem = "\n".join(p for p in (session.problem_summary, (session.intake_text or "")[:FIELD_CHARS]) if p)
    return await find_similar(ctx, title=session.title or "", problem=problem or None, facts=list(facts),
                              client_name=session.client_name, exclude=(session.id,), limit=limit)
