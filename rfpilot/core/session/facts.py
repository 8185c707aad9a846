"""Facts ("What we know"): rules and messages of reference/seed-003.md §8.

Every create, edit and delete bumps state_version by exactly one in the same
transaction, so the next resolve/escalate preview is a cache miss.
"""

from __future__ import annotations

import uuid

from sqlalchemy import and_, or_, select

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one
from rfpilot.core.session.permissions import owner_action
from rfpilot.db.enums import AI_FACT_SOURCE_TYPES, FACT_EDITABLE_SOURCES, FACT_SOURCE_TYPES
from rfpilot.db.models import Fact, LaneItem, SessionRow
from rfpilot.errors import ConflictError, NotFoundError, UsageError

TEXT_MAX = 2000
SUMMARY_MAX = 200
# How many facts a view lists before it says "… and N more facts" (`sessions show`, the TUI's lane); the rest
# are read only when asked for (`facts list`, `sessions show --all`, the lane's "more facts" row).
FACT_PAGE = 50
_LANE_KIND_FOR = {"question": "question", "diagnostic_check": "check"}


def is_editable(fact: Fact) -> bool:
    return fact.source_type in FACT_EDITABLE_SOURCES


def _clean_text(text: str | None) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise UsageError("fact text cannot be empty")
    if len(cleaned) > TEXT_MAX:
        raise UsageError(f"fact text is too long ({len(cleaned)} characters; the limit is {TEXT_MAX})")
    return cleaned


def _clean_summary(summary: str | None) -> str | None:
    cleaned = (summary or "").strip()
    if len(cleaned) > SUMMARY_MAX:
        raise UsageError(f"the summary is too long ({len(cleaned)} characters; the limit is {SUMMARY_MAX})")
    return cleaned or None


@owner_action("add a fact to")
async def create_fact(
    ctx: Ctx,
    session: SessionRow,
    text: str,
    *,
    source_type: str,
    source_ref: str | None = None,
    summary: str | None = None,
) -> Fact:
    """Insert a fact and bump state_version (+1 per fact)."""
    if source_type not in FACT_SOURCE_TYPES:
        raise UsageError(f"invalid source_type: {source_type!r}", hint="one of: " + ", ".join(FACT_SOURCE_TYPES))
    if source_ref is not None and source_type not in _LANE_KIND_FOR:
        raise UsageError(f"source_ref must be None for source_type={source_type}")
    if source_ref is not None:
        try:
            source_ref = str(uuid.UUID(str(source_ref)))
        except ValueError:
            raise UsageError(f"source_ref {source_ref!r} is not a lane item id") from None
    cleaned = _clean_text(text)
    cleaned_summary = _clean_summary(summary)
    if source_ref is not None:
        item = await ctx.db.get(LaneItem, source_ref)
        if item is None or item.session_id != session.id or item.kind != _LANE_KIND_FOR[source_type]:
            raise NotFoundError(f"no {_LANE_KIND_FOR[source_type]} {source_ref} in this session")
    now = ctx.now()
    fact = Fact(
        account_id=ctx.account.id,
        session_id=session.id,
        text=cleaned,
        source_type=source_type,
        source_ref=source_ref,
        source_summary=cleaned_summary,
        created_by=ctx.engineer.id,
        created_at=now,
        updated_at=now,
    )
    async with ctx.tx():
        ctx.db.add(fact)
        await ctx.db.flush()
        await ctx.bump_state(session)
    return fact


async def add_note(ctx: Ctx, session: SessionRow, text: str, *, summary: str | None = None) -> Fact:
    """The engineer's own note: always ``user_note``, never pretending to come from the lane."""
    return await create_fact(ctx, session, text, source_type="user_note", summary=summary)


async def promote(
    ctx: Ctx,
    session: SessionRow,
    *,
    source_type: str,
    text: str,
    source_ref: str | None = None,
    summary: str | None = None,
) -> Fact:
    """Direct promotion (the engineer's or the model's own text) of an answer, output or synthesis."""
    if source_type not in AI_FACT_SOURCE_TYPES:
        raise UsageError(
            f"cannot promote as {source_type!r}",
            hint="promote as question, diagnostic_check or ai_synthesis; add a note for your own facts",
        )
    if source_type == "ai_synthesis" and source_ref is not None:
        raise UsageError("`source_ref` must be null for source_type=ai_synthesis")
    return await create_fact(ctx, session, text, source_type=source_type, source_ref=source_ref, summary=summary)


