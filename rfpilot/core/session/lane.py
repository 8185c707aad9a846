"""The task lane's questions and diagnostic checks (stable ids, open/answered/skipped/run).

Lane work never bumps state_version (SPEC §3); promoting an answer or an
output to a fact does, through facts.create_fact in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from rfpilot.core.session import facts as facts_service
from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one
from rfpilot.core.session.permissions import owner_action
from rfpilot.db.models import Fact, LaneItem, SessionRow
from rfpilot.errors import ConflictError, UsageError

TEXT_MAX = 2000
RESPONSE_MAX = 100_000
KIND_LABEL = {"question": "question", "check": "diagnostic check"}


@dataclass(frozen=True)
class LaneCounts:
    questions_total: int
    questions_unanswered: int
    checks_total: int
    checks_run: int


def _clean(value: str | None, what: str, limit: int = TEXT_MAX, required: bool = True) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise UsageError(f"the {what} is empty")
        return None
    if len(cleaned) > limit:
        raise UsageError(f"the {what} is too long ({len(cleaned)} characters; the limit is {limit})")
    return cleaned


async def _next_position(ctx: Ctx, session: SessionRow) -> int:
    stmt = select(func.max(LaneItem.position)).where(LaneItem.session_id == session.id)
    current = (await ctx.db.execute(stmt)).scalar()
    return 0 if current is None else int(current) + 1


@owner_action("add to the task lane of")
async def add_item(
    ctx: Ctx,
    session: SessionRow,
    kind: str,
    text: str,
    *,
    detail: str | None = None,
    command: str | None = None,
    origin: str = "engineer",
) -> LaneItem:
    if kind not in KIND_LABEL:
        raise UsageError(f"unknown lane item kind {kind!r}")
    what = "question" if kind == "question" else "check label"
    item = LaneItem(
        account_id=ctx.account.id,
        session_id=session.id,
        kind=kind,
        origin=origin,
        text=_clean(text, what),
        detail=_clean(detail, "detail", required=False),
        command=_clean(command, "command", limit=RESPONSE_MAX, required=False) if kind == "check" else None,
        state="open",
        created_at=ctx.now(),
    )
    async with ctx.tx():
        item.position = await _next_position(ctx, session)
        ctx.db.add(item)
        ctx.touch(session)
    return item


async def add_question(ctx: Ctx, session: SessionRow, text: str, *, detail: str | None = None) -> LaneItem:
    return await add_item(ctx, session, "question", text, detail=detail)


async def add_check(
    ctx: Ctx, session: SessionRow, label: str, *, command: str | None = None, detail: str | None = None
) -> LaneItem:
    return await add_item(ctx, session, "check", label, command=command, detail=detail)


async def get_item(ctx: Ctx, session: SessionRow, ref: str, kind: str | None = None) -> LaneItem:
    what = KIND_LABEL.get(kind or "", "lane item")
    filters = [LaneItem.session_id == session.id]
    if kind:
        filters.append(LaneItem.kind == kind)
    return await find_one(ctx, LaneItem, ref, what, *filters)


async def list_items(ctx: Ctx, session: SessionRow, *, include_retired: bool = False, kind: str | None = None,
                     limit: int | None = None, after: LaneItem | None = None) -> list[LaneItem]:
    """The lane's items, questions first, each kind in lane order. ``kind``/``limit``/``after`` page one kind (a
    keyset on position, created_at, id), so a lane of any size is read a page at a time."""
    stmt = select(LaneItem).where(LaneItem.session_id == session.id)
    if not include_retired:
        stmt = stmt.where(LaneItem.retired_at.is_(None))
    if kind is not None:
        stmt = stmt.where(LaneItem.kind == kind)
    if after is not None:
        stmt = stmt.where(or_(
            LaneItem.position > after.position,
            and_(LaneItem.position == after.position, LaneItem.created_at > after.created_at),
            and_(LaneItem.position == after.position, LaneItem.created_at == after.created_at, LaneItem.id > after.id)))
    stmt = stmt.order_by(LaneItem.kind.desc(), LaneItem.position, LaneItem.created_at, LaneItem.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await ctx.db.execute(stmt)).scalars())


async def items_by_id(ctx: Ctx, session: SessionRow, ids: set[str]) -> dict[str, LaneItem]:
    """The session's items with these ids, retired ones included (what facts point at)."""
    if not ids:
        return {}
    stmt = select(LaneItem).where(LaneItem.session_id == session.id, LaneItem.id.in_(sorted(ids)))
    return {i.id: i for i in (await ctx.db.execute(stmt)).scalars()}


