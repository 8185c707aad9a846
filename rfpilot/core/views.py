"""Plain-data views of rows: the stable JSON shapes of `--json` and exports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rfpilot.core.session import facts as fact_service
from rfpilot.core.session import fixes as fix_service
from rfpilot.core.session import lane as lane_service
from rfpilot.core.context import Ctx
from rfpilot.core.session.facts import is_editable
from rfpilot.core.session.branches import stored_options
from rfpilot.core.session.sessions import intake_of, live_timers
from rfpilot.core.text import iso  # named here too: the views' callers use it
from rfpilot.core.view_types import (
    ActiveFixView,
    DeliveryView,
    FactView,
    FixView,
    ForkSummary,
    FixListView,
    FixResultView,
    FixShowView,
    LaneCountsView,
    LaneItemView,
    LaneListView,
    LaneResponseView,
    MessagesSummary,
    MessageView,
    PreviewView,
    SessionDetails,
    SessionStatusView,
    SessionView,
    TurnView,
    WritebackView,
)
from rfpilot.db.models import Fact, LaneItem, Message, SessionRow, SuggestedFix

if TYPE_CHECKING:  # only named in an annotation: the drafting code (notes, the model's usage) is not imported
    from rfpilot.core.engine.chat import TurnResult
    from rfpilot.core.drafting.previews import Preview


def session_view(session: SessionRow, now: datetime) -> SessionView:
    timers = live_timers(session, now)
    return {
        "id": session.id,
        "title": session.title,
        "status": session.status,
        "intake_type": session.intake_type,
        "intake_text": intake_of(session),
        "client": session.client_name,
        "ticket_ref": session.ticket_ref,
        "state_version": session.state_version,
        "active_seconds": timers.active_seconds,
        "parked_seconds": timers.parked_seconds,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "resolved_at": iso(session.resolved_at),
        "resolution_summary": session.resolution_summary,
        "escalated_at": iso(session.escalated_at),
        "escalation_reason": session.escalation_reason,
        "abandoned_at": iso(session.abandoned_at),
        "abandon_reason": session.abandon_reason,
        "has_resolution_note": session.resolution_note_markdown is not None,
        "has_escalation_package": session.escalation_package_markdown is not None,
        "linked": bool(session.psa_connection_id and session.psa_ticket_id),
        "resolution_note_external_id": session.resolution_note_external_id,
        "escalation_package_external_id": session.escalation_package_external_id,
    }


def fact_view(fact: Fact, lane_item: LaneItem | None = None) -> FactView:
    """A fact; with its lane item (when it came from one) the provenance names it."""
    return {
        "id": fact.id,
        "session_id": fact.session_id,
        "text": fact.text,
        "source_type": fact.source_type,
        "source_ref": fact.source_ref,
        "source_summary": fact.source_summary,
        "editable": is_editable(fact),
        "provenance": fact_service.provenance(fact, lane_item),
        "created_by": fact.created_by,
        "created_at": iso(fact.created_at),
        "updated_at": iso(fact.updated_at),
    }


def lane_item_view(item: LaneItem) -> LaneItemView:
    return {
        "id": item.id,
        "kind": item.kind,
        "origin": item.origin,
        "text": item.text,
        "detail": item.detail,
        "command": item.command,
        "state": item.state,
        "response": item.response,
        "responded_at": iso(item.responded_at),
        "retired": item.retired_at is not None,
        "created_at": iso(item.created_at),
    }


def lane_counts_view(counts: lane_service.LaneCounts) -> LaneCountsView:
    return LaneCountsView(questions_total=counts.questions_total, questions_unanswered=counts.questions_unanswered,
                          checks_total=counts.checks_total, checks_run=counts.checks_run)


def lane_list_view(items: list[LaneItem]) -> LaneListView:
    """`lane list --json`: every item, and the lane counted."""
    return LaneListView(items=[lane_item_view(i) for i in items], counts=lane_counts_view(lane_service.counts(items)))


def lane_response_view(result: lane_service.LaneResult) -> LaneResponseView:
    return LaneResponseView(item=lane_item_view(result.item),
                            fact=fact_view(result.fact, result.item) if result.fact else None)


def fix_show_view(mode: str, fix: SuggestedFix | None) -> FixShowView:
    """`fix show --json`: the active fix and its banner mode (``fix_service.banner_state``)."""
    return FixShowView(fix=fix_view(fix) if fix else None, banner=mode)


def fix_list_view(fixes: list[SuggestedFix]) -> FixListView:
    return FixListView(fixes=[fix_view(f) for f in fixes])


async def fix_result_view(ctx: Ctx, session: SessionRow, fix: SuggestedFix) -> FixResultView:
    """A fix after a change: its banner mode (``none`` unless it is the active one) and the state version."""
    mode, _ = await fix_service.banner_state(ctx, session)
    return FixResultView(**fix_view(fix), banner=mode if fix_service.is_active(fix) else "none",
                         state_version=session.state_version)


def fix_view(fix: SuggestedFix) -> FixView:
    return {
        "id": fix.id,
        "session_id": fix.session_id,
        "origin": fix.origin,
        "title": fix.title,
        "description": fix.description,
        "confidence_pct": fix.confidence_pct,
        "script_template_slug": fix.script_template_slug,
        "script_template_id": fix.script_template_id,
        "ai_drafted_script": fix.ai_drafted_script,
        "ai_drafted_parameters": fix.ai_drafted_parameters,
        "user_decision": fix.user_decision,
        "status": fix.status,
        "active": fix_service.is_active(fix),
        "verifying": fix_service.is_verifying(fix),
        "applied_at": iso(fix.applied_at),
        "verified_at": iso(fix.verified_at),
        "partial_notes": fix.partial_notes,
        "failure_reason": fix.failure_reason,
        "pending_reason": fix.pending_reason,
        "ai_outcome_proposal": fix_service.stored_proposal(fix),
        "superseded_at": iso(fix.superseded_at),
        "created_at": iso(fix.created_at),
        "source_session_id": fix.source_session_id,
    }


RECENT_MESSAGES = 4


def message_view(message: Message) -> MessageView:
    return {
        "id": message.id,
        "seq": message.seq,
        "role": message.role,
        "status": message.status,
        "text": message.display_content,
        "lane_item_id": message.lane_item_id,
        "error": message.error,
        "created_at": iso(message.created_at),
    }


def preview_view(preview: Preview, session: SessionRow) -> PreviewView:
    return {
        "session_id": session.id,
        "kind": preview.kind,
        "markdown": preview.markdown,
        "drafter": preview.drafter,
        "from_cache": preview.from_cache,
        "state_version": preview.state_version,
        "target_ticket_ref": preview.target_ticket_ref,
        "created_at": iso(preview.created_at),
        "fallback_reason": preview.fallback_reason,
        "model": preview.model,
    }


async def fact_page(ctx: Ctx, session: SessionRow, after_id: str, limit: int) -> list[FactView]:
    """The ``limit`` facts after the fact ``after_id`` (as session_details shows them): the next page of the lane."""
    after = await ctx.db.get(Fact, after_id)
    facts = await fact_service.list_facts(ctx, session, limit=limit, after=after)
    items = await lane_service.items_by_id(ctx, session, {f.source_ref for f in facts if f.source_ref})
    return [fact_view(f, items.get(f.source_ref or "")) for f in facts]


async def lane_page(ctx: Ctx, session: SessionRow, kind: str, after_id: str, limit: int) -> list[LaneItemView]:
    """The ``limit`` questions or checks after the item ``after_id``: the next page of that part of the lane."""
    after = await ctx.db.get(LaneItem, after_id)
    if after is None or after.session_id != session.id:
        return []
    return [lane_item_view(i) for i in await lane_service.list_items(ctx, session, kind=kind, limit=limit, after=after)]


async def fact_details(ctx: Ctx, fact: Fact) -> FactView:
    item = await ctx.db.get(LaneItem, fact.source_ref) if fact.source_ref else None
    return fact_view(fact, item)


async def session_details(ctx: Ctx, session: SessionRow, *, fact_limit: int | None = None,
                          item_limits: dict[str, int] | None = None, refresh_seen: bool = True) -> SessionDetails:
    """Everything a session view shows: facts with provenance, lane, counts, fix and banner mode.
    ``fact_limit`` keeps only the first facts (the TUI pages the rest); ``fact_count`` is always all of them.
    ``item_limits`` ({"question": n, "check": n}) keeps only the first questions and checks the same way;
    ``lane_counts`` always counts the whole lane. ``seen_before``: the session's matches, found again first when the
    session changed since (``refresh_seen``; core.memory.seen_before)."""
    if item_limits is None:
        items = await lane_service.list_items(ctx, session)
        lane_counts = lane_service.counts(items)
    else:
        items = [item for kind in ("question", "check")
                 for item in await lane_service.list_items(ctx, session, kind=kind, limit=item_limits.get(kind))]
        lane_counts = await lane_service.count_items(ctx, session)
    by_id = {i.id: i for i in items}
    facts, fact_count = await fact_service.facts_window(ctx, session, fact_limit)
    if item_limits is not None:
        by_id |= await lane_service.items_by_id(
            ctx, session, {f.source_ref for f in facts if f.source_ref and f.source_ref not in by_id})
    mode, fix = await fix_service.banner_state(ctx, session)
    from rfpilot.core.session.messages import recent_messages
    from rfpilot.core.session.usage import session_totals

    count, recent = await recent_messages(ctx, session, RECENT_MESSAGES)
    from rfpilot.core.memory import seen_before  # here: a command showing one fact need not map the matches
    from rfpilot.core.team.handoffs import session_status_word

    return {
        "session": SessionStatusView(**session_view(session, ctx.now()),
                                     status_word=await session_status_word(ctx, session)),
        "facts": [fact_view(f, by_id.get(f.source_ref or "")) for f in facts],
        "fact_count": fact_count,
        "lane": [lane_item_view(i) for i in items],
        "lane_counts": lane_counts_view(lane_counts),
        "active_fix": ActiveFixView(**fix_view(fix), state_word=fix_service.state_word(mode, fix)) if fix else None,
        "banner": mode,
        "messages": MessagesSummary(count=count, last=[message_view(m) for m in recent]),
        "llm_usage": await session_totals(ctx, session),
        "resolution_note": session.resolution_note_markdown,
        "escalation_package": session.escalation_package_markdown,
        "psa_delivery": await _delivery(ctx, session),
        "psa_writeback": await _writeback(ctx, session),
        "seen_before": await seen_before.matches(ctx, session, refresh=refresh_seen),
    }


async def _delivery(ctx: Ctx, session: SessionRow) -> DeliveryView | None:
    """The session's unfinished PSA write, if any: queued (waiting) or failed (needs a look)."""
    if not session.psa_ticket_id:
        return None
    from rfpilot.core.closeout.writeback import delivery_state, open_items

    return delivery_state(await open_items(ctx, session))