async def list_facts(
    ctx: Ctx, session: SessionRow, *, limit: int | None = None, after: Fact | None = None
) -> list[Fact]:
    """The session's facts, oldest first; ``limit``/``after`` page them (a keyset on created_at, id)."""
    stmt = select(Fact).where(Fact.session_id == session.id, Fact.deleted_at.is_(None))
    if after is not None:
        stmt = stmt.where(or_(Fact.created_at > after.created_at,
                              and_(Fact.created_at == after.created_at, Fact.id > after.id)))
    stmt = stmt.order_by(Fact.created_at, Fact.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await ctx.db.execute(stmt)).scalars())


async def facts_window(
    ctx: Ctx, session: SessionRow, limit: int | None, *, chars: int | None = None
) -> tuple[list[Fact], int]:
    """The session's first ``limit`` facts, oldest first, and how many it has: what a view or a note lists,
    read without the rest (one LIMIT query, plus a count when it came back full). ``chars`` stops the list
    early once the facts' text (and summaries) would pass that many characters; the first fact always stays."""
    facts = await list_facts(ctx, session, limit=limit)
    total = len(facts)
    if limit is not None and total == limit:  # there may be more: the store counts them
        total = await count_facts(ctx, session)
    if chars is not None:
        used = 0
        for n, fact in enumerate(facts):
            used += len(fact.text) + len(fact.source_summary or "")
            if used > chars and n:
                facts = facts[:n]
                break
    return facts, total


async def count_facts(ctx: Ctx, session: SessionRow) -> int:
    """The session's live facts, as the store keeps them on its row (migration 0009): one primary-key read at any
    session size, and current even when ``session`` was loaded before the latest write."""
    stmt = select(SessionRow.fact_count).where(SessionRow.id == session.id)
    return int((await ctx.db.execute(stmt)).scalar_one())


async def get_fact(ctx: Ctx, session: SessionRow, ref: str) -> Fact:
    try:
        return await find_one(ctx, Fact, ref, "fact", Fact.session_id == session.id, Fact.deleted_at.is_(None))
    except NotFoundError:
        raise NotFoundError("fact not found", hint="list this session's facts with: rfpilot facts list SESSION") from None


def _require_live(session: SessionRow, fact: Fact) -> None:
    """A fact is changed only through its own session, and never once deleted (seed §8.2)."""
    if fact.deleted_at is not None or fact.session_id != session.id:
        raise NotFoundError("fact not found")


@owner_action("edit a fact of")
async def update_fact(
    ctx: Ctx, session: SessionRow, fact: Fact, *, text: str | None = None, summary: str | None = None
) -> Fact:
    _require_live(session, fact)
    if text is None and summary is None:
        raise UsageError("at least one of `text` or `summary` must be provided")
    if not is_editable(fact):
        raise ConflictError(
            f"facts sourced from '{fact.source_type}' are read-only at the card level; "
            "edit the originating question or diagnostic check instead"
        )
    new_text = _clean_text(text) if text is not None else fact.text
    new_summary = _clean_summary(summary) if summary is not None else fact.source_summary
    async with ctx.tx():
        fact.text = new_text
        fact.source_summary = new_summary
        fact.updated_at = ctx.now()
        await ctx.bump_state(session)
    return fact


@owner_action("delete a fact of")
async def delete_fact(ctx: Ctx, session: SessionRow, fact: Fact) -> Fact:
    """Soft delete; allowed for every source type (a wrong answer can be withdrawn)."""
    _require_live(session, fact)
    async with ctx.tx():
        fact.deleted_at = ctx.now()
        await ctx.bump_state(session)
    return fact


def provenance(fact: Fact, lane_item: LaneItem | None = None) -> str:
    """The provenance line under a fact: 'from question · rules out tenant/license'."""
    label = {
        "question": "from question",
        "diagnostic_check": "from check",
        "user_note": "your note",
        "ai_synthesis": "synthesized by AI",
    }[fact.source_type]
    if lane_item is not None and fact.source_type in _LANE_KIND_FOR:
        label = f'{label} "{lane_item.text}"'
    if fact.source_summary:
        label = f"{label} · {fact.source_summary}"
    return label