async def count_items(ctx: Ctx, session: SessionRow) -> LaneCounts:
    """``counts`` of the whole lane, counted by the store (nothing loaded)."""
    stmt = (select(LaneItem.kind, LaneItem.state, func.count())
            .where(LaneItem.session_id == session.id, LaneItem.retired_at.is_(None))
            .group_by(LaneItem.kind, LaneItem.state))
    by = {(kind, state): int(n) for kind, state, n in (await ctx.db.execute(stmt)).all()}
    return LaneCounts(
        questions_total=sum(n for (kind, _), n in by.items() if kind == "question"),
        questions_unanswered=by.get(("question", "open"), 0),
        checks_total=sum(n for (kind, _), n in by.items() if kind == "check"),
        checks_run=by.get(("check", "run"), 0),
    )


def counts(items: list[LaneItem]) -> LaneCounts:
    questions = [i for i in items if i.kind == "question" and i.retired_at is None]
    checks = [i for i in items if i.kind == "check" and i.retired_at is None]
    return LaneCounts(
        questions_total=len(questions),
        questions_unanswered=sum(1 for q in questions if q.state == "open"),
        checks_total=len(checks),
        checks_run=sum(1 for c in checks if c.state == "run"),
    )


@dataclass
class LaneResult:
    item: LaneItem
    fact: Fact | None = None


@owner_action("work the task lane of")
async def _respond(
    ctx: Ctx,
    session: SessionRow,
    item: LaneItem,
    state: str,
    response: str | None,
    promote: str | bool | None,
    summary: str | None,
) -> LaneResult:
    """Record an answer/output and, when asked, promote it to a fact in one transaction."""
    fact = None
    async with ctx.tx():
        item.state = state
        item.response = response
        item.responded_at = ctx.now()
        ctx.touch(session)
        if promote:
            fact_text = promote if isinstance(promote, str) else (response or "")
            fact = await facts_service.create_fact(
                ctx,
                session,
                fact_text,
                source_type="question" if item.kind == "question" else "diagnostic_check",
                source_ref=item.id,
                summary=summary,
            )
    return LaneResult(item, fact)


async def answer_question(
    ctx: Ctx,
    session: SessionRow,
    item: LaneItem,
    answer: str,
    *,
    promote: str | bool | None = None,
    summary: str | None = None,
) -> LaneResult:
    """Answer (or re-answer) a question; ``promote`` True uses the answer as the fact text."""
    if item.kind != "question":
        raise UsageError("that item is a diagnostic check: mark it run with its output instead")
    cleaned = _clean(answer, "answer", limit=RESPONSE_MAX)
    return await _respond(ctx, session, item, "answered", cleaned, promote, summary)


async def mark_run(
    ctx: Ctx,
    session: SessionRow,
    item: LaneItem,
    output: str | None = None,
    *,
    promote: str | bool | None = None,
    summary: str | None = None,
) -> LaneResult:
    """Mark a check run, with the output the engineer pasted (optional)."""
    if item.kind != "check":
        raise UsageError("that item is a question: answer it instead")
    cleaned = _clean(output, "output", limit=RESPONSE_MAX, required=False)
    if promote is True and not cleaned:
        raise UsageError("there is no output to promote", hint="paste the output, or give the fact text to promote")
    return await _respond(ctx, session, item, "run", cleaned, promote, summary)


@owner_action("skip a task lane item of")
async def skip_item(ctx: Ctx, session: SessionRow, item: LaneItem) -> LaneItem:
    if item.state in ("answered", "run"):
        done = "answered" if item.state == "answered" else "run"
        raise ConflictError(f"that {KIND_LABEL[item.kind]} is already {done}; it cannot be skipped")
    async with ctx.tx():
        item.state = "skipped"
        item.responded_at = ctx.now()
        ctx.touch(session)
    return item