async def _writeback(ctx: Ctx, session: SessionRow) -> WritebackView | None:
    """Where the session's close stands on the PSA (queued … verified), with the note id."""
    if not session.psa_ticket_id:
        return None
    from rfpilot.core.closeout.writeback import close_writeback

    return await close_writeback(ctx, session)


def turn_view(result: TurnResult) -> TurnView:
    """A chat turn's structured result (core.engine.chat.TurnResult): `rfpilot chat SESSION --json`."""
    return {
        "session_id": result.user_message.session_id,
        "message_id": result.user_message.id,
        "reply_id": result.reply.id,
        "display": result.reply.display_content,
        "questions": [lane_item_view(i) for i in result.questions],
        "checks": [lane_item_view(i) for i in result.checks],
        "retired": [i.id for i in result.retired],
        "promoted_facts": [fact_view(f) for f in result.promoted],
        "suggested_fix": fix_view(result.suggested_fix) if result.suggested_fix else None,
        "outcome_proposal": result.outcome_proposal,
        "fork": (
            ForkSummary(id=result.fork.id, reason=result.fork.reason, options=stored_options(result.fork))
            if result.fork else None
        ),
        "markers_found": result.parsed.found,
        "dropped": result.dropped,
        "provider": result.provider,
        "model": result.model,
        "usage": result.usage.as_dict(),
    }
